//! `allowed_outbound_hosts`, parsed and matched as Spin does: each entry is
//! `scheme://host[:port]` where the scheme is a name or `*`; the host a name, an IP address, `*`,
//! `*.domain` (subdomains only) or a CIDR range (`127.0.0.0/24`); the port a number, `*`, or a
//! range `a..b` (end excluded), defaulting to the scheme's well-known port. Outbound HTTP and
//! `wasi:sockets` (as `tcp://` and `udp://`) are both fenced by it.

use std::net::IpAddr;

#[derive(Debug, thiserror::Error)]
#[error("invalid allowed_outbound_hosts entry `{entry}`: {why}")]
pub struct AllowedHostError {
    entry: String,
    why: String,
}

/// The parsed `allowed_outbound_hosts` of one component.
#[derive(Debug, Default, Clone)]
pub struct AllowedHosts(Vec<AllowedHost>);

#[derive(Debug, Clone)]
struct AllowedHost {
    /// None = any scheme.
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone)]
enum HostPattern {
    Any,
    /// `*.example.com`, kept as `.example.com`: any subdomain, not the domain itself.
    SubdomainOf(String),
    Domain(String),
    Address(IpAddr),
    Network(Network),
}

#[derive(Debug, Clone)]
enum PortPattern {
    Any,
    One(u16),
    /// `start..end`, end excluded.
    Range(u16, u16),
}

/// An IP network: the address with its host bits cleared, and the prefix length.
#[derive(Debug, Clone, PartialEq)]
struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = text.split_once('/')?;
        let address: IpAddr = address.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let width = if address.is_ipv4() { 32 } else { 128 };
        // Like Spin, host bits below the prefix are dropped rather than refused.
        (prefix <= width).then(|| Self {
            base: mask(address, prefix),
            prefix,
        })
    }

    fn contains(&self, address: IpAddr) -> bool {
        address.is_ipv4() == self.base.is_ipv4() && mask(address, self.prefix) == self.base
    }
}

fn mask(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & keep).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & keep).into())
        }
    }
}

/// The port Spin assumes when an entry or a URL names none.
pub fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// A host as a request names it: an IP address, or a lower-case domain name.
enum RequestHost {
    Address(IpAddr),
    Domain(String),
}

impl RequestHost {
    fn parse(host: &str) -> Self {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse() {
            Ok(address) => RequestHost::Address(address),
            Err(_) => RequestHost::Domain(host.to_ascii_lowercase()),
        }
    }
}

impl AllowedHosts {
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, AllowedHostError> {
        let entries: Vec<&str> = entries.into_iter().collect();
        if entries == ["insecure:allow-all"] {
            return Err(AllowedHostError {
                entry: entries[0].to_string(),
                why: "not accepted (as on Spin); write `*://*:*` to allow everything".into(),
            });
        }
        entries
            .into_iter()
            .map(AllowedHost::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether a connection to `host:port` with `scheme` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = RequestHost::parse(host);
        self.0
            .iter()
            .any(|allowed| allowed.allows(&scheme, &host, port))
    }
}

impl AllowedHost {
    fn parse(entry: &str) -> Result<Self, AllowedHostError> {
        let error = |why: &str| AllowedHostError {
            entry: entry.to_string(),
            why: why.to_string(),
        };
        let trimmed = entry.trim();
        let (scheme, rest) = trimmed
            .split_once("://")
            .ok_or_else(|| error("expected scheme://host[:port] (`*` allowed in each part)"))?;
        let (host, port) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match port.split_once('/') {
            Some((_, path)) if !path.is_empty() => return Err(error("must not contain a path")),
            Some((port, _)) => port,
            None => port,
        };
        let scheme = if scheme == "*" {
            None
        } else if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()) {
            Some(scheme.to_ascii_lowercase())
        } else {
            return Err(error("the scheme must be a name (letters only) or `*`"));
        };
        let port =
            match port {
                "" => PortPattern::One(scheme.as_deref().and_then(well_known_port).ok_or_else(
                    || error("this scheme has no default port; add `:port` or `:*`"),
                )?),
                "*" => PortPattern::Any,
                range if range.contains("..") => {
                    let (start, end) = range.split_once("..").unwrap_or_default();
                    match (start.parse(), end.parse()) {
                        (Ok(start), Ok(end)) => PortPattern::Range(start, end),
                        _ => return Err(error("a port range is `start..end` with numbers")),
                    }
                }
                number => PortPattern::One(
                    number
                        .parse()
                        .map_err(|_| error("the port must be a number, a range or `*`"))?,
                ),
            };
        Ok(Self {
            scheme,
            host: HostPattern::parse(host.trim()).map_err(error)?,
            port,
        })
    }

    fn allows(&self, scheme: &str, host: &RequestHost, port: u16) -> bool {
        self.scheme.as_deref().is_none_or(|s| s == scheme)
            && match self.port {
                PortPattern::Any => true,
                PortPattern::One(allowed) => allowed == port,
                PortPattern::Range(start, end) => (start..end).contains(&port),
            }
            && match (&self.host, host) {
                (HostPattern::Any, _) => true,
                (HostPattern::SubdomainOf(suffix), RequestHost::Domain(domain)) => {
                    domain.ends_with(suffix.as_str())
                }
                (HostPattern::Domain(allowed), RequestHost::Domain(domain)) => allowed == domain,
                (HostPattern::Address(allowed), RequestHost::Address(address)) => {
                    allowed == address
                }
                (HostPattern::Network(network), RequestHost::Address(address)) => {
                    network.contains(*address)
                }
                _ => false,
            }
    }
}

impl HostPattern {
    fn parse(host: &str) -> Result<Self, &'static str> {
        if host == "*" {
            return Ok(HostPattern::Any);
        }
        if host == "self" || host == "self.alt" {
            return Err("requests to the app itself (`self`) are not implemented by sync-host");
        }
        if host.starts_with('{') {
            return Err("host lists are not supported");
        }
        if let Some(network) = Network::parse(host) {
            return Ok(HostPattern::Network(network));
        }
        let host = host.trim_end_matches('/');
        if host.contains('/') {
            return Err("must not contain a path");
        }
        if host == "spin.internal" || host.ends_with(".spin.internal") {
            return Err("service chaining (`*.spin.internal`) is not implemented by sync-host");
        }
        if let Some(domain) = host.strip_prefix("*.") {
            if domain.is_empty() || domain.contains('*') {
                return Err("a wildcard is allowed only as the whole first label, as `*.domain`");
            }
            return Ok(HostPattern::SubdomainOf(format!(
                ".{}",
                domain.to_ascii_lowercase()
            )));
        }
        if host.is_empty() || host.contains('*') {
            return Err("the host must be a name, an address, a CIDR range, `*` or `*.domain`");
        }
        Ok(match RequestHost::parse(host) {
            RequestHost::Address(address) => HostPattern::Address(address),
            RequestHost::Domain(domain) => HostPattern::Domain(domain),
        })
    }
}

#[cfg(test)]
mod tests;
