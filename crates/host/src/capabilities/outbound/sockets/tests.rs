use super::*;

fn address(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn tcp_connect_needs_a_tcp_or_wildcard_scheme_entry() {
    let allowed = AllowedHosts::parse(["tcp://127.0.0.1:5432", "http://127.0.0.1:80"]).unwrap();
    assert!(allows(
        &allowed,
        address("127.0.0.1:5432"),
        SocketAddrUse::TcpConnect
    ));
    assert!(!allows(
        &allowed,
        address("127.0.0.1:80"),
        SocketAddrUse::TcpConnect
    ));
    assert!(!allows(
        &allowed,
        address("127.0.0.2:5432"),
        SocketAddrUse::TcpConnect
    ));
    let cidr = AllowedHosts::parse(["*://127.0.0.0/24:*"]).unwrap();
    assert!(allows(
        &cidr,
        address("127.0.0.9:1"),
        SocketAddrUse::TcpConnect
    ));
    assert!(allows(
        &cidr,
        address("127.0.0.9:1"),
        SocketAddrUse::UdpSend
    ));
}

#[test]
fn only_the_implicit_bind_of_a_connect_is_allowed_and_listening_never() {
    let all = AllowedHosts::parse(["*://*:*"]).unwrap();
    assert!(allows(&all, address("0.0.0.0:0"), SocketAddrUse::TcpBind));
    assert!(allows(&all, address("[::]:0"), SocketAddrUse::TcpBind));
    assert!(!allows(
        &all,
        address("127.0.0.1:0"),
        SocketAddrUse::TcpBind
    ));
    assert!(!allows(
        &all,
        address("0.0.0.0:8080"),
        SocketAddrUse::TcpBind
    ));
    assert!(!allows(
        &all,
        address("0.0.0.0:8080"),
        SocketAddrUse::TcpListen
    ));
    assert!(!allows(
        &all,
        address("127.0.0.1:9"),
        SocketAddrUse::TcpAccept
    ));
}
