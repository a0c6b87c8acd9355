//! The refusals Spin answers before one of these interfaces would reach its service, so that a
//! component sees on sync-host what it would see on Spin up to the point where Spin would connect:
//!
//! - Redis, MQTT, MySQL: the address `open` is given must match the component's
//!   `allowed_outbound_hosts` (read as `outbound_url` reads it, with the interface's scheme);
//!   Redis answers `invalid-address`, MQTT and MySQL `connection-failed("address <address> is not
//!   permitted")`.
//! - PostgreSQL: every host of the connection string (see `postgres_hosts`) must match, as
//!   `postgres://<host>[:<port>]`; a refused host answers `connection-failed("address
//!   postgres://<host>[:<port>] is not permitted")`, an unreadable string `connection-failed` with
//!   why.
//! - LLM: the model must be in the component's `ai_models`. sync-host refuses `ai_models` in the
//!   manifest, so no component has a model and every call answers Spin's `invalid-input`.
//!
//! Spin 3.6 and 4 answer these the same for the 2.0.0 interfaces.

use super::outbound_url::OutboundUrl;
use super::postgres_hosts::{self, PostgresHost};
use crate::capabilities::outbound::allowed_hosts::{AllowedHosts, well_known_port};
use crate::capabilities::refusals::ErrorCase;
use wasmtime::component::Val;

pub const REDIS: &str = "fermyon:spin/redis@2.0.0";
pub const MQTT: &str = "fermyon:spin/mqtt@2.0.0";
pub const POSTGRES: &str = "fermyon:spin/postgres@2.0.0";
pub const MYSQL: &str = "fermyon:spin/mysql@2.0.0";
pub const LLM: &str = "fermyon:spin/llm@2.0.0";

/// The connection constructor of the Redis, MQTT, PostgreSQL and MySQL interfaces; its first
/// argument is the address.
const OPEN: &str = "[static]connection.open";

/// Store data that knows what its component may connect to.
pub trait OutboundGrant {
    fn allowed_outbound_hosts(&self) -> &AllowedHosts;
}

/// The refusal Spin answers `function` of `interface` with before using the service, if any.
pub fn refusal_before_use<T: OutboundGrant>(
    data: &T,
    interface: &str,
    function: &str,
    params: &[Val],
) -> Option<ErrorCase> {
    let Some(Val::String(first)) = params.first() else {
        return None;
    };
    let allowed = data.allowed_outbound_hosts();
    match (interface, function) {
        (REDIS, OPEN) => (!permits(allowed, first, "redis")).then_some(ErrorCase {
            case: "invalid-address",
            message: None,
        }),
        (MQTT, OPEN) => (!permits(allowed, first, "mqtt")).then(|| not_permitted(first)),
        (MYSQL, OPEN) => (!permits(allowed, first, "mysql")).then(|| not_permitted(first)),
        (POSTGRES, OPEN) => postgres_refusal(allowed, first),
        (LLM, "infer" | "generate-embeddings") => Some(model_not_granted(first)),
        _ => None,
    }
}

/// Whether `address` may be connected to, as Spin's `check_url(address, scheme)` decides: an
/// address it cannot read is permitted nowhere.
fn permits(allowed: &AllowedHosts, address: &str, scheme: &str) -> bool {
    let Some(url) = OutboundUrl::parse(address, scheme) else {
        return false;
    };
    // A scheme without a well-known port and no port given: only a `*` port entry can match, and
    // port 0 (which no entry names) is what such a request is matched as.
    let port = url
        .port
        .or_else(|| well_known_port(&url.scheme))
        .unwrap_or(0);
    allowed.allows(&url.scheme, &url.host, port)
}

fn connection_failed(message: String) -> ErrorCase {
    ErrorCase {
        case: "connection-failed",
        message: Some(message),
    }
}

fn not_permitted(address: &str) -> ErrorCase {
    connection_failed(format!("address {address} is not permitted"))
}

fn postgres_refusal(allowed: &AllowedHosts, connection_string: &str) -> Option<ErrorCase> {
    let targets = match postgres_hosts::parse(connection_string) {
        Ok(targets) => targets,
        Err(error) => return Some(connection_failed(error.to_string())),
    };
    for (host, port) in targets.hosts_with_ports() {
        let host = match host {
            PostgresHost::Tcp(host) => host,
            PostgresHost::Unix => {
                return Some(connection_failed(
                    "Unix sockets are not supported on WebAssembly".into(),
                ));
            }
        };
        let address = match port {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        if !permits(allowed, &address, "postgres") {
            return Some(connection_failed(format!(
                "address postgres://{address} is not permitted"
            )));
        }
    }
    None
}

fn model_not_granted(model: &str) -> ErrorCase {
    ErrorCase {
        case: "invalid-input",
        message: Some(format!(
            "The component does not have access to use '{model}'. To give the component access, add '{model}' to the 'ai_models' key for the component in your spin.toml manifest"
        )),
    }
}

#[cfg(test)]
mod tests;
