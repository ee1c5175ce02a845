//! The runtime: brings a database up to date with the migrations a binary
//! embeds, safely and once, whatever the driver.
//!
//! Boot with nothing pending is one query: the latest history row and any
//! unfinished row; the latest row's chained checksum is compared with the
//! embedded chain, which covers every version up to it. Only when something
//! is pending does the runtime take the migration lock, read the whole
//! history, validate it against the binary, and apply each migration in its
//! own transaction together with its history row.

#[cfg(feature = "tokio-postgres")]
mod asynchronous;
mod execute;
mod script;
mod verify;

pub use verify::Reversibility;

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use self::execute::{execute, Logging};
use self::script::{Change, Script, Unit};
use crate::audit::{Actor, LogEntry, LogSql};
use crate::driver::{Database, Driver, LockScope, LockStrategy};
use crate::error::Cleanup;
use crate::error::{Error, Result};
use crate::history::{Head, HistoryRow, HistorySql, RecentRows, RowState};
use crate::plan::{self, Checked, MigrationStatus, Rules};
use crate::registry::{Migration, Migrations};
use crate::table::TableName;

/// The default time to wait for another process's migration lock.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// One migration applied or reverted by a run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Applied {
    /// Its version.
    pub version: u64,
    /// Its name.
    pub name: &'static str,
    /// Its file.
    pub file_name: &'static str,
    /// How long it took.
    pub duration: Duration,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Migrations applied (by `run_pending`/`run_to`), in order.
    pub applied: Vec<Applied>,
    /// Migrations reverted (by `rollback_to`), newest first.
    pub reverted: Vec<Applied>,
    /// Versions recorded in the database that this binary does not know.
    pub future_versions: Vec<u64>,
    /// The highest applied version the binary knows, after the run (0 for none).
    pub version: u64,
}

/// How to resolve an unfinished migration with [`Runner::repair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// The change was completed by hand: record the migration as applied.
    Completed,
    /// The change was undone by hand: forget it, so it runs again next time.
    Undone,
}

/// Migrations with options: `MIGRATIONS.runner().grouped(true).run_pending(&mut conn)`.
///
/// The `Migrations` methods of the same names use the defaults.
#[derive(Clone, Copy)]
pub struct Runner<'m> {
    migrations: &'m Migrations,
    rules: Rules,
    grouped: bool,
    lock_timeout: Duration,
    lock_strategy: Option<LockStrategy>,
    ddl_lock: Option<DdlLock>,
    application: Option<(&'m str, &'m str)>,
    progress: Option<&'m (dyn Fn(&Applied) + Sync)>,
}

/// How long a migration's statements wait for a table lock, and how often
/// a migration that gave up is tried again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DdlLock {
    timeout: Duration,
    retries: u32,
}

/// The pause before retry `attempt` (1, 2, ...) of a migration that gave
/// up on a table lock: doubling from 100 ms up to 10 s, with up to half of
/// it again as jitter, so that a fleet does not retry in step.
fn ddl_retry_pause(attempt: u32) -> Duration {
    let base = Duration::from_millis(100)
        .saturating_mul(1 << attempt.saturating_sub(1).min(10))
        .min(Duration::from_secs(10));
    base + base.mul_f64(crate::jitter::fraction() / 2.0)
}

