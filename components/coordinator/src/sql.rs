//! The slice of SQLite the coordinator needs: run one statement with parameters, get rows back.
//! Spin's `sqlite` interface in the component, rusqlite in native tests.

#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

impl SqlValue {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Integer(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            SqlValue::Text(t) => Some(t),
            _ => None,
        }
    }
}

impl From<&str> for SqlValue {
    fn from(text: &str) -> Self {
        SqlValue::Text(text.to_string())
    }
}

impl From<String> for SqlValue {
    fn from(text: String) -> Self {
        SqlValue::Text(text)
    }
}

impl From<i64> for SqlValue {
    fn from(value: i64) -> Self {
        SqlValue::Integer(value)
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(value: Option<T>) -> Self {
        value.map_or(SqlValue::Null, Into::into)
    }
}

pub type Rows = Vec<Vec<SqlValue>>;

/// Why a statement failed, as Spin's `sqlite` interface says it (its `error` variant). `Io`
/// carries SQLite's own text for everything else, a lock held by another connection included
/// (the store tells those apart: `StoreError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlError {
    NoSuchDatabase,
    AccessDenied,
    InvalidConnection,
    DatabaseFull,
    Io(String),
}

/// One connection.
pub trait Sql {
    fn execute(&self, statement: &str, parameters: &[SqlValue]) -> Result<Rows, SqlError>;
}
