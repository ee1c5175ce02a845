//! Test support: a recording driver with a history of its own and a third
//! dialect's SQL, so the runtime's choreography is tested without a
//! database — and without anything that assumes SQLite or PostgreSQL.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::dialect::SqlDialect;
use crate::driver::{Database, Driver, LockScope};
use crate::error::{Error, Result};
use crate::table::TableName;
use crate::tx::{Dialect, Tx, Value};

/// A dialect no real database speaks: backtick quoting, its own clock,
/// types and index statement; with or without transactional DDL.
pub(crate) struct ThirdSql {
    transactional_ddl: bool,
}

pub(crate) static THIRD: ThirdSql = ThirdSql {
    transactional_ddl: true,
};

/// The third dialect where schema changes commit on the spot, as MySQL's do.
pub(crate) static THIRD_DDL_COMMITS: ThirdSql = ThirdSql {
    transactional_ddl: false,
};

impl SqlDialect for ThirdSql {
    fn transactional_ddl(&self) -> bool {
        self.transactional_ddl
    }
    fn quote(&self, ident: &str) -> String {
        format!("`{ident}`")
    }
    fn now_utc(&self) -> &'static str {
        "THIRD_CLOCK_UTC()"
    }
    fn version_type(&self) -> &'static str {
        "THIRD_KEY64"
    }
    fn int64_type(&self) -> &'static str {
        "THIRD_INT64"
    }
    fn create_schema(&self, schema: &str) -> Option<String> {
        Some(format!("THIRD MAKE SCHEMA {}", self.quote(schema)))
    }
    fn create_unfinished_index(&self, index: &str, table: &TableName<'_>) -> Option<String> {
        Some(format!(
            "THIRD MAKE INDEX {} ON {} WHERE state <> 'applied'",
            self.quote(index),
            self.quote_table(table)
        ))
    }
}

/// Records every call; keeps the history rows the runtime writes, so a
/// later read sees them. Boot's check answers `head` when set.
#[derive(Default)]
pub(crate) struct Recorder {
    /// What boot's one query returns; `None` reads as no history table row.
    pub head: Vec<Vec<Option<String>>>,
    /// Each call, as `begin`, `lock`, `batch CREATE`, `execute INSERT`, ...
    pub calls: Vec<String>,
    /// Every SQL text sent, in full.
    pub sql: Vec<String>,
    /// The history as written: version → the nine columns.
    pub rows: BTreeMap<i64, Vec<Value>>,
    /// Whether the history table is missing until a `CREATE TABLE`.
    pub table_missing: bool,
    /// Hold the lock per transaction ([`LockScope::Transaction`]).
    pub transaction_locks: bool,
    /// Another process writing this row (version → columns) just before
    /// the `n`th `begin` (from 1) is granted the lock.
    pub intruder: Option<(usize, Vec<Value>)>,
    /// `begin` calls so far.
    pub begins: usize,
    /// Speak [`THIRD_DDL_COMMITS`]: schema changes commit on the spot.
    pub ddl_commits: bool,
}

pub(crate) struct Recording<'r>(&'r mut Recorder);

impl Database for Recorder {
    type Driver<'c> = Recording<'c>;
    fn driver(&mut self) -> Recording<'_> {
        Recording(self)
    }
}

fn first_word(sql: &str) -> &str {
    sql.split_whitespace().next().unwrap_or("")
}

/// A statement's call label: its first word, and `log` for the audit
/// log's statements.
fn label(sql: &str) -> String {
    if is_log(sql) {
        format!("{} log", first_word(sql))
    } else {
        first_word(sql).to_owned()
    }
}

fn is_log(sql: &str) -> bool {
    sql.split_whitespace().take(6).any(|word| {
        word.trim_matches(|c| c == '"' || c == '`')
            .ends_with("_log")
    })
}

fn int(value: Option<&Value>) -> i64 {
    value.and_then(Value::as_i64).unwrap_or_default()
}

