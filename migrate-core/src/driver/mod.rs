//! Drivers: how the runtime talks to a database. A driver knows only *how*
//! (run SQL, open and close a transaction, take the migration lock); the
//! runtime decides *what* (validate, plan, apply, record).
//!
//! Adding a database means implementing [`Driver`] for a handle and
//! [`Database`] for the connection type users hold.

#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(any(feature = "postgres", feature = "tokio-postgres"))]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "tokio-postgres")]
pub mod tokio_postgres;

use std::time::Duration;

use crate::dialect::SqlDialect;
use crate::error::{Error, Result};
use crate::table::TableName;
use crate::tx::{Tx, Value};

/// How long the migration lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockScope {
    /// From [`Driver::lock`] to [`Driver::unlock`]: the history cannot
    /// change under the run.
    Session,
    /// Only inside each transaction: [`Driver::lock`] notes what to lock
    /// and [`Driver::begin`] takes it, so a run that is abandoned halfway
    /// cannot leave it held. The runtime reads the history in a
    /// transaction, and checks at the start of each one that nobody changed
    /// it in between, reading it again and re-planning when someone did.
    Transaction,
}

/// How a run holds the migration lock, chosen with
/// [`Runner::lock_strategy`](crate::Runner::lock_strategy). PostgreSQL's
/// drivers honour it; SQLite (a file, locked by the database itself) and
/// MySQL (`GET_LOCK`, which pins the session in a multiplexing proxy such
/// as ProxySQL) keep their lock for the whole run whatever is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockStrategy {
    /// An advisory lock held by the session for the whole run
    /// ([`LockScope::Session`]): the history cannot change under the run.
    /// It needs one server session from start to end — a direct
    /// connection, or a pooler in *session* mode. The sync client's default.
    Session,
    /// A transaction-scoped advisory lock taken inside each transaction,
    /// with the history checked unchanged under it
    /// ([`LockScope::Transaction`]): a run dropped halfway leaves nothing
    /// held. A no-transaction migration holds a session lock while it
    /// runs. The async client's default.
    Transaction,
    /// For a pooler in *transaction* mode (PgBouncer's
    /// `pool_mode = transaction`, and the managed poolers built like it),
    /// which may hand each transaction to another server session: the
    /// lock as [`Transaction`](LockStrategy::Transaction), and nothing of
    /// the run left in a server session between its transactions — no
    /// named prepared statements, no session settings changed or put back,
    /// and no-transaction migrations refused before anything runs
    /// ([`Error::NeedsSession`](crate::Error::NeedsSession)): nothing could
    /// hold the lock while one runs.
    TransactionPooler,
}

/// One step of a transaction sent whole ([`Driver::transaction_at_once`]).
#[derive(Debug, Clone, Copy)]
pub struct WholeStep<'a> {
    /// The step's SQL, as its file holds it.
    pub sql: &'a str,
    /// The history write that records it, values inline.
    pub record: &'a str,
}

/// How a transaction sent whole ([`Driver::transaction_at_once`]) ended.
/// A `usize` is the index of the step it names.
#[derive(Debug)]
#[non_exhaustive]
pub enum AtOnce {
    /// Committed, with every history row; the time the database recorded
    /// for each step, where it said (empty otherwise).
    Done(Vec<Duration>),
    /// Nothing ran: the transaction or the lock could not be had (the
    /// error is [`Error::LockTimeout`] when the lock stayed busy).
    NotBegun(Error),
    /// The guard found the history changed since the run read it: nothing ran.
    HistoryChanged,
    /// A step's SQL failed, and the transaction was rolled back.
    Step(usize, Error),
    /// A step ended the transaction it ran in (part of it, and the steps
    /// before it, may be committed).
    Ended(usize),
    /// A step's history write failed, and the transaction was rolled back.
    Record(usize, Error),
    /// The commit failed: refused (see [`Driver::commit_refused`]), or
    /// unanswered, when it may have happened.
    Commit(Error),
}

/// A connection the runtime can migrate: `rusqlite::Connection` (feature
/// `sqlite`), `postgres::Client` (feature `postgres`), `mysql::Conn` and
/// `mysql::PooledConn` (feature `mysql`).
pub trait Database {
    /// The driver borrowing this connection for one runtime call.
    type Driver<'c>: Driver
    where
        Self: 'c;

