//! The hosts and ports a PostgreSQL connection string names, read as tokio-postgres (which Spin
//! uses) reads them, for Spin's permission check: a URL
//! (`postgres://user:secret@host:5432,other/db?host=third`) or key-value pairs
//! (`host=a,b port=5432 dbname=x`). Only `host` and `port` are read; other options are left to the
//! connection, which sync-host never makes.

/// Where a connection string points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostgresHost {
    Tcp(String),
    /// A socket directory (a host starting with `/`), which WebAssembly cannot reach.
    Unix,
}

/// The hosts and ports of a connection string, in the order given.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PostgresTargets {
    pub hosts: Vec<PostgresHost>,
    pub ports: Vec<u16>,
}

/// Why tokio-postgres would not read a connection string.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PostgresAddressError {
    #[error("invalid configuration: invalid value for option `{0}`")]
    InvalidValue(&'static str),
    #[error("invalid configuration: unterminated parameter")]
    UnterminatedParameter,
    #[error("invalid configuration: expected `=` after `{0}`")]
    MissingEquals(String),
    #[error("invalid configuration: unterminated quoted connection parameter value")]
    UnterminatedQuote,
    #[error("invalid configuration: a value is missing after `{0}=`")]
    MissingValue(String),
    #[error("invalid configuration: invalid percent-encoding")]
    InvalidEncoding,
}

impl PostgresTargets {
    /// Each host with the port it is reached on: the port at its position, else the only port
    /// given, else none (the scheme's default).
    pub fn hosts_with_ports(&self) -> impl Iterator<Item = (&PostgresHost, Option<u16>)> {
        self.hosts.iter().enumerate().map(|(index, host)| {
            let port = match self.ports.as_slice() {
                [only] => Some(*only),
                ports => ports.get(index).copied(),
            };
            (host, port)
        })
    }

    fn add_host(&mut self, host: &str) {
        self.hosts.push(if host.starts_with('/') {
            PostgresHost::Unix
        } else {
            PostgresHost::Tcp(host.to_string())
        });
    }

    /// A `port` value: comma-separated, an empty item meaning 5432.
    fn add_ports(&mut self, value: &str) -> Result<(), PostgresAddressError> {
        for port in value.split(',') {
            self.ports.push(if port.is_empty() {
                5432
            } else {
                port.parse()
                    .map_err(|_| PostgresAddressError::InvalidValue("port"))?
            });
        }
        Ok(())
    }
}

pub fn parse(connection_string: &str) -> Result<PostgresTargets, PostgresAddressError> {
    let url = ["postgres://", "postgresql://"]
        .iter()
        .find_map(|prefix| connection_string.strip_prefix(prefix));
    match url {
        Some(rest) => parse_url(rest),
        None => parse_key_values(connection_string),
    }
}

fn parse_url(rest: &str) -> Result<PostgresTargets, PostgresAddressError> {
    let mut targets = PostgresTargets::default();
    // tokio-postgres takes everything up to the first `@` as credentials.
    let rest = rest.split_once('@').map_or(rest, |(_, after)| after);
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (hosts, rest) = rest.split_at(host_end);
    if !hosts.is_empty() {
        for chunk in hosts.split(',') {
            let (host, port) = split_host_chunk(chunk)?;
            targets.add_host(&percent_decode(host)?);
            targets.add_ports(&percent_decode(port.unwrap_or("5432"))?)?;
        }
    }
    let Some((_, query)) = rest.split_once('?') else {
        return Ok(targets);
    };
    let mut query = query;
    while !query.is_empty() {
        let (key, after) = query
            .split_once('=')
            .ok_or(PostgresAddressError::UnterminatedParameter)?;
        let (value, next) = after.split_once('&').unwrap_or((after, ""));
        match percent_decode(key)?.as_str() {
            "host" => targets.add_host(&percent_decode(value)?),
            "port" => targets.add_ports(&percent_decode(value)?)?,
            _ => {}
        }
        query = next;
    }
    Ok(targets)
}

/// `host[:port]` or `[v6-address][:port]` in a URL's host list.
fn split_host_chunk(chunk: &str) -> Result<(&str, Option<&str>), PostgresAddressError> {
    let Some(bracketed) = chunk.strip_prefix('[') else {
        return Ok(match chunk.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (chunk, None),
        });
    };
    let (host, after) = bracketed
        .split_once(']')
        .ok_or(PostgresAddressError::InvalidValue("host"))?;
    match after {
        "" => Ok((host, None)),
        _ => after
            .strip_prefix(':')
            .map(|port| (host, Some(port)))
            .ok_or(PostgresAddressError::InvalidValue("host")),
    }
}

fn percent_decode(text: &str) -> Result<String, PostgresAddressError> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded).map_err(|_| PostgresAddressError::InvalidEncoding)
}

/// `key=value` pairs separated by whitespace; a value may be single-quoted, and `\` escapes the
/// next character.
fn parse_key_values(text: &str) -> Result<PostgresTargets, PostgresAddressError> {
    let mut targets = PostgresTargets::default();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        if key.is_empty() {
            return Ok(targets);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            return Err(PostgresAddressError::MissingEquals(key));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(PostgresAddressError::UnterminatedQuote),
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                match c {
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
            if value.is_empty() {
                return Err(PostgresAddressError::MissingValue(key));
            }
        }
        match key.as_str() {
            "host" => value.split(',').for_each(|host| targets.add_host(host)),
            "port" => targets.add_ports(&value)?,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
