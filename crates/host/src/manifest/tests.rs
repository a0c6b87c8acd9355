use super::*;

const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
greeting = { default = "hi" }
token = { required = true, secret = true }
[[trigger.http]]
route = "/a/..."
component = "a"
[component.a]
source = "a.wasm"
variables = { g = "{{ greeting }}!" }
key_value_stores = ["default"]
"#;

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(text, PathBuf::from("."))
}

#[test]
fn minimal_manifest_parses() {
    let manifest = parse(MINIMAL).unwrap();
    assert_eq!(manifest.http_triggers.len(), 1);
    assert_eq!(manifest.components["a"].source_path(), "a.wasm");
    assert!(manifest.variables["token"].required);
}

#[test]
fn unknown_field_is_named() {
    let text = MINIMAL.replace("source = \"a.wasm\"", "source = \"a.wasm\"\nsourse = 1");
    let error = parse(&text).unwrap_err().to_string();
    assert!(error.contains("sourse"), "{error}");
}

#[test]
fn unsupported_spin_field_is_named() {
    let text = MINIMAL.replace(
        "source = \"a.wasm\"",
        "source = \"a.wasm\"\nfiles = [\"x\"]",
    );
    let error = parse(&text).unwrap_err().to_string();
    assert!(error.contains("component.a.files"), "{error}");
}

#[test]
fn other_trigger_types_are_refused() {
    let text = format!("{MINIMAL}\n[[trigger.redis]]\nchannel = \"c\"\ncomponent = \"a\"\n");
    let error = parse(&text).unwrap_err().to_string();
    assert!(error.contains("trigger.redis"), "{error}");
}

#[test]
fn undeclared_variable_reference_is_refused() {
    let text = MINIMAL.replace("{{ greeting }}", "{{ greting }}");
    let error = parse(&text).unwrap_err().to_string();
    assert!(error.contains("greting"), "{error}");
}

#[test]
fn store_labels_other_than_default_are_left_to_the_runtime_config() {
    let label = |l: &str| {
        MINIMAL.replace(
            "key_value_stores = [\"default\"]",
            &format!("key_value_stores = [{l}]"),
        )
    };
    assert!(parse(&label("\"cache\"")).is_ok());
    let error = parse(&label("\"Cache Store\"")).unwrap_err().to_string();
    assert!(
        error.contains("must be kebab-case or snake_case"),
        "{error}"
    );
}

#[test]
fn routes_follow_spin_patterns_and_private_must_be_true() {
    let route = |r: &str| MINIMAL.replace("route = \"/a/...\"", &format!("route = {r}"));
    assert!(parse(&route("\"/users/:id/...\"")).is_ok());
    assert!(
        parse(&route("\"relative\"")).is_ok(),
        "Spin reads it as /relative"
    );
    assert!(parse(&route("{ private = true }")).is_ok());
    let error = parse(&route("{ private = false }"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("private = true"), "{error}");
    let error = parse(&route("\"/users/:\"")).unwrap_err().to_string();
    assert!(error.contains("needs a name"), "{error}");
}

#[test]
fn a_route_declared_twice_is_refused() {
    let text = format!("{MINIMAL}\n[[trigger.http]]\nroute = \"/a/\"\ncomponent = \"a\"\n")
        .replace("route = \"/a/...\"", "route = \"/a\"");
    let error = parse(&text).unwrap_err().to_string();
    assert!(error.contains("declared twice"), "{error}");
}
