use super::*;

fn dependency(key: &str) -> DependencyWasm {
    DependencyWasm {
        key: key.to_string(),
        name: DependencyName::parse(key).unwrap(),
        export: None,
        inherits: BTreeSet::new(),
        bytes: Vec::new(),
    }
}

fn imports(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn a_package_key_satisfies_every_import_of_its_package() {
    let satisfied = match_imports(
        &imports(&["x:lib/a@0.1.0", "x:lib/b@0.1.0", "wasi:cli/stdout@0.2.0"]),
        &[dependency("x:lib")],
    )
    .unwrap();
    assert_eq!(
        satisfied.keys().collect::<Vec<_>>(),
        ["x:lib/a@0.1.0", "x:lib/b@0.1.0"]
    );
}

#[test]
fn a_key_matching_no_import_is_refused_listing_the_imports() {
    let error = match_imports(&imports(&["x:lib/a@0.1.0"]), &[dependency("x:lib/z@0.1.0")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("\"x:lib/z@0.1.0\" matches no import"),
        "{error}"
    );
    assert!(error.contains("x:lib/a@0.1.0"), "{error}");
}

#[test]
fn an_import_matched_by_two_keys_is_refused() {
    let error = match_imports(
        &imports(&["x:lib/a@0.1.0"]),
        &[dependency("x:lib/a"), dependency("x:lib/a@0.1.0")],
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("satisfied by two dependencies"), "{error}");
}

#[test]
fn sockets_are_fenced_with_outbound_hosts() {
    for import in [
        "wasi:sockets/tcp-create-socket@0.2.0",
        "wasi:sockets/udp-create-socket@0.2.6",
        "wasi:sockets/ip-name-lookup@0.2.3",
        "wasi:http/outgoing-handler@0.2.0",
    ] {
        assert_eq!(
            capability_of(import).map(|(c, _)| c),
            Some(Capability::AllowedOutboundHosts),
            "{import}"
        );
    }
    assert!(capability_of("wasi:sockets/tcp@0.2.0").is_none());
}
