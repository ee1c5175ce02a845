//! The SQLite driver: `rusqlite::Connection` as a migration target.
//!
//! - Every migration runs in `BEGIN IMMEDIATE`, so its write lock is taken
//!   up front rather than on its first write.
//! - The migration lock is an OS file lock on `<database>-<table>.migrate-lock`
//!   next to the database file, one per history table: processes applying
//!   the same set take turns, independent sets never wait for each other,
//!   and a process that dies releases it. In-memory databases need none.
//! - `begin` sets a savepoint, so a step that ended the transaction (even
//!   one that began another) is seen before anything is recorded.
//! - `$1, $2, ...` in [`Tx`] calls bind by name, so they work in any order.

use std::borrow::Cow;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, Statement};

use super::{Database, Driver};
use crate::dialect::SqlDialect;
use crate::error::{Error, Result};
use crate::table::TableName;
use crate::tx::{Dialect, Tx, Value};

/// A `rusqlite::Connection` borrowed for one runtime call.
pub struct SqliteDriver<'c> {
    conn: &'c mut Connection,
    lock: Option<File>,
    /// The connection's busy timeout (ms) while the migration lock raises it.
    busy_timeout: Option<i64>,
    /// `PRAGMA foreign_keys` when the lock was taken, to restore after the
    /// run (a no-transaction `.dump` file turns it off for the connection).
    foreign_keys: Option<bool>,
}

impl Database for Connection {
    type Driver<'c> = SqliteDriver<'c>;

    fn driver(&mut self) -> SqliteDriver<'_> {
        SqliteDriver {
            conn: self,
            lock: None,
            busy_timeout: None,
            foreign_keys: None,
        }
    }
}

fn driver_error(e: rusqlite::Error) -> Error {
    Error::Driver(Box::new(e))
}

fn to_sql(value: &Value) -> ToSqlOutput<'_> {
    match value {
        Value::Null => ToSqlOutput::Owned(SqlValue::Null),
        Value::Integer(i) => ToSqlOutput::Owned(SqlValue::Integer(*i)),
        Value::Real(r) => ToSqlOutput::Owned(SqlValue::Real(*r)),
        Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
    }
}

fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// Placeholder names, so binding needs no formatting for common arities.
const NAMES: [&str; 16] = [
    "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15",
    "$16",
];

/// Binds `$1, $2, ...` by name; a statement written with `?` placeholders
/// instead is bound by position.
fn bind(stmt: &mut Statement<'_>, params: &[Value]) -> Result<()> {
    let named = stmt.parameter_index("$1").map_err(driver_error)?.is_some();
    for (i, value) in params.iter().enumerate() {
        let index = if named {
            let name: Cow<'_, str> = NAMES
                .get(i)
                .map_or_else(|| Cow::Owned(format!("${}", i + 1)), |n| Cow::Borrowed(*n));
            stmt.parameter_index(&name)
                .map_err(driver_error)?
                .ok_or_else(|| {
                    Error::Parameters(format!(
                        "the statement has no placeholder {name} for parameter {}",
                        i + 1
                    ))
                })?
        } else {
            i + 1
        };
        stmt.raw_bind_parameter(index, to_sql(value))
            .map_err(driver_error)?;
    }
    // `$1` used twice counts once, so the count is the number of values needed.
    let expected = stmt.parameter_count();
    if params.len() != expected {
        return Err(Error::Parameters(format!(
            "the statement has {expected} placeholder(s) but {} parameter(s) were given",
            params.len()
        )));
    }
    Ok(())
}

impl Tx for SqliteDriver<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(driver_error)?;
        bind(&mut stmt, params)?;
        let changed = stmt.raw_execute().map_err(driver_error)?;
        Ok(changed as u64)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(driver_error)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(driver_error)?;
        bind(&mut stmt, params)?;
        let columns = stmt.column_count();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(driver_error)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(from_sql(row.get_ref(i).map_err(driver_error)?));
            }
            out.push(values);
        }
        Ok(out)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
}

impl SqliteDriver<'_> {
    /// `<database>-<table>.migrate-lock`: one per history table, so
    /// independent sets never wait for each other; `None` for an in-memory
    /// or temporary database.
    fn lock_path(&self, table: &TableName<'_>) -> Option<PathBuf> {
        let path = self.conn.path()?;
        if path.is_empty() {
            return None;
        }
        Some(PathBuf::from(format!("{path}-{table}.migrate-lock")))
    }

    /// Waits up to `timeout` for SQLite's own write lock too, instead of the
    /// connection's busy timeout; `unlock` restores it.
    fn raise_busy_timeout(&mut self, timeout: Duration) -> Result<()> {
        let previous: i64 = self
            .conn
            .query_row("PRAGMA busy_timeout", [], |row| row.get(0))
            .map_err(driver_error)?;
        self.conn.busy_timeout(timeout).map_err(driver_error)?;
        self.busy_timeout = Some(previous);
        Ok(())
    }
}