impl std::fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("table", &self.migrations.table())
            .field("rules", &self.rules)
            .field("grouped", &self.grouped)
            .field("lock_timeout", &self.lock_timeout)
            .field("lock_strategy", &self.lock_strategy)
            .field("ddl_lock", &self.ddl_lock)
            .field("application", &self.application)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Migrations {
    /// A runner with default options, to change some of them.
    pub fn runner(&self) -> Runner<'_> {
        Runner {
            migrations: self,
            rules: Rules::default(),
            grouped: false,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            lock_strategy: None,
            ddl_lock: None,
            application: None,
            progress: None,
        }
    }

    /// Applies every pending migration, each in its own transaction with its
    /// history row. See [`Runner::run_pending`].
    ///
    /// # Errors
    ///
    /// See [`Runner::run_pending`].
    pub fn run_pending<D: Database + ?Sized>(&self, db: &mut D) -> Result<Report> {
        self.runner().run_pending(db)
    }

    /// Applies pending migrations up to and including `version`.
    ///
    /// # Errors
    ///
    /// See [`Runner::run_to`].
    pub fn run_to<D: Database + ?Sized>(&self, db: &mut D, version: u64) -> Result<Report> {
        self.runner().run_to(db, version)
    }

    /// Reverts applied migrations above `version`, newest first.
    ///
    /// # Errors
    ///
    /// See [`Runner::rollback_to`].
    pub fn rollback_to<D: Database + ?Sized>(&self, db: &mut D, version: u64) -> Result<Report> {
        self.runner().rollback_to(db, version)
    }

    /// Reverts the `steps` newest applied migrations, newest first: undo
    /// the last migration with `rollback_steps(&mut conn, 1)`.
    ///
    /// # Errors
    ///
    /// See [`Runner::rollback_steps`].
    pub fn rollback_steps<D: Database + ?Sized>(&self, db: &mut D, steps: u64) -> Result<Report> {
        self.runner().rollback_steps(db, steps)
    }

    /// What `rollback_steps` would revert, newest first, reverting nothing.
    ///
    /// # Errors
    ///
    /// See [`Runner::plan_rollback_steps`].
    pub fn plan_rollback_steps<D: Database + ?Sized>(
        &self,
        db: &mut D,
        steps: u64,
    ) -> Result<Vec<&'static Migration>> {
        self.runner().plan_rollback_steps(db, steps)
    }

    /// One row per version: applied, pending, future, changed or dirty.
    ///
    /// # Errors
    ///
    /// See [`Runner::status`].
    pub fn status<D: Database + ?Sized>(&self, db: &mut D) -> Result<Vec<MigrationStatus>> {
        self.runner().status(db)
    }

    /// What `run_pending` would apply, applying nothing.
    ///
    /// # Errors
    ///
    /// See [`Runner::plan`].
    pub fn plan<D: Database + ?Sized>(&self, db: &mut D) -> Result<Vec<&'static Migration>> {
        self.runner().plan(db)
    }

    /// What `rollback_to` would revert, newest first, reverting nothing.
    ///
    /// # Errors
    ///
    /// See [`Runner::plan_rollback`].
    pub fn plan_rollback<D: Database + ?Sized>(
        &self,
        db: &mut D,
        version: u64,
    ) -> Result<Vec<&'static Migration>> {
        self.runner().plan_rollback(db, version)
    }

    /// Adopts an existing database: records versions 1 to `version` as
    /// applied without running them.
    ///
    /// # Errors
    ///
    /// See [`Runner::baseline`].
    pub fn baseline<D: Database + ?Sized>(&self, db: &mut D, version: u64) -> Result<Report> {
        self.runner().baseline(db, version)
    }

    /// Adopts a database whose schema version lives only in the database's
    /// own counter — SQLite's `PRAGMA user_version`, as rusqlite_migration
    /// and hand-rolled schemes keep it: records versions 1 to that version as
    /// applied without running them, so the next
    /// [`run_pending`](Migrations::run_pending) continues from there.
    ///
    /// Safe on every boot: once the history table has rows, or where the
    /// database keeps no such counter (PostgreSQL), it does nothing.
    ///
    /// One SQLite file has one `user_version`, so only the set with the
    /// default history table (`migrate_schema_history`) owns it: it is the
    /// only set this adopts, and the only one whose runs keep
    /// `user_version` up to date. Adopt any other set with
    /// [`baseline`](Migrations::baseline) and an explicit version.
    ///
    /// # Example
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// # use migrate_core::{registry::Checksums, Migration, Migrations, SqlMode};
    /// # static LIST: &[Migration] = &[Migration::__new(1, "a", "0001_a.sql",
    /// #     Migration::__sql("CREATE TABLE a (x INTEGER);", SqlMode::Transaction),
    /// #     Checksums { exact: "", loose: "", chained: "" })];
    /// # static MIGRATIONS: Migrations = Migrations::__new(LIST, "migrate_schema_history", None);
    /// let mut conn = migrate_core::rusqlite::Connection::open_in_memory().unwrap();
    /// conn.execute_batch("CREATE TABLE a (x INTEGER); PRAGMA user_version = 1;").unwrap();
    /// MIGRATIONS.baseline_from_user_version(&mut conn).unwrap();
    /// assert!(MIGRATIONS.run_pending(&mut conn).unwrap().applied.is_empty());
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UserVersionNotOwned`] for a set with another history table;
    /// [`Error::UnknownVersion`] when the counter is beyond this binary's
    /// migrations; [`Error::Driver`].
    pub fn baseline_from_user_version<D: Database + ?Sized>(&self, db: &mut D) -> Result<Report> {
        if self.table() != crate::registry::DEFAULT_TABLE {
            return Err(Error::UserVersionNotOwned {
                table: self.table().to_owned(),
            });
        }
        // Read first, without the lock: on every boot but the first, the
        // history has rows and there is nothing to adopt.
        let rows = self.runner().read_history(db)?;
        if !rows.is_empty() {
            let known = rows
                .iter()
                .map(|r| r.version)
                .filter(|v| *v <= self.len() as u64);
            return Ok(Report {
                version: known.max().unwrap_or(0),
                ..Report::default()
            });
        }
        let version = db.driver().schema_version()?.unwrap_or(0);
        if version == 0 {
            return Ok(Report::default());
        }
        match self.baseline(db, version) {
            Err(Error::HistoryNotEmpty { .. }) => Ok(Report::default()),
            other => other,
        }
    }

    /// Resolves a migration that ran outside a transaction and did not finish.
    ///
    /// # Errors
    ///
    /// See [`Runner::repair`].
    pub fn repair<D: Database + ?Sized>(
        &self,
        db: &mut D,
        version: u64,
        how: Repair,
    ) -> Result<Report> {
        self.runner().repair(db, version, how)
    }

    /// The audit log of this set's history, oldest first. See
    /// [`Runner::log`].
    ///
    /// # Errors
    ///
    /// As [`Runner::log`].
    pub fn log<D: Database + ?Sized>(&self, db: &mut D) -> Result<Vec<LogEntry>> {
        self.runner().log(db)
    }
}

fn table_of(migrations: &Migrations) -> Result<TableName<'static>> {
    // Validated by the macro; checked again so a hand-built registry cannot inject SQL.
    TableName::parse(migrations.table()).map_err(Error::InvalidTableName)
}

/// Runs `f` holding the migration lock, and releases it on every path:
/// errors and panics alike end any transaction left open first, so the
/// connection is usable and the lock is really released. A panic resumes
/// once the database is clean.
fn locked<D: Driver, T>(
    driver: &mut D,
    table: &TableName<'_>,
    timeout: Duration,
    f: impl FnOnce(&mut D) -> Result<T>,
) -> Result<T> {
    if let Err(e) = driver.lock(table, timeout) {
        // It may have been taken before the failure was reported; and the
        // session may have been adjusted for the run (MySQL's autocommit).
        driver.restore_session();
        let _ = driver.unlock();
        return Err(e);
    }
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| f(driver)));
    if !matches!(outcome, Ok(Ok(_))) {
        if let Err(e) = driver.rollback() {
            log::warn!("could not end the transaction after a failure on `{table}`: {e}");
        }
    }
    driver.restore_session();
    let unlocked = driver.unlock();
    let value = match outcome {
        Ok(result) => result,
        Err(payload) => panic::resume_unwind(payload),
    };
    match (value, unlocked) {
        (Ok(value), Ok(())) => Ok(value),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(unlock)) => {
            log::error!(
                "could not release the migration lock on `{table}` after an error: {unlock}; \
                 close this connection so the database releases it"
            );
            Err(e)
        }
    }
}

/// The history table a run works on: the registry's name, qualified with
/// the driver's default schema when it names none, so that boot, status,
/// creation, the lock and every write agree on one table whatever
/// `search_path` or a migration's own `set_config` say.
struct Resolved {
    schema: Option<String>,
    table: TableName<'static>,
}

impl Resolved {
    fn new<D: Driver>(driver: &mut D, table: TableName<'static>) -> Result<Self> {
        // Asked whatever the name: it is also when the driver notes the
        // session settings it restores after the run.
        let schema = match table.schema {
            Some(_) => {
                let _ = driver.default_schema();
                None
            }
            None => driver.default_schema()?,
        };
        Ok(Resolved { schema, table })
    }

    fn name(&self) -> TableName<'_> {
        TableName {
            schema: self.schema.as_deref().or(self.table.schema),
            table: self.table.table,
        }
    }

    fn sql(&self, dialect: &'static dyn crate::dialect::SqlDialect) -> HistorySql {
        HistorySql::new(dialect, &self.name(), &self.table)
    }
}

/// The versions a history holds while a run changes it. `PRAGMA
/// user_version` follows the highest of them; a report names the highest one
/// this binary knows. Neither is "the last version touched": a migration
/// applied out of order, or a revert across a hole, must not move them wrongly.
struct AppliedVersions {
    versions: BTreeSet<u64>,
    latest_known: u64,
}

