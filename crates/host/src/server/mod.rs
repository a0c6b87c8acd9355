//! Serving a port.

pub mod http1;
