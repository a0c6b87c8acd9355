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
    assert!(error.contains("neither kebab-case"), "{error}");
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

/// The refusal of `text`, which must name `field`, the identifier and the broken rule.
fn identifier_refusal(text: &str, field: &str, id: &str, rule: &str) {
    let error = parse(text).unwrap_err().to_string();
    assert!(
        error.contains(&format!("{field}: `{id}`: ")) && error.contains(rule),
        "expected {field}: `{id}`: …{rule}… in: {error}"
    );
}

const EMPTY_WORD: &str = "separated words must not be empty";
const NOT_A_LETTER: &str = "separated words must start with an ASCII letter";
const WRONG_SEPARATOR: &str = "words must be separated with";
const MIXED_CASE: &str = "must be all lowercase or all UPPERCASE";
const NOT_ALPHANUMERIC: &str = "may contain only ASCII letters and digits";
const UPPERCASE: &str = "must be all lowercase; got the UPPERCASE word";

#[test]
fn application_variable_names_follow_spins_lower_snake_rule() {
    let with_variable = |name: &str| {
        MINIMAL.replace(
            "greeting = { default = \"hi\" }",
            &format!("greeting = {{ default = \"hi\" }}\n\"{name}\" = {{ default = \"x\" }}"),
        )
    };
    assert!(parse(&with_variable("grip_publish_url_second")).is_ok());
    for (name, rule) in [
        ("grip_publish_url_2", NOT_A_LETTER),
        ("a_2b", NOT_A_LETTER),
        ("a__b", EMPTY_WORD),
        ("trailing_", EMPTY_WORD),
        ("kebab-name", WRONG_SEPARATOR),
        ("Greeting", MIXED_CASE),
        ("café", NOT_ALPHANUMERIC),
        ("GREETING", UPPERCASE),
        ("", "must not be empty"),
    ] {
        identifier_refusal(&with_variable(name), "variables", name, rule);
    }
}

#[test]
fn the_spin_message_for_a_digit_word_names_the_variable() {
    let text = MINIMAL.replace(
        "[variables]\n",
        "[variables]\ngrip_publish_url_2 = { default = \"http://none.invalid\" }\n",
    );
    let error = parse(&text).unwrap_err().to_string();
    assert_eq!(
        error,
        "invalid manifest: variables: `grip_publish_url_2`: '_'-separated words must start with an ASCII letter; got '2'"
    );
}

#[test]
fn component_ids_follow_spins_kebab_rule() {
    let with_component =
        |id: &str| format!("{MINIMAL}\n[component.\"{id}\"]\nsource = \"b.wasm\"\n");
    for id in ["b", "rate-limit", "FOO", "foo-BAR", "v2-api"] {
        assert!(parse(&with_component(id)).is_ok(), "{id}");
    }
    for (id, rule) in [
        ("foo--bar", EMPTY_WORD),
        ("foo-2", NOT_A_LETTER),
        ("2fa", NOT_A_LETTER),
        ("foo_bar", WRONG_SEPARATOR),
        ("Foo", MIXED_CASE),
        ("naïve", NOT_ALPHANUMERIC),
    ] {
        identifier_refusal(&with_component(id), "component", id, rule);
    }
}

#[test]
fn component_variable_names_follow_spins_lower_snake_rule() {
    let with_variable = |name: &str| {
        MINIMAL.replace(
            "variables = { g = ",
            &format!("variables = {{ \"{name}\" = "),
        )
    };
    assert!(parse(&with_variable("greeting_text")).is_ok());
    for (name, rule) in [
        ("g__h", EMPTY_WORD),
        ("g_2", NOT_A_LETTER),
        ("g-h", WRONG_SEPARATOR),
        ("gH", MIXED_CASE),
        ("ğ", NOT_A_LETTER),
        ("G", UPPERCASE),
    ] {
        identifier_refusal(&with_variable(name), "component.a.variables", name, rule);
    }
}

#[test]
fn trigger_component_references_follow_spins_kebab_rule() {
    let with_reference =
        |id: &str| MINIMAL.replace("component = \"a\"", &format!("component = \"{id}\""));
    for (id, rule) in [
        ("a--b", EMPTY_WORD),
        ("a-1", NOT_A_LETTER),
        ("a_b", WRONG_SEPARATOR),
        ("Ab", MIXED_CASE),
        ("a!", NOT_ALPHANUMERIC),
    ] {
        identifier_refusal(&with_reference(id), "trigger.http[0].component", id, rule);
    }
    // A well-formed reference to no component is a different refusal.
    let error = parse(&with_reference("ABSENT")).unwrap_err().to_string();
    assert!(error.contains("no component `ABSENT`"), "{error}");
}

#[test]
fn store_and_database_labels_are_kebab_or_snake_case() {
    for list in ["key_value_stores", "sqlite_databases"] {
        let with_label = |label: &str| {
            MINIMAL.replace(
                "key_value_stores = [\"default\"]",
                &format!("{list} = [\"{label}\"]"),
            )
        };
        for label in ["my-store", "my_store", "CACHE", "MY_STORE"] {
            assert!(parse(&with_label(label)).is_ok(), "{list}: {label}");
        }
        let field = format!("component.a.{list}");
        for (label, rule) in [
            ("my--store", EMPTY_WORD),
            ("store_2", NOT_A_LETTER),
            ("my_store-2", WRONG_SEPARATOR),
            ("Cache", MIXED_CASE),
            ("café", NOT_ALPHANUMERIC),
            ("", "must not be empty"),
        ] {
            identifier_refusal(&with_label(label), &field, label, rule);
        }
    }
}
