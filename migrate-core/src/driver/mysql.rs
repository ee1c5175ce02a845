//! The MySQL and MariaDB driver: `mysql::Conn` and `mysql::PooledConn` as
//! migration targets.
//!
//! - MySQL commits every schema change (`CREATE`, `ALTER`, `DROP`, ...) on
//!   the spot, whatever transaction is open. A SQL migration holding one is
//!   therefore recorded in progress first and run statement by statement
//!   ([`SqlDialect::transactional_ddl`] is false); when a statement fails,
//!   the error names it, MySQL's code and message, and the statements of
//!   the file that had already committed. A migration of data statements
//!   only runs in one transaction with its history row, as elsewhere.
//! - The migration lock is `GET_LOCK` on a name hashed from the database
//!   and the history table (MySQL allows 64 characters), held by the
//!   session: a migrator that dies releases it with its connection.
//! - `$1, $2, ...` in [`Tx`] calls are rewritten as MySQL's positional `?`,
//!   in any order, ignoring strings and comments.
//! - MySQL has no partial index: the history table indexes `state`, so the
//!   boot check's "any unfinished row" reads an empty range.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::time::{Duration, Instant};

use mysql::consts::ColumnType;
use mysql::prelude::Queryable;
use mysql::{Column, Conn, PooledConn, Row};
use sha2::{Digest, Sha256};

use super::{Database, Driver};
use crate::dialect::SqlDialect;
use crate::error::{Error, Result};
use crate::source::sql::{
    positional_placeholders, replace_placeholders, statements, LexicalRules, Statement,
};
use crate::table::TableName;
use crate::tx::{Dialect, Tx, Value};

/// A MySQL connection borrowed for one runtime call.
pub struct MysqlDriver<'c> {
    conn: &'c mut Conn,
    /// The `GET_LOCK` name held, and the table it guards.
    lock: Option<(String, String)>,
    /// How the session reads SQL (`sql_mode`), noted with its database.
    rules: LexicalRules,
    /// Whether a transaction is open, when known without asking: after
    /// migrate's own `START TRANSACTION`, `COMMIT` or `ROLLBACK`, and
    /// after SQL that could not have opened one.
    open: Option<bool>,
    /// The session's `sql_mode` and `autocommit` when the run began, put
    /// back after it (`restore_session`) when a migration changed them.
    session: Option<(String, bool)>,
    /// The session's `sql_mode` or `autocommit` may differ from `session`:
    /// migrate or a migration set them during the run.
    session_touched: bool,
    /// How long a migration's statements wait for a lock, where the run
    /// bounds it; and the session's own waits, to put back after the run.
    ddl_lock_timeout: Option<Duration>,
    lock_waits_before: Option<(String, String)>,
}

impl Database for Conn {
    type Driver<'c> = MysqlDriver<'c>;

    fn driver(&mut self) -> MysqlDriver<'_> {
        MysqlDriver {
            conn: self,
            lock: None,
            rules: LexicalRules::MYSQL,
            open: None,
            session: None,
            session_touched: false,
            ddl_lock_timeout: None,
            lock_waits_before: None,
        }
    }
}

impl Database for PooledConn {
    type Driver<'c> = MysqlDriver<'c>;

    fn driver(&mut self) -> MysqlDriver<'_> {
        self.as_mut().driver()
    }
}

/// A MySQL error, with what migrate knows about where it happened.
#[derive(Debug)]
pub struct MysqlError {
    message: String,
    code: Option<u16>,
    source: Option<mysql::Error>,
}

impl fmt::Display for MysqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for MysqlError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn StdError + 'static))
    }
}

impl MysqlError {
    /// MySQL's error code (`1146` for a missing table), when the server
    /// sent one.
    pub fn code(&self) -> Option<u16> {
        self.code
    }
}