impl AppliedVersions {
    fn new(versions: impl IntoIterator<Item = u64>, migrations: &Migrations) -> Self {
        AppliedVersions {
            versions: versions.into_iter().collect(),
            latest_known: migrations.len() as u64,
        }
    }

    fn from_checked(checked: &Checked, migrations: &Migrations) -> Self {
        let all = checked.known.iter().chain(&checked.future).copied();
        AppliedVersions::new(all, migrations)
    }

    fn insert(&mut self, version: u64) -> u64 {
        self.versions.insert(version);
        self.highest()
    }

    fn remove(&mut self, version: u64) -> u64 {
        self.versions.remove(&version);
        self.highest()
    }

    fn highest(&self) -> u64 {
        self.versions.last().copied().unwrap_or(0)
    }

    fn highest_known(&self) -> u64 {
        self.versions
            .range(..=self.latest_known)
            .next_back()
            .copied()
            .unwrap_or(0)
    }
}

/// How far a rollback goes back.
#[derive(Debug, Clone, Copy)]
enum Back {
    /// To this version: every applied one above it is reverted.
    To(u64),
    /// By this many of the newest applied migrations.
    Steps(u64),
}

impl Back {
    /// The version the rollback goes back to, given the history.
    fn target(self, migrations: &Migrations, checked: &plan::Checked) -> Result<u64> {
        match self {
            Back::To(version) => Ok(version),
            Back::Steps(steps) => plan::steps_back(migrations, checked, steps),
        }
    }
}

/// How often one run reads the history again because other processes
/// changed it (each time, one of them made progress).
const MAX_REPLANS: usize = 1000;

/// Reads the history, creating the table first when it is missing; where
/// the lock is held per transaction, in a transaction of its own (under
/// the lock). Read first: a read-only connection with nothing to do then
/// reports what is really wrong (dirty, future versions).
fn read_or_create<D: Driver>(
    driver: &mut D,
    sql: &HistorySql,
    log: &LogSql,
    log_ready: &mut bool,
    scope: LockScope,
) -> Result<Vec<HistoryRow>> {
    let transaction = scope == LockScope::Transaction;
    if transaction {
        driver.begin()?;
    }
    let rows = match sql.read_all(driver) {
        Ok(rows) => rows,
        Err(e) if driver.is_missing_table(&e) => {
            if transaction {
                // The failed read ended the transaction's use (PostgreSQL).
                driver.rollback()?;
            }
            // The table, its index and the audit log in one transaction:
            // one commit (on SQLite, one journal and its syncs) rather than
            // one each.
            driver.begin().map_err(|e| sql.create_failed(e))?;
            let created = sql
                .create(driver)
                .and_then(|()| {
                    driver
                        .batch(log.create_sql())
                        .map_err(|e| sql.create_failed(e))
                })
                .and_then(|()| sql.read_all(driver));
            *log_ready = created.is_ok();
            let rows = match created {
                Ok(rows) => rows,
                Err(e) => {
                    let _ = driver.rollback();
                    return Err(e);
                }
            };
            if !transaction {
                driver.commit()?;
            }
            rows
        }
        Err(e) => return Err(e),
    };
    if transaction {
        driver.commit()?;
    }
    Ok(rows)
}

/// One pass of a run over the history it read: the SQL, the table, and —
/// where the lock is held per transaction — the rows as this run last saw
/// them, which each transaction checks before it writes.
struct Run<'r> {
    sql: &'r HistorySql,
    table: &'r TableName<'r>,
    model: Option<BTreeMap<u64, crate::history::Seen>>,
    logging: Logging<'r>,
    /// Whether the audit log is known to exist (created before the pass's
    /// first script: a run with nothing to do neither creates nor writes it).
    log_ready: &'r mut bool,
}

