//! Component dependencies composed at load (`tests/components/greeter*`): a client imports
//! `fixture:greeter/greet` and `fixture:greeter/farewell`, both satisfied by one package-level
//! `dependencies` entry (`fixture:greeter@0.1.0`), with Spin's inheritance rules.
//! The fixture manifest uses the forms Spin 3.6 and 4 both accept; the Spin-4-only forms
//! (`{ component = … }` with a per-dependency `inherit_configuration` list) get a manifest here.

use e2e::{HostConfig, fixture_manifest, temporary_manifest, wasm};

#[test]
fn dependency_inheriting_the_component_level_grants_reaches_them_all() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    let hello = host.get("/greet-inherit/hello?ada");
    assert_eq!((hello.status, hello.body.as_str()), (200, "Hello, ada!"));
    assert_eq!(host.get("/greet-inherit/bye?ada").body, "Goodbye, ada!");
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
fn spin_4_forms_app_component_with_a_listed_inheritance_reach_only_the_list() {
    let (_dir, manifest) = temporary_manifest(&format!(
        r#"[variables]
greeting = {{ default = "Hello" }}
[[trigger.http]]
route = "/greet-partial/..."
component = "greeter-partial"
[component.greeter-partial]
source = {client:?}
key_value_stores = ["default"]
variables = {{ greeting = "{{{{ greeting }}}}" }}
dependencies = {{ "fixture:greeter@0.1.0" = {{ component = "greeter", inherit_configuration = ["variables"] }} }}
[component.greeter]
source = {greeter:?}
"#,
        client = wasm("fixture_greeter_client"),
        greeter = wasm("fixture_greeter"),
    ));
    let host = HostConfig::new(manifest).start().unwrap();
    assert_eq!(host.get("/greet-partial/hello?ada").body, "Hello, ada!");
    let count = host.post("/greet-partial/count", "");
    assert_eq!(count.status, 500);
    assert!(count.body.contains("AccessDenied"), "{}", count.body);
}
