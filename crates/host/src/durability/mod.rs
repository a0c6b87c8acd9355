//! An acknowledgement means the change is on disk: group commit of the WAL, and responses held
//! until what their request committed has been flushed.

pub mod group_commit;
pub mod held_response;
