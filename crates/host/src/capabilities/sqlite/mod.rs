//! `fermyon:spin/sqlite`: databases by label; `default` is `<state dir>/sqlite_db.db` unless a
//! runtime config says otherwise (it may also add labels, each a file).
//!
//! Two ways to open the file ([`SqliteMode`]). By default (`wal`) each guest connection checks out
//! its own SQLite connection from a small pool, in WAL mode, and returns it on drop (rolled back if
//! the guest left a transaction open), so two concurrent requests never share a transaction. A
//! commit returns once it is in the WAL (`synchronous = NORMAL`); the request's response is then
//! held until a shared WAL flush has put it on disk (`group_sync`, `durable_response`). `spin` opens as Spin's default database does, to reproduce Spin here: a new
//! connection per guest `open`, the file's own journal mode (a rollback journal unless the app
//! changes it), SQLite's defaults otherwise and a 5 s busy timeout. Files are opened on first use:
//! an unusable file is an `io` error for the guest.
//!
//! A label of `type = "libsql"` is a libSQL server instead (`remote`).

pub mod config;
pub mod file;
pub mod remote;
pub mod write_gate;

use crate::app::manifest::Component;
use crate::capabilities::bindings::fermyon::spin::sqlite::{
    Error, Host, HostConnection, QueryResult, RowResult, Value,
};
use crate::capabilities::open_files::OpenFiles;
use crate::capabilities::pool::Pool;
use crate::capabilities::sqlite::write_gate::WriteGate;
use crate::capabilities::{AppContext, Capability, RequestScope, instance, unconfigured_label};
use crate::durability::group_commit::{GroupSync, WalFile};
use crate::durability::held_response::PendingSync;
use anyhow::bail;
use config::SqliteBackend;
use remote::{RemoteConnection, RemoteDatabase};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// Idle connections kept per database; more are opened under load and closed when returned. A
/// connection opened under load reads the schema and prepares every statement afresh, so the pool
/// keeps enough for the requests one process runs at once.
const MAX_IDLE_CONNECTIONS: usize = 64;

/// SQLite's own memory (page caches, statements) across every connection of the process. Each
/// pooled connection's page cache otherwise grows to its 2 MiB default as the database grows, so
/// a long-running host would creep towards 128 MiB per file; past this, SQLite reuses cache pages
/// instead of allocating more.
const SQLITE_HEAP_LIMIT: i64 = 32 << 20;

/// How database files are opened (`sync-host up --sqlite-mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SqliteMode {
    /// Pooled connections in WAL mode, commits flushed in groups before responses: readers never
    /// wait for the writer.
    #[default]
    Wal,
    /// As Spin's default database: a fresh connection per `open`, the file's journal mode.
    Spin,
}

pub struct Database {
    path: PathBuf,
    mode: SqliteMode,
    idle: Pool<Connection>,
    /// In `wal` mode, the flushes that make commits durable.
    group: Option<Arc<GroupSync>>,
    /// In `wal` mode, the queue of writing connections.
    writers: WriteGate,
}

impl Database {
    pub fn new(path: PathBuf, mode: SqliteMode) -> Arc<Self> {
        static HEAP_LIMIT: std::sync::Once = std::sync::Once::new();
        // SAFETY: sets a process-wide limit; callable at any time, from any thread.
        HEAP_LIMIT.call_once(|| unsafe {
            rusqlite::ffi::sqlite3_soft_heap_limit64(SQLITE_HEAP_LIMIT);
        });
        let group =
            (mode == SqliteMode::Wal).then(|| Arc::new(GroupSync::new(WalFile::new(&path))));
        Arc::new(Self {
            path,
            mode,
            idle: Pool::new(MAX_IDLE_CONNECTIONS),
            group,
            writers: WriteGate::default(),
        })
    }

