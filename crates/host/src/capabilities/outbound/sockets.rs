//! `wasi:sockets`: TCP and UDP only to the component's `allowed_outbound_hosts`, as Spin fences
//! them: a TCP connect must be allowed as `tcp://address:port` and UDP as `udp://address:port`
//! (by an entry such as `tcp://127.0.0.1:5432`, `*://10.0.0.0/8:*` or `*://*:*`); listening is never
//! allowed. A refused address is the interface's `access-denied` error code, never a trap. Name
//! lookup stays off, as on Spin: guests connect to addresses.

use crate::capabilities::outbound::allowed_hosts::AllowedHosts;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use wasmtime_wasi::sockets::SocketAddrUse;

type CheckFuture = Pin<Box<dyn Future<Output = bool> + Send + Sync>>;

/// Whether `allowed` lets a guest use `address` for `usage`.
pub fn allows(allowed: &AllowedHosts, address: SocketAddr, usage: SocketAddrUse) -> bool {
    let scheme = match usage {
        SocketAddrUse::TcpConnect => "tcp",
        // Before a connect, wasmtime checks the implicit bind to the unspecified address with an
        // ephemeral port; Spin's runtime has no such step. Allowing exactly that keeps connect
        // working while explicit binds (and so listening) stay refused, as on Spin.
        SocketAddrUse::TcpBind => {
            return address.ip().is_unspecified() && address.port() == 0;
        }
        SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => return false,
        SocketAddrUse::UdpBind | SocketAddrUse::UdpSend => "udp",
        // Spin does not filter incoming datagrams by sender.
        SocketAddrUse::UdpReceive => return true,
    };
    allowed.allows(scheme, &address.ip().to_string(), address.port())
}

/// The check to install with `WasiCtxBuilder::socket_addr_check` for one component.
pub fn addr_check(
    allowed: Arc<AllowedHosts>,
) -> impl Fn(SocketAddr, SocketAddrUse) -> CheckFuture + Send + Sync + 'static {
    move |address, usage| {
        let allowed = allows(&allowed, address, usage);
        if !allowed {
            tracing::warn!(%address, ?usage, "socket use denied: not in allowed_outbound_hosts");
        }
        Box::pin(async move { allowed })
    }
}

#[cfg(test)]
mod tests;