/// How MySQL reads SQL under `sql_mode`.
fn rules_of(mode: &str) -> LexicalRules {
    let has = |flag: &str| mode.split(',').any(|m| m.eq_ignore_ascii_case(flag));
    LexicalRules::Mysql {
        ansi_quotes: has("ANSI_QUOTES") || has("ANSI"),
        backslash_escapes: !has("NO_BACKSLASH_ESCAPES"),
    }
}

/// MySQL's error number for a table that does not exist.
const NO_SUCH_TABLE: u16 = 1146;
/// `ER_LOCK_WAIT_TIMEOUT`: a metadata or row lock wait gave up.
const LOCK_WAIT_TIMEOUT: u16 = 1205;
/// MySQL's error number for a savepoint that does not exist.
const NO_SUCH_SAVEPOINT: u16 = 1305;

/// How MySQL words an error: `ERROR 1146 (42S02): Table 'x' doesn't exist`,
/// or what to do when the connection is gone.
fn describe(e: &mysql::Error) -> (String, Option<u16>) {
    match e {
        mysql::Error::MySqlError(e) => (
            format!("ERROR {} ({}): {}", e.code, e.state, e.message),
            Some(e.code),
        ),
        e if e.is_connectivity_error() => (
            format!(
                "the connection to MySQL is closed or broken ({e}): the server ended it \
                 (a restart, `KILL`, `wait_timeout`; see its log); connect again, or take a \
                 fresh connection from the pool"
            ),
            None,
        ),
        e => (e.to_string(), None),
    }
}

fn my_error(e: mysql::Error) -> Error {
    my_error_in(e, |message| message)
}

/// MySQL's error, its message put in context by `context`.
fn my_error_in(e: mysql::Error, context: impl FnOnce(String) -> String) -> Error {
    let (message, code) = describe(&e);
    Error::Driver(Box::new(MysqlError {
        message: context(message),
        code,
        source: Some(e),
    }))
}

/// Column `n` of the first row of a [`Driver::query_text`] answer.
fn cell(rows: &[Vec<Option<String>>], n: usize) -> Option<String> {
    rows.first()?.get(n)?.clone()
}

/// Whether `sql` may change `sql_mode` or `autocommit`.
fn touches_session(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    lower.contains("sql_mode") || lower.contains("autocommit")
}

/// Whether strings are read without backslash escapes (`NO_BACKSLASH_ESCAPES`).
fn no_backslash_escapes(rules: LexicalRules) -> bool {
    matches!(
        rules,
        LexicalRules::Mysql {
            backslash_escapes: false,
            ..
        }
    )
}

/// An error that is migrate's own words about MySQL.
fn my_message(message: String) -> Error {
    Error::Driver(Box::new(MysqlError {
        message,
        code: None,
        source: None,
    }))
}

fn code_of(error: &Error) -> Option<u16> {
    match error {
        Error::Driver(source) | Error::History { source, .. } => source
            .downcast_ref::<MysqlError>()
            .and_then(MysqlError::code),
        _ => None,
    }
}

fn to_mysql(value: &Value) -> mysql::Value {
    match value {
        Value::Null => mysql::Value::NULL,
        Value::Integer(i) => mysql::Value::Int(*i),
        Value::Real(r) => mysql::Value::Double(*r),
        Value::Text(s) => mysql::Value::Bytes(s.as_bytes().to_vec()),
        Value::Blob(b) => mysql::Value::Bytes(b.clone()),
    }
}

/// MySQL's binary character set: a string column holding bytes.
const BINARY_CHARSET: u16 = 63;