    fn checkout(&self) -> Result<Connection, Error> {
        self.idle
            .take_or(|| self.open())
            .map_err(|e| Error::Io(format!("cannot open {}: {e}", self.path.display())))
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        match self.mode {
            SqliteMode::Wal => {
                let connection = crate::capabilities::sqlite::file::open_wal(&self.path)?;
                // NORMAL: a commit is durable once the WAL is flushed, which `group_sync` does
                // for many commits at once before their responses leave.
                // mmap: a connection reads pages from the OS cache in place; WAL mode empties a
                // connection's own page cache whenever another connection has committed, so
                // without it every transaction copies its pages in again with `pread`.
                connection.execute_batch(
                    "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
                     PRAGMA mmap_size = 268435456;",
                )?;
                Ok(connection)
            }
            // rusqlite's own busy timeout is Spin's: 5 s.
            SqliteMode::Spin => Connection::open(&self.path),
        }
    }

    fn checkin(&self, connection: Connection) {
        if self.mode == SqliteMode::Spin {
            return; // Closed, as Spin closes each guest connection.
        }
        if !connection.is_autocommit() && connection.execute_batch("ROLLBACK").is_err() {
            return; // Dropped: a connection in an unknown state must not be reused.
        }
        self.idle.give_back(connection);
    }
}

/// A configured label's database.
enum Configured {
    File(Arc<Database>),
    Libsql(Arc<RemoteDatabase>),
}

/// Per-app state: the configured databases by label.
#[derive(Default)]
pub struct AppState {
    databases: HashMap<String, Configured>,
}

impl AppState {
    #[cfg(test)]
    pub fn with_default_file(path: PathBuf, mode: SqliteMode) -> Self {
        Self::configure(&BTreeMap::new(), &path, mode, &OpenFiles::default())
    }

    /// The runtime config's labels, and `default` on `default_file` unless the config defines it.
    /// Labels on the same file share one pool, write gate and flush group, with every other app of
    /// the process that has it open (`open_files`).
    pub fn configure(
        labels: &BTreeMap<String, SqliteBackend>,
        default_file: &Path,
        mode: SqliteMode,
        open_files: &OpenFiles,
    ) -> Self {
        let default = SqliteBackend::file(default_file.to_path_buf());
        let configured = crate::app::runtime_config::with_default(labels, &default);
        let databases = configured
            .map(|(label, backend)| {
                let database = match backend {
                    SqliteBackend::Spin { path } => {
                        let path = path.as_deref().expect("`resolve` requires a path");
                        let open = || Database::new(path.to_path_buf(), mode);
                        Configured::File(open_files.get_or_open(path, open))
                    }
                    SqliteBackend::Libsql { url, token } => Configured::Libsql(Arc::new(
                        RemoteDatabase::new(url.clone(), token.expose().to_string()),
                    )),
                };
                (label.to_string(), database)
            })
            .collect();
        Self { databases }
    }

    #[cfg(test)]
    fn file(&self, label: &str) -> &Arc<Database> {
        match &self.databases[label] {
            Configured::File(database) => database,
            Configured::Libsql(_) => panic!("`{label}` is a libSQL database"),
        }
    }

    /// Whether `label` is configured.
    pub fn has(&self, label: &str) -> bool {
        self.databases.contains_key(label)
    }
}

/// Per-instance state: which labels this component may open.
pub struct InstanceState {
    pub app: Arc<AppState>,
    pub allowed: Arc<BTreeSet<String>>,
    /// The commits this request made, which its response waits for.
    pub pending: Arc<PendingSync>,
}

/// A connection the guest opened: the resource behind `connection`.
pub enum OpenConnection {
    File(FileConnection),
    Libsql(RemoteConnection),
}

/// A connection to a database file.
pub struct FileConnection {
    database: Arc<Database>,
    connection: Option<Connection>,
    /// A statement wrote since the last commit.
    wrote: bool,
    /// This connection holds its database's write gate (`wal` mode).
    writing: bool,
}

impl Drop for FileConnection {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.database.checkin(connection);
        }
        if self.writing {
            self.database.writers.release();
        }
    }
}

pub struct SqliteView<'a> {
    pub state: &'a InstanceState,
    pub table: &'a mut ResourceTable,
}

pub struct Sqlite;

impl HasData for Sqlite {
    type Data<'a> = SqliteView<'a>;
}

/// What a component may open: its labels of the app's databases.
pub struct Grant {
    app: Arc<AppState>,
    allowed: Arc<BTreeSet<String>>,
}

