//! The PostgreSQL driver, written once for both clients: `postgres::Client`
//! (sync) and `tokio_postgres::Client` (async, whose requests the
//! `Session` carries to the caller's task; see `tokio_postgres.rs`).
//!
//! - Boot's check runs over the simple-query protocol: one round trip.
//! - The migration lock is an advisory lock keyed on the schema-qualified
//!   history table, so independent migration sets (each with its own table)
//!   never block each other, and both clients agree on it. The sync client
//!   holds it for the session, for the whole run ([`LockScope::Session`]):
//!   a waiter waits for it on the server (`pg_advisory_lock` under
//!   `lock_timeout`), woken when it is free; it is released on every path,
//!   and by the server if the process dies. The async client takes it
//!   inside each transaction ([`LockScope::Transaction`]), so a run dropped
//!   halfway (a timeout around the future) cannot leave it held by a
//!   pooled connection; it waits by polling outside any transaction, with
//!   backoff and jitter. [`LockStrategy`] changes the choice; with
//!   [`LockStrategy::TransactionPooler`] nothing of the run outlives a
//!   transaction in the server session (unnamed statements, no session
//!   settings).
//! - A transactional SQL migration goes whole, in one simple-query message
//!   and one round trip: `BEGIN`, the lock and the history check (async
//!   client), the step, the check that it left its transaction open, its
//!   history row with the values inline, `COMMIT` ([`Driver::transaction_at_once`]);
//!   a grouped run sends all its migrations in one such message.
//!   What stopped a failed one is told by the savepoints it set.
//! - Elsewhere, statements the runtime repeats (the history insert) are
//!   prepared once per run.
//! - A failing statement's error carries the server's message and where in
//!   the migration it failed (line and column).
//! - `begin` sets a savepoint in the same round trip; it is released and set
//!   again after each step, so a step that ended the transaction is seen.
//! - An unqualified history table is `current_schema()`'s, resolved with
//!   `search_path`, which is put back after the run.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio_postgres::error::{ErrorPosition, SqlState};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Row, SimpleQueryMessage, Statement};

#[cfg(feature = "postgres")]
use super::Database;
use super::{AtOnce, Driver, LockScope, LockStrategy, WholeStep};
use crate::dialect::SqlDialect;
use crate::error::{Error, Result};
use crate::jitter::Backoff;
use crate::source::sql::{statements, LexicalRules};
use crate::table::TableName;
use crate::tx::{Dialect, Tx, Value};

/// Why a request got no answer: the server's error, or the async run that
/// carried it was dropped.
pub(crate) enum Fail {
    Server(tokio_postgres::Error),
    #[cfg_attr(not(feature = "tokio-postgres"), allow(dead_code))]
    Cancelled,
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Server(e)
    }
}

/// How the driver reaches one PostgreSQL session: the sync client itself,
/// or the async client through the task that awaits it.
pub(crate) trait Session {
    /// Sends SQL over the simple-query protocol, rows as text.
    fn simple_query(&mut self, sql: &str) -> std::result::Result<Vec<SimpleQueryMessage>, Fail>;
    /// Sends SQL over the simple-query protocol.
    fn batch(&mut self, sql: &str) -> std::result::Result<(), Fail>;
    /// Opens a transaction (read committed when asked) and runs `then` in
    /// it, over the simple-query protocol.
    fn begin(
        &mut self,
        read_committed: bool,
        then: &str,
    ) -> std::result::Result<Vec<SimpleQueryMessage>, Fail>;
    /// Commits, or rolls back, the open transaction; `before` runs first,
    /// in the same message, so the two happen together or not at all.
    fn end(&mut self, commit: bool, before: Option<&str>) -> std::result::Result<(), Fail>;
    fn prepare(&mut self, sql: &str) -> std::result::Result<Statement, Fail>;
    fn execute(
        &mut self,
        statement: &Statement,
        values: &[Value],
    ) -> std::result::Result<u64, Fail>;
    fn query(
        &mut self,
        statement: &Statement,
        values: &[Value],
    ) -> std::result::Result<Vec<Row>, Fail>;
    /// Runs `sql` as an unnamed statement, parameters sent as text for the
    /// server to read as the types it infers: nothing outlives the call in
    /// the server session (for a transaction pooler). The rows, and how
    /// many the statement touched.
    fn query_unnamed(
        &mut self,
        sql: &str,
        values: &[Value],
    ) -> std::result::Result<(Vec<Row>, u64), Fail>;
    fn is_closed(&self) -> bool;
    /// Runs `statement`, then commits, pipelined in one round trip, with
    /// each one's outcome (`None` for the commit: it was not sent); `None`
    /// where the session cannot pipeline (the sync client).
    #[allow(clippy::type_complexity)]
    fn execute_and_commit(
        &mut self,
        _statement: &Statement,
        _values: &[Value],
    ) -> Option<(
        std::result::Result<u64, Fail>,
        Option<std::result::Result<(), Fail>>,
    )> {
        None
    }
    /// Sends a transaction whole — `BEGIN` to `COMMIT` — over the
    /// simple-query protocol. The async client rolls back what an error
    /// left open if the run is dropped before the driver does.
    fn send_whole(&mut self, sql: &str) -> std::result::Result<Vec<SimpleQueryMessage>, Fail> {
        self.simple_query(sql)
    }
    /// Waits before polling the lock again (on the calling thread: the
    /// async client's runtime runs on a blocking thread of its own).
    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
    /// Whether the migration lock is held for the session or for each
    /// transaction.
    fn lock_scope(&self) -> LockScope;
}

#[cfg(feature = "postgres")]
impl Session for postgres::Client {
    fn simple_query(&mut self, sql: &str) -> std::result::Result<Vec<SimpleQueryMessage>, Fail> {
        Ok(postgres::Client::simple_query(self, sql)?)
    }

    fn batch(&mut self, sql: &str) -> std::result::Result<(), Fail> {
        Ok(self.batch_execute(sql)?)
    }

    fn begin(
        &mut self,
        read_committed: bool,
        then: &str,
    ) -> std::result::Result<Vec<SimpleQueryMessage>, Fail> {
        let begin = if read_committed {
            "BEGIN ISOLATION LEVEL READ COMMITTED"
        } else {
            "BEGIN"
        };
        Ok(postgres::Client::simple_query(
            self,
            &format!("{begin}; {then}"),
        )?)
    }

    fn end(&mut self, commit: bool, before: Option<&str>) -> std::result::Result<(), Fail> {
        Ok(self.batch_execute(&end_sql(commit, before))?)
    }

    fn prepare(&mut self, sql: &str) -> std::result::Result<Statement, Fail> {
        Ok(postgres::Client::prepare(self, sql)?)
    }

    fn execute(
        &mut self,
        statement: &Statement,
        values: &[Value],
    ) -> std::result::Result<u64, Fail> {
        let params = params(values);
        Ok(postgres::Client::execute(self, statement, &refs(&params))?)
    }

    fn query(
        &mut self,
        statement: &Statement,
        values: &[Value],
    ) -> std::result::Result<Vec<Row>, Fail> {
        let params = params(values);
        Ok(postgres::Client::query(self, statement, &refs(&params))?)
    }

    fn query_unnamed(
        &mut self,
        sql: &str,
        values: &[Value],
    ) -> std::result::Result<(Vec<Row>, u64), Fail> {
        let mut rows = postgres::Client::query_typed_raw(self, sql, unnamed_params(values))?;
        let mut collected = Vec::new();
        while let Some(row) = postgres::fallible_iterator::FallibleIterator::next(&mut rows)? {
            collected.push(row);
        }
        let touched = rows.rows_affected().unwrap_or(collected.len() as u64);
        drop(rows);
        if looked_up_types(&collected) {
            postgres::Client::clear_type_cache(self);
            self.batch_execute("DEALLOCATE ALL")?;
        }
        Ok((collected, touched))
    }

    fn is_closed(&self) -> bool {
        postgres::Client::is_closed(self)
    }

    fn lock_scope(&self) -> LockScope {
        LockScope::Session
    }
}

