//! An address a component passes to an outbound interface, read as Spin reads it before matching
//! it against `allowed_outbound_hosts`: as a URL (`redis://host:6379`, `mqtt://host?client_id=x`,
//! `mysql://user:secret@host/db`) when that gives a host, else with the interface's scheme put in
//! front (`host:6379` is read as `redis://host:6379`). Only the scheme, host and port matter.

/// The parts of an address that `allowed_outbound_hosts` is matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundUrl {
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
}

impl OutboundUrl {
    /// None when neither `address` nor `<default_scheme>://<address>` reads as a URL with a host
    /// (which Spin permits nowhere).
    pub fn parse(address: &str, default_scheme: &str) -> Option<Self> {
        Self::parse_url(address)
            .or_else(|| Self::parse_url(&format!("{default_scheme}://{address}")))
    }

    fn parse_url(text: &str) -> Option<Self> {
        let (scheme, rest) = text.split_once("://")?;
        let mut letters = scheme.chars();
        let scheme_is_valid = letters.next().is_some_and(|c| c.is_ascii_alphabetic())
            && letters.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_is_valid {
            return None;
        }
        // Spin treats everything before the first `@` ahead of the path as user information, even
        // a `?` or `#` in it (it escapes that part before parsing).
        let rest = match (rest.find('@'), rest.find('/')) {
            (Some(at), Some(slash)) if at < slash => &rest[at + 1..],
            (Some(at), None) => &rest[at + 1..],
            _ => rest,
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_and_port = authority.rsplit('@').next().unwrap_or_default();
        let (host, port) = split_host_port(host_and_port)?;
        let scheme = scheme.to_ascii_lowercase();
        // As URLs are parsed: an empty host is no host before a port or in a special scheme's
        // URL, and an empty host (which only a `*` entry matches) otherwise.
        if host.is_empty() && (host_and_port.contains(':') || is_special(&scheme)) {
            return None;
        }
        Some(Self {
            scheme,
            host: host.to_string(),
            port,
        })
    }
}

/// The schemes whose URLs the URL standard parses with a required host.
fn is_special(scheme: &str) -> bool {
    matches!(scheme, "http" | "https" | "ws" | "wss" | "ftp")
}

/// `host[:port]` or `[v6-address][:port]`; an empty port is no port, a malformed one no URL.
fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if text.starts_with('[') {
        let end = text.find(']')? + 1;
        let port = match &text[end..] {
            "" => None,
            rest => Some(rest.strip_prefix(':')?),
        };
        (&text[..end], port)
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(digits) if digits.chars().all(|c| c.is_ascii_digit()) => Some(digits.parse().ok()?),
        Some(_) => return None,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests;