fn lock_error(path: &std::path::Path, e: std::io::Error) -> Error {
    Error::LockFile {
        path: path.to_path_buf(),
        source: e,
    }
}

/// SQLite's words for the history table.
struct SqliteSql;

impl SqlDialect for SqliteSql {
    fn now_utc(&self) -> &'static str {
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    }

    fn serial_key(&self) -> String {
        // The rowid: numbered by SQLite, one higher than the highest.
        "INTEGER PRIMARY KEY".to_owned()
    }

    fn version_type(&self) -> &'static str {
        // INTEGER PRIMARY KEY is the rowid: 64 bits, and the fastest lookup.
        "INTEGER"
    }

    fn create_schema(&self, _schema: &str) -> Option<String> {
        // SQLite's schemas are attached databases: nothing to create.
        None
    }

    fn schema_snapshot(&self) -> Option<&'static str> {
        // The text each table and index was created with (what only it
        // holds: CHECK constraints, collations, STRICT, AUTOINCREMENT,
        // expression and descending index columns), then what the catalog
        // and its pragma functions say of each column, index and foreign
        // key, so that a difference is named precisely.
        Some(
            "SELECT CASE type WHEN 'index' THEN 'index definition' ELSE type END, \
               CASE type WHEN 'index' THEN tbl_name || '.' || name \
               ELSE name END, sql FROM sqlite_schema \
               WHERE type IN ('table', 'index') AND sql IS NOT NULL \
               AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             UNION ALL \
             SELECT 'column', m.name || '.' || p.name, '#' || p.cid || ' ' || p.type \
               || CASE WHEN p.\"notnull\" THEN ' not null' ELSE '' END \
               || coalesce(' default ' || p.dflt_value, '') \
               || CASE WHEN p.pk > 0 THEN ' primary key ' || p.pk ELSE '' END \
               || CASE WHEN p.hidden IN (2, 3) THEN ' generated' ELSE '' END \
               FROM sqlite_schema m, pragma_table_xinfo(m.name) p \
               WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             UNION ALL \
             SELECT 'index', m.name || '.' || il.name, \
               CASE WHEN il.\"unique\" THEN 'unique ' ELSE '' END \
               || '(' || (SELECT group_concat(coalesce(ix.name, 'expression') \
                            || CASE WHEN ix.\"desc\" THEN ' desc' ELSE '' END, ', ') \
                          FROM pragma_index_xinfo(il.name) ix WHERE ix.key) || ')' \
               || CASE WHEN il.partial THEN ' partial' ELSE '' END \
               FROM sqlite_schema m, pragma_index_list(m.name) il \
               WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             UNION ALL \
             SELECT 'foreign key', m.name || '.' || fk.\"from\" || ' -> ' || fk.\"table\", \
               'references ' || fk.\"table\" || '(' || coalesce(fk.\"to\", '') || ')' \
               || ' on update ' || fk.on_update || ' on delete ' || fk.on_delete \
               FROM sqlite_schema m, pragma_foreign_key_list(m.name) fk \
               WHERE m.type = 'table' \
             UNION ALL \
             SELECT type, name, sql FROM sqlite_schema WHERE type IN ('view', 'trigger')",
        )
    }

    fn create_unfinished_index(&self, index: &str, table: &TableName<'_>) -> Option<String> {
        // SQLite names the schema on the index and the table bare.
        let index = match table.schema {
            Some(schema) => format!("{}.{}", self.quote(schema), self.quote(index)),
            None => self.quote(index),
        };
        Some(format!(
            "CREATE INDEX IF NOT EXISTS {index} ON {} (version) WHERE state <> 'applied'",
            self.quote(table.table)
        ))
    }
}

