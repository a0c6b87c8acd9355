//! The database instances share, a SQLite file or a libSQL server, as the tests read it back.

use crate::sqld::Sqld;
use rusqlite::types::ValueRef;
use serde_json::Value;
use std::path::PathBuf;

/// The database the instances share.
pub enum SharedDatabase {
    File(PathBuf),
    Libsql(Sqld),
}

impl SharedDatabase {
    /// Its `[sqlite_database.default]` table.
    pub fn runtime_config(&self) -> String {
        match self {
            Self::File(path) => format!("type = \"spin\"\npath = \"{}\"\n", path.display()),
            // sqld runs without authentication here; Spin requires a token all the same.
            Self::Libsql(sqld) => format!(
                "type = \"libsql\"\nurl = \"{}\"\ntoken = \"unused-no-auth-on-this-sqld\"\n",
                sqld.url
            ),
        }
    }

    /// `sql`'s rows, with text parameters `?1…`; each value as JSON (an integer as a number, text
    /// as a string, NULL as null).
    pub fn rows(&self, sql: &str, parameters: &[&str]) -> Vec<Vec<Value>> {
        match self {
            Self::File(path) => {
                let db = rusqlite::Connection::open(path).unwrap();
                let mut query = db.prepare(sql).unwrap();
                let width = query.column_count();
                let rows = query
                    .query_map(rusqlite::params_from_iter(parameters), |row| {
                        (0..width).map(|i| json_of(row.get_ref(i)?)).collect()
                    })
                    .unwrap();
                rows.map(Result::unwrap).collect()
            }
            Self::Libsql(sqld) => sqld.query(sql, parameters).unwrap(),
        }
    }

    /// The first column of `sql`'s rows as integers (NULL: none).
    pub fn integers(&self, sql: &str, parameters: &[&str]) -> Vec<i64> {
        (self.rows(sql, parameters).iter())
            .filter_map(|row| row[0].as_i64())
            .collect()
    }
}

fn json_of(value: ValueRef<'_>) -> rusqlite::Result<Value> {
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(r) => Value::from(r),
        ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(_) => Value::from("<blob>"),
    })
}
