use super::*;

fn read(address: &str, scheme: &str) -> Option<(String, String, Option<u16>)> {
    OutboundUrl::parse(address, scheme).map(|url| (url.scheme, url.host, url.port))
}

fn parts(scheme: &str, host: &str, port: Option<u16>) -> Option<(String, String, Option<u16>)> {
    Some((scheme.into(), host.into(), port))
}

#[test]
fn a_url_gives_its_own_scheme_host_and_port() {
    assert_eq!(
        read("redis://127.0.0.1:9", "redis"),
        parts("redis", "127.0.0.1", Some(9))
    );
    assert_eq!(
        read("mqtt://localhost:1883?client_id=spintest", "mqtt"),
        parts("mqtt", "localhost", Some(1883))
    );
    assert_eq!(read("MySQL://db/app", "mysql"), parts("mysql", "db", None));
    assert_eq!(
        read("rediss://[::1]:6380/0", "redis"),
        parts("rediss", "[::1]", Some(6380))
    );
}

#[test]
fn user_information_is_skipped_up_to_the_first_at_before_the_path() {
    assert_eq!(
        read("mysql://root:p@ss@db:3306/app", "mysql"),
        parts("mysql", "db", Some(3306))
    );
    assert_eq!(
        read("redis://:secret@cache", "redis"),
        parts("redis", "cache", None)
    );
    // An `@` after the path is part of the path.
    assert_eq!(
        read("mysql://db/app@x", "mysql"),
        parts("mysql", "db", None)
    );
}

#[test]
fn an_address_without_a_host_is_read_with_the_interfaces_scheme() {
    assert_eq!(
        read("localhost:6379", "redis"),
        parts("redis", "localhost", Some(6379))
    );
    assert_eq!(read("127.0.0.1", "mqtt"), parts("mqtt", "127.0.0.1", None));
}

#[test]
fn what_reads_as_no_url_is_none() {
    assert_eq!(OutboundUrl::parse_url("http://"), None);
    assert_eq!(read(":6379", "redis"), None);
    assert_eq!(
        read("redis://host:port", "redis"),
        parts("redis", "redis", None)
    );
    assert_eq!(
        read("mqtt://host:99999", "mqtt"),
        parts("mqtt", "mqtt", None)
    );
    assert_eq!(read("[::1", "redis"), None);
    assert_eq!(read("host:port", "redis"), None);
}

#[test]
fn an_empty_host_is_kept_only_where_urls_allow_one() {
    // `redis://` has an empty host, which only a `*` entry matches; `http://` has none.
    assert_eq!(read("", "redis"), parts("redis", "", None));
    assert_eq!(read("mqtt://user@", "mqtt"), parts("mqtt", "", None));
    assert_eq!(OutboundUrl::parse_url("https://"), None);
    // …so Spin reads it again behind the scheme, as `https://https://`, whose host is `https`.
    assert_eq!(read("https://", "https"), parts("https", "https", None));
}
