//! Fixture for `wasi:sockets`: `GET …/connect?<ipv4>:<port>` opens a TCP connection through
//! `wasi:sockets/tcp` and answers 200 `connected`, or 403 with the interface's error code (e.g.
//! `access-denied`) when the host refuses the address, or 502 with any other error code.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use wasi::sockets::instance_network::instance_network;
use wasi::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
use wasi::sockets::tcp_create_socket::create_tcp_socket;

fn parse(address: &str) -> Option<IpSocketAddress> {
    let address: std::net::SocketAddrV4 = address.parse().ok()?;
    let [a, b, c, d] = address.ip().octets();
    Some(IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port: address.port(),
        address: (a, b, c, d),
    }))
}

fn connect(address: IpSocketAddress) -> Result<(), ErrorCode> {
    let network = instance_network();
    let socket = create_tcp_socket(IpAddressFamily::Ipv4)?;
    socket.start_connect(&network, address)?;
    let ready = socket.subscribe();
    // `finish-connect` answers `would-block` until the connection attempt has an outcome; the
    // pollable resolves on that outcome, so each round waits for an event, not a timer.
    loop {
        match socket.finish_connect() {
            Err(ErrorCode::WouldBlock) => ready.block(),
            Err(error) => return Err(error),
            Ok(_streams) => return Ok(()),
        }
    }
}

#[http_component]
fn handle(req: Request) -> Response {
    let (status, body) = match parse(req.query()) {
        None => (400, "query must be <ipv4>:<port>".to_string()),
        Some(address) => match connect(address) {
            Ok(()) => (200, "connected".to_string()),
            Err(ErrorCode::AccessDenied) => (403, "access-denied".to_string()),
            Err(error) => (502, format!("{error:?}")),
        },
    };
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body)
        .build()
}
