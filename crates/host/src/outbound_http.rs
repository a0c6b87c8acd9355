//! `wasi:http/outgoing-handler`: outbound requests, only to the component's `allowed_outbound_hosts`
//! (`scheme://host[:port]`, `*` wildcards as in Spin). A refused request is the guest-visible
//! `HTTP-request-denied` error code, never a trap.

use http_body_util::BodyExt;
use std::sync::Arc;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

#[derive(Debug, thiserror::Error)]
#[error("invalid allowed_outbound_hosts entry `{entry}`: {why}")]
pub struct AllowedHostError {
    entry: String,
    why: &'static str,
}

/// The parsed `allowed_outbound_hosts` of one component.
#[derive(Debug, Default, Clone)]
pub struct AllowedHosts(Vec<AllowedHost>);

#[derive(Debug, Clone)]
struct AllowedHost {
    /// None = any scheme.
    scheme: Option<String>,
    host: HostPattern,
    /// None = any port.
    port: Option<u16>,
}

#[derive(Debug, Clone)]
enum HostPattern {
    Any,
    /// `*.example.com`: any subdomain of `example.com`.
    SubdomainOf(String),
    Exact(String),
}

impl AllowedHosts {
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, AllowedHostError> {
        entries
            .into_iter()
            .map(AllowedHost::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.0
            .iter()
            .any(|allowed| allowed.allows(scheme, &host, port))
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHost {
    fn parse(entry: &str) -> Result<Self, AllowedHostError> {
        let error = |why| AllowedHostError {
            entry: entry.to_string(),
            why,
        };
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or_else(|| error("expected scheme://host[:port]"))?;
        if rest.contains('/') {
            return Err(error("must not contain a path"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => {
                (host, Some(port))
            }
            _ => (rest, None),
        };
        let port = match port {
            Some("*") => None,
            Some(port) => Some(
                port.parse()
                    .map_err(|_| error("port must be a number or *"))?,
            ),
            None => Some(
                default_port(scheme).ok_or_else(|| error("a port is required for this scheme"))?,
            ),
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            HostPattern::SubdomainOf(domain.to_string())
        } else if host.is_empty() || host.contains('*') {
            return Err(error("host must be a name, an address, `*` or `*.domain`"));
        } else {
            HostPattern::Exact(host)
        };
        let scheme = (scheme != "*").then(|| scheme.to_ascii_lowercase());
        Ok(Self { scheme, host, port })
    }

    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.scheme.as_deref().is_none_or(|s| s == scheme)
            && self.port.is_none_or(|p| p == port)
            && match &self.host {
                HostPattern::Any => true,
                HostPattern::SubdomainOf(domain) => host
                    .strip_suffix(domain.as_str())
                    .is_some_and(|sub| sub.ends_with('.')),
                HostPattern::Exact(exact) => exact == host,
            }
    }
}

/// Per-instance hooks: the default sender behind an allow-list check.
pub struct OutboundHooks {
    pub allowed: Arc<AllowedHosts>,
}

type SendFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: SendFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, SendFuture), Error>> + Send>
    {
        drop(fut);
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri
            .port_u16()
            .or_else(|| default_port(&scheme))
            .unwrap_or(0);
        if !self.allowed.allows(&scheme, &host, port) {
            tracing::warn!(%scheme, %host, port, "outbound request denied: not in allowed_outbound_hosts");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as SendFuture,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_wildcards_and_default_ports() {
        let hosts = AllowedHosts::parse([
            "http://127.0.0.1:5561",
            "https://*.example.com",
            "*://localhost:*",
        ])
        .unwrap();
        assert!(hosts.allows("http", "127.0.0.1", 5561));
        assert!(!hosts.allows("http", "127.0.0.1", 5562));
        assert!(!hosts.allows("https", "127.0.0.1", 5561));
        assert!(hosts.allows("https", "api.example.com", 443));
        assert!(!hosts.allows("https", "example.com", 443));
        assert!(!hosts.allows("https", "badexample.com", 443));
        assert!(!hosts.allows("https", "api.example.com", 8443));
        assert!(hosts.allows("http", "localhost", 9999));
        assert!(hosts.allows("https", "LOCALHOST", 1));
        assert!(!AllowedHosts::default().allows("http", "localhost", 80));
    }

    #[test]
    fn invalid_entries_are_refused() {
        for bad in [
            "localhost",
            "http://a/b",
            "redis://host",
            "http://a:port",
            "http://a*b",
        ] {
            assert!(AllowedHosts::parse([bad]).is_err(), "{bad}");
        }
    }
}