impl Recording<'_> {
    /// Applies a history statement to the fake table.
    fn write(&mut self, sql: &str, params: &[Value]) {
        let rows = &mut self.0.rows;
        if is_log(sql) {
            return;
        }
        if sql.starts_with("INSERT") {
            let mut row = params[..7].to_vec();
            row.push(Value::Text("now".into()));
            row.push(params[7].clone());
            rows.insert(int(params.first()), row);
        } else if sql.starts_with("UPDATE") && sql.contains("execution_ms") {
            if let Some(row) = rows.get_mut(&int(params.get(2))) {
                row[6] = params[0].clone();
                row[8] = params[1].clone();
            }
        } else if sql.starts_with("UPDATE") {
            if let Some(row) = rows.get_mut(&int(params.get(1))) {
                row[6] = params[0].clone();
            }
        } else if sql.starts_with("DELETE") {
            rows.remove(&int(params.first()));
        }
    }
}

impl Tx for Recording<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.0.calls.push(format!("execute {}", label(sql)));
        self.0.sql.push(sql.to_owned());
        self.write(sql, params);
        Ok(1)
    }
    fn batch(&mut self, sql: &str) -> Result<()> {
        self.0.calls.push(format!("batch {}", label(sql)));
        self.0.sql.push(sql.to_owned());
        if sql.contains("CREATE TABLE") && !is_log(sql) {
            self.0.table_missing = false;
        }
        Ok(())
    }
    fn query(&mut self, sql: &str, _: &[Value]) -> Result<Vec<Vec<Value>>> {
        self.0.calls.push("query".into());
        self.0.sql.push(sql.to_owned());
        if self.0.table_missing {
            return Err(Error::Driver("no such table".into()));
        }
        Ok(self.0.rows.values().cloned().collect())
    }
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
}

impl Driver for Recording<'_> {
    fn begin(&mut self) -> Result<()> {
        self.0.calls.push("begin".into());
        self.0.begins += 1;
        if let Some((n, row)) = self.0.intruder.clone() {
            if n == self.0.begins {
                self.0.rows.insert(int(row.first()), row);
            }
        }
        Ok(())
    }
    fn lock_scope(&self) -> LockScope {
        if self.0.transaction_locks {
            LockScope::Transaction
        } else {
            LockScope::Session
        }
    }
    fn commit(&mut self) -> Result<()> {
        self.0.calls.push("commit".into());
        Ok(())
    }
    fn rollback(&mut self) -> Result<()> {
        self.0.calls.push("rollback".into());
        Ok(())
    }
    fn lock(&mut self, _: &TableName<'_>, _: Duration) -> Result<()> {
        self.0.calls.push("lock".into());
        Ok(())
    }
    fn unlock(&mut self) -> Result<()> {
        self.0.calls.push("unlock".into());
        Ok(())
    }
    fn sql_dialect(&self) -> &'static dyn SqlDialect {
        if self.0.ddl_commits {
            &THIRD_DDL_COMMITS
        } else {
            &THIRD
        }
    }
    fn is_missing_table(&self, error: &Error) -> bool {
        error
            .database_error()
            .is_some_and(|e| e.to_string() == "no such table")
    }
    fn query_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        self.0.calls.push("query_text".into());
        self.0.sql.push(sql.to_owned());
        if sql.contains("SELECT version, state, chained_checksum") {
            // The history check: rows from a version up, and unfinished
            // ones (its limits only cut rows past a difference).
            let from: i64 = sql
                .split("version >= ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let text = |v: &Value| v.as_str().map(str::to_owned);
            return Ok(self
                .0
                .rows
                .iter()
                .filter(|(v, r)| **v >= from || text(&r[6]).as_deref() != Some("applied"))
                .map(|(v, r)| vec![Some(v.to_string()), text(&r[6]), text(&r[5])])
                .collect());
        }
        Ok(self.0.head.clone())
    }
}
