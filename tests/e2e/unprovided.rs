//! Spin interfaces sync-host does not implement (`fermyon:spin/{redis,mqtt,postgres,mysql,llm}`
//! @2.0.0): a component importing them still starts (`tests/components/unprovided`). Each call
//! first gets the refusal Spin answers before it would use the service — an address outside
//! `allowed_outbound_hosts`, a model outside `ai_models` — exactly as Spin 3.6.3 and 4.0.2 word it
//! for this component; an address the component may use then gets the interface's own error
//! saying sync-host does not provide it.

use e2e::{HostConfig, fixture_manifest, temporary_manifest, wasm};

/// Spin's answer to the fixture's LLM call. sync-host refuses `ai_models`, so no component has a
/// model and this is every LLM call's answer.
const MODEL_NOT_GRANTED: &str = "Error::InvalidInput(\"The component does not have access to use 'llama2-chat'. To give the component access, add 'llama2-chat' to the 'ai_models' key for the component in your spin.toml manifest\")";

#[test]
fn without_a_grant_each_call_gets_spins_permission_refusal() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    for (interface, expected) in [
        ("redis", "Error::InvalidAddress"),
        (
            "mqtt",
            "Error::ConnectionFailed(\"address mqtt://127.0.0.1:9 is not permitted\")",
        ),
        (
            "postgres",
            "Error::ConnectionFailed(\"address postgres://127.0.0.1:9 is not permitted\")",
        ),
        (
            "mysql",
            "Error::ConnectionFailed(\"address mysql://127.0.0.1:9/db is not permitted\")",
        ),
        ("llm", MODEL_NOT_GRANTED),
    ] {
        let reply = host.get(&format!("/unprovided/{interface}"));
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, expected),
            "{interface}"
        );
    }
}

#[test]
fn a_permitted_address_gets_the_interfaces_not_provided_error() {
    let (_dir, manifest) = temporary_manifest(&format!(
        "[[trigger.http]]\nroute = \"/unprovided/...\"\ncomponent = \"unprovided\"\n\
         [component.unprovided]\nsource = {:?}\n\
         allowed_outbound_hosts = [\"redis://127.0.0.1:9\", \"mqtt://127.0.0.1:9\", \"postgres://127.0.0.1:9\", \"mysql://127.0.0.1:9\"]\n",
        wasm("fixture_unprovided")
    ));
    let host = HostConfig::new(manifest).start().unwrap();
    for (interface, variant) in [
        ("redis", "Error::Other("),
        ("mqtt", "Error::ConnectionFailed("),
        ("postgres", "Error::ConnectionFailed("),
        ("mysql", "Error::ConnectionFailed("),
    ] {
        let reply = host.get(&format!("/unprovided/{interface}"));
        assert_eq!(reply.status, 200, "{interface}: {}", reply.body);
        assert!(
            reply.body.starts_with(variant) && reply.body.contains("not provided by sync-host"),
            "{interface}: {}",
            reply.body
        );
    }
    let reply = host.get("/unprovided/llm");
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, MODEL_NOT_GRANTED)
    );
}
