//! Spin's HTTP trigger through the real host (`tests/components/route-echo` echoes the `spin-*`
//! headers it receives): `:name` segments reported in `spin-path-match-<name>`, trailing `/...`
//! wildcards reported in `spin-path-info`, and the most specific route winning.

use e2e::{HostConfig, fixture_manifest};
use serde_json::Value;

fn headers(host: &e2e::Host, path: &str) -> Value {
    let reply = host.get(path);
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    reply.json()
}

#[test]
fn named_segments_and_wildcards_reach_the_component_as_spins_headers() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();

    let item = headers(&host, "/routes/users/ada/items/42");
    assert_eq!(
        item["spin-matched-route"],
        "/routes/users/:user_id/items/:item"
    );
    assert_eq!(item["spin-path-match-user-id"], "ada");
    assert_eq!(item["spin-path-match-item"], "42");
    assert_eq!(item["spin-path-info"], "");

    let below = headers(&host, "/routes/users/ada/settings/theme/");
    assert_eq!(below["spin-matched-route"], "/routes/users/:user_id/...");
    assert_eq!(below["spin-component-route"], "/routes/users/:user_id");
    assert_eq!(
        below["spin-raw-component-route"],
        "/routes/users/:user_id/..."
    );
    assert_eq!(below["spin-path-match-user-id"], "ada");
    assert_eq!(below["spin-path-info"], "/settings/theme/");
    assert!(
        below.get("spin-path-match-item").is_none(),
        "only the matched route's parameters: {below}"
    );
}

#[test]
fn the_most_specific_route_wins() {
    let host = HostConfig::new(fixture_manifest()).start().unwrap();
    let matched = |path: &str| headers(&host, path)["spin-matched-route"].clone();
    // A literal segment beats a parameter at the same position.
    assert_eq!(matched("/routes/users/admin"), "/routes/users/admin");
    // A parameter beats the wildcard; past the literal route, the parameter route takes over.
    assert_eq!(
        matched("/routes/users/admin/x"),
        "/routes/users/:user_id/..."
    );
    assert_eq!(matched("/routes/users/ada"), "/routes/users/:user_id/...");
    // Where nothing more specific matches, the shortest wildcard does.
    assert_eq!(matched("/routes/users"), "/routes/...");
    assert_eq!(matched("/routes"), "/routes/...");
    assert_eq!(
        headers(&host, "/routes/other/x")["spin-path-info"],
        "/other/x"
    );
}