/// `COMMIT` or `ROLLBACK`, after `before` in the same message.
pub(crate) fn end_sql(commit: bool, before: Option<&str>) -> String {
    let end = if commit { "COMMIT" } else { "ROLLBACK" };
    match before {
        Some(before) => format!("{before}; {end}"),
        None => end.to_owned(),
    }
}

/// A PostgreSQL client borrowed for one runtime call.
pub struct PostgresDriver<'c> {
    session: &'c mut dyn Session,
    /// `search_path` when the run resolved its schema, to restore after it.
    search_path: Option<String>,
    /// The session lock held, or the transaction lock to take at each `begin`.
    lock: Option<Lock>,
    statements: HashMap<String, Statement>,
    /// Whether the server counts error positions in bytes (a `SQL_ASCII`
    /// database), rather than in characters.
    byte_positions: bool,
    /// The run's choice, where it made one; else the session's default.
    strategy: Option<LockStrategy>,
    /// How long a migration's statements wait for a table lock, where the
    /// run bounds it.
    ddl_lock_timeout: Option<Duration>,
    /// The session's `lock_timeout` before a no-transaction step set it,
    /// to put back after the run.
    lock_timeout_before: Option<String>,
    /// `server_version_num`, once the run has read it.
    server_version: u32,
}

/// The migration lock of one run.
struct Lock {
    key: i64,
    /// `schema.table`, for messages.
    table: String,
    timeout: Duration,
}

impl<'c> PostgresDriver<'c> {
    pub(crate) fn new(session: &'c mut dyn Session) -> Self {
        PostgresDriver {
            session,
            search_path: None,
            lock: None,
            statements: HashMap::new(),
            byte_positions: false,
            strategy: None,
            ddl_lock_timeout: None,
            lock_timeout_before: None,
            server_version: 0,
        }
    }
}

#[cfg(feature = "postgres")]
impl Database for postgres::Client {
    type Driver<'c> = PostgresDriver<'c>;

    fn driver(&mut self) -> PostgresDriver<'_> {
        PostgresDriver::new(self)
    }
}

/// A server error with its position turned into a line and column of the
/// SQL that was sent.
#[derive(Debug)]
pub struct PostgresError {
    message: String,
    source: tokio_postgres::Error,
}

impl fmt::Display for PostgresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for PostgresError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

impl PostgresError {
    /// The SQLSTATE code, when the server sent one.
    pub fn code(&self) -> Option<&SqlState> {
        self.source.code()
    }
}

fn pg_error(e: Fail, sql: &str) -> Error {
    pg_error_at(e, sql, 1)
}

/// The error of a run whose future was dropped while a request was under way.
fn cancelled() -> Error {
    Error::other(
        "the async run was dropped (cancelled) while this request was under way; \
         the transaction it had open is rolled back, run it again",
    )
}

/// As [`pg_error`], for `sql` that starts on line `first_line` of its file.
fn pg_error_at(e: Fail, sql: &str, first_line: usize) -> Error {
    pg_error_in(e, sql, first_line, None)
}

/// As [`pg_error_at`]; `position` (1-based, in characters of `sql`), when
/// given, replaces the server's, which counts from the start of a longer
/// message.
fn pg_error_in(e: Fail, sql: &str, first_line: usize, position: Option<usize>) -> Error {
    let e = match e {
        Fail::Server(e) => e,
        Fail::Cancelled => return cancelled(),
    };
    if e.is_closed() {
        let message = "the connection to PostgreSQL is closed (the server ended it: a restart, \
                       `pg_terminate_backend`, `idle_in_transaction_session_timeout`; see the \
                       server's log); connect again, or take a fresh connection from the pool"
            .to_owned();
        return Error::Driver(Box::new(PostgresError { message, source: e }));
    }
    let Some(db) = e.as_db_error() else {
        // Client-side errors (a value that does not fit its parameter)
        // keep their reason in the source: say it.
        let message = match StdError::source(&e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        };
        return Error::Driver(Box::new(PostgresError { message, source: e }));
    };
    let mut message = format!("{}: {}", db.severity(), db.message());
    let position = match (position, db.position()) {
        (Some(p), _) => Some(p),
        (None, Some(ErrorPosition::Original(p))) => Some(*p as usize),
        _ => None,
    };
    if let Some(position) = position.filter(|p| (1..=sql.chars().count() + 1).contains(p)) {
        // 1-based character offset into the text that was sent.
        let before: String = sql.chars().take(position - 1).collect();
        let line = before.matches('\n').count() + first_line;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        message.push_str(&format!(" (line {line}, column {column})"));
    }
    if let Some(detail) = db.detail() {
        message.push_str(&format!("; {detail}"));
    }
    if let Some(hint) = db.hint() {
        message.push_str(&format!("; hint: {hint}"));
    }
    // A prepared statement that is not there, or is there twice: another
    // server session answered — a pooler in transaction mode.
    if *db.code() == SqlState::INVALID_SQL_STATEMENT_NAME
        || *db.code() == SqlState::DUPLICATE_PSTATEMENT
    {
        message.push_str(
            "; is a pooler in transaction mode (PgBouncer's `pool_mode = transaction`) \
             between? Use `LockStrategy::TransactionPooler` (`--lock-strategy pooler`)",
        );
    }
    Error::Driver(Box::new(PostgresError { message, source: e }))
}

/// `error` with the server's quote of a whole message cut where the
/// migration's SQL ends (an unterminated comment quotes all that follows).
fn cut_at_tail(error: Error) -> Error {
    match error {
        Error::Driver(e) => match e.downcast::<PostgresError>() {
            Ok(mut e) => {
                let tail = e.message.find(STEP_TAIL);
                let end = e.message.rfind("\nCOMMIT");
                if let (Some(at), Some(end)) = (tail, end.filter(|end| Some(*end) > tail)) {
                    let rest = &e.message[end + "\nCOMMIT".len()..];
                    e.message = format!("{}…{rest}", e.message[..at].trim_end());
                }
                Error::Driver(e)
            }
            Err(other) => Error::Driver(other),
        },
        other => other,
    }
}

/// A [`Value`] bound to a parameter of whatever type the server inferred:
/// in that type's binary form where the two are a natural pair (integers,
/// floats, text, JSON, bytea), otherwise as text for the server to read as
/// that type, as it would a literal — the same rules as an unnamed
/// statement's text parameters ([`TextParam`]), so a migration binds alike
/// over a direct connection and through a transaction pooler.
#[derive(Debug)]
pub(crate) struct Param<'a>(&'a Value);

fn mismatch(value: &Value, ty: &Type) -> Box<dyn StdError + Sync + Send> {
    format!("cannot bind {value:?} to a parameter of type {ty}").into()
}

impl Param<'_> {
    /// Whether the value goes in `ty`'s binary form (else as text).
    fn binary(&self, ty: &Type) -> bool {
        match self.0 {
            Value::Null => true,
            // Elsewhere as bytea's text form, which the server casts to a
            // string type as it does a bytea parameter, and refuses for
            // anything else.
            Value::Blob(_) => *ty == Type::BYTEA,
            Value::Integer(_) => [
                Type::INT8,
                Type::INT4,
                Type::INT2,
                Type::BOOL,
                Type::FLOAT8,
                Type::FLOAT4,
            ]
            .contains(ty),
            Value::Real(_) => [Type::FLOAT8, Type::FLOAT4].contains(ty),
            Value::Text(_) => [
                Type::TEXT,
                Type::VARCHAR,
                Type::BPCHAR,
                Type::NAME,
                Type::UNKNOWN,
                Type::JSON,
                Type::JSONB,
            ]
            .contains(ty),
        }
    }
}

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        if !self.binary(ty) {
            if let Value::Blob(b) = self.0 {
                out.extend_from_slice(bytea_text(b).as_bytes());
                return Ok(IsNull::No);
            }
            return TextParam(self.0).to_sql(ty, out);
        }
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)
                    .map_err(|_| mismatch(self.0, ty))?
                    .to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)
                    .map_err(|_| mismatch(self.0, ty))?
                    .to_sql(ty, out),
                // As the server reads `'0'` and `'1'` (and nothing else).
                Type::BOOL => match i {
                    0 => false.to_sql(ty, out),
                    1 => true.to_sql(ty, out),
                    _ => Err(mismatch(self.0, ty)),
                },
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                _ => Err(mismatch(self.0, ty)),
            },
            Value::Real(r) => match *ty {
                Type::FLOAT8 => r.to_sql(ty, out),
                Type::FLOAT4 => (*r as f32).to_sql(ty, out),
                _ => Err(mismatch(self.0, ty)),
            },
            Value::Text(s) => match *ty {
                Type::JSON | Type::JSONB => {
                    // Both are sent as text; JSONB after a version byte.
                    if *ty == Type::JSONB {
                        out.extend_from_slice(&[1]);
                    }
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                _ => s.as_str().to_sql(ty, out),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                _ => Err(mismatch(self.0, ty)),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, ty: &Type) -> tokio_postgres::types::Format {
        if self.binary(ty) {
            tokio_postgres::types::Format::Binary
        } else {
            tokio_postgres::types::Format::Text
        }
    }

    to_sql_checked!();
}

