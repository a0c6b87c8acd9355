//! Outbound network access: HTTP requests and sockets, fenced by `allowed_outbound_hosts`.

pub mod allowed_hosts;
pub mod http;
pub mod sockets;