/// A value as [`Tx`] shows it, typed by its column: the text protocol
/// sends every value as text, the binary one typed.
fn from_mysql(value: mysql::Value, column: &Column) -> Value {
    use ColumnType::*;
    match value {
        mysql::Value::NULL => Value::Null,
        mysql::Value::Int(i) => Value::Integer(i),
        mysql::Value::UInt(u) => {
            i64::try_from(u).map_or(Value::Text(u.to_string()), Value::Integer)
        }
        mysql::Value::Float(f) => Value::Real(f64::from(f)),
        mysql::Value::Double(d) => Value::Real(d),
        mysql::Value::Bytes(bytes) => match column.column_type() {
            MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_LONG | MYSQL_TYPE_INT24
            | MYSQL_TYPE_LONGLONG | MYSQL_TYPE_YEAR => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
                .map_or_else(|| text(bytes), Value::Integer),
            MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .map_or_else(|| text(bytes), Value::Real),
            MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_STRING
            | MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_BIT
            | MYSQL_TYPE_GEOMETRY
                if column.character_set() == BINARY_CHARSET =>
            {
                Value::Blob(bytes)
            }
            _ => text(bytes),
        },
        // Dates and times from the binary protocol: as MySQL writes them.
        other => Value::Text(other.as_sql(true).trim_matches('\'').to_owned()),
    }
}