    /// Borrows the connection as a driver.
    fn driver(&mut self) -> Self::Driver<'_>;
}

/// What the runtime needs from a database, beyond the [`Tx`] calls
/// migrations use.
pub trait Driver: Tx {
    /// Opens a write transaction (SQLite: `BEGIN IMMEDIATE`).
    ///
    /// # Errors
    ///
    /// The database's error.
    fn begin(&mut self) -> Result<()>;

    /// [`begin`](Driver::begin), then the query `check` in the new
    /// transaction (under the lock, where it is taken per transaction),
    /// returning its rows as [`query_text`](Driver::query_text) does. A
    /// driver may send both in one round trip; the default sends two.
    ///
    /// # Errors
    ///
    /// The database's error, or [`Error::LockTimeout`].
    fn begin_and_query(&mut self, check: &str) -> Result<Vec<Vec<Option<String>>>> {
        self.begin()?;
        self.query_text(check)
    }

    /// Commits the open transaction.
    ///
    /// # Errors
    ///
    /// The database's error.
    fn commit(&mut self) -> Result<()>;

    /// Rolls back the open transaction.
    ///
    /// # Errors
    ///
    /// The database's error.
    fn rollback(&mut self) -> Result<()>;

    /// Takes the migration lock of `table`, waiting at most `timeout`. Held
    /// until [`unlock`](Driver::unlock) or until the process dies, so a
    /// crashed migrator never blocks the next one.
    ///
    /// # Errors
    ///
    /// [`Error::LockTimeout`] naming the holder when the database knows it.
    fn lock(&mut self, table: &TableName<'_>, timeout: Duration) -> Result<()>;

    /// How long [`lock`](Driver::lock) holds the lock: the default is the
    /// whole run.
    fn lock_scope(&self) -> LockScope {
        LockScope::Session
    }

    /// Asks for a [`LockStrategy`] before [`lock`](Driver::lock); the
    /// default keeps the driver's own (see [`LockStrategy`]).
    fn set_lock_strategy(&mut self, _strategy: LockStrategy) {}

    /// Bounds how long each migration's statements wait for a table lock
    /// (PostgreSQL: `lock_timeout` in each migration's transaction), from
    /// [`Runner::ddl_lock_timeout`](crate::Runner::ddl_lock_timeout). The
    /// default ignores it.
    fn set_ddl_lock_timeout(&mut self, _timeout: Duration) {}

    /// Whether `error` is a statement giving up on a table lock after the
    /// DDL lock timeout. The default: never.
    fn is_lock_timeout(&self, _error: &Error) -> bool {
        false
    }

    /// The sessions holding table locks in an open transaction, oldest
    /// first, described for an operator: who kept a migration waiting.
    /// The default knows none.
    fn lock_holders(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Whether `error` says the database cannot be written to (a hot
    /// standby, a read-only transaction or server). The default reads the
    /// database's message.
    fn is_read_only(&self, error: &Error) -> bool {
        error.says_read_only()
    }

    /// Whether the driver can hold the migration lock while a step runs
    /// outside any transaction ([`commit_and_hold`](Driver::commit_and_hold)).
    /// `false` through a transaction pooler: such a step is refused.
    fn holds_between_transactions(&self) -> bool {
        true
    }

    /// Runs `sql` with `params` — the last statement of a transaction —
    /// then commits, sending the two together where the driver can
    /// (pipelined: a statement that fails leaves the `COMMIT` to roll the
    /// transaction back). `Err`: the statement failed, and nothing is
    /// committed; `Ok(Err)`: the commit failed (it may have happened).
    /// The default sends them one after the other.
    ///
    /// # Errors
    ///
    /// The statement's error; the commit's, inside `Ok`.
    fn execute_and_commit(&mut self, sql: &str, params: &[Value]) -> Result<Result<()>> {
        self.execute(sql, params)?;
        Ok(self.commit())
    }

    /// Runs transactional SQL steps whole, in one transaction and one
    /// round trip where the driver can: opens a transaction (taking the
    /// lock in it and running `guard`, where the lock is held per
    /// transaction); for each step, runs its SQL, checks the transaction
    /// is still the one it opened, and runs its `record` (the history
    /// write, values inline); checks deferred constraints, and commits.
    /// Called only where [`SqlDialect`] writes inline statements; a driver
    /// that keeps a schema-version counter does not offer it. `None`: the
    /// driver cannot, and the runtime goes statement by statement.
    fn transaction_at_once(
        &mut self,
        _guard: Option<&str>,
        _steps: &[WholeStep<'_>],
    ) -> Option<AtOnce> {
        None
    }

    /// Whether `error`, from a commit, is the database refusing it (a
    /// deferred constraint, a serialization failure), which rolled the
    /// transaction back, rather than a lost answer, after which it may
    /// have committed. The default cannot tell: every failed commit is
    /// reported unconfirmed.
    fn commit_refused(&self, _error: &Error) -> bool {
        false
    }

    /// Commits; where the lock is held per transaction, keeps holding it
    /// past this commit — taken with the commit, in one message, so that
    /// either both happen or neither — until
    /// [`commit_and_release`](Driver::commit_and_release). A step that runs
    /// outside a transaction runs under it. The default commits.
    ///
    /// # Errors
    ///
    /// The database's error.
    fn commit_and_hold(&mut self) -> Result<()> {
        self.commit()
    }

    /// Commits, releasing what [`commit_and_hold`](Driver::commit_and_hold)
    /// kept, in one message. The default commits.
    ///
    /// # Errors
    ///
    /// The database's error.
    fn commit_and_release(&mut self) -> Result<()> {
        self.commit()
    }

    /// Releases what [`commit_and_hold`](Driver::commit_and_hold) kept, when
    /// the run fails before [`commit_and_release`](Driver::commit_and_release).
    ///
    /// # Errors
    ///
    /// The database's error.
    fn release_held(&mut self) -> Result<()> {
        Ok(())
    }

    /// Releases the migration lock.
    ///
    /// # Errors
    ///
    /// The database's error.
    fn unlock(&mut self) -> Result<()>;

    /// The lexical rules the database reads SQL with now, for the run-time
    /// check of each transactional step. The default follows
    /// [`Tx::dialect`]; PostgreSQL says when `standard_conforming_strings`
    /// is off.
    fn sql_rules(&self) -> crate::source::sql::LexicalRules {
        crate::source::sql::LexicalRules::of(self.dialect())
    }

    /// The SQL this database speaks for migrate's history table.
    fn sql_dialect(&self) -> &'static dyn SqlDialect;

    /// Whether `error` says the history table does not exist yet.
    fn is_missing_table(&self, error: &Error) -> bool;

    /// Runs the SQL of a `-- migrate:no-transaction` step, outside any
    /// transaction, so each statement commits on its own. The default sends
    /// it as one batch; PostgreSQL overrides it, because a multi-statement
    /// string is one implicit transaction there.
    ///
    /// # Errors
    ///
    /// The database's error.
    fn batch_without_transaction(&mut self, sql: &str) -> Result<()> {
        self.batch(sql)
    }

    /// Runs `sql` with `params` — the row that records a no-transaction
    /// step in progress — and then, only if it succeeded, the step's
    /// `batch` as [`batch_without_transaction`](Driver::batch_without_transaction)
    /// does, sending both together where the driver can (MySQL: one
    /// multi-statement message, which stops at the first failure). `Err`:
    /// the record failed and the step did not run; `Ok(Err)`: the step
    /// failed after the record committed. The default sends them one after
    /// the other.
    ///
    /// # Errors
    ///
    /// The record's error; the step's, inside `Ok`.
    fn execute_then_batch_without_transaction(
        &mut self,
        sql: &str,
        params: &[Value],
        batch: &str,
    ) -> Result<Result<()>> {
        self.execute(sql, params)?;
        Ok(self.batch_without_transaction(batch))
    }

    /// The schema an unqualified history table lives in, for every
    /// operation (PostgreSQL: `current_schema()`); `None` where the database
    /// has no such notion. Asked once at the start of every run that takes
    /// the lock, whatever the table's name: the driver notes there the
    /// session settings [`restore_session`](Driver::restore_session) puts back.
    ///
    /// # Errors
    ///
    /// The database's error, or none selected (an empty `search_path`).
    fn default_schema(&mut self) -> Result<Option<String>> {
        Ok(None)
    }

    /// SQL appended to boot's `WHERE` clauses so that it reads the same
    /// table as every other operation: PostgreSQL resolves an unqualified
    /// name through `search_path`, which may find another schema's table.
    fn head_filter(&self, _quoted_table: &str) -> Option<String> {
        None
    }

    /// Turns foreign key enforcement on or off, outside any transaction,
    /// returning whether it was on (`-- migrate:foreign-keys-off`). The
    /// default does nothing: only SQLite needs it.
    ///
    /// # Errors
    ///
    /// The database's error.
    fn foreign_keys(&mut self, _on: bool) -> Result<bool> {
        Ok(false)
    }

    /// Fails when the open transaction left a foreign key violated.
    ///
    /// # Errors
    ///
    /// The violations found, or the database's error.
    fn check_foreign_keys(&mut self) -> Result<()> {
        Ok(())
    }

    /// The database's own schema-version counter (SQLite's `PRAGMA
    /// user_version`), or `None` where it has none.
    ///
    /// # Errors
    ///
    /// The database's error.
    fn schema_version(&mut self) -> Result<Option<u64>> {
        Ok(None)
    }

    /// Sets the database's schema-version counter; nothing where it has none.
    ///
    /// # Errors
    ///
    /// The database's error.
    fn set_schema_version(&mut self, _version: u64) -> Result<()> {
        Ok(())
    }

    /// Puts back session settings a migration changed for the rest of the
    /// connection's life (PostgreSQL: a `pg_dump` file's `SET search_path`),
    /// so the next migration set and the application see the connection as
    /// it was. Best effort: logs what it cannot restore.
    fn restore_session(&mut self) {}

    /// Whether the transaction [`begin`](Driver::begin) opened is still
    /// the one open — not ended, nor ended and begun again, by the step
    /// that ran in it — where the driver can tell cheaply (SQLite); `None`
    /// where it cannot.
    ///
    /// # Errors
    ///
    /// The database's error.
    fn transaction_intact(&mut self) -> Result<Option<bool>> {
        Ok(None)
    }

    /// Runs a transactional step's SQL and, where the driver can in the
    /// same round trip, says whether the transaction [`begin`](Driver::begin)
    /// opened is still intact after it (`None`: not checked; the runtime
    /// then asks [`transaction_intact`](Driver::transaction_intact)).
    ///
    /// # Errors
    ///
    /// The database's error, from the step's SQL.
    fn batch_in_transaction(&mut self, sql: &str) -> Result<Option<bool>> {
        self.batch(sql).map(|()| None)
    }

    /// Whether any transaction is open on the connection, where the driver
    /// can tell without a round trip (SQLite); `None` where it cannot.
    fn in_transaction(&mut self) -> Option<bool> {
        None
    }

    /// When `error`, from one of migrate's own statements right after a
    /// step ran, was caused by that step, what the step did: PostgreSQL's
    /// "current transaction is aborted" (the step ignored an error of its
    /// own), or "prepared statement does not exist" (the step ran
    /// `DEALLOCATE ALL` or `DISCARD ALL`).
    fn step_fault(&self, _error: &Error) -> Option<&'static str> {
        None
    }

    /// Runs a parameterless query in one round trip, every value as text
    /// (`None` for NULL). Boot's check uses it; the default goes through
    /// [`Tx::query`].
    ///
    /// # Errors
    ///
    /// The database's error.
    fn query_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        let rows = self.query(sql, &[])?;
        Ok(rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|value| match value {
                        Value::Null => None,
                        Value::Integer(i) => Some(i.to_string()),
                        Value::Real(r) => Some(r.to_string()),
                        Value::Text(s) => Some(s),
                        Value::Blob(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                    })
                    .collect()
            })
            .collect())
    }
}

/// The first column of each row `sql` returns, for a message: what a
/// driver's [`Driver::lock_holders`] reads. None where the query fails
/// (logged: the error it would describe matters more).
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn described<D: Driver + ?Sized>(driver: &mut D, sql: &str) -> Vec<String> {
    match driver.query_text(sql) {
        Ok(rows) => rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect(),
        Err(e) => {
            log::debug!("could not read who holds locks: {e}");
            Vec::new()
        }
    }
}
