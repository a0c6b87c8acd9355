//! A rusqlite-backed [`Sql`] for native tests, as the host's SQLite capability provides it.

use crate::sql::{Rows, Sql, SqlError, SqlValue};
use rusqlite::types::ValueRef;

/// The `Sql` trait on rusqlite, as the host's SQLite capability provides it to the component.
pub struct Db(rusqlite::Connection);

impl Db {
    pub fn open(path: &std::path::Path) -> Self {
        let connection = rusqlite::Connection::open(path).unwrap();
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        connection
            .execute_batch("PRAGMA journal_mode = WAL")
            .unwrap();
        Db(connection)
    }

    /// A connection as Spin's default database gives one: the file's own journal mode (a rollback
    /// journal for a new file) and rusqlite's default busy timeout.
    pub fn open_like_spin(path: &std::path::Path) -> Self {
        Db(rusqlite::Connection::open(path).unwrap())
    }
}

impl Sql for Db {
    fn execute(
        &self,
        statement: &str,
        parameters: &[SqlValue],
    ) -> std::result::Result<Rows, SqlError> {
        let mut prepared = self.0.prepare(statement).map_err(as_host_says)?;
        for (index, parameter) in parameters.iter().enumerate() {
            let position = index + 1;
            let bound = match parameter {
                SqlValue::Integer(i) => prepared.raw_bind_parameter(position, i),
                SqlValue::Real(r) => prepared.raw_bind_parameter(position, r),
                SqlValue::Text(t) => prepared.raw_bind_parameter(position, t),
                SqlValue::Blob(b) => prepared.raw_bind_parameter(position, b),
                SqlValue::Null => prepared.raw_bind_parameter(position, rusqlite::types::Null),
            };
            bound.map_err(as_host_says)?;
        }
        let columns = prepared.column_count();
        let mut rows = prepared.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(as_host_says)? {
            out.push(
                (0..columns)
                    .map(|i| match row.get_ref(i).unwrap() {
                        ValueRef::Null => SqlValue::Null,
                        ValueRef::Integer(i) => SqlValue::Integer(i),
                        ValueRef::Real(r) => SqlValue::Real(r),
                        ValueRef::Text(t) => {
                            SqlValue::Text(String::from_utf8_lossy(t).into_owned())
                        }
                        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
                    })
                    .collect(),
            );
        }
        Ok(out)
    }
}

/// A rusqlite error as the host's SQLite capability reports it: a full disk as `database-full`,
/// anything else as `io` with SQLite's message.
fn as_host_says(error: rusqlite::Error) -> SqlError {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => SqlError::DatabaseFull,
        _ => SqlError::Io(error.to_string()),
    }
}
