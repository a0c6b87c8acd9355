//! `type = "libsql"`: a libSQL server (`sqld`, Turso) over Hrana-over-HTTP, through the `libsql`
//! client Spin's own libSQL backend uses, and with Spin's behaviour:
//!
//! - each guest `open` is a connection of its own, which the client runs as one server-side
//!   stream, so `BEGIN IMMEDIATE … COMMIT` on it is one transaction on the server, and another
//!   instance's `BEGIN IMMEDIATE` waits for it there;
//! - a dropped connection closes its stream, which rolls back whatever it left open;
//! - a statement returns once the server answered, so a `COMMIT` that returned is committed on the
//!   server: there is no local flush for a response to wait for.
//!
//! Unlike Spin, a statement waits at most [`STATEMENT_TIMEOUT`]: with the server unreachable (a
//! cut link never answers) the guest gets an error in bounded time instead of holding its request
//! open. A connection whose statement timed out is in an unknown state; it answers every later
//! statement with an error.

use crate::capabilities::bindings::fermyon::spin::sqlite::{Error, QueryResult, RowResult, Value};
use std::future::Future;
use std::time::Duration;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::OnceCell;

/// How long one statement (including connecting) may take.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// One configured libSQL database.
pub struct RemoteDatabase {
    url: String,
    token: String,
    /// The client, made on first use (making it is async, configuring the app is not).
    client: OnceCell<libsql::Database>,
}

impl RemoteDatabase {
    /// Reaches nothing yet: a server that is down is reported to the guests (and so to /health)
    /// when they use it, rather than stopping the host.
    pub fn new(url: String, token: String) -> Self {
        Self {
            url,
            token,
            client: OnceCell::new(),
        }
    }

    /// A new connection: no round trip (its stream opens with its first statement); only the first
    /// makes the client.
    pub fn connect(&self) -> Result<RemoteConnection, Error> {
        let client = match self.client.get() {
            Some(client) => client,
            None => wait(async {
                (self.client)
                    .get_or_try_init(|| {
                        libsql::Builder::new_remote(self.url.clone(), self.token.clone()).build()
                    })
                    .await
                    .map_err(|e| failed(&e))
            })?,
        };
        Ok(RemoteConnection {
            connection: client.connect().map_err(|e| failed(&e))?,
            broken: false,
        })
    }
}

/// A guest's connection.
pub struct RemoteConnection {
    connection: libsql::Connection,
    /// A statement timed out: whether it ran on the server is unknown.
    broken: bool,
}

impl RemoteConnection {
    pub fn execute(&mut self, statement: &str, parameters: &[Value]) -> Result<QueryResult, Error> {
        if self.broken {
            return Err(Error::Io(
                "libsql: an earlier statement on this connection timed out; open a new one".into(),
            ));
        }
        let parameters: Vec<libsql::Value> = parameters.iter().map(to_libsql).collect();
        let connection = &self.connection;
        let result = wait(async move {
            let mut rows =
                (connection.query(statement, parameters).await).map_err(|e| failed(&e))?;
            let width = rows.column_count();
            let columns = (0..width)
                .map(|i| rows.column_name(i).unwrap_or_default().to_string())
                .collect();
            let mut out = Vec::new();
            while let Some(row) = rows.next().await.map_err(|e| failed(&e))? {
                let values = (0..width)
                    .map(|i| row.get_value(i).map(from_libsql))
                    .collect::<Result<_, _>>()
                    .map_err(|e| failed(&e))?;
                out.push(RowResult { values });
            }
            Ok(QueryResult { columns, rows: out })
        });
        if matches!(&result, Err(Error::Io(message)) if message == TIMED_OUT) {
            self.broken = true;
        }
        result
    }
}

const TIMED_OUT: &str = "libsql: the server did not answer in time";

/// Runs `work` to completion from a synchronous host call, within [`STATEMENT_TIMEOUT`]; the
/// worker's other tasks move to another thread meanwhile (`blocking::disk`).
fn wait<T>(work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let handle = match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => handle,
        _ => return Err(Error::Io("libsql: needs the multi-threaded runtime".into())),
    };
    let bounded = async {
        (tokio::time::timeout(STATEMENT_TIMEOUT, work).await)
            .unwrap_or_else(|_| Err(Error::Io(TIMED_OUT.into())))
    };
    crate::capabilities::blocking::disk(|| handle.block_on(bounded))
}

/// The client's error as the guest sees it. A lock another connection holds past the server's
/// wait comes back as SQLite's own text, as from a local file, so the app's retry recognises it.
/// The client's messages name neither the URL nor the token.
fn failed(error: &libsql::Error) -> Error {
    let message = error.to_string();
    if message.contains("SQLITE_BUSY") || message.contains("SQLITE_LOCKED") {
        Error::Io(super::BUSY.into())
    } else if message.contains("SQLITE_FULL") {
        Error::DatabaseFull
    } else {
        Error::Io(format!("libsql: {message}"))
    }
}

fn to_libsql(value: &Value) -> libsql::Value {
    match value {
        Value::Integer(i) => libsql::Value::Integer(*i),
        Value::Real(r) => libsql::Value::Real(*r),
        Value::Text(t) => libsql::Value::Text(t.clone()),
        Value::Blob(b) => libsql::Value::Blob(b.clone()),
        Value::Null => libsql::Value::Null,
    }
}

fn from_libsql(value: libsql::Value) -> Value {
    match value {
        libsql::Value::Integer(i) => Value::Integer(i),
        libsql::Value::Real(r) => Value::Real(r),
        libsql::Value::Text(t) => Value::Text(t),
        libsql::Value::Blob(b) => Value::Blob(b),
        libsql::Value::Null => Value::Null,
    }
}

#[cfg(test)]
mod tests;
