//! `Tx`: the driver-neutral handle a Rust migration receives.
//!
//! The same Rust migration runs unchanged on SQLite, PostgreSQL and MySQL:
//! `$1, $2, ...` placeholders work on all three, and values cross the
//! boundary as [`Value`]s.

use std::fmt;

use crate::error::Result;

/// The database behind a [`Tx`], for the rare migration that must differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// SQLite, through rusqlite.
    Sqlite,
    /// PostgreSQL, through the `postgres` or `tokio-postgres` crate.
    Postgres,
    /// MySQL or MariaDB, through the `mysql` crate.
    Mysql,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
            Dialect::Mysql => "MySQL",
        })
    }
}

/// A value passed to or read from the database.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A 64-bit integer (also booleans, stored as 0/1).
    Integer(i64),
    /// A double-precision float.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Value {
    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The text, if this is some.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

macro_rules! value_from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::Integer(i64::from(v))
            }
        }
    )*};
}
value_from_integer!(i8, i16, i32, i64, u8, u16, u32, bool);

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Real(f64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Blob(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// The handle a Rust migration works through, inside the migration's transaction.
///
/// A Rust migration file defines:
///
/// ```
/// use migrate_core::{Tx, Value, Result};
///
/// pub fn up(tx: &mut dyn Tx) -> Result<()> {
///     tx.batch("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT)")?;
///     tx.execute("INSERT INTO settings VALUES ($1, $2)", &["theme".into(), "dark".into()])?;
///     let rows = tx.query("SELECT value FROM settings WHERE key = $1", &["theme".into()])?;
///     assert_eq!(rows[0][0], Value::from("dark"));
///     Ok(())
/// }
/// # struct Fake;
/// # impl Tx for Fake {
/// #     fn execute(&mut self, _: &str, _: &[Value]) -> Result<u64> { Ok(1) }
/// #     fn batch(&mut self, _: &str) -> Result<()> { Ok(()) }
/// #     fn query(&mut self, _: &str, _: &[Value]) -> Result<Vec<Vec<Value>>> { Ok(vec![vec!["dark".into()]]) }
/// #     fn dialect(&self) -> migrate_core::Dialect { migrate_core::Dialect::Sqlite }
/// # }
/// # up(&mut Fake).unwrap();
/// ```
pub trait Tx {
    /// Runs one statement with `$1, $2, ...` parameters; returns the number of rows changed.
    ///
    /// # Errors
    ///
    /// The database's error, which fails the migration and rolls it back.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;

    /// Runs several `;`-separated statements without parameters.
    ///
    /// # Errors
    ///
    /// The database's error, which fails the migration and rolls it back.
    fn batch(&mut self, sql: &str) -> Result<()>;

    /// Runs a query with `$1, $2, ...` parameters and returns every row.
    ///
    /// # Errors
    ///
    /// The database's error, which fails the migration and rolls it back.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>>;

    /// Which database this is.
    fn dialect(&self) -> Dialect;
}
