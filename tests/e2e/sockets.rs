//! `wasi:sockets` TCP connect through the real host (`tests/components/tcp-probe`), allowed exactly
//! by the component's `allowed_outbound_hosts` as Spin allows it: `tcp://` or `*://` entries with
//! a matching host (name, address, `*` or CIDR range) and port; refused otherwise with the
//! interface's `access-denied`.

use e2e::{HostConfig, temporary_manifest, wasm};
use std::net::TcpListener;

/// A host with one tcp-probe component per `(route, allowed_outbound_hosts)`.
fn host_with(components: &[(&str, &str)]) -> (tempfile::TempDir, e2e::Host) {
    let mut body = String::new();
    for (index, (route, allowed)) in components.iter().enumerate() {
        body.push_str(&format!(
            "[[trigger.http]]\nroute = \"/{route}/...\"\ncomponent = \"c{index}\"\n[component.c{index}]\nsource = {:?}\nallowed_outbound_hosts = {allowed}\n",
            wasm("fixture_tcp_probe")
        ));
    }
    let (dir, manifest) = temporary_manifest(&body);
    let host = HostConfig::new(manifest).start().unwrap();
    (dir, host)
}

#[test]
fn tcp_connect_is_allowed_exactly_by_allowed_outbound_hosts() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (_dir, host) = host_with(&[
        ("exact", &format!("[\"tcp://127.0.0.1:{port}\"]")),
        ("cidr", "[\"*://127.0.0.0/24:*\"]"),
        (
            "range",
            &format!("[\"tcp://127.0.0.1:{}..{}\"]", port - 1, port),
        ),
        ("http-only", &format!("[\"http://127.0.0.1:{port}\"]")),
        ("other-host", &format!("[\"tcp://127.0.0.2:{port}\"]")),
        ("none", "[]"),
    ]);
    let connect = |route: &str| {
        let reply = host.get(&format!("/{route}/connect?127.0.0.1:{port}"));
        (reply.status, reply.body)
    };
    for route in ["exact", "cidr"] {
        assert_eq!(connect(route), (200, "connected".to_string()), "{route}");
    }
    // A range's end is excluded; a scheme other than tcp (or *) does not cover sockets.
    for route in ["range", "http-only", "other-host", "none"] {
        assert_eq!(
            connect(route),
            (403, "access-denied".to_string()),
            "{route}"
        );
    }
    // The allowed connections really reached the listener.
    listener.set_nonblocking(true).unwrap();
    let accepted = std::iter::from_fn(|| listener.accept().ok()).count();
    assert_eq!(accepted, 2);
}