fn text(bytes: Vec<u8>) -> Value {
    Value::Text(
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

/// The parameters of `$n` placeholders, in the order of the `?`s that
/// replaced them. Every parameter given must be used, as on PostgreSQL.
fn bind<'s>(
    sql: &'s str,
    params: &[Value],
    rules: LexicalRules,
) -> Result<(Cow<'s, str>, Vec<mysql::Value>)> {
    let Some((rewritten, order)) = positional_placeholders(sql, rules) else {
        // Written with `?` already, or without parameters: MySQL counts.
        return Ok((Cow::Borrowed(sql), params.iter().map(to_mysql).collect()));
    };
    let highest = order.iter().max().map_or(0, |n| n + 1);
    if highest != params.len() {
        return Err(Error::Parameters(format!(
            "the statement's placeholders go up to ${highest} but {} parameter(s) were given",
            params.len()
        )));
    }
    let values = order.into_iter().map(|n| to_mysql(&params[n])).collect();
    Ok((Cow::Owned(rewritten), values))
}

/// `sql` with its `$n` parameters written inline as MySQL literals, for a
/// statement sent with others in one message.
fn inline(sql: &str, params: &[Value], rules: LexicalRules) -> Result<String> {
    let mut missing = None;
    let inlined = replace_placeholders(sql, rules, |n| match params.get(n) {
        Some(value) => to_mysql(value).as_sql(no_backslash_escapes(rules)),
        None => {
            missing = Some(n);
            String::new()
        }
    });
    match (inlined, missing) {
        (Some(inlined), None) => Ok(inlined),
        (None, None) if params.is_empty() => Ok(sql.to_owned()),
        _ => Err(Error::Parameters(format!(
            "the statement's placeholders do not match the {} parameter(s) given",
            params.len()
        ))),
    }
}

/// Runs a text query to its end, every result set, returning the rows of
/// all of them and the rows changed; a later statement's error is not
/// lost. `Err` carries the 0-based index of the statement that failed.
fn run_text(
    conn: &mut Conn,
    sql: &str,
) -> std::result::Result<(Vec<Row>, u64), (usize, mysql::Error)> {
    let mut result = conn.query_iter(sql).map_err(|e| (0, e))?;
    let mut rows = Vec::new();
    let mut changed = 0;
    let mut index = 0;
    while let Some(set) = result.iter() {
        changed += set.affected_rows();
        for row in set {
            rows.push(row.map_err(|e| (index, e))?);
        }
        index += 1;
    }
    Ok((rows, changed))
}

impl MysqlDriver<'_> {
    /// Forgets whether a transaction is open when `sql` may change that:
    /// open one (`BEGIN`, `START TRANSACTION`, `XA`, `SET autocommit`), or,
    /// when one is open, end it (`COMMIT`, a schema change).
    fn note_transaction_control(&mut self, sql: &str) {
        let Some(open) = self.open else { return };
        let changes = statements(sql, self.rules).iter().any(|s| {
            s.transaction_control().is_some()
                || s.is_xa()
                || match s.commits_implicitly(self.rules) {
                    Some("SET") => true,
                    Some(_) => open,
                    None => false,
                }
        });
        if changes {
            self.open = None;
        }
    }

    /// Where the run bounds lock waits: the session's metadata and row
    /// lock waits set to the DDL lock timeout (whole seconds, at least
    /// one: MySQL counts no finer), the session's own noted to put back.
    fn bound_lock_waits(&mut self) -> Result<()> {
        let Some(timeout) = self.ddl_lock_timeout else {
            return Ok(());
        };
        let rows = self
            .query_text("SELECT @@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout")?;
        self.lock_waits_before = Some((
            cell(&rows, 0).unwrap_or_default(),
            cell(&rows, 1).unwrap_or_default(),
        ));
        let seconds = timeout.as_secs_f64().ceil().max(1.0) as u64;
        self.text(&format!(
            "SET SESSION lock_wait_timeout = {seconds}, SESSION innodb_lock_wait_timeout = {seconds}"
        ))
        .map(drop)
    }

    /// After SQL that may have changed `sql_mode` or `autocommit` (at the
    /// end of a step, never between a step's statements): reads them
    /// again, so that later SQL is read as MySQL reads it, and — when no
    /// transaction is open — turns `autocommit` back on: migrate's own
    /// writes between steps would otherwise open a transaction nobody
    /// commits. A transaction the step left open is the runtime's to
    /// report, so it is not committed here.
    fn after_session_sql(&mut self, sql: &str) -> Result<()> {
        if !self.note_session_sql(sql) {
            return Ok(());
        }
        let rows = self.query_text("SELECT @@SESSION.sql_mode, @@SESSION.autocommit")?;
        self.rules = rules_of(&cell(&rows, 0).unwrap_or_default());
        if cell(&rows, 1).as_deref() == Some("0") && self.open != Some(true) {
            // Asked, not taken from the cache: the SQL may have opened one.
            self.open = None;
            if self.ask_in_transaction() != Some(true) {
                self.text("SET autocommit = 1")?;
                self.open = Some(false);
            }
        }
        Ok(())
    }

    /// Notes, before it runs, that `sql` may change `sql_mode` or
    /// `autocommit`, so that the run puts them back whatever becomes of
    /// it. Returns whether it may.
    fn note_session_sql(&mut self, sql: &str) -> bool {
        let touches = touches_session(sql);
        self.session_touched |= touches;
        touches
    }

    /// Asks the server whether a transaction is open. MariaDB has a
    /// variable for it. MySQL has none: there, InnoDB lists a transaction
    /// that has written (its list may lag a moment behind), and one that
    /// has not cannot be told from none. With `autocommit` off any read
    /// opens one, and whose work it holds cannot be told: it counts as open.
    fn ask_in_transaction(&mut self) -> Option<bool> {
        match self.query_text("SELECT @@in_transaction") {
            Ok(rows) => Some(cell(&rows, 0)? == "1"),
            Err(_) => {
                let rows = self
                    .query_text(
                        "SELECT COUNT(*) FROM information_schema.innodb_trx \
                         WHERE trx_mysql_thread_id = CONNECTION_ID()",
                    )
                    .ok()?;
                (cell(&rows, 0)? != "0").then_some(true)
            }
        }
    }

    /// Runs `sql` as one text query; an error names the statement of
    /// `sql` that failed when there are several.
    fn text(&mut self, sql: &str) -> Result<(Vec<Row>, u64)> {
        run_text(self.conn, sql).map_err(|(index, e)| {
            let found = statements(sql, self.rules);
            // Results count statements unless one may return several.
            let counted = !found.iter().any(Statement::may_return_several_results);
            let failed = found.get(index).filter(|_| found.len() > 1 && counted);
            my_error_in(e, |message| match failed {
                Some(statement) => {
                    format!(
                        "statement {} (line {}): {message}",
                        index + 1,
                        statement.line
                    )
                }
                None => message,
            })
        })
    }

    /// Runs a statement with parameters: prepared (and cached by the
    /// connection) when it has any, as text otherwise, since MySQL cannot
    /// prepare every statement.
    fn run(&mut self, sql: &str, params: &[Value]) -> Result<(Vec<Vec<Value>>, u64)> {
        refuse_client_commands(sql, self.rules)?;
        let (sql, values) = bind(sql, params, self.rules)?;
        if values.is_empty() {
            let (rows, changed) = self.text(&sql)?;
            return Ok((rows.into_iter().map(row_values).collect(), changed));
        }
        let mut result = self
            .conn
            .exec_iter(sql.as_ref(), values)
            .map_err(my_error)?;
        let changed = result.affected_rows();
        let mut rows = Vec::new();
        while let Some(set) = result.iter() {
            for row in set {
                rows.push(row_values(row.map_err(my_error)?));
            }
        }
        Ok((rows, changed))
    }
}

