use super::*;

fn hosts(entries: &[&str]) -> AllowedHosts {
    AllowedHosts::parse(entries.iter().copied()).unwrap()
}

#[test]
fn exact_hosts_wildcards_and_default_ports() {
    let hosts = hosts(&[
        "http://127.0.0.1:5561",
        "https://*.example.com",
        "*://localhost:*",
    ]);
    assert!(hosts.allows("http", "127.0.0.1", 5561));
    assert!(!hosts.allows("http", "127.0.0.1", 5562));
    assert!(!hosts.allows("https", "127.0.0.1", 5561));
    assert!(hosts.allows("https", "api.example.com", 443));
    assert!(!hosts.allows("https", "example.com", 443));
    assert!(!hosts.allows("https", "badexample.com", 443));
    assert!(!hosts.allows("https", "api.example.com", 8443));
    assert!(hosts.allows("http", "localhost", 9999));
    assert!(hosts.allows("tcp", "LOCALHOST", 1));
    assert!(!AllowedHosts::default().allows("http", "localhost", 80));
}

#[test]
fn well_known_ports_of_spin_schemes_apply_when_none_is_given() {
    let hosts = hosts(&[
        "redis://cache.internal",
        "postgres://db.internal",
        "mqtt://broker",
    ]);
    assert!(hosts.allows("redis", "cache.internal", 6379));
    assert!(hosts.allows("postgres", "db.internal", 5432));
    assert!(hosts.allows("mqtt", "broker", 1883));
    assert!(!hosts.allows("redis", "cache.internal", 6380));
}

#[test]
fn cidr_ranges_match_addresses_not_names() {
    let hosts = hosts(&[
        "*://127.0.0.0/24:*",
        "tcp://[::1]:7000",
        "udp://fd00::/8:53",
    ]);
    assert!(hosts.allows("tcp", "127.0.0.1", 1234));
    assert!(hosts.allows("http", "127.0.0.255", 80));
    assert!(!hosts.allows("tcp", "127.0.1.1", 1234));
    assert!(!hosts.allows("tcp", "localhost", 1234));
    assert!(hosts.allows("tcp", "::1", 7000));
    assert!(hosts.allows("tcp", "[::1]", 7000));
    assert!(hosts.allows("udp", "fdab::1", 53));
    assert!(!hosts.allows("udp", "fe80::1", 53));
    // Host bits below the prefix are dropped, as Spin does.
    assert!(hosts_with("*://10.1.2.3/8:*").allows("tcp", "10.200.0.1", 1));
}

fn hosts_with(entry: &str) -> AllowedHosts {
    hosts(&[entry])
}

#[test]
fn port_ranges_exclude_their_end() {
    let hosts = hosts_with("tcp://127.0.0.1:8000..8002");
    assert!(hosts.allows("tcp", "127.0.0.1", 8000));
    assert!(hosts.allows("tcp", "127.0.0.1", 8001));
    assert!(!hosts.allows("tcp", "127.0.0.1", 8002));
}

#[test]
fn the_scheme_must_match_exactly_unless_it_is_a_wildcard() {
    let hosts = hosts_with("http://127.0.0.1:9000");
    assert!(!hosts.allows("tcp", "127.0.0.1", 9000));
    assert!(hosts_with("*://127.0.0.1:9000").allows("tcp", "127.0.0.1", 9000));
}

#[test]
fn a_trailing_slash_is_accepted_and_a_path_refused() {
    assert!(hosts_with("https://example.com/").allows("https", "example.com", 443));
    assert!(AllowedHosts::parse(["https://example.com/api"]).is_err());
    assert!(AllowedHosts::parse(["https://example.com:443/api"]).is_err());
}

#[test]
fn invalid_and_unimplemented_entries_are_refused() {
    for bad in [
        "localhost",
        "*",
        "tcp://host",
        "http://a:port",
        "http://a*b",
        "http://*.a*.b",
        "ht-tp://a",
        "http://self",
        "http://*.spin.internal",
        "http://{a,b}",
    ] {
        assert!(AllowedHosts::parse([bad]).is_err(), "{bad}");
    }
    let error = AllowedHosts::parse(["insecure:allow-all"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("*://*:*"), "{error}");
}

#[test]
fn an_empty_entry_is_refused_as_spin_refuses_it() {
    // Spin parses every rendered entry and an empty one is no host; an optional gateway therefore
    // needs a real (never resolving) host, not an empty variable.
    for empty in ["", "http://", "https://"] {
        assert!(AllowedHosts::parse([empty]).is_err(), "{empty:?}");
    }
}