impl Driver for SqliteDriver<'_> {
    fn sql_dialect(&self) -> &'static dyn SqlDialect {
        &SqliteSql
    }

    fn begin(&mut self) -> Result<()> {
        // The savepoint lets `transaction_intact` see a transaction that a
        // step ended and began again.
        self.conn
            .execute_batch("BEGIN IMMEDIATE; SAVEPOINT migrate_step")
            .map_err(driver_error)
    }

    fn commit(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(driver_error)
    }

    fn rollback(&mut self) -> Result<()> {
        if self.conn.is_autocommit() {
            // SQLite already rolled back (some errors do that themselves).
            return Ok(());
        }
        self.conn.execute_batch("ROLLBACK").map_err(driver_error)
    }

    fn lock(&mut self, table: &TableName<'_>, timeout: Duration) -> Result<()> {
        self.raise_busy_timeout(timeout)?;
        self.foreign_keys = self
            .conn
            .query_row("PRAGMA foreign_keys", [], |row| row.get(0))
            .ok();
        let Some(path) = self.lock_path(table) else {
            return Ok(());
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| lock_error(&path, e))?;
        let start = Instant::now();
        // A local file: polling it costs no server anything, so poll
        // often, spread out over the waiters.
        let mut backoff =
            crate::jitter::Backoff::new(Duration::from_millis(2), Duration::from_millis(25));
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if start.elapsed() < timeout => {
                    std::thread::sleep(backoff.pause());
                }
                Err(TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim();
                    return Err(Error::LockTimeout {
                        table: table.to_string(),
                        waited: start.elapsed(),
                        holder: (!holder.is_empty()).then(|| holder.to_owned()),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(lock_error(&path, e)),
            }
        }
        // Say who holds it, for the error a waiting process may report.
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = write!(file, "pid {}", std::process::id());
        let _ = file.flush();
        self.lock = Some(file);
        Ok(())
    }

    fn unlock(&mut self) -> Result<()> {
        if let Some(ms) = self.busy_timeout.take() {
            let ms = u64::try_from(ms).unwrap_or(0);
            self.conn
                .busy_timeout(Duration::from_millis(ms))
                .map_err(driver_error)?;
        }
        if let Some(file) = self.lock.take() {
            let _ = file.set_len(0);
            file.unlock().map_err(|e| Error::Driver(Box::new(e)))?;
        }
        Ok(())
    }

    fn is_missing_table(&self, error: &Error) -> bool {
        error
            .database_error()
            .is_some_and(|e| e.to_string().contains("no such table"))
    }

    fn restore_session(&mut self) {
        let Some(was_on) = self.foreign_keys.take() else {
            return;
        };
        let now_on: Option<bool> = self
            .conn
            .query_row("PRAGMA foreign_keys", [], |row| row.get(0))
            .ok();
        if now_on != Some(was_on) && self.conn.is_autocommit() {
            let pragma = if was_on {
                "PRAGMA foreign_keys = ON"
            } else {
                "PRAGMA foreign_keys = OFF"
            };
            if let Err(e) = self.conn.execute_batch(pragma) {
                log::warn!("could not restore foreign_keys after migrating: {e}");
            }
        }
    }

    fn transaction_intact(&mut self) -> Result<Option<bool>> {
        if self.conn.is_autocommit() {
            return Ok(Some(false));
        }
        // `begin` set this savepoint: a COMMIT or ROLLBACK (even one
        // followed by a new BEGIN) took it away.
        // Prepared once per connection: this runs after every step.
        let mut released = self
            .conn
            .prepare_cached("RELEASE migrate_step")
            .map_err(driver_error)?;
        if released.raw_execute().is_err() {
            return Ok(Some(false));
        }
        drop(released);
        let mut set = self
            .conn
            .prepare_cached("SAVEPOINT migrate_step")
            .map_err(driver_error)?;
        set.raw_execute().map_err(driver_error)?;
        Ok(Some(true))
    }

    fn in_transaction(&mut self) -> Option<bool> {
        Some(!self.conn.is_autocommit())
    }

    fn schema_version(&mut self) -> Result<Option<u64>> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(driver_error)?;
        Ok(Some(u64::try_from(version).unwrap_or(0)))
    }

    fn set_schema_version(&mut self, version: u64) -> Result<()> {
        // user_version is a signed 32-bit integer.
        let version = version.min(i32::MAX as u64);
        self.conn
            .execute_batch(&format!("PRAGMA user_version = {version}"))
            .map_err(driver_error)
    }

    fn foreign_keys(&mut self, on: bool) -> Result<bool> {
        let was_on: bool = self
            .conn
            .query_row("PRAGMA foreign_keys", [], |row| row.get(0))
            .map_err(driver_error)?;
        self.conn
            .execute_batch(if on {
                "PRAGMA foreign_keys = ON"
            } else {
                "PRAGMA foreign_keys = OFF"
            })
            .map_err(driver_error)?;
        Ok(was_on)
    }

    fn check_foreign_keys(&mut self) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA foreign_key_check")
            .map_err(driver_error)?;
        let violations: Vec<String> = stmt
            .query_map([], |row| {
                let table: String = row.get(0)?;
                let rowid: Option<i64> = row.get(1)?;
                let parent: String = row.get(2)?;
                Ok(match rowid {
                    Some(rowid) => format!("`{table}` row {rowid} → `{parent}`"),
                    None => format!("`{table}` → `{parent}`"),
                })
            })
            .and_then(Iterator::collect)
            .map_err(driver_error)?;
        if violations.is_empty() {
            return Ok(());
        }
        Err(Error::ForeignKeyViolations {
            count: violations.len(),
            examples: violations.into_iter().take(5).collect(),
            before_migration: false,
        })
    }
}
