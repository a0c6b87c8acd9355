use super::*;

fn manifest(text: &str) -> Manifest {
    Manifest::parse(text, ".".into()).unwrap()
}

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
greeting = { default = "hello" }
secret = { required = true, secret = true }
[component.a]
source = "a.wasm"
variables = { message = "{{ greeting }}, {{secret}}!" }
"#;

#[test]
fn defaults_env_override_and_templates() {
    let state = AppState::resolve(&manifest(APP), |env| {
        (env == "SPIN_VARIABLE_SECRET").then(|| "s3".to_string())
    })
    .unwrap();
    let instance = InstanceState {
        variables: state.component("a"),
    };
    assert_eq!(instance.lookup("message").unwrap(), "hello, s3!");

    let state = AppState::resolve(&manifest(APP), |env| match env {
        "SPIN_VARIABLE_SECRET" => Some("x".into()),
        "SPIN_VARIABLE_GREETING" => Some("hi".into()),
        _ => None,
    })
    .unwrap();
    let instance = InstanceState {
        variables: state.component("a"),
    };
    assert_eq!(instance.lookup("message").unwrap(), "hi, x!");
}

#[test]
fn missing_required_names_the_variable_and_env() {
    let error = AppState::resolve(&manifest(APP), |_| None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`secret`") && error.contains("SPIN_VARIABLE_SECRET"),
        "{error}"
    );
}

#[test]
fn guest_errors() {
    let state = AppState::resolve(&manifest(APP), |_| Some("v".into())).unwrap();
    let instance = InstanceState {
        variables: state.component("a"),
    };
    assert!(matches!(
        instance.lookup("Bad-Name"),
        Err(Error::InvalidName(_))
    ));
    assert!(matches!(
        instance.lookup("greeting"),
        Err(Error::Undefined(_))
    ));
}

#[test]
fn template_references_are_listed() {
    assert_eq!(
        template_references("a{{ x }}b{{y}}").unwrap(),
        vec!["x", "y"]
    );
    assert!(template_references("a{{ x").is_err());
}