impl Run<'_> {
    fn scope(&self) -> LockScope {
        if self.model.is_some() {
            LockScope::Transaction
        } else {
            LockScope::Session
        }
    }

    fn execute<D: Driver>(&mut self, driver: &mut D, script: &Script) -> Result<Vec<Duration>> {
        if !*self.log_ready {
            self.create_log(driver)?;
            *self.log_ready = true;
        }
        let writes = script.first_written_version().unwrap_or(u64::MAX);
        let expected = self.model.as_ref().map(|m| RecentRows::of(m, writes));
        let took = execute(driver, self.sql, script, expected.as_ref(), &self.logging)?;
        if let Some(model) = &mut self.model {
            script.record(model);
        }
        Ok(took)
    }
}

impl Run<'_> {
    /// Creates the audit log when missing — under the lock: in a
    /// transaction where the lock is taken per transaction.
    fn create_log<D: Driver>(&self, driver: &mut D) -> Result<()> {
        let create = self.logging.sql.create_sql();
        let created = if self.scope() == LockScope::Transaction {
            driver.begin().and_then(|()| {
                let done = driver.batch(create);
                match done {
                    Ok(()) => driver.commit(),
                    Err(e) => {
                        let _ = driver.rollback();
                        Err(e)
                    }
                }
            })
        } else {
            driver.batch_without_transaction(create)
        };
        created.map_err(|e| self.sql.create_failed(e))
    }
}

fn log_done(verb: &str, done: &Applied) {
    log::info!(
        "{verb} migration {} ({}) in {} ms",
        done.version,
        done.file_name,
        done.duration.as_millis()
    );
}

