use super::*;

/// Where the Mirubato frontend's dev build connects (`ws://localhost:8787/sync/ws`), and the
/// other defaults `scripts/run` and the README rely on.
#[test]
fn up_listens_where_the_frontends_dev_build_connects() {
    let Command::Up(up) = Cli::parse_from(["sync-host", "up"]).command else {
        panic!("`up` parses as Up");
    };
    assert_eq!(up.gateway_listen, "127.0.0.1:8787".parse().unwrap());
    assert_eq!(up.listen, "127.0.0.1:3000".parse().unwrap());
    assert_eq!(up.publish_listen, "127.0.0.1:5561".parse().unwrap());
}
