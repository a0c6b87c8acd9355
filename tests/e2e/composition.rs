//! Spin's dependency rules, enforced by sync-host at startup: what Spin refuses to compose,
//! sync-host refuses to start, with a message that says what to change. One test per rule.

use e2e::{HostConfig, temporary_manifest, wasm};

/// A manifest serving the greeter client on `/x/...` with `dependencies` (TOML, inline) and `extra`
/// lines in its component table, plus `more` after it.
fn client_manifest(
    dependencies: &str,
    extra: &str,
    more: &str,
) -> (tempfile::TempDir, std::path::PathBuf) {
    temporary_manifest(&format!(
        "[[trigger.http]]\nroute = \"/x/...\"\ncomponent = \"x\"\n[component.x]\nsource = {:?}\n{extra}\ndependencies = {{ {dependencies} }}\n{more}",
        wasm("fixture_greeter_client"),
    ))
}

fn expect_refusal(manifest: std::path::PathBuf, expected: &[&str]) {
    let (status, stderr) = HostConfig::new(manifest).run_expecting_failure().unwrap();
    assert!(!status.success(), "exit status {status}");
    for fragment in expected {
        assert!(
            stderr.contains(fragment),
            "stderr lacks {fragment:?}:\n{stderr}"
        );
    }
}

fn greeter() -> String {
    format!("{:?}", wasm("fixture_greeter"))
}

#[test]
fn two_dependencies_from_one_wit_package_are_refused() {
    let (_dir, manifest) = client_manifest(
        &format!(
            "\"fixture:greeter/greet@0.1.0\" = {{ path = {g} }}, \"fixture:greeter/farewell@0.1.0\" = {{ path = {g} }}",
            g = greeter()
        ),
        "",
        "",
    );
    expect_refusal(
        manifest,
        &[
            "both come from WIT package `fixture:greeter`",
            "package of its own",
        ],
    );
}

#[test]
fn a_dependency_matching_no_import_is_refused() {
    let (_dir, manifest) = client_manifest(
        &format!(
            "\"fixture:absent/greet@0.1.0\" = {{ path = {} }}",
            greeter()
        ),
        "",
        "",
    );
    expect_refusal(
        manifest,
        &[
            "\"fixture:absent/greet@0.1.0\" matches no import",
            "fixture:greeter/greet@0.1.0",
        ],
    );
}

#[test]
fn a_dependency_component_with_its_own_resources_is_refused() {
    let (_dir, manifest) = client_manifest(
        "\"fixture:greeter@0.1.0\" = { component = \"g\" }",
        "",
        &format!(
            "[component.g]\nsource = {}\nkey_value_stores = [\"default\"]\n",
            greeter()
        ),
    );
    expect_refusal(
        manifest,
        &[
            "may not have their own resources",
            "key_value_stores",
            "dependencies_inherit_configuration = true",
        ],
    );
}

#[test]
fn a_dependency_without_the_needed_export_is_refused() {
    let (_dir, manifest) = client_manifest(
        &format!(
            "\"fixture:greeter/greet@0.1.0\" = {{ path = {:?} }}",
            wasm("auth")
        ),
        "",
        "",
    );
    expect_refusal(
        manifest,
        &[
            "exports no `fixture:greeter/greet@0.1.0`",
            "mirubato:auth/auth@0.1.0",
        ],
    );
}

#[test]
fn a_dependency_export_of_another_type_is_refused() {
    let (_dir, manifest) = client_manifest(
        &format!(
            "\"fixture:greeter/greet@0.1.0\" = {{ path = {:?}, export = \"mirubato:auth/auth@0.1.0\" }}",
            wasm("auth")
        ),
        "",
        "",
    );
    expect_refusal(
        manifest,
        &["does not match import `fixture:greeter/greet@0.1.0`"],
    );
}

#[test]
fn both_inheritance_forms_together_are_refused() {
    let (_dir, manifest) = client_manifest(
        &format!(
            "\"fixture:greeter@0.1.0\" = {{ path = {}, inherit_configuration = true }}",
            greeter()
        ),
        "dependencies_inherit_configuration = true",
        "",
    );
    expect_refusal(manifest, &["Keep only dependencies_inherit_configuration"]);
}

#[test]
fn a_dependency_on_a_component_the_manifest_lacks_is_refused() {
    let (_dir, manifest) = client_manifest(
        "\"fixture:greeter@0.1.0\" = { component = \"nowhere\" }",
        "",
        "",
    );
    expect_refusal(manifest, &["no component `nowhere`"]);
}

#[test]
fn a_whole_package_key_picking_an_export_is_refused() {
    let (_dir, manifest) = client_manifest(
        &format!(
            "\"fixture:greeter\" = {{ path = {}, export = \"fixture:greeter/greet@0.1.0\" }}",
            greeter()
        ),
        "",
        "",
    );
    expect_refusal(manifest, &["name the interface in the key"]);
}

#[test]
fn a_whole_package_key_satisfies_the_packages_imports() {
    let (_dir, manifest) = client_manifest(
        &format!("\"fixture:greeter\" = {{ path = {} }}", greeter()),
        "variables = { greeting = \"{{ greeting }}\" }\ndependencies_inherit_configuration = true",
        "[variables]\ngreeting = { default = \"Hej\" }\n",
    );
    let host = HostConfig::new(manifest).start().unwrap();
    let hello = host.get("/x/hello?ada");
    assert_eq!((hello.status, hello.body.as_str()), (200, "Hej, ada!"));
    assert_eq!(host.get("/x/bye?ada").body, "Goodbye, ada!");
}