impl Capability for Sqlite {
    type AppState = AppState;
    type Grant = Grant;
    type InstanceState = InstanceState;

    fn configure(context: &AppContext) -> anyhow::Result<Arc<AppState>> {
        let app = AppState::configure(
            &context.runtime_config.sqlite,
            &context.state_dir.join("sqlite_db.db"),
            context.sqlite_mode,
            context.open_files,
        );
        if let Some((id, label)) =
            unconfigured_label(context.manifest, |c| &c.sqlite_databases, |l| app.has(l))
        {
            bail!(
                "component `{id}` uses SQLite database '{label}', which is not defined: \
                 define [sqlite_database.{label}] in a runtime config (--runtime-config-file)"
            );
        }
        Ok(Arc::new(app))
    }

    fn grant(
        app: &Arc<AppState>,
        _id: &str,
        component: &Component,
        _context: &AppContext,
    ) -> anyhow::Result<Grant> {
        Ok(Grant {
            app: app.clone(),
            allowed: Arc::new(component.sqlite_databases.iter().cloned().collect()),
        })
    }

    fn instance(grant: &Grant, request: &RequestScope) -> InstanceState {
        InstanceState {
            app: grant.app.clone(),
            allowed: grant.allowed.clone(),
            pending: request.pending.clone(),
        }
    }

    fn add_to_linker(linker: &mut Linker<instance::InstanceState>) -> wasmtime::Result<()> {
        crate::capabilities::bindings::fermyon::spin::sqlite::add_to_linker::<_, Sqlite>(
            linker,
            instance::InstanceState::sqlite,
        )
    }
}

impl Host for SqliteView<'_> {}

impl HostConnection for SqliteView<'_> {
    fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<OpenConnection>, Error>> {
        if !self.state.allowed.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let database = match self.state.app.databases.get(&label) {
            None => return Ok(Err(Error::NoSuchDatabase)),
            Some(Configured::Libsql(remote)) => {
                let open = remote.connect().map(OpenConnection::Libsql);
                return Ok(match open {
                    Ok(open) => Ok(self.table.push(open)?),
                    Err(error) => Err(error),
                });
            }
            Some(Configured::File(database)) => database,
        };
        // An idle pooled connection is taken in place; opening a file may wait for the disk.
        let checked_out = match database.idle.take() {
            Some(connection) => Ok(connection),
            None => crate::capabilities::blocking::disk(|| database.checkout()),
        };
        let connection = match checked_out {
            Ok(connection) => connection,
            Err(error) => return Ok(Err(error)),
        };
        let open = FileConnection {
            database: database.clone(),
            connection: Some(connection),
            wrote: false,
            writing: false,
        };
        Ok(Ok(self.table.push(OpenConnection::File(open))?))
    }

    fn execute(
        &mut self,
        connection: Resource<OpenConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let open = match self.table.get_mut(&connection)? {
            OpenConnection::Libsql(remote) => return Ok(remote.execute(&statement, &parameters)),
            OpenConnection::File(open) => open,
        };
        let Some(connection) = open.connection.as_ref() else {
            return Ok(Err(Error::InvalidConnection));
        };
        let was_autocommit = connection.is_autocommit();
        let result = match open.database.mode {
            SqliteMode::Wal => execute_wal(
                connection,
                &statement,
                &parameters,
                &open.database.writers,
                &mut open.writing,
            ),
            // Spin's way: any statement may sleep in SQLite's busy handler.
            SqliteMode::Spin => crate::capabilities::blocking::disk(|| {
                let mut prepared = connection.prepare_cached(&statement)?;
                let writes = !prepared.readonly();
                run_prepared(&mut prepared, &parameters).map(|rows| (rows, writes))
            }),
        };
        // `BEGIN IMMEDIATE` counts as writing (it takes the lock) but writes nothing: a
        // transaction that only holds the lock (the app orders its rate checks so) commits
        // nothing, and its response has no flush to wait for.
        let began = was_autocommit && !connection.is_autocommit();
        open.wrote |= matches!(result, Ok((_, true))) && !began;
        if open.writing && connection.is_autocommit() {
            open.writing = false;
            open.database.writers.release();
        }
        if open.wrote && connection.is_autocommit() {
            // Committed (explicitly, or as its own transaction): the response must wait for it.
            open.wrote = false;
            if let Some(group) = &open.database.group {
                self.state.pending.record(group, group.committed());
            }
        }
        Ok(result.map(|(rows, _)| rows).map_err(map_error))
    }

    fn drop(&mut self, connection: Resource<OpenConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

/// Runs a statement on a WAL connection; `writing` says whether it holds the write gate. In WAL
/// mode readers never wait and a commit only writes to the WAL (its flush comes later, shared), so
/// a statement waits only for the write gate, and reaches the disk only when it commits (a commit
/// may checkpoint): those two go through `blocking::disk`, the rest runs in place. Which is which
/// changes only where a statement runs, never its result.
fn execute_wal(
    connection: &Connection,
    statement: &str,
    parameters: &[Value],
    writers: &WriteGate,
    writing: &mut bool,
) -> rusqlite::Result<(QueryResult, bool)> {
    let mut prepared = connection.prepare_cached(statement)?;
    // SQLite counts `BEGIN IMMEDIATE`/`EXCLUSIVE` as writing (they take the write lock); a plain
    // `BEGIN`, `COMMIT` and reads as not.
    let writes = !prepared.readonly();
    let needs_gate = writes && !*writing;
    if needs_gate && !writers.try_acquire() {
        // Another connection writes: queue for it off the worker thread.
        return crate::capabilities::blocking::disk(|| {
            if !writers.acquire(crate::capabilities::sqlite::file::BUSY_TIMEOUT) {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    None,
                ));
            }
            *writing = true;
            run_prepared(&mut prepared, parameters).map(|rows| (rows, writes))
        });
    }
    *writing |= needs_gate;
    let rows = if *writing && may_commit(statement, connection.is_autocommit()) {
        crate::capabilities::blocking::disk(|| run_prepared(&mut prepared, parameters))
    } else {
        run_prepared(&mut prepared, parameters)
    }?;
    Ok((rows, writes))
}

