//! What a key-value backend provides. Errors are the interface's own (`other(message)` for a
//! backend that failed), so the host passes them to the guest unchanged.

pub use crate::capabilities::bindings::fermyon::spin::key_value::Error;

/// A store backend.
pub trait Store: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error>;
    fn delete(&self, key: &str) -> Result<(), Error>;
    fn exists(&self, key: &str) -> Result<bool, Error>;
    fn keys(&self) -> Result<Vec<String>, Error>;
}