/// `bytes` in bytea's hex text form, `\x0102`.
fn bytea_text(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut hex = String::with_capacity(2 + 2 * bytes.len());
    hex.push_str("\\x");
    for byte in bytes {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// A [`Value`] as a parameter of an unnamed statement: a blob as `bytea`
/// (so that it binds to a bytea column or fails, as over a direct
/// connection), anything else as text typed `unknown`, for the server to
/// read as the type it infers, as it would a literal in its place.
#[derive(Debug)]
pub(crate) struct TextParam<'a>(&'a Value);

impl ToSql for TextParam<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self.0 {
            Value::Null => return Ok(IsNull::Yes),
            Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Value::Real(r) if r.is_nan() => out.extend_from_slice(b"NaN"),
            Value::Real(r) if r.is_infinite() => {
                out.extend_from_slice(if *r > 0.0 { b"Infinity" } else { b"-Infinity" });
            }
            Value::Real(r) => out.extend_from_slice(format!("{r:?}").as_bytes()),
            Value::Text(t) => out.extend_from_slice(t.as_bytes()),
            // Declared bytea, in its binary form: the bytes themselves.
            Value::Blob(b) => out.extend_from_slice(b),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> tokio_postgres::types::Format {
        match self.0 {
            Value::Blob(_) => tokio_postgres::types::Format::Binary,
            _ => tokio_postgres::types::Format::Text,
        }
    }

    to_sql_checked!();
}

/// Whether reading `rows` made the client look up a column's type that is
/// not built in (an enum, a domain, an extension's type): it does so with
/// named statements it keeps for the session, which through a transaction
/// pooler is anyone's. Then they are dropped again (`DEALLOCATE ALL`, in
/// the same transaction) and the client's cache of them cleared.
pub(crate) fn looked_up_types(rows: &[Row]) -> bool {
    rows.first().is_some_and(|row| {
        row.columns()
            .iter()
            .any(|c| Type::from_oid(c.type_().oid()).is_none())
    })
}

/// `values` as parameters of an unnamed statement ([`Session::query_unnamed`]).
pub(crate) fn unnamed_params(values: &[Value]) -> impl Iterator<Item = (TextParam<'_>, Type)> {
    values.iter().map(|v| {
        let ty = match v {
            Value::Blob(_) => Type::BYTEA,
            _ => Type::UNKNOWN,
        };
        (TextParam(v), ty)
    })
}

fn column_value(row: &Row, i: usize) -> Result<Value> {
    let ty = row.columns()[i].type_();
    let get = |e: tokio_postgres::Error| Error::Driver(Box::new(e));
    let value = match *ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)
            .map_err(get)?
            .map(Value::Integer),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)
            .map_err(get)?
            .map(|v| Value::Integer(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)
            .map_err(get)?
            .map(|v| Value::Integer(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map_err(get)?
            .map(|v| Value::Integer(v.into())),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(i)
            .map_err(get)?
            .map(Value::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)
            .map_err(get)?
            .map(|v| Value::Real(v.into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
            .try_get::<_, Option<String>>(i)
            .map_err(get)?
            .map(Value::Text),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(i)
            .map_err(get)?
            .map(Value::Blob),
        _ => {
            return Err(Error::Conversion(format!(
                "column `{}` has type {ty}, which a Value cannot hold; cast it in the query \
                 (e.g. `{}::text`)",
                row.columns()[i].name(),
                row.columns()[i].name()
            )))
        }
    };
    Ok(value.unwrap_or(Value::Null))
}

/// `timeout` as `lock_timeout` milliseconds: at least one (zero would
/// mean no timeout at all), at most what the setting holds.
fn lock_millis(timeout: Duration) -> u128 {
    timeout.as_millis().clamp(1, i32::MAX as u128)
}

/// The `pg_locks l` rows of the advisory lock `key` granted in this
/// database (a bigint key: `classid` holds its high half, `objid` the low).
fn lock_rows(key: i64) -> String {
    format!(
        "l.locktype = 'advisory' AND l.granted \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND l.classid::bigint = {} AND l.objid::bigint = {} AND l.objsubid = 1",
        (key >> 32) & 0xffff_ffff,
        key & 0xffff_ffff
    )
}

/// How often a run waiting for a lock held per transaction asks again:
/// from 10 ms, half as long again each time up to 250 ms, with jitter. It
/// waits outside any transaction, so that behind a transaction pooler it
/// holds no server connection while it waits.
const LOCK_POLL_FIRST: Duration = Duration::from_millis(10);
const LOCK_POLL_CAP: Duration = Duration::from_millis(250);

impl PostgresDriver<'_> {
    /// Opens a transaction — taking the lock in it, where it is taken per
    /// transaction — and runs `check` in it: one round trip when nobody
    /// else holds the lock (the async client's transaction costs one more).
    /// The savepoint lets `transaction_intact` see a transaction that a
    /// step ended and began again.
    fn begin_then(&mut self, check: Option<&str>) -> Result<Vec<Vec<Option<String>>>> {
        let local = self.local_settings();
        let Some(lock) = self.lock.as_ref().filter(|_| self.transaction_locks()) else {
            let then = match check {
                Some(check) => format!("{local}SAVEPOINT migrate_step; {check}"),
                None => format!("{local}SAVEPOINT migrate_step"),
            };
            let messages = self
                .session
                .begin(false, &then)
                .map_err(|e| pg_error(e, "BEGIN"))?;
            return Ok(text_rows(&messages));
        };
        // Read committed: what is read under the lock must see what the
        // process that held it before committed.
        let (key, timeout) = (lock.key, lock.timeout);
        let try_lock = try_lock_sql(key);
        let then = match check {
            Some(check) => format!("{try_lock}; {local}SAVEPOINT migrate_step; {check}"),
            None => format!("{try_lock}; {local}SAVEPOINT migrate_step"),
        };
        let start = Instant::now();
        loop {
            let messages = self
                .session
                .begin(true, &then)
                .map_err(|e| pg_error(e, "BEGIN"))?;
            let mut rows = text_rows(&messages);
            if first_text(&rows) == Some("1") {
                rows.remove(0);
                return Ok(rows);
            }
            self.wait_for_lock(key, timeout, start)?;
        }
    }

    /// `SET LOCAL` statements, each ending in `; `, for the start of each
    /// of the run's transactions.
    fn local_settings(&self) -> String {
        match self.ddl_lock_timeout {
            Some(timeout) => format!("SET LOCAL lock_timeout = '{}ms'; ", lock_millis(timeout)),
            None => String::new(),
        }
    }

    /// The lock `key` was busy: rolls back, and waits outside any
    /// transaction (a server may end a session idle in one), probing until
    /// it is free — then the caller begins again — or `timeout` has passed
    /// since `start`.
    fn wait_for_lock(&mut self, key: i64, timeout: Duration, start: Instant) -> Result<()> {
        self.rollback()?;
        let try_lock = try_lock_sql(key);
        let mut backoff = Backoff::new(LOCK_POLL_FIRST, LOCK_POLL_CAP);
        loop {
            if start.elapsed() >= timeout {
                return Err(self.lock_timeout(key, start.elapsed()));
            }
            let left = timeout.saturating_sub(start.elapsed());
            self.session.sleep(backoff.pause().min(left));
            // Outside a transaction, taken and released at once.
            if first_text(&self.query_text(&try_lock)?) == Some("1") {
                return Ok(());
            }
        }
    }

    /// What a transaction sent whole came to, from the server's `error`
    /// that stopped its message: every statement after the failing one
    /// was skipped, the `COMMIT` too. The savepoints it set tell where it
    /// stopped: they outlive an error in their transaction, and a rollback
    /// to one fails when it was never set, or when the transaction ended.
    /// `None`: the lock was busy.
    fn judge_whole(
        &mut self,
        error: Fail,
        message: &WholeMessage,
        steps: &[WholeStep<'_>],
    ) -> Option<AtOnce> {
        let error = match error {
            Fail::Server(e) if e.as_db_error().is_some() => e,
            // The answer was lost: it may have committed.
            other => return Some(AtOnce::Commit(pg_error(other, "COMMIT"))),
        };
        let db = error.as_db_error()?;
        let code = db.code().clone();
        // The lock and the guard fail with a text of this message's that is
        // not a number.
        if message.signals(db, LOCK_BUSY) {
            return None;
        }
        if message.signals(db, HISTORY_CHANGED) {
            return Some(AtOnce::HistoryChanged);
        }
        let position = match db.position() {
            Some(ErrorPosition::Original(p)) => {
                Some(message.in_chars(*p as usize, self.byte_positions))
            }
            _ => None,
        };
        let in_head = position.is_some_and(|p| p <= message.head_chars);
        // The step whose SQL holds the error's position, with the position
        // within it.
        let located = position.and_then(|p| message.step_at(p));
        let last = steps.len() - 1;
        let step_error = |error, index: usize| {
            // Never the server's own position: it counts the whole message.
            let at = located.filter(|(i, _)| *i == index).map_or(0, |(_, p)| p);
            cut_at_tail(pg_error_in(
                Fail::Server(error),
                steps[index].sql,
                1,
                Some(at),
            ))
        };
        let probe = |driver: &mut Self, savepoint: &str| match driver
            .session
            .batch(&format!("ROLLBACK TO SAVEPOINT {savepoint}"))
        {
            Ok(()) => Ok(()),
            Err(Fail::Server(e)) => Err(e.code().cloned()),
            Err(Fail::Cancelled) => Err(None),
        };
        let gone = |c: &Option<SqlState>| c.as_ref() == Some(&SqlState::NO_ACTIVE_SQL_TRANSACTION);
        let unset = |c: &Option<SqlState>| c.as_ref() == Some(&SqlState::S_E_INVALID_SPECIFICATION);
        Some(match probe(self, "migrate_commit") {
            // Deferred constraints, checked at the end: the last step's.
            Ok(()) => AtOnce::Step(last, step_error(error, last)),
            // No transaction. The message never ran: PostgreSQL parses it
            // whole first, so an error of its parser (a syntax error, an
            // invalid byte, a feature not implemented) stops it before
            // anything runs. Otherwise a step ended the transaction — the
            // savepoint check right after it failed, or a statement after
            // its own COMMIT did. A refused COMMIT would look the same, but
            // deferred constraints were checked before it: what is left (a
            // serialization failure under a serializable default) is
            // called dirty too, for an operator to look at, rather than
            // risk calling a half-committed step rolled back.
            Err(c) if gone(&c) => {
                let refused = if code == SqlState::SYNTAX_ERROR {
                    located.map(|(i, _)| i).or(Some(0))
                } else {
                    (0..steps.len()).find(|&i| !self.parses(steps[i].sql))
                };
                match refused {
                    Some(index) => AtOnce::Step(index, step_error(error, index)),
                    None => AtOnce::Ended(self.marked_step(message, steps.len())),
                }
            }
            Err(c) if unset(&c) => match probe(self, "migrate_record") {
                // Stopped at a history write.
                Ok(()) => {
                    let index = self.marked_step(message, steps.len());
                    AtOnce::Record(index, pg_error(Fail::Server(error), steps[index].record))
                }
                Err(c) if unset(&c) => match probe(self, "migrate_step") {
                    // In our head: nothing of a step ran.
                    Ok(()) if in_head => {
                        AtOnce::NotBegun(pg_error(Fail::Server(error), &message.text))
                    }
                    Ok(()) => {
                        let index = match located {
                            Some((index, _)) => index,
                            None => self.marked_step(message, steps.len()),
                        };
                        AtOnce::Step(index, step_error(error, index))
                    }
                    // Our savepoint is gone in an open transaction: a step
                    // ended ours and began another.
                    Err(c) if unset(&c) => {
                        let _ = self.rollback();
                        AtOnce::Ended(self.marked_step(message, steps.len()))
                    }
                    Err(_) => AtOnce::Step(last, step_error(error, last)),
                },
                Err(_) => AtOnce::Step(last, step_error(error, last)),
            },
            // The probe itself failed (a lost connection): the server's
            // error stopped the message before its COMMIT.
            Err(_) => AtOnce::Step(last, step_error(error, last)),
        })
    }

    /// The step a group sent whole had reached, by the mark it sets
    /// before each step (the first where there is none, or one step).
    fn marked_step(&mut self, message: &WholeMessage, steps: usize) -> usize {
        if !message.marked {
            return 0;
        }
        let rows = self
            .query_text(&format!(
                "SELECT pg_catalog.current_setting('{STEP_MARK}', true)"
            ))
            .unwrap_or_default();
        // Left behind only by a step that committed the transaction itself.
        let _ = self.batch(&format!("RESET {STEP_MARK}"));
        first_text(&rows)
            .and_then(|m| m.split(' ').next())
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|&i| i < steps)
            .unwrap_or(0)
    }

    /// Whether PostgreSQL's parser accepts `sql`, asked without running
    /// any of it: the server parses a message whole before running its
    /// first statement, which here fails at once (division by zero).
    fn parses(&mut self, sql: &str) -> bool {
        match self.session.batch(&format!("SELECT 1/0;\n{sql}\n;")) {
            Err(Fail::Server(e)) => e.code() == Some(&SqlState::DIVISION_BY_ZERO),
            _ => true,
        }
    }

    /// Releases session-level holds of `key` this session kept from a run
    /// that was abandoned (see [`Driver::commit_and_hold`]).
    fn release_abandoned(&mut self, key: i64) -> Result<()> {
        let held = format!(
            "SELECT pg_advisory_unlock({key}) FROM pg_locks l \
             WHERE l.pid = pg_backend_pid() AND {}",
            lock_rows(key)
        );
        // Held once per abandoned run: bounded, in case the server disagrees.
        for _ in 0..1000 {
            if self.query_text(&held)?.is_empty() {
                return Ok(());
            }
            log::warn!(
                "released the migration lock this connection had kept since a run was \
                 dropped inside a no-transaction migration (see `repair`)"
            );
        }
        Ok(())
    }

    /// `SELECT <function>(key)` for a lock held per transaction; `None`
    /// where the lock is the session's for the whole run.
    fn held_lock_sql(&self, function: &str) -> Option<String> {
        let lock = self.lock.as_ref().filter(|_| self.transaction_locks())?;
        Some(format!("SELECT {function}({})", lock.key))
    }

    fn commit_with(&mut self, before: Option<String>) -> Result<()> {
        self.session
            .end(true, before.as_deref())
            .map_err(|e| pg_error(e, "COMMIT"))
    }

    fn transaction_locks(&self) -> bool {
        self.scope() == LockScope::Transaction
    }

    fn scope(&self) -> LockScope {
        match self.strategy {
            Some(LockStrategy::Session) => LockScope::Session,
            Some(LockStrategy::Transaction | LockStrategy::TransactionPooler) => {
                LockScope::Transaction
            }
            None => self.session.lock_scope(),
        }
    }

    /// Through a transaction pooler: nothing may outlive a transaction in
    /// the server session (see [`LockStrategy::TransactionPooler`]).
    fn pooled(&self) -> bool {
        self.strategy == Some(LockStrategy::TransactionPooler)
    }

    /// The lock `key` was not granted within the timeout: who holds it.
    fn lock_timeout(&mut self, key: i64, waited: Duration) -> Error {
        // Name the holder as an operator finds it: its application
        // and client address, not only the server backend's pid.
        let holder = self
            .query_text(&format!(
                "SELECT format('backend pid %s%s%s', l.pid, \
                   ', application_name ' || quote_literal(NULLIF(a.application_name, '')), \
                   ', client ' || host(a.client_addr) || ':' || a.client_port) \
                 FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.pid <> pg_backend_pid() AND {}",
                lock_rows(key)
            ))
            .ok()
            .and_then(|rows| first_text(&rows).map(str::to_owned));
        Error::LockTimeout {
            table: self
                .lock
                .as_ref()
                .map_or_else(String::new, |l| l.table.clone()),
            waited,
            holder,
        }
    }

    /// Takes the session-level lock `key`, waiting for it on the server up
    /// to `timeout`: a waiter asks once, and is woken the moment the holder
    /// lets go (a fleet booting at once does not poll the server). The
    /// wait is bounded by `lock_timeout` in a transaction of its own; the
    /// session lock outlives it.
    fn session_lock(&mut self, key: i64, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let millis = lock_millis(timeout);
        // A backend waiting for a lock does not notice its client is gone
        // unless asked to look (PostgreSQL 14 and later): a killed waiter
        // must not take the lock, nor keep a connection, for the timeout.
        let check = if self.server_version >= 140_000 {
            "SET LOCAL client_connection_check_interval = '1s'; "
        } else {
            ""
        };
        let wait = format!(
            "BEGIN; SET LOCAL lock_timeout = '{millis}ms'; SET LOCAL statement_timeout = 0; \
             {check}SELECT pg_catalog.pg_advisory_lock({key}); COMMIT"
        );
        match self.session.batch(&wait) {
            Ok(()) => Ok(()),
            Err(e) => {
                let timed_out = matches!(&e, Fail::Server(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE));
                // The failed wait left its transaction open and aborted.
                let _ = self.rollback();
                if timed_out {
                    Err(self.lock_timeout(key, start.elapsed()))
                } else {
                    Err(pg_error(e, "SELECT pg_advisory_lock(...)"))
                }
            }
        }
    }

    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.session.prepare(sql).map_err(|e| pg_error(e, sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

pub(crate) fn params(values: &[Value]) -> Vec<Param<'_>> {
    values.iter().map(Param).collect()
}

pub(crate) fn refs<'a>(params: &'a [Param<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Tx for PostgresDriver<'_> {
    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<u64> {
        if self.pooled() {
            let (_, touched) = self
                .session
                .query_unnamed(sql, values)
                .map_err(|e| pg_error(e, sql))?;
            return Ok(touched);
        }
        let statement = self.statement(sql)?;
        self.session
            .execute(&statement, values)
            .map_err(|e| pg_error(e, sql))
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.session.batch(sql).map_err(|e| pg_error(e, sql))
    }

    fn query(&mut self, sql: &str, values: &[Value]) -> Result<Vec<Vec<Value>>> {
        let rows = if self.pooled() {
            self.session
                .query_unnamed(sql, values)
                .map(|(rows, _)| rows)
        } else {
            let statement = self.statement(sql)?;
            self.session.query(&statement, values)
        }
        .map_err(|e| pg_error(e, sql))?;
        rows.iter()
            .map(|row| (0..row.len()).map(|i| column_value(row, i)).collect())
            .collect()
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
}

/// The advisory lock key of a schema-qualified table: the first 8 bytes of
/// SHA-256 over `migrate:<schema>.<table>`.
fn lock_key(schema: &str, table: &str) -> i64 {
    let digest = Sha256::digest(format!("migrate:{schema}.{table}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// PostgreSQL's words for the history table.
pub(crate) struct PostgresSql;

impl SqlDialect for PostgresSql {
    fn now_utc(&self) -> &'static str {
        "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    }

    fn clock_utc(&self) -> &'static str {
        "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    }

    fn current_user(&self) -> &'static str {
        "current_user"
    }

    fn version_type(&self) -> &'static str {
        "BIGINT"
    }

    fn create_schema(&self, schema: &str) -> Option<String> {
        Some(format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            self.quote(schema)
        ))
    }

    fn create_unfinished_index(&self, index: &str, table: &TableName<'_>) -> Option<String> {
        // The index lives in its table's schema.
        Some(format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} (version) WHERE state <> 'applied'",
            self.quote(index),
            self.quote_table(table)
        ))
    }

    fn schema_snapshot(&self) -> Option<&'static str> {
        // The schema unqualified names resolve to, from the catalogs.
        Some(
            "WITH s AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = current_schema()) \
             SELECT CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' \
                      WHEN 'm' THEN 'materialized view' ELSE 'table' END, \
               c.relname::text, \
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) \
                 WHEN c.relrowsecurity THEN 'row level security' ELSE '' END \
               FROM pg_catalog.pg_class c WHERE c.relnamespace IN (SELECT oid FROM s) \
               AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') \
             UNION ALL \
             SELECT 'column', c.relname || '.' || a.attname, \
               pg_catalog.format_type(a.atttypid, a.atttypmod) \
               || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END \
               || coalesce(' default ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid), '') \
               || CASE a.attidentity WHEN 'a' THEN ' generated always as identity' \
                    WHEN 'd' THEN ' generated by default as identity' ELSE '' END \
               || CASE WHEN a.attgenerated <> '' THEN ' generated' ELSE '' END \
               || coalesce((SELECT ' collate ' || co.collname FROM pg_catalog.pg_collation co \
                    JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid \
                    WHERE co.oid = a.attcollation AND a.attcollation <> ty.typcollation), '') \
               FROM pg_catalog.pg_attribute a \
               JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
               LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
               WHERE c.relnamespace IN (SELECT oid FROM s) AND c.relkind IN ('r', 'p', 'f') \
               AND a.attnum > 0 AND NOT a.attisdropped \
             UNION ALL \
             SELECT 'index', t.relname || '.' || i.relname, pg_catalog.pg_get_indexdef(i.oid) \
               FROM pg_catalog.pg_index x \
               JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid \
               JOIN pg_catalog.pg_class t ON t.oid = x.indrelid \
               WHERE t.relnamespace IN (SELECT oid FROM s) \
             UNION ALL \
             SELECT 'constraint', c.relname || '.' || con.conname, pg_catalog.pg_get_constraintdef(con.oid) \
               FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_class c ON c.oid = con.conrelid \
               WHERE c.relnamespace IN (SELECT oid FROM s) \
             UNION ALL \
             SELECT 'trigger', c.relname || '.' || t.tgname, pg_catalog.pg_get_triggerdef(t.oid) \
               FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid \
               WHERE c.relnamespace IN (SELECT oid FROM s) AND NOT t.tgisinternal",
        )
    }

    fn literal(&self, value: &Value) -> Option<String> {
        Some(match value {
            Value::Null => "NULL".to_owned(),
            Value::Integer(i) => i.to_string(),
            Value::Real(r) if r.is_finite() => format!("{r:?}"),
            Value::Real(_) => return None,
            Value::Text(text) => text_literal(text)?,
            Value::Blob(bytes) => {
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                format!("E'\\\\x{hex}'::bytea")
            }
        })
    }

    fn elapsed_ms(&self) -> Option<&'static str> {
        // Since the step's mark in a group sent whole (see `STEP_MARK`);
        // otherwise since the message arrived, which every statement of a
        // simple-query message shares.
        Some(
            "(1000 * (extract(epoch FROM pg_catalog.clock_timestamp()) - coalesce(\
             pg_catalog.split_part(nullif(pg_catalog.current_setting('migrate.step', true), ''), ' ', 2)::numeric, \
             extract(epoch FROM pg_catalog.statement_timestamp()))))::bigint",
        )
    }

    fn rows_guard(&self, query: &str, expected: &[Vec<String>]) -> Option<String> {
        // Each row as PostgreSQL writes a record as text, the rows joined
        // by newlines. A mismatch fails the cast of a text that cannot be
        // a number, naming what was found (the ELSE branch depends on the
        // rows, so it is not evaluated while planning).
        let rows: Vec<String> = expected.iter().map(|row| record_text(row)).collect();
        Some(format!(
            "SELECT CASE WHEN found = {} THEN 1 ELSE ('{HISTORY_CHANGED} ' || found)::int END \
             FROM (SELECT coalesce(string_agg(q::text, E'\\n' ORDER BY q.version), '') AS found FROM ({query}) q) h",
            text_literal(&rows.join("\n"))?
        ))
    }
}

/// What follows a step sent whole: the check that it left its
/// transaction open. Its start is where an error's quote of the message
/// stops being the migration's.
const STEP_TAIL: &str = ";RELEASE SAVEPOINT migrate_step;";

/// The setting a group sent whole marks each step's start in: its index
/// and the time. Set for the session, so that a step that committed the
/// transaction itself leaves it behind to be read; reset before `COMMIT`.
const STEP_MARK: &str = "migrate.step";

/// A transaction sent whole, as one simple-query message.
struct WholeMessage {
    text: String,
    /// The text's length in characters.
    chars: usize,
    /// Characters before the first step's SQL: BEGIN, the lock, the guard.
    head_chars: usize,
    /// Each step's SQL: the (1-based) position of its first character in
    /// the text, and its length, in characters.
    spans: Vec<(usize, usize)>,
    /// Whether each step's start is marked (a group).
    marked: bool,
    /// Random, in the texts of the runtime's own signals (a busy lock, a
    /// changed history, the marks), so that no migration can send one.
    nonce: String,
}

impl WholeMessage {
    /// `BEGIN` (read committed where `lock` is taken here: what is read
    /// under it must see what the process that held it before committed),
    /// then for each step, on lines of their own so that a trailing `--`
    /// comment cannot swallow them: a savepoint, its SQL, the check that
    /// it left its transaction open, its history write in a savepoint of
    /// its own; then deferred constraints, checked in a savepoint, and
    /// `COMMIT`.
    fn new(lock: Option<i64>, local: &str, guard: Option<&str>, steps: &[WholeStep<'_>]) -> Self {
        use std::hash::{BuildHasher, Hasher};
        let nonce = format!(
            "{:016x}",
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        );
        let marked = steps.len() > 1;
        let mut message = WholeMessage {
            text: String::new(),
            chars: 0,
            head_chars: 0,
            spans: Vec::with_capacity(steps.len()),
            marked,
            nonce,
        };
        let push = |message: &mut WholeMessage, piece: &str| {
            message.text.push_str(piece);
            message.chars += piece.chars().count();
            message.chars
        };
        let mark = |message: &WholeMessage, index: usize| {
            if message.marked {
                format!(
                    "SELECT pg_catalog.set_config('{STEP_MARK}', '{index} ' || \
                     extract(epoch FROM pg_catalog.clock_timestamp()), false) AS {};\n",
                    message.mark_column()
                )
            } else {
                String::new()
            }
        };
        push(
            &mut message,
            match lock {
                Some(_) => "BEGIN ISOLATION LEVEL READ COMMITTED;\n",
                None => "BEGIN;\n",
            },
        );
        push(&mut message, local);
        let first = mark(&message, 0);
        push(&mut message, &first);
        push(&mut message, "SAVEPOINT migrate_step;\n");
        if let Some(key) = lock {
            let busy = format!(
                "SELECT CASE WHEN pg_catalog.pg_try_advisory_xact_lock({key}) THEN 1 \
                 ELSE ('{LOCK_BUSY} {} ' || pg_catalog.pg_backend_pid())::int END;\n",
                message.nonce
            );
            push(&mut message, &busy);
        }
        if let Some(guard) = guard {
            let signed = guard.replace(
                HISTORY_CHANGED,
                &format!("{HISTORY_CHANGED} {}", message.nonce),
            );
            push(&mut message, &signed);
            push(&mut message, ";\n");
        }
        message.head_chars = message.chars;
        let mut start = message.chars;
        for (index, step) in steps.iter().enumerate() {
            if index > 0 {
                let mark = mark(&message, index);
                push(&mut message, &mark);
                start = push(&mut message, "SAVEPOINT migrate_step;\n");
            }
            let end = push(&mut message, step.sql);
            message.spans.push((start + 1, end - start));
            let tail = format!(
                "\n{STEP_TAIL} SAVEPOINT migrate_record;\n{};\nRELEASE SAVEPOINT migrate_record;\n",
                step.record
            );
            push(&mut message, &tail);
        }
        let last = mark(&message, steps.len());
        push(&mut message, &last);
        if marked {
            push(&mut message, &format!("RESET {STEP_MARK};\n"));
        }
        push(
            &mut message,
            "SAVEPOINT migrate_commit; SET CONSTRAINTS ALL IMMEDIATE;\nCOMMIT",
        );
        message
    }

    /// The column the marks come back in.
    fn mark_column(&self) -> String {
        format!("migrate_step_mark_{}", self.nonce)
    }

    /// Whether `error` is one of the runtime's own signals, sent by this
    /// message: a cast of a text of ours that is not a number.
    fn signals(&self, db: &tokio_postgres::error::DbError, signal: &str) -> bool {
        *db.code() == SqlState::INVALID_TEXT_REPRESENTATION
            && db.message().contains(&format!("{signal} {}", self.nonce))
    }

    /// A server's error `position` (1-based) as a position in characters
    /// of the text, where the server counts bytes.
    fn in_chars(&self, position: usize, bytes: bool) -> usize {
        if !bytes {
            return position;
        }
        let mut at = position.saturating_sub(1).min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        self.text[..at].chars().count() + 1
    }

    /// The step whose SQL holds `position` (1-based, in the message), with
    /// the position within that SQL. A position in the runtime's text right
    /// after a step's (a statement the step left unfinished) is the end of
    /// that step.
    fn step_at(&self, position: usize) -> Option<(usize, usize)> {
        let index = self
            .spans
            .iter()
            .rposition(|&(start, _)| start <= position)?;
        let (start, length) = self.spans[index];
        Some((index, (position + 1 - start).min(length + 1)))
    }

    /// Each step's time, from the marks a group's answer holds (each the
    /// start of a step, then the end of the last); empty without marks.
    fn durations(&self, messages: &[SimpleQueryMessage]) -> Vec<Duration> {
        if !self.marked {
            return Vec::new();
        }
        let times: Vec<f64> = messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row)
                    if row
                        .columns()
                        .first()
                        .is_some_and(|c| c.name() == self.mark_column()) =>
                {
                    row.get(0)
                        .and_then(|v| v.split_once(' '))
                        .and_then(|(_, t)| t.parse().ok())
                }
                _ => None,
            })
            .collect();
        if times.len() != self.spans.len() + 1 {
            return Vec::new();
        }
        times
            .windows(2)
            .map(|w| Duration::from_secs_f64((w[1] - w[0]).max(0.0)))
            .collect()
    }
}

