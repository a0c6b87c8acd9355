//! Component dependencies composed at load (`tests/components/greeter*`): a client imports
//! `fixture:greeter/greet`, satisfied by spin.toml, with Spin's inheritance rules.

use e2e::{HostConfig, fixture_manifest};

#[test]
fn dependency_from_app_component_inherits_everything() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    let hello = host.get("/greet-inherit/hello?ada");
    assert_eq!((hello.status, hello.body.as_str()), (200, "Hello, ada!"));
    // The dependency writes the importer's key-value store: counts persist across requests.
    assert_eq!(host.post("/greet-inherit/count", "").body, "1");
    assert_eq!(host.post("/greet-inherit/count", "").body, "2");
}

#[test]
fn dependency_sees_the_importers_variable_values() {
    let host = HostConfig::new(fixture_manifest())
        .env("SPIN_VARIABLE_GREETING", "Servus")
        .start()
        .unwrap();
    assert_eq!(host.get("/greet-inherit/hello?bo").body, "Servus, bo!");
}

#[test]
fn dependency_without_inheritance_is_denied_everything() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    let hello = host.get("/greet-isolated/hello?ada");
    assert_eq!(hello.status, 200);
    assert!(
        hello.body.starts_with("variables unavailable") && hello.body.contains("access denied"),
        "{}",
        hello.body
    );
    let count = host.post("/greet-isolated/count", "");
    assert_eq!(count.status, 500);
    assert!(count.body.contains("AccessDenied"), "{}", count.body);
}

#[test]
fn dependency_inherits_only_the_listed_capabilities() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    assert_eq!(host.get("/greet-partial/hello?ada").body, "Hello, ada!");
    let count = host.post("/greet-partial/count", "");
    assert_eq!(count.status, 500);
    assert!(count.body.contains("AccessDenied"), "{}", count.body);
}
