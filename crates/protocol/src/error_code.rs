//! The *ext* `ERROR.code` values (docs/protocol.md §5): which rule refused a frame, for our own clients.
//! The compat `error` strings the Mirubato frontend shows are in [`crate::server_frame`].

pub const MESSAGE_TOO_LARGE: &str = "MESSAGE_TOO_LARGE";
pub const INVALID_JSON: &str = "INVALID_JSON";
pub const INVALID_UTF8: &str = "INVALID_UTF8";
pub const INVALID_FORMAT: &str = "INVALID_FORMAT";
pub const USER_ID_MISMATCH: &str = "USER_ID_MISMATCH";
pub const RATE_LIMITED: &str = "RATE_LIMITED";
pub const RATE_LIMITER_UNAVAILABLE: &str = "RATE_LIMITER_UNAVAILABLE";
pub const STORAGE_UNAVAILABLE: &str = "STORAGE_UNAVAILABLE";
pub const WRITE_FAILED: &str = "WRITE_FAILED";
pub const AUTH_FAILED: &str = "AUTH_FAILED";
