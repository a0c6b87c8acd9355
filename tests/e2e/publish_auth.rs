//! The embedded gateway's publish endpoint: anyone who reaches it can write to every client, so it
//! stays on loopback unless a publish token is configured, and with a token every publish must
//! carry it.

use e2e::device::{Device, timestamp};
use e2e::{Host, HostConfig, app_manifest};
use serde_json::{Value, json};

const TOKEN: &str = "t0k3n";

#[test]
fn a_non_loopback_publish_endpoint_needs_a_token() {
    // 192.0.2.1 (TEST-NET-1) is on no interface here: nothing is ever bound, even by a host that
    // does not check.
    let (status, stderr) = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .run_expecting_failure_with_args(&["--publish-listen", "192.0.2.1:5561"])
        .unwrap();
    assert!(!status.success());
    assert!(stderr.contains("grip_publish_token"), "{stderr}");
    assert!(
        stderr.contains("SPIN_VARIABLE_GRIP_PUBLISH_TOKEN"),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot listen"), "{stderr}");
}

fn publish(host: &Host, authorization: Option<&str>) -> (u16, Option<String>, String) {
    let channel = "user:nobody";
    let body =
        json!({"items": [{"channel": channel, "formats": {"ws-message": {"content": "{}"}}}]});
    let mut request = Host::agent().post(&host.publish_url);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let mut reply = request.send(body.to_string()).unwrap();
    let content_type = reply
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        reply.status().as_u16(),
        content_type,
        reply.body_mut().read_to_string().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_token_every_publish_must_carry_it() {
    let host = HostConfig::new(app_manifest())
        .through_pushpin(false)
        .env("SPIN_VARIABLE_GRIP_PUBLISH_TOKEN", TOKEN)
        .start()
        .unwrap();
    for wrong in [
        None,
        Some("Bearer nope"),
        Some("Bearer t0k3"),
        Some("t0k3n"),
    ] {
        let (status, content_type, body) = publish(&host, wrong);
        assert_eq!(status, 401, "{wrong:?}: {body}");
        assert_eq!(content_type.as_deref(), Some("application/json"));
        let body: Value = serde_json::from_str(&body).unwrap();
        assert!(body["error"].is_string(), "{body}");
    }
    assert_eq!(publish(&host, Some(&format!("Bearer {TOKEN}"))).0, 200);
    // The app publishes with the token: relays between a user's devices still arrive.
    let mut a = Device::connect(&host.gateway_url, "alice").await;
    let mut b = Device::connect(&host.gateway_url, "alice").await;
    a.send(json!({"type": "ENTRY_CREATED", "timestamp": timestamp(), "entry": {"id": "e1"}}))
        .await;
    let relay = b.recv().await;
    assert_eq!(relay["type"], "ENTRY_CREATED", "{relay}");
    assert_eq!(relay["entry"]["id"], "e1", "{relay}");
}