fn row_values(row: Row) -> Vec<Value> {
    let columns = row.columns();
    row.unwrap()
        .into_iter()
        .zip(columns.iter())
        .map(|(value, column)| from_mysql(value, column))
        .collect()
}

/// Refuses the `mysql` client's own commands, which the server would
/// reject halfway through a file: `DELIMITER` is not SQL.
fn refuse_client_commands(sql: &str, rules: LexicalRules) -> Result<()> {
    if !sql.contains(['D', 'd']) {
        return Ok(());
    }
    match statements(sql, rules)
        .iter()
        .find(|s| s.is_client_delimiter())
    {
        Some(statement) => Err(my_message(format!(
            "line {}: `DELIMITER` is a command of the `mysql` client, not SQL, and no server \
             runs it; nothing was run. Remove the DELIMITER lines and end each stored \
             program with `END;`: migrate finds where a `CREATE PROCEDURE|FUNCTION|TRIGGER|\
             EVENT ... BEGIN ... END` ends by itself",
            statement.line
        ))),
        None => Ok(()),
    }
}

impl Tx for MysqlDriver<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.note_transaction_control(sql);
        let result = self.run(sql, params).map(|(_, changed)| changed);
        self.after_session_sql(sql)?;
        result
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.note_transaction_control(sql);
        self.note_session_sql(sql);
        refuse_client_commands(sql, self.rules)?;
        let result = self.text(sql).map(drop);
        self.after_session_sql(sql)?;
        result
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>> {
        self.note_transaction_control(sql);
        self.run(sql, params).map(|(rows, _)| rows)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }
}

/// The `GET_LOCK` name for a history table: MySQL allows 64 characters,
/// and a database and table name may take 128, so they are hashed.
fn lock_name(database: &str, table: &str) -> String {
    let digest = Sha256::digest(format!("{database}.{table}").as_bytes());
    let hex: String = digest[..20].iter().map(|b| format!("{b:02x}")).collect();
    format!("migrate:{hex}")
}

/// MySQL's words for the history table.
struct MysqlSql;

impl SqlDialect for MysqlSql {
    fn quote(&self, ident: &str) -> String {
        // Backticks read as identifiers whatever `sql_mode` says.
        format!("`{}`", ident.replace('`', "``"))
    }

    fn transactional_ddl(&self) -> bool {
        false
    }

    fn now_utc(&self) -> &'static str {
        "DATE_FORMAT(UTC_TIMESTAMP(3), '%Y-%m-%dT%H:%i:%s.%fZ')"
    }

    fn current_user(&self) -> &'static str {
        "CURRENT_USER()"
    }

    fn serial_key(&self) -> String {
        "BIGINT AUTO_INCREMENT PRIMARY KEY".to_owned()
    }

    fn version_type(&self) -> &'static str {
        "BIGINT"
    }

    fn state_type(&self) -> &'static str {
        "VARCHAR(16)"
    }

    fn create_schema(&self, schema: &str) -> Option<String> {
        Some(format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            self.quote(schema)
        ))
    }

    fn create_unfinished_index(&self, _index: &str, _table: &TableName<'_>) -> Option<String> {
        // Created with the table (`table_indexes`): MySQL has no `CREATE
        // INDEX IF NOT EXISTS`.
        None
    }

    fn table_indexes(&self, index: &str) -> Option<String> {
        // No partial index: an index on `state` makes "state <> 'applied'"
        // a range scan, empty while every row is applied.
        Some(format!("INDEX {} (state)", self.quote(index)))
    }

    fn table_options(&self) -> &'static str {
        // Transactions need InnoDB, whatever the server's default engine.
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    }
}