impl<'m> Runner<'m> {
    /// Under the migration lock: creates the history table if missing, reads
    /// it whole, and hands the rows to `f`. Where the driver holds the lock
    /// per transaction and another process changed the history between two
    /// of this run's transactions, reads it again and calls `f` again: `f`
    /// re-plans from what it finds.
    fn with_history<Dr: Driver, T>(
        &self,
        driver: &mut Dr,
        mut f: impl FnMut(&mut Dr, &mut Run<'_>, Vec<HistoryRow>) -> Result<T>,
    ) -> Result<T> {
        if driver.in_transaction() == Some(true) {
            // Our BEGIN would fail, and our cleanup would roll back the caller's work.
            return Err(Error::InsideTransaction);
        }
        self.configure(driver);
        let resolved = Resolved::new(driver, table_of(self.migrations)?)?;
        let table = resolved.name();
        let sql = resolved.sql(driver.sql_dialect());
        let log_sql = LogSql::new(driver.sql_dialect(), &table);
        let actor = Actor::new(self.application.or(self.migrations.application()));
        let mut log_ready = false;
        locked(driver, &table, self.lock_timeout, |driver| {
            let scope = driver.lock_scope();
            let mut attempts = 0;
            loop {
                let rows = read_or_create(driver, &sql, &log_sql, &mut log_ready, scope)?;
                let model = (scope == LockScope::Transaction).then(|| {
                    rows.iter()
                        .map(|r| (r.version, (r.state, r.chained_checksum.clone())))
                        .collect()
                });
                let mut run = Run {
                    sql: &sql,
                    table: &table,
                    model,
                    logging: Logging {
                        sql: &log_sql,
                        actor: &actor,
                        migrations: self.migrations,
                    },
                    log_ready: &mut log_ready,
                };
                match f(driver, &mut run, rows) {
                    Err(Error::HistoryChanged { .. }) if attempts < MAX_REPLANS => {
                        attempts += 1;
                        log::debug!("the history of `{table}` changed under this run; re-planning");
                    }
                    other => return other,
                }
            }
        })
    }

    /// Hands the driver the run's options it acts on itself.
    fn configure<D: Driver>(&self, driver: &mut D) {
        if let Some(strategy) = self.lock_strategy {
            driver.set_lock_strategy(strategy);
        }
        if let Some(ddl) = self.ddl_lock {
            driver.set_ddl_lock_timeout(ddl.timeout);
        }
    }

    /// Bounds how long each migration's statements wait for a table lock
    /// (PostgreSQL: `SET LOCAL lock_timeout` in each migration's
    /// transaction; `lock_timeout` around a no-transaction one). An
    /// `ALTER TABLE` queued behind a long application transaction would
    /// otherwise queue every query that arrives after it: with this, it
    /// gives up after `timeout`, is rolled back, and the application's
    /// queries flow again. See [`ddl_lock_retries`](Self::ddl_lock_retries)
    /// for trying again, and [`Error::DdlLockTimeout`] for what the last
    /// attempt reports. Other databases ignore it.
    pub fn ddl_lock_timeout(mut self, timeout: Duration) -> Self {
        let retries = self.ddl_lock.map_or(0, |d| d.retries);
        self.ddl_lock = Some(DdlLock { timeout, retries });
        self
    }

    /// How many times a migration that gave up on a table lock (see
    /// [`ddl_lock_timeout`](Self::ddl_lock_timeout), which must be set too)
    /// is tried again, after a pause doubling from 100 ms (up to 10 s) with
    /// jitter. Only a migration that was rolled back is tried again; one
    /// that ran outside a transaction is left dirty as any failure leaves it.
    pub fn ddl_lock_retries(mut self, retries: u32) -> Self {
        let timeout = self.ddl_lock.map_or(Duration::from_secs(5), |d| d.timeout);
        self.ddl_lock = Some(DdlLock { timeout, retries });
        self
    }

    /// Runs `script`, trying it again while it gave up on a table lock and
    /// retries remain (see [`ddl_lock_timeout`](Self::ddl_lock_timeout)).
    fn execute_retrying<D: Driver>(
        &self,
        driver: &mut D,
        run: &mut Run<'_>,
        script: &Script,
    ) -> Result<Vec<Duration>> {
        let mut attempt = 0;
        loop {
            let error = match run.execute(driver, script) {
                Err(e) => e,
                done => return done,
            };
            let Some(ddl) = self.ddl_lock else {
                return Err(error);
            };
            if !driver.is_lock_timeout(&error) {
                return Err(error);
            }
            let Error::Failed {
                version,
                file,
                source,
                cleanup,
                ..
            } = error
            else {
                return Err(error);
            };
            attempt += 1;
            let rolled_back = matches!(cleanup, Cleanup::RolledBack | Cleanup::GroupRolledBack);
            if rolled_back && attempt <= ddl.retries {
                let pause = ddl_retry_pause(attempt);
                log::warn!(
                    "migration {version} (`{file}`) gave up on a table lock after {} ms and \
                     was rolled back ({source}); trying again in {} ms (attempt {} of {})",
                    ddl.timeout.as_millis(),
                    pause.as_millis(),
                    attempt + 1,
                    ddl.retries + 1
                );
                std::thread::sleep(pause);
                continue;
            }
            return Err(Error::DdlLockTimeout {
                version,
                file,
                timeout: ddl.timeout,
                attempts: attempt,
                cleanup,
                holders: driver.lock_holders(),
                source,
            });
        }
    }

    /// Treat versions recorded in the database but unknown to this binary
    /// as an error ([`Error::FutureVersions`]) instead of tolerating them.
    pub fn strict(mut self, strict: bool) -> Self {
        self.rules.strict = strict;
        self
    }

    /// Allow applying a pending migration older than the newest applied one.
    pub fn allow_out_of_order(mut self, allow: bool) -> Self {
        self.rules.allow_out_of_order = allow;
        self
    }

    /// Run all pending migrations in one transaction: all or nothing.
    pub fn grouped(mut self, grouped: bool) -> Self {
        self.grouped = grouped;
        self
    }

    /// How long to wait for another process's migration lock (default 60 s).
    /// On SQLite it also bounds the wait for the database's own write lock.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How the migration lock is held on PostgreSQL (see [`LockStrategy`]).
    /// The default is the client's: [`LockStrategy::Session`] for the sync
    /// client, [`LockStrategy::Transaction`] for the async one. Behind a
    /// pooler in transaction mode (PgBouncer's `pool_mode = transaction`),
    /// ask for [`LockStrategy::TransactionPooler`]. SQLite and MySQL keep
    /// their own lock.
    ///
    /// ```no_run
    /// # #[cfg(feature = "postgres")] {
    /// # extern crate migrate_core as migrate;
    /// # static MIGRATIONS: migrate::Migrations =
    /// #     migrate::Migrations::__new(&[], "migrate_schema_history", None);
    /// # let boot = || -> Result<(), Box<dyn std::error::Error>> {
    /// use migrate::postgres::{Client, NoTls};
    /// use migrate::LockStrategy;
    ///
    /// // PgBouncer in transaction mode, between the app and PostgreSQL.
    /// let mut client = Client::connect("postgres://app@pgbouncer:6432/app", NoTls)?;
    /// MIGRATIONS
    ///     .runner()
    ///     .lock_strategy(LockStrategy::TransactionPooler)
    ///     .run_pending(&mut client)?;
    /// # Ok(()) };
    /// # }
    /// ```
    pub fn lock_strategy(mut self, strategy: LockStrategy) -> Self {
        self.lock_strategy = Some(strategy);
        self
    }

    /// The application the audit log names for this runner's operations
    /// (by default the crate that embedded the migrations, as
    /// [`Migrations::application`] says): e.g. a CLI acting for a service.
    pub fn application(mut self, name: &'m str, version: &'m str) -> Self {
        self.application = Some((name, version));
        self
    }

    /// The audit log, oldest first: one entry per operation on this set's
    /// history — apply, revert, baseline, repair — failures included.
    /// Empty where no run with something to do has created it yet.
    ///
    /// # Errors
    ///
    /// [`Error::Driver`], [`Error::Conversion`] for rows migrate did not write.
    pub fn log<D: Database + ?Sized>(&self, db: &mut D) -> Result<Vec<LogEntry>> {
        let mut driver = db.driver();
        self.configure(&mut driver);
        let resolved = Resolved::new(&mut driver, table_of(self.migrations)?)?;
        let sql = LogSql::new(driver.sql_dialect(), &resolved.name());
        match sql.read(&mut driver) {
            Err(e) if driver.is_missing_table(&e) => Ok(Vec::new()),
            other => other,
        }
    }

    /// Calls `progress` after each migration is applied or reverted (after
    /// its commit), e.g. to drive a progress bar. `Sync`, so that the
    /// futures of the `_async` calls can move between threads.
    pub fn on_progress(mut self, progress: &'m (dyn Fn(&Applied) + Sync)) -> Self {
        self.progress = Some(progress);
        self
    }

    fn report_progress(&self, applied: &Applied) {
        if let Some(progress) = self.progress {
            progress(applied);
        }
    }

    /// Applies every pending migration.
    ///
    /// With nothing pending this is one query, which writes nothing: a
    /// read-only replica, or a database a newer release already migrated,
    /// boots without the lock. Otherwise it takes the migration lock (other
    /// processes wait their turn and then find nothing to do), validates the
    /// whole history, and applies each migration in its own transaction
    /// together with its history row.
    ///
    /// A Rust migration that panics is rolled back like one that returns an
    /// error, and reported as [`Error::Failed`]; the lock is released and
    /// the connection stays usable.
    ///
    /// # Errors
    ///
    /// - [`Error::Dirty`], [`Error::ChecksumMismatch`], [`Error::OutOfOrder`],
    ///   [`Error::FutureVersions`] (strict): found before anything is applied;
    /// - [`Error::Failed`]: a migration failed; earlier ones stay applied;
    /// - [`Error::History`]: the history table could not be created, read or written;
    /// - [`Error::LockTimeout`], [`Error::Driver`].
    pub fn run_pending<D: Database + ?Sized>(&self, db: &mut D) -> Result<Report> {
        self.apply(db, None, true)
    }

    /// Applies pending migrations up to and including `version`.
    ///
    /// # Errors
    ///
    /// As [`run_pending`](Self::run_pending), and [`Error::UnknownVersion`].
    pub fn run_to<D: Database + ?Sized>(&self, db: &mut D, version: u64) -> Result<Report> {
        self.apply(db, Some(version), false)
    }

    /// Applies pending migrations up to `target` (all without one); with
    /// `check_current`, boot's one-statement check first.
    fn apply<D: Database + ?Sized>(
        &self,
        db: &mut D,
        target: Option<u64>,
        check_current: bool,
    ) -> Result<Report> {
        let mut driver = db.driver();
        crate::stale::warn_if_stale(self.migrations);
        if target.is_none() && check_current {
            if let Some(report) = self.current(&mut driver)? {
                return Ok(report);
            }
        }
        // Kept across re-plans: what an earlier pass applied stays applied.
        let mut applied = Vec::new();
        let outcome = self.with_history(&mut driver, |driver, run, rows| {
            let checked = plan::check(self.migrations, &rows, self.rules)?;
            let pending = plan::pending(self.migrations, &checked, self.rules, target)?;
            refuse_without_session(driver, pending.iter().map(|m| (*m, m.up())))?;
            let mut versions = AppliedVersions::from_checked(&checked, self.migrations);
            if self.grouped {
                let group = self.apply_grouped(driver, run, &pending, &mut versions)?;
                applied.extend(group);
            } else {
                for migration in pending {
                    let highest = versions.insert(migration.version());
                    let step = (migration.up(), Change::Apply);
                    applied.push(self.step(driver, run, migration, step, highest)?);
                }
            }
            Ok(Report {
                applied: std::mem::take(&mut applied),
                future_versions: checked.future.clone(),
                version: versions.highest_known(),
                ..Report::default()
            })
        });
        outcome.map_err(|e| {
            self.read_only(&mut driver, e, |rows| {
                let checked = plan::check(self.migrations, rows, self.rules)?;
                Self::versions_of(plan::pending(self.migrations, &checked, self.rules, target))
            })
        })
    }

    /// `error`, or — where it says the database cannot be written to —
    /// [`Error::ReadOnly`] naming the versions `change` says the run would
    /// have changed, from the history read afresh (a replica may not even
    /// have the table).
    fn read_only<D: Driver>(
        &self,
        driver: &mut D,
        error: Error,
        change: impl FnOnce(&[HistoryRow]) -> Result<Vec<u64>>,
    ) -> Error {
        if !driver.is_read_only(&error) {
            return error;
        }
        let changed = table_of(self.migrations)
            .and_then(|table| Resolved::new(driver, table))
            .and_then(|resolved| {
                let sql = resolved.sql(driver.sql_dialect());
                let rows = match sql.read_all(driver) {
                    Err(e) if driver.is_missing_table(&e) => Vec::new(),
                    other => other?,
                };
                Ok((resolved.name().to_string(), change(&rows)?))
            });
        match changed {
            Ok((table, versions)) if !versions.is_empty() => Error::ReadOnly { table, versions },
            _ => error,
        }
    }

    /// The versions of `migrations`, for [`read_only`](Self::read_only).
    fn versions_of(migrations: Result<Vec<&'static Migration>>) -> Result<Vec<u64>> {
        Ok(migrations?.iter().map(|m| m.version()).collect())
    }

    /// The hot path: `Some` when the database is already current. Reads one
    /// statement and writes nothing.
    fn current<D: Driver>(&self, driver: &mut D) -> Result<Option<Report>> {
        let table = table_of(self.migrations)?;
        let head = match Head::read(driver, &table, self.migrations.len() as u64) {
            Ok(head) => Some(head),
            Err(e) if driver.is_missing_table(&e) => Some(Head::default()),
            Err(e) => {
                // The slow path resolves the table as every other operation
                // does and reports what is really wrong, if anything is.
                log::debug!("boot's check failed ({e}); taking the slow path");
                None
            }
        };
        Ok(self.current_from(head))
    }

    /// What boot's check found means: `Some` when the database is current.
    /// `None` for `head` when the check could not say.
    fn current_from(&self, head: Option<Head>) -> Option<Report> {
        let head = head?;
        if head.unfinished || (self.rules.strict && !head.future.is_empty()) {
            return None;
        }
        let current = match (&head.latest_chain, self.migrations.latest()) {
            (_, None) => true,
            (Some(chain), Some(latest)) => chain == latest.chained_checksum(),
            (None, Some(_)) => false,
        };
        current.then(|| Report {
            version: self.migrations.len() as u64,
            future_versions: head.future,
            ..Report::default()
        })
    }

    /// Runs one migration's up or down step with everything around it
    /// (see `script.rs`), then logs and reports it.
    fn step<D: Driver>(
        &self,
        driver: &mut D,
        run: &mut Run<'_>,
        migration: &'static Migration,
        (step, change): (&'static crate::registry::Step, Change),
        schema_version: u64,
    ) -> Result<Applied> {
        let unit = Unit {
            migration,
            step: Some(step),
            change,
            mode: mode_on(driver, step),
        };
        let script = Script::step(unit, schema_version, run.scope());
        let took = self.execute_retrying(driver, run, &script)?;
        let done = done(migration, took.first().copied().unwrap_or_default());
        log_done(
            match change {
                Change::Apply => "applied",
                Change::Revert => "reverted",
            },
            &done,
        );
        self.report_progress(&done);
        Ok(done)
    }

    /// Applies `pending` in one transaction, all or nothing.
    fn apply_grouped<D: Driver>(
        &self,
        driver: &mut D,
        run: &mut Run<'_>,
        pending: &[&'static Migration],
        versions: &mut AppliedVersions,
    ) -> Result<Vec<Applied>> {
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        // Including SQL whose schema changes the database commits on the spot.
        if let Some(m) = pending
            .iter()
            .find(|m| mode_on(driver, m.up()) == crate::registry::SqlMode::NoTransaction)
        {
            return Err(Error::NoTransactionInGroup {
                version: m.version(),
                file: m.file_name().to_owned(),
            });
        }
        // Foreign keys off for the group would switch off the others'
        // ON DELETE CASCADE too, and blame the rebuild for what follows.
        if pending.len() > 1 {
            if let Some(m) = pending
                .iter()
                .find(|m| m.up().mode() == crate::registry::SqlMode::ForeignKeysOff)
            {
                return Err(Error::ForeignKeysOffInGroup {
                    version: m.version(),
                    file: m.file_name().to_owned(),
                });
            }
        }
        for migration in pending {
            versions.insert(migration.version());
        }
        let script = Script::group(pending, versions.highest(), run.scope());
        let took = self.execute_retrying(driver, run, &script)?;
        let applied: Vec<Applied> = pending
            .iter()
            .zip(took)
            .map(|(m, duration)| done(m, duration))
            .collect();
        for a in &applied {
            log_done("applied", a);
            self.report_progress(a);
        }
        Ok(applied)
    }

    /// Reverts applied migrations above `version`, newest first, each in its
    /// own transaction with the removal of its history row.
    ///
    /// # Errors
    ///
    /// [`Error::Irreversible`] when one of them has no down step (checked
    /// before anything is reverted), [`Error::UnknownVersion`], the history
    /// errors of [`run_pending`](Self::run_pending), [`Error::Failed`].
    pub fn rollback_to<D: Database + ?Sized>(&self, db: &mut D, version: u64) -> Result<Report> {
        self.rollback(db, Back::To(version))
    }

    /// Reverts the `steps` newest applied migrations, newest first, each in
    /// its own transaction with the removal of its history row. Counted
    /// under the migration lock, from the history as it is then.
    ///
    /// # Errors
    ///
    /// [`Error::TooFewApplied`] when fewer are applied,
    /// [`Error::FutureVersions`] when the newest applied are versions this
    /// binary does not know, and the errors of
    /// [`rollback_to`](Self::rollback_to) — all before anything is reverted.
    pub fn rollback_steps<D: Database + ?Sized>(&self, db: &mut D, steps: u64) -> Result<Report> {
        self.rollback(db, Back::Steps(steps))
    }

    /// What [`rollback_steps`](Self::rollback_steps) would revert, newest
    /// first, reverting nothing.
    ///
    /// # Errors
    ///
    /// As [`rollback_steps`](Self::rollback_steps), and [`Error::Driver`].
    pub fn plan_rollback_steps<D: Database + ?Sized>(
        &self,
        db: &mut D,
        steps: u64,
    ) -> Result<Vec<&'static Migration>> {
        self.plan_back(db, Back::Steps(steps))
    }

    fn plan_back<D: Database + ?Sized>(
        &self,
        db: &mut D,
        back: Back,
    ) -> Result<Vec<&'static Migration>> {
        let rows = self.read_history(db)?;
        let checked = plan::check(self.migrations, &rows, self.rules)?;
        plan::to_revert(
            self.migrations,
            &checked,
            back.target(self.migrations, &checked)?,
        )
    }

    fn rollback<D: Database + ?Sized>(&self, db: &mut D, back: Back) -> Result<Report> {
        let mut driver = db.driver();
        let mut reverted = Vec::new();
        let outcome = self.with_history(&mut driver, |driver, run, rows| {
            let checked = plan::check(self.migrations, &rows, self.rules)?;
            let version = back.target(self.migrations, &checked)?;
            let revert = plan::to_revert(self.migrations, &checked, version)?;
            refuse_without_session(driver, revert.iter().filter_map(|m| Some((*m, m.down()?))))?;
            let mut versions = AppliedVersions::from_checked(&checked, self.migrations);
            for migration in revert {
                let Some(down) = migration.down() else {
                    continue; // to_revert checked every one has a down step
                };
                let below = versions.remove(migration.version());
                let step = (down, Change::Revert);
                reverted.push(self.step(driver, run, migration, step, below)?);
            }
            Ok(Report {
                reverted: std::mem::take(&mut reverted),
                future_versions: checked.future.clone(),
                version: versions.highest_known(),
                ..Report::default()
            })
        });
        outcome.map_err(|e| {
            self.read_only(&mut driver, e, |rows| {
                let checked = plan::check(self.migrations, rows, self.rules)?;
                let version = back.target(self.migrations, &checked)?;
                Self::versions_of(plan::to_revert(self.migrations, &checked, version))
            })
        })
    }

    /// One row per version known to the binary, then one per future version.
    ///
    /// # Errors
    ///
    /// [`Error::Driver`].
    pub fn status<D: Database + ?Sized>(&self, db: &mut D) -> Result<Vec<MigrationStatus>> {
        let rows = self.read_history(db)?;
        Ok(plan::status(self.migrations, &rows))
    }

    /// What [`run_pending`](Self::run_pending) would apply, with the same
    /// validation, applying nothing.
    ///
    /// # Errors
    ///
    /// The validation errors of [`run_pending`](Self::run_pending).
    pub fn plan<D: Database + ?Sized>(&self, db: &mut D) -> Result<Vec<&'static Migration>> {
        self.plan_to_version(db, None)
    }