/// Whether a statement of a writing connection may end its transaction: a commit, the release of
/// an outermost savepoint, or any statement outside a transaction but `BEGIN`. (A `SAVEPOINT`
/// outside a transaction begins one too; counting it here only moves it off the worker thread.)
fn may_commit(statement: &str, autocommit: bool) -> bool {
    let first = statement
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    let is = |keyword: &str| first.eq_ignore_ascii_case(keyword);
    if autocommit {
        !is("BEGIN")
    } else {
        is("COMMIT") || is("END") || is("RELEASE")
    }
}

/// Binds `parameters` to a prepared statement and runs it.
fn run_prepared(
    prepared: &mut rusqlite::CachedStatement<'_>,
    parameters: &[Value],
) -> rusqlite::Result<QueryResult> {
    let columns: Vec<String> = prepared.column_names().map(str::to_string).collect();
    for (index, parameter) in parameters.iter().enumerate() {
        let position = index + 1;
        match parameter {
            Value::Integer(i) => prepared.raw_bind_parameter(position, i)?,
            Value::Real(r) => prepared.raw_bind_parameter(position, r)?,
            Value::Text(t) => prepared.raw_bind_parameter(position, t)?,
            Value::Blob(b) => prepared.raw_bind_parameter(position, b)?,
            Value::Null => prepared.raw_bind_parameter(position, rusqlite::types::Null)?,
        }
    }
    let mut rows = prepared.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len())
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Integer(i),
                    ValueRef::Real(r) => Value::Real(r),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                })
            })
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows: out })
}

/// What a statement that met another connection's lock (`SQLITE_BUSY`, `SQLITE_LOCKED`), or
/// waited too long for the write gate, answers: SQLite's own text for `SQLITE_BUSY`, which is also
/// what Spin's SQLite host answers. The interface has no case of its own for it, so this exact
/// value is how the condition crosses to the guest, which may retry.
pub const BUSY: &str = "database is locked";

fn map_error(error: rusqlite::Error) -> Error {
    match error.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => Error::DatabaseFull,
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Io(BUSY.into()),
        _ => Error::Io(error.to_string()),
    }
}

#[cfg(test)]
mod tests;