impl Driver for MysqlDriver<'_> {
    fn sql_dialect(&self) -> &'static dyn SqlDialect {
        &MysqlSql
    }

    fn begin(&mut self) -> Result<()> {
        // The savepoint lets `transaction_intact` see a transaction that a
        // step ended (and began again).
        self.open = None;
        self.text("START TRANSACTION; SAVEPOINT migrate_step")?;
        self.open = Some(true);
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.open = None;
        self.text("COMMIT")?;
        self.open = Some(false);
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        self.open = None;
        self.text("ROLLBACK")?;
        self.open = Some(false);
        Ok(())
    }

    fn lock(&mut self, table: &TableName<'_>, timeout: Duration) -> Result<()> {
        let database = match table.schema {
            Some(schema) => schema.to_owned(),
            None => self.default_schema()?.unwrap_or_default(),
        };
        // The run writes between steps outside any transaction: with
        // autocommit off each write would open one nobody commits. No
        // transaction of the caller's is open (the runtime checked); one
        // opened by a read of migrate's own commits nothing.
        if self
            .session
            .as_ref()
            .is_some_and(|(_, autocommit)| !autocommit)
        {
            self.session_touched = true;
            self.text("SET autocommit = 1")?;
            self.open = Some(false);
        }
        let name = lock_name(&database, table.table);
        let shown = format!("{database}.{}", table.table);
        let started = Instant::now();
        loop {
            // Waited for by the server in slices of at most a second, so a
            // long timeout still notices a dropped connection promptly.
            let left = timeout.saturating_sub(started.elapsed());
            let slice = left.min(Duration::from_secs(1));
            let asked = Instant::now();
            let (rows, _) = self.run(
                "SELECT GET_LOCK($1, $2)",
                &[Value::Text(name.clone()), Value::Real(slice.as_secs_f64())],
            )?;
            if rows.first().and_then(|r| r.first()) == Some(&Value::Integer(1)) {
                self.lock = Some((name, shown));
                return self.bound_lock_waits();
            }
            // A server that reads the timeout as whole seconds answers a
            // short wait at once: wait here instead of asking in a loop.
            if asked.elapsed() < slice / 2 {
                std::thread::sleep((slice / 2).min(Duration::from_millis(50)));
            }
            if started.elapsed() >= timeout {
                let holder = self
                    .run("SELECT IS_USED_LOCK($1)", &[Value::Text(name)])
                    .ok()
                    .and_then(|(rows, _)| rows.into_iter().next())
                    .and_then(|row| row.into_iter().next())
                    .and_then(|v| v.as_i64())
                    .map(|id| format!("MySQL connection id {id}; `KILL {id}` ends it"));
                return Err(Error::LockTimeout {
                    table: shown,
                    waited: started.elapsed(),
                    holder,
                });
            }
        }
    }

    fn unlock(&mut self) -> Result<()> {
        let Some((name, _)) = self.lock.take() else {
            return Ok(());
        };
        self.run("SELECT RELEASE_LOCK($1)", &[Value::Text(name)])
            .map(drop)
    }

    fn sql_rules(&self) -> LexicalRules {
        self.rules
    }

    fn is_missing_table(&self, error: &Error) -> bool {
        code_of(error) == Some(NO_SUCH_TABLE)
    }

    fn batch_without_transaction(&mut self, sql: &str) -> Result<()> {
        self.note_transaction_control(sql);
        self.note_session_sql(sql);
        refuse_client_commands(sql, self.rules)?;
        // One statement at a time, so that a failure can say which of the
        // file's statements MySQL had already committed.
        let found = statements(sql, self.rules);
        for (i, statement) in found.iter().enumerate() {
            if let Err((_, e)) = run_text(self.conn, statement.text) {
                return Err(my_error_in(e, |m| failed_statement(&found, i, &m)));
            }
        }
        // `SET autocommit = 0` in the step would leave migrate's record of
        // it in a transaction nobody commits.
        self.after_session_sql(sql)
    }

    fn execute_then_batch_without_transaction(
        &mut self,
        sql: &str,
        params: &[Value],
        batch: &str,
    ) -> Result<Result<()>> {
        self.note_transaction_control(batch);
        let found = statements(batch, self.rules);
        // One at a time when results would not count statements (`CALL`),
        // when a statement changes how the session reads or commits, or
        // when the file is refused or the values cannot be written inline.
        let one_at_a_time =
            found.iter().any(Statement::may_return_several_results) || touches_session(batch);
        let record = match (
            one_at_a_time,
            refuse_client_commands(batch, self.rules),
            inline(sql, params, self.rules),
        ) {
            (false, Ok(()), Ok(record)) => record,
            _ => {
                self.execute(sql, params)?;
                return Ok(self.batch_without_transaction(batch));
            }
        };
        // One message: the record, then the step's statements. MySQL runs
        // them in order, each committing on its own, and stops at the
        // first failure, whose result set says which it was.
        let mut message = record;
        for statement in &found {
            message.push_str(";\n");
            message.push_str(statement.text);
        }
        match run_text(self.conn, &message) {
            Ok(_) => Ok(Ok(())),
            Err((0, e)) => Err(my_error(e)),
            Err((index, e)) => {
                let failed = (index - 1).min(found.len().saturating_sub(1));
                Ok(Err(my_error_in(e, |m| {
                    failed_statement(&found, failed, &m)
                })))
            }
        }
    }

    fn default_schema(&mut self) -> Result<Option<String>> {
        let rows =
            self.query_text("SELECT DATABASE(), @@SESSION.sql_mode, @@SESSION.autocommit")?;
        let mode = cell(&rows, 1).unwrap_or_default();
        let autocommit = cell(&rows, 2).as_deref() != Some("0");
        self.rules = rules_of(&mode);
        self.session = Some((mode, autocommit));
        match cell(&rows, 0) {
            Some(database) => Ok(Some(database)),
            None => Err(my_message(
                "no database is selected on this MySQL connection: name one in the URL \
                 (`mysql://user@host/database`) or with `USE`, or qualify the history table \
                 as `database.table`"
                    .to_owned(),
            )),
        }
    }

    fn set_ddl_lock_timeout(&mut self, timeout: Duration) {
        self.ddl_lock_timeout = Some(timeout);
    }

    fn is_lock_timeout(&self, error: &Error) -> bool {
        let code = match error {
            Error::Failed { source, .. } => source
                .downcast_ref::<MysqlError>()
                .and_then(MysqlError::code),
            other => code_of(other),
        };
        code == Some(LOCK_WAIT_TIMEOUT)
    }

    fn lock_holders(&mut self) -> Vec<String> {
        // Every other open InnoDB transaction, oldest first: whoever kept
        // the migration waiting (for a metadata lock, a transaction that
        // read the table) is among them.
        let sql = "SELECT CONCAT('connection id ', t.trx_mysql_thread_id, \
                     COALESCE(CONCAT(', user ', p.USER), ''), \
                     ', transaction since ', t.trx_started, \
                     COALESCE(CONCAT(', running: ', LEFT(t.trx_query, 200)), ', idle'), \
                     '; `KILL ', t.trx_mysql_thread_id, '` ends it') \
                   FROM information_schema.INNODB_TRX t \
                   LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
                   WHERE t.trx_mysql_thread_id <> CONNECTION_ID() \
                   ORDER BY t.trx_started LIMIT 5";
        super::described(self, sql)
    }

    fn restore_session(&mut self) {
        if let Some((metadata, rows)) = self.lock_waits_before.take() {
            let put_back = format!(
                "SET SESSION lock_wait_timeout = {}, SESSION innodb_lock_wait_timeout = {}",
                metadata.parse::<u64>().unwrap_or(31_536_000),
                rows.parse::<u64>().unwrap_or(50)
            );
            if let Err(e) = self.text(&put_back) {
                log::warn!("could not put back the session's lock wait timeouts: {e}");
            }
        }
        let Some((mode, autocommit)) = self.session.clone() else {
            return;
        };
        if !std::mem::take(&mut self.session_touched) {
            return;
        }
        let rows = match self.query_text("SELECT @@SESSION.sql_mode, @@SESSION.autocommit") {
            Ok(rows) => rows,
            Err(e) => {
                log::warn!("could not read the session's sql_mode and autocommit: {e}");
                return;
            }
        };
        let unchanged = cell(&rows, 0).as_deref() == Some(mode.as_str())
            && cell(&rows, 1).as_deref() == Some(if autocommit { "1" } else { "0" });
        if unchanged {
            return;
        }
        let quoted =
            mysql::Value::Bytes(mode.into_bytes()).as_sql(no_backslash_escapes(self.rules));
        let restore = format!(
            "SET SESSION sql_mode = {quoted}, SESSION autocommit = {}",
            u8::from(autocommit)
        );
        if let Err(e) = self.text(&restore) {
            log::warn!("could not put back the session's sql_mode and autocommit: {e}");
        }
    }

    fn transaction_intact(&mut self) -> Result<Option<bool>> {
        // `begin` set this savepoint: a commit, even an implicit one, took
        // it away with the transaction. It is set again for the next check.
        match run_text(
            self.conn,
            "RELEASE SAVEPOINT migrate_step; SAVEPOINT migrate_step",
        ) {
            Ok(_) => Ok(Some(true)),
            Err((_, mysql::Error::MySqlError(e))) if e.code == NO_SUCH_SAVEPOINT => Ok(Some(false)),
            Err((_, e)) => Err(my_error(e)),
        }
    }

    fn in_transaction(&mut self) -> Option<bool> {
        if let Some(open) = self.open {
            return Some(open);
        }
        let open = self.ask_in_transaction();
        if open == Some(false) {
            self.open = open;
        }
        open
    }

    fn query_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        let (rows, _) = self.text(sql)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                row.unwrap()
                    .into_iter()
                    .map(|value| match value {
                        mysql::Value::NULL => None,
                        mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                        other => Some(other.as_sql(true).trim_matches('\'').to_owned()),
                    })
                    .collect()
            })
            .collect())
    }
}