/// What a failed guard's error says: the history changed since the run read it.
const HISTORY_CHANGED: &str = "migrate: the history changed:";
/// What a transaction sent whole says when another session holds the lock.
const LOCK_BUSY: &str = "migrate: the migration lock is busy:";

/// `text` as a string literal whatever `standard_conforming_strings`
/// says (`E'...'`); `None` for text PostgreSQL cannot hold (a NUL).
fn text_literal(text: &str) -> Option<String> {
    if text.contains('\0') {
        return None;
    }
    Some(format!(
        "E'{}'",
        text.replace('\\', "\\\\").replace('\'', "''")
    ))
}

/// A row as PostgreSQL's record output writes it: `(a,b)`, a value quoted
/// when it is empty or holds a quote, a backslash, a comma, a parenthesis
/// or white space.
fn record_text(values: &[String]) -> String {
    let fields: Vec<String> = values
        .iter()
        .map(|v| {
            let plain = !v.is_empty()
                && !v
                    .chars()
                    .any(|c| matches!(c, '"' | '\\' | ',' | '(' | ')') || c.is_whitespace());
            if plain {
                v.clone()
            } else {
                format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\"\""))
            }
        })
        .collect();
    format!("({})", fields.join(","))
}

impl Driver for PostgresDriver<'_> {
    fn sql_dialect(&self) -> &'static dyn SqlDialect {
        &PostgresSql
    }

    fn begin(&mut self) -> Result<()> {
        self.begin_then(None).map(drop)
    }

    fn begin_and_query(&mut self, check: &str) -> Result<Vec<Vec<Option<String>>>> {
        self.begin_then(Some(check))
    }

    fn commit(&mut self) -> Result<()> {
        self.commit_with(None)
    }

    fn rollback(&mut self) -> Result<()> {
        self.session
            .end(false, None)
            .map_err(|e| pg_error(e, "ROLLBACK"))
    }

    fn execute_and_commit(&mut self, sql: &str, values: &[Value]) -> Result<Result<()>> {
        if self.pooled() {
            self.execute(sql, values)?;
            return Ok(self.commit());
        }
        let statement = self.statement(sql)?;
        match self.session.execute_and_commit(&statement, values) {
            Some((Ok(_), Some(committed))) => Ok(committed.map_err(|e| pg_error(e, "COMMIT"))),
            Some((Ok(_), None)) => Ok(self.commit()),
            // Nothing was committed: not sent, or refused by the server
            // (the COMMIT behind it then rolled back).
            Some((Err(e), None)) => Err(pg_error(e, sql)),
            Some((Err(Fail::Server(e)), Some(_))) if e.as_db_error().is_some() => {
                Err(pg_error(Fail::Server(e), sql))
            }
            // The answer was lost with the COMMIT already sent: it may
            // have committed. The commit's failure, so: unconfirmed.
            Some((Err(e), Some(_))) => Ok(Err(pg_error(e, sql))),
            None => {
                self.execute(sql, values)?;
                Ok(self.commit())
            }
        }
    }

    fn transaction_at_once(
        &mut self,
        guard: Option<&str>,
        steps: &[WholeStep<'_>],
    ) -> Option<AtOnce> {
        let lock = self
            .lock
            .as_ref()
            .filter(|_| self.transaction_locks())
            .map(|l| (l.key, l.timeout));
        // PostgreSQL reads a whole message with the lexical settings in
        // force when it arrives: a step that changes them for the steps
        // after it in a group must be sent before they are read.
        let changes_reading = |sql: &str| {
            let sql = sql.to_ascii_lowercase();
            sql.contains("standard_conforming_strings") || sql.contains("backslash_quote")
        };
        if steps.split_last()?.1.iter().any(|s| changes_reading(s.sql)) {
            return None;
        }
        let message = WholeMessage::new(
            lock.map(|(key, _)| key),
            &self.local_settings(),
            guard,
            steps,
        );
        let start = Instant::now();
        loop {
            let error = match self.session.send_whole(&message.text) {
                Ok(messages) => return Some(AtOnce::Done(message.durations(&messages))),
                Err(e) => e,
            };
            if let Some(outcome) = self.judge_whole(error, &message, steps) {
                return Some(outcome);
            }
            let Some((key, timeout)) = lock else {
                return Some(AtOnce::NotBegun(Error::other(
                    "the migration lock was busy",
                )));
            };
            if let Err(e) = self.wait_for_lock(key, timeout, start) {
                return Some(AtOnce::NotBegun(e));
            }
        }
    }

    fn commit_and_hold(&mut self) -> Result<()> {
        // Granted at once: this session holds the transaction lock already.
        self.commit_with(self.held_lock_sql("pg_advisory_lock"))
    }

    fn commit_and_release(&mut self) -> Result<()> {
        // The transaction lock is held until the commit, so nobody reads
        // the history between the two.
        self.commit_with(self.held_lock_sql("pg_advisory_unlock"))
    }

    fn release_held(&mut self) -> Result<()> {
        match self.held_lock_sql("pg_advisory_unlock") {
            Some(sql) => self.batch(&sql),
            None => Ok(()),
        }
    }

    fn lock_scope(&self) -> LockScope {
        self.scope()
    }

    fn set_lock_strategy(&mut self, strategy: LockStrategy) {
        self.strategy = Some(strategy);
    }

    fn holds_between_transactions(&self) -> bool {
        !self.pooled()
    }

    fn set_ddl_lock_timeout(&mut self, timeout: Duration) {
        self.ddl_lock_timeout = Some(timeout);
    }

    fn is_lock_timeout(&self, error: &Error) -> bool {
        let cause: Option<&(dyn StdError + 'static)> = match error {
            Error::Failed { source, .. } => Some(source.as_ref()),
            other => other
                .database_error()
                .map(|e| e as &(dyn StdError + 'static)),
        };
        cause
            .and_then(|e| e.downcast_ref::<PostgresError>())
            .and_then(PostgresError::code)
            == Some(&SqlState::LOCK_NOT_AVAILABLE)
    }

    fn lock_holders(&mut self) -> Vec<String> {
        // Every open transaction in this database holding a lock on a
        // table of its own (not the catalog's), oldest first: whoever kept
        // the migration waiting is among them.
        let sql = "SELECT format('pid %s%s, %s since %s%s', a.pid, \
                     ', application_name ' || quote_literal(NULLIF(a.application_name, '')), \
                     a.state, date_trunc('second', a.xact_start), \
                     ', last query: ' || left(regexp_replace(a.query, '\\s+', ' ', 'g'), 200)) \
                   FROM pg_stat_activity a \
                   WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
                     AND a.xact_start IS NOT NULL \
                     AND EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                                 WHERE l.pid = a.pid AND l.locktype = 'relation' AND l.granted \
                                   AND c.relnamespace <> 'pg_catalog'::regnamespace) \
                   ORDER BY a.xact_start LIMIT 5";
        super::described(self, sql)
    }

    fn is_read_only(&self, error: &Error) -> bool {
        let cause: Option<&(dyn StdError + 'static)> = match error {
            Error::Failed { source, .. } => Some(source.as_ref()),
            other => other
                .database_error()
                .map(|e| e as &(dyn StdError + 'static)),
        };
        let Some(e) = cause.and_then(|e| e.downcast_ref::<PostgresError>()) else {
            return error.says_read_only();
        };
        let Some(code) = e.code() else {
            return false;
        };
        // A write in a read-only transaction; on a standby also a lock
        // that only a writer may take ("... while recovery is in progress").
        *code == SqlState::READ_ONLY_SQL_TRANSACTION
            || (*code == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE
                && e.to_string().contains("recovery is in progress"))
    }

    fn lock(&mut self, table: &TableName<'_>, timeout: Duration) -> Result<()> {
        let schema = match table.schema {
            Some(schema) => schema.to_owned(),
            None => self.default_schema()?.unwrap_or_default(),
        };
        let key = lock_key(&schema, table.table);
        let lock = Lock {
            key,
            table: format!("{schema}.{}", table.table),
            timeout,
        };
        let transaction_locks = self.transaction_locks();
        self.lock = Some(lock);
        if transaction_locks {
            // Taken by each `begin`. Outside a transaction this session can
            // hold it only if a run was abandoned inside a no-transaction
            // step (`commit_and_hold`): let go of it now.
            self.release_abandoned(key)?;
            return Ok(());
        }
        let taken = self.session_lock(key, timeout);
        if taken.is_err() {
            self.lock = None;
        }
        taken
    }

    fn unlock(&mut self) -> Result<()> {
        let Some(lock) = self.lock.take() else {
            return Ok(());
        };
        // A transaction lock went with its transaction; a closed
        // connection released a session lock with its session.
        if !self.transaction_locks() && !self.session.is_closed() {
            self.query(
                "SELECT pg_advisory_unlock($1)::int",
                &[Value::Integer(lock.key)],
            )?;
        }
        Ok(())
    }

    fn commit_refused(&self, error: &Error) -> bool {
        // The server answered the COMMIT with an error (a deferred
        // constraint, a serialization failure): it rolled back. A lost
        // answer (a closed connection) says nothing.
        code_of(error).is_some()
    }

    fn step_fault(&self, error: &Error) -> Option<&'static str> {
        let code = code_of(error)?;
        if *code == SqlState::IN_FAILED_SQL_TRANSACTION {
            Some(
                "the migration's transaction was aborted by an error it ignored, so the \
                 database refused everything after it; let the error propagate, or avoid it",
            )
        } else if *code == SqlState::INVALID_SQL_STATEMENT_NAME {
            Some(
                "the migration dropped this connection's prepared statements (DEALLOCATE ALL \
                 or DISCARD ALL), which migrate was using; remove that statement",
            )
        } else {
            None
        }
    }

    fn is_missing_table(&self, error: &Error) -> bool {
        let Some(e) = error.database_error() else {
            return false;
        };
        let code = e
            .downcast_ref::<PostgresError>()
            .and_then(PostgresError::code)
            .or_else(|| {
                e.downcast_ref::<tokio_postgres::Error>()
                    .and_then(tokio_postgres::Error::code)
            });
        is_missing(code)
    }

    fn batch_without_transaction(&mut self, sql: &str) -> Result<()> {
        // Set for the session (the step's statements are transactions of
        // their own); the session's own value is put back after the run
        // (`restore_session`, after any transaction the step left open is
        // rolled back).
        if let Some(timeout) = self.ddl_lock_timeout {
            let rows = self.query_text(&format!(
                "SELECT current_setting('lock_timeout'), \
                 set_config('lock_timeout', '{}ms', false)",
                lock_millis(timeout)
            ))?;
            if self.lock_timeout_before.is_none() {
                self.lock_timeout_before = first_text(&rows).map(str::to_owned);
            }
        }
        // One statement at a time: a multi-statement string would be one
        // implicit transaction. Errors name lines of the whole file.
        let mut ran = Ok(());
        for statement in statements(sql, LexicalRules::Postgres) {
            ran = self
                .session
                .batch(statement.text)
                .map_err(|e| pg_error_at(e, statement.text, statement.start_line));
            if ran.is_err() {
                break;
            }
        }
        ran
    }

    fn default_schema(&mut self) -> Result<Option<String>> {
        let rows = self.query_text(
            "SELECT current_schema(), current_setting('search_path'), \
             current_setting('server_encoding'), current_setting('server_version_num')",
        )?;
        let row = rows.first();
        self.server_version = row
            .and_then(|r| r.get(3))
            .cloned()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        self.search_path = row.and_then(|r| r.get(1)).cloned().flatten();
        self.byte_positions =
            row.and_then(|r| r.get(2)).cloned().flatten().as_deref() == Some("SQL_ASCII");
        match row.and_then(|r| r.first()).cloned().flatten() {
            Some(schema) => Ok(Some(schema)),
            None => Err(Error::NoSchemaSelected),
        }
    }

    fn in_transaction(&mut self) -> Option<bool> {
        // Over the simple protocol a statement outside a transaction is its
        // own: the transaction began when it did.
        let rows = match self.query_text("SELECT now() <> statement_timestamp()") {
            Ok(rows) => rows,
            // A transaction an error aborted is a transaction all the same.
            Err(e) if code_of(&e) == Some(&SqlState::IN_FAILED_SQL_TRANSACTION) => {
                return Some(true)
            }
            Err(_) => return None,
        };
        let value = rows.first()?.first()?.clone()?;
        Some(value == "t")
    }

    fn transaction_intact(&mut self) -> Result<Option<bool>> {
        // `begin` set this savepoint: a COMMIT or ROLLBACK (even one
        // followed by a new BEGIN) took it away.
        match self
            .session
            .batch("RELEASE SAVEPOINT migrate_step; SAVEPOINT migrate_step")
        {
            Ok(()) => Ok(Some(true)),
            Err(Fail::Cancelled) => Err(cancelled()),
            Err(Fail::Server(e)) => match e.code() {
                // Still ours, but aborted by the step's own error: rolled back next.
                Some(c) if *c == SqlState::IN_FAILED_SQL_TRANSACTION => Ok(Some(true)),
                // No transaction, or a new one without the savepoint.
                Some(c)
                    if *c == SqlState::NO_ACTIVE_SQL_TRANSACTION
                        || *c == SqlState::S_E_INVALID_SPECIFICATION =>
                {
                    Ok(Some(false))
                }
                // Anything else (a lost connection) says nothing either way.
                _ => Err(pg_error(e.into(), "RELEASE SAVEPOINT migrate_step")),
            },
        }
    }

    fn batch_in_transaction(&mut self, sql: &str) -> Result<Option<bool>> {
        // `transaction_intact`'s check, in the same round trip: after the
        // step's last statement (on a line of its own, so that a trailing
        // `--` comment cannot swallow it). A syntax error in the step, or an
        // unterminated quote or comment, fails before anything runs.
        let checked = format!("{sql}\n;RELEASE SAVEPOINT migrate_step; SAVEPOINT migrate_step");
        match self.session.batch(&checked) {
            Ok(()) => Ok(Some(true)),
            Err(Fail::Server(e))
                if e.code().is_some_and(|c| {
                    *c == SqlState::NO_ACTIVE_SQL_TRANSACTION
                        || *c == SqlState::S_E_INVALID_SPECIFICATION
                }) =>
            {
                // No transaction, or a new one without the savepoint: the
                // step ended ours.
                Ok(Some(false))
            }
            Err(e) => Err(pg_error(e, sql)),
        }
    }

    fn restore_session(&mut self) {
        if let Some(before) = self.lock_timeout_before.take() {
            let put_back = format!(
                "SELECT set_config('lock_timeout', {}, false)",
                text_literal(&before).unwrap_or_else(|| "'0'".to_owned())
            );
            if let Err(e) = self.query_text(&put_back) {
                log::warn!("could not put lock_timeout back to {before:?} after migrating: {e}");
            }
        }
        let Some(path) = self.search_path.take() else {
            return;
        };
        if self.pooled() {
            // Another server session may answer: setting it would change
            // that one, which another client may be using.
            return;
        }
        let restored = self.query(
            "SELECT set_config('search_path', $1, false)",
            &[Value::Text(path.clone())],
        );
        if let Err(e) = restored {
            log::warn!("could not restore search_path to {path:?} after migrating: {e}");
        }
    }

    fn head_filter(&self, quoted_table: &str) -> Option<String> {
        head_filter(quoted_table)
    }

    fn query_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        let messages = self
            .session
            .simple_query(sql)
            .map_err(|e| pg_error(e, sql))?;
        Ok(text_rows(&messages))
    }
}

/// The SQLSTATE of a server error this driver reported.
fn code_of(error: &Error) -> Option<&SqlState> {
    error
        .database_error()?
        .downcast_ref::<PostgresError>()
        .and_then(PostgresError::code)
}

/// Whether a server error `code` says a table (or its schema) is missing.
pub(crate) fn is_missing(code: Option<&SqlState>) -> bool {
    matches!(code, Some(c) if *c == SqlState::UNDEFINED_TABLE || *c == SqlState::INVALID_SCHEMA_NAME)
}

/// Boot's filter (see [`Driver::head_filter`]): unqualified, the name
/// resolves through `search_path`, which can find another schema's table
/// when `current_schema()` has none yet (a new tenant), so only rows of
/// the table in `current_schema()` count.
pub(crate) fn head_filter(quoted_table: &str) -> Option<String> {
    (!quoted_table.contains("\".\"")).then(|| {
        format!(
            " AND tableoid = to_regclass(quote_ident(current_schema()) || '.' || '{quoted_table}')"
        )
    })
}

/// The first value of the first row, as text.
fn first_text(rows: &[Vec<Option<String>>]) -> Option<&str> {
    rows.first()?.first()?.as_deref()
}

/// Takes the transaction-scoped migration lock `key` if it is free, at
/// once: `1` when granted, `0` when another session holds it.
fn try_lock_sql(key: i64) -> String {
    format!("SELECT pg_try_advisory_xact_lock({key})::int")
}

/// The rows among simple-query messages, every value as text.
pub(crate) fn text_rows(messages: &[SimpleQueryMessage]) -> Vec<Vec<Option<String>>> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}
