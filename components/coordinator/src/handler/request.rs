//! A request as the handler reads it: its headers, and for `/sync/ws` its query and body.

/// An HTTP request's headers as they arrived: lowercase names, repeats kept in order.
pub struct Headers<'a>(pub &'a [(String, String)]);

impl Headers<'_> {
    /// The first value of `name` (lowercase).
    pub fn get(&self, name: &str) -> Option<String> {
        self.all(name).next().map(str::to_string)
    }

    /// The first value of `name` (lowercase), parsed; `None` when absent or unparsable.
    pub fn parsed<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.all(name).next()?.parse().ok()
    }

    /// Every value of `name` (lowercase), in order.
    pub fn all<'b>(&'b self, name: &'b str) -> impl Iterator<Item = &'b str> + 'b {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a WebSocket-over-HTTP request carries.
pub struct WsRequest<'a> {
    pub query: &'a str,
    pub headers: Headers<'a>,
    pub body: &'a [u8],
}

/// The query parameter `name`, decoded; `None` when absent or empty.
pub(super) fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}