/// What a failed statement of a no-transaction step means: which one it
/// was, and which of the file's statements MySQL had already committed.
fn failed_statement(found: &[Statement<'_>], failed: usize, message: &str) -> String {
    let statement = &found[failed];
    let mut text = format!(
        "statement {} of {} (line {}) failed: {message}",
        failed + 1,
        found.len(),
        statement.line
    );
    if failed == 0 {
        text.push_str(
            "; no statement of this file had run before it, so nothing of it was applied",
        );
        return text;
    }
    text.push_str(&format!(
        "; MySQL had already committed statement{} {} of this file, which stay{} applied:",
        if failed == 1 { "" } else { "s" },
        if failed == 1 {
            "1".to_owned()
        } else {
            format!("1 to {failed}")
        },
        if failed == 1 { "s" } else { "" },
    ));
    for (i, done) in found[..failed].iter().enumerate() {
        text.push_str(&format!(
            "\n  {}. line {}: {}",
            i + 1,
            done.line,
            summary(done)
        ));
    }
    text.push('\n');
    text
}

/// A statement's first line, without leading comments, shortened.
fn summary(statement: &Statement<'_>) -> String {
    let line = statement
        .text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("--") && !l.starts_with('#'))
        .unwrap_or("");
    let mut short: String = line.chars().take(72).collect();
    if short.len() < line.len() {
        short.push_str(" ...");
    }
    short
}