    /// What [`run_to`](Self::run_to) would apply, in order, applying nothing.
    ///
    /// # Errors
    ///
    /// As [`plan`](Self::plan), and [`Error::UnknownVersion`].
    pub fn plan_to<D: Database + ?Sized>(
        &self,
        db: &mut D,
        version: u64,
    ) -> Result<Vec<&'static Migration>> {
        self.plan_to_version(db, Some(version))
    }

    fn plan_to_version<D: Database + ?Sized>(
        &self,
        db: &mut D,
        target: Option<u64>,
    ) -> Result<Vec<&'static Migration>> {
        let rows = self.read_history(db)?;
        let checked = plan::check(self.migrations, &rows, self.rules)?;
        plan::pending(self.migrations, &checked, self.rules, target)
    }

    /// What [`rollback_to`](Self::rollback_to) would revert, newest first,
    /// reverting nothing.
    ///
    /// # Errors
    ///
    /// The errors `rollback_to` would give before reverting anything:
    /// [`Error::Irreversible`], [`Error::FutureVersions`],
    /// [`Error::UnknownVersion`], the history's validation errors.
    pub fn plan_rollback<D: Database + ?Sized>(
        &self,
        db: &mut D,
        version: u64,
    ) -> Result<Vec<&'static Migration>> {
        self.plan_back(db, Back::To(version))
    }

    /// Adopts an existing database: records versions 1 to `version` as
    /// applied, without running them.
    ///
    /// # Errors
    ///
    /// [`Error::HistoryNotEmpty`] unless the history is empty;
    /// [`Error::UnknownVersion`].
    pub fn baseline<D: Database + ?Sized>(&self, db: &mut D, version: u64) -> Result<Report> {
        plan::known_version(self.migrations, version)?;
        let mut driver = db.driver();
        let outcome = self.with_history(&mut driver, |driver, run, rows| {
            let table = run.table;
            if !rows.is_empty() {
                return Err(Error::HistoryNotEmpty {
                    table: table.to_string(),
                    rows: rows.len(),
                });
            }
            let adopted: Vec<&'static Migration> = self
                .migrations
                .iter()
                .take_while(|m| m.version() <= version)
                .collect();
            run.execute(driver, &Script::baseline(&adopted, version, run.scope()))?;
            log::info!("baselined `{table}` at version {version}");
            Ok(Report {
                version,
                ..Report::default()
            })
        });
        outcome.map_err(|e| self.read_only(&mut driver, e, |_| Ok((1..=version).collect())))
    }

    /// Resolves a migration that ran outside a transaction and did not
    /// finish, after the operator checked the schema by hand.
    ///
    /// # Errors
    ///
    /// [`Error::NothingToRepair`] when `version` is not unfinished.
    pub fn repair<D: Database + ?Sized>(
        &self,
        db: &mut D,
        version: u64,
        how: Repair,
    ) -> Result<Report> {
        let mut driver = db.driver();
        let outcome = self.with_history(&mut driver, |driver, run, rows| {
            let table = run.table;
            let Some(state) = rows
                .iter()
                .find(|r| r.version == version && r.state.is_unfinished())
                .map(|r| r.state)
            else {
                return Err(Error::NothingToRepair { version });
            };
            let mut versions =
                AppliedVersions::new(rows.iter().map(|r| r.version), self.migrations);
            // For a down step, "completed" means the revert was finished by
            // hand (the row goes), "undone" that it was rolled back (applied).
            let applied = match (state, how) {
                (RowState::Reverting, Repair::Completed) => false,
                (RowState::Reverting, Repair::Undone) => true,
                (_, Repair::Completed) => true,
                (_, Repair::Undone) => false,
            };
            if !applied {
                versions.remove(version);
            }
            let script = Script::repair(version, applied, versions.highest(), run.scope());
            run.execute(driver, &script)?;
            log::info!("repaired version {version} of `{table}`: {how:?}");
            Ok(Report {
                version: versions.highest_known(),
                ..Report::default()
            })
        });
        outcome.map_err(|e| self.read_only(&mut driver, e, |_| Ok(vec![version])))
    }

    /// The whole history, empty when the table does not exist yet.
    fn read_history<D: Database + ?Sized>(&self, db: &mut D) -> Result<Vec<HistoryRow>> {
        let mut driver = db.driver();
        self.configure(&mut driver);
        let resolved = Resolved::new(&mut driver, table_of(self.migrations)?)?;
        let sql = resolved.sql(driver.sql_dialect());
        match sql.read_all(&mut driver) {
            Err(e) if driver.is_missing_table(&e) => Ok(Vec::new()),
            other => other,
        }
    }
}

/// Refuses, before anything runs, a step that must run outside a
/// transaction where the driver cannot hold the lock while it does
/// (through a transaction pooler).
fn refuse_without_session<'a, D: Driver>(
    driver: &D,
    mut steps: impl Iterator<Item = (&'static Migration, &'a crate::registry::Step)>,
) -> Result<()> {
    if driver.holds_between_transactions() {
        return Ok(());
    }
    match steps.find(|(_, step)| mode_on(driver, step) == crate::registry::SqlMode::NoTransaction) {
        Some((m, _)) => Err(Error::NeedsSession {
            version: m.version(),
            file: m.file_name().to_owned(),
        }),
        None => Ok(()),
    }
}

/// How `step` meets transactions on `driver`'s database.
fn mode_on<D: Driver>(driver: &D, step: &crate::registry::Step) -> crate::registry::SqlMode {
    script::effective_mode(
        step,
        driver.sql_dialect().transactional_ddl(),
        driver.sql_rules(),
    )
}

fn done(migration: &'static Migration, duration: Duration) -> Applied {
    Applied {
        version: migration.version(),
        name: migration.name(),
        file_name: migration.file_name(),
        duration,
    }
}

#[cfg(test)]
mod tests;
