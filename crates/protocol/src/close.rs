//! WebSocket close codes and reasons (docs/protocol.md §5, §8), named once for the coordinator and the
//! gateway. The Mirubato client reconnects on every code but 1000, so each says why it ended.

/// A close the client asked for, echoed back.
pub const NORMAL: u16 = 1000;
/// A frame that breaks the WebSocket protocol (RFC 6455 §7.4.1).
pub const PROTOCOL_ERROR: u16 = 1002;
/// The client's close carried no code (RFC 6455 §7.1.5); never sent on the wire.
pub const NO_STATUS: u16 = 1005;
/// A text frame that is not UTF-8 (RFC 6455 §7.4.1).
pub const INVALID_PAYLOAD: u16 = 1007;
/// Too many invalid frames or rate-limit refusals on one connection.
pub const POLICY_VIOLATION: u16 = 1008;
/// A frame over the size limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// No valid credentials, or the token expired past its grace.
pub const AUTHENTICATION: u16 = 4001;
/// The user opened more connections than allowed; the oldest is closed.
pub const TOO_MANY_CONNECTIONS: u16 = 4002;

pub const REASON_AUTHENTICATION_REQUIRED: &str = "authentication required";
pub const REASON_TOKEN_EXPIRED: &str = "token expired";
pub const REASON_TOO_MANY_CONNECTIONS: &str = "too many connections";
pub const REASON_POLICY_VIOLATION: &str = "policy violation";
pub const REASON_MESSAGE_TOO_BIG: &str = "message too large";
pub const REASON_INVALID_PAYLOAD: &str = "invalid UTF-8";
pub const REASON_PROTOCOL_ERROR: &str = "protocol error";
