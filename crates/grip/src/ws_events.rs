//! The WebSocket-over-HTTP event codec (docs/protocol.md §7; Pushpin's `application/websocket-events`):
//! a body is a sequence of `TYPE\r\n` or `TYPE HEXLEN\r\nCONTENT\r\n` events. Decoding is strict —
//! a body that does not parse whole is an error, never a panic and never a partial result.

use std::fmt;

/// The media type of request and response bodies, exactly.
pub const CONTENT_TYPE: &str = "application/websocket-events";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Open,
    Text,
    Binary,
    Ping,
    Pong,
    Close,
    Disconnect,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Open => "OPEN",
            EventKind::Text => "TEXT",
            EventKind::Binary => "BINARY",
            EventKind::Ping => "PING",
            EventKind::Pong => "PONG",
            EventKind::Close => "CLOSE",
            EventKind::Disconnect => "DISCONNECT",
        }
    }

    fn parse(word: &[u8]) -> Option<Self> {
        Some(match word {
            b"OPEN" => EventKind::Open,
            b"TEXT" => EventKind::Text,
            b"BINARY" => EventKind::Binary,
            b"PING" => EventKind::Ping,
            b"PONG" => EventKind::Pong,
            b"CLOSE" => EventKind::Close,
            b"DISCONNECT" => EventKind::Disconnect,
            _ => return None,
        })
    }
}

/// One event. Content is kept as bytes: TEXT is UTF-8 by contract, BINARY and CLOSE are not.
#[derive(Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub content: Vec<u8>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?}",
            self.kind.as_str(),
            String::from_utf8_lossy(&self.content)
        )
    }
}

impl Event {
    pub fn new(kind: EventKind) -> Self {
        Self {
            kind,
            content: Vec::new(),
        }
    }

    pub fn text(text: impl Into<String>) -> Self {
        Self {
            kind: EventKind::Text,
            content: text.into().into_bytes(),
        }
    }

    /// A CLOSE carrying a status code and an optional reason.
    pub fn close(code: u16, reason: &str) -> Self {
        let mut content = code.to_be_bytes().to_vec();
        content.extend_from_slice(reason.as_bytes());
        Self {
            kind: EventKind::Close,
            content,
        }
    }

    /// The content as text, if it is UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.content).ok()
    }

    /// A CLOSE event's code and reason; `None` when it carries no code.
    pub fn close_code(&self) -> Option<(u16, String)> {
        if self.kind != EventKind::Close || self.content.len() < 2 {
            return None;
        }
        let code = u16::from_be_bytes([self.content[0], self.content[1]]);
        Some((
            code,
            String::from_utf8_lossy(&self.content[2..]).into_owned(),
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("event at byte {0} has no CRLF-terminated header line")]
    UnterminatedHeader(usize),
    #[error("event at byte {0} has an unknown type")]
    UnknownType(usize),
    #[error("event at byte {0} has an invalid hex length")]
    BadLength(usize),
    #[error("event at byte {0} claims more content than the body holds")]
    Truncated(usize),
    #[error("event at byte {0}: content is not followed by CRLF")]
    MissingContentTerminator(usize),
}

/// Longest header line accepted (`DISCONNECT ffffffffffffffff` fits with room to spare).
const MAX_HEADER_LINE: usize = 32;

/// Decodes a whole body. An empty body (a keep-alive request) is no events.
pub fn decode(body: &[u8]) -> Result<Vec<Event>, DecodeError> {
    let mut events = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let line_end = body[at..]
            .windows(2)
            .take(MAX_HEADER_LINE)
            .position(|w| w == b"\r\n")
            .map(|i| at + i)
            .ok_or(DecodeError::UnterminatedHeader(at))?;
        let line = &body[at..line_end];
        let (word, length) = match line.iter().position(|b| *b == b' ') {
            Some(space) => (&line[..space], Some(&line[space + 1..])),
            None => (line, None),
        };
        let kind = EventKind::parse(word).ok_or(DecodeError::UnknownType(at))?;
        let content_start = line_end + 2;
        let Some(length) = length else {
            events.push(Event::new(kind));
            at = content_start;
            continue;
        };
        let length = std::str::from_utf8(length)
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .ok_or(DecodeError::BadLength(at))?;
        let content_end = content_start
            .checked_add(length)
            .ok_or(DecodeError::BadLength(at))?;
        if content_end > body.len() {
            return Err(DecodeError::Truncated(at));
        }
        if body.get(content_end..content_end + 2) != Some(b"\r\n".as_slice()) {
            return Err(DecodeError::MissingContentTerminator(at));
        }
        events.push(Event {
            kind,
            content: body[content_start..content_end].to_vec(),
        });
        at = content_end + 2;
    }
    Ok(events)
}

/// Encodes events; events without content are written without a length, as Pushpin does.
pub fn encode(events: &[Event]) -> Vec<u8> {
    let mut body = Vec::with_capacity(events.iter().map(|e| e.content.len() + 16).sum());
    for event in events {
        body.extend_from_slice(event.kind.as_str().as_bytes());
        if !event.content.is_empty() {
            body.extend_from_slice(format!(" {:x}", event.content.len()).as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        if !event.content.is_empty() {
            body.extend_from_slice(&event.content);
            body.extend_from_slice(b"\r\n");
        }
    }
    body
}

#[cfg(test)]
mod tests;
