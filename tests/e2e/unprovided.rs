//! Spin interfaces sync-host does not implement (`fermyon:spin/{redis,mqtt,postgres,mysql,llm}`
//! @2.0.0): a component importing them still starts, and each call gets the interface's own error
//! saying so (`tests/components/unprovided`).

use e2e::{HostConfig, fixture_manifest};

#[test]
fn components_importing_unprovided_interfaces_start_and_get_their_error_variant() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    for (interface, variant) in [
        ("redis", "Other("),
        ("mqtt", "ConnectionFailed("),
        ("postgres", "ConnectionFailed("),
        ("mysql", "ConnectionFailed("),
        ("llm", "RuntimeError("),
    ] {
        let reply = host.get(&format!("/unprovided/{interface}"));
        assert_eq!(reply.status, 200, "{interface}: {}", reply.body);
        assert!(
            reply.body.contains(variant) && reply.body.contains("not provided by sync-host"),
            "{interface}: {}",
            reply.body
        );
    }
}
