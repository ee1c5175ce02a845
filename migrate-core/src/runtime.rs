//! The runtime: brings a database up to date with the migrations a binary
//! embeds, safely and once, whatever the driver.
//!
//! Boot with nothing pending is one query: the latest history row and any
//! unfinished row; the latest row's chained checksum is compared with the
//! embedded chain, which covers every version up to it. Only when something
//! is pending does the runtime take the migration lock, read the whole
//! history, validate it against the binary, and apply each migration in its
//! own transaction together with its history row.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::driver::{Database, Driver};
use crate::error::{Cleanup, Error, Result};
use crate::history::{Head, HistoryRow, HistorySql, RowState, TableName};
use crate::plan::{self, Checked, MigrationStatus, Rules};
use crate::registry::{Migration, Migrations, Step};
use crate::tx::Tx;

/// The default time to wait for another process's migration lock.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// One migration applied or reverted by a run.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    progress: Option<&'m dyn Fn(&Applied)>,
}

impl std::fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("table", &self.migrations.table())
            .field("rules", &self.rules)
            .field("grouped", &self.grouped)
            .field("lock_timeout", &self.lock_timeout)
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

    /// Adopts an existing database: records versions 1 to `version` as
    /// applied without running them.
    ///
    /// # Errors
    ///
    /// See [`Runner::baseline`].
    pub fn baseline<D: Database + ?Sized>(&self, db: &mut D, version: u64) -> Result<Report> {
        self.runner().baseline(db, version)
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
}

fn table_of(migrations: &Migrations) -> Result<TableName<'static>> {
    // Validated by the macro; checked again so a hand-built registry cannot inject SQL.
    TableName::parse(migrations.table()).map_err(|e| Error::Driver(e.into()))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs `f` holding the migration lock, and releases it on every path.
fn locked<D: Driver, T>(
    driver: &mut D,
    table: &TableName<'_>,
    timeout: Duration,
    f: impl FnOnce(&mut D) -> Result<T>,
) -> Result<T> {
    driver.lock(table, timeout)?;
    let result = f(driver);
    let unlocked = driver.unlock();
    let value = result?;
    unlocked?;
    Ok(value)
}

/// A driver for `db`, the history table's name and its SQL.
fn open<'d, D: Database + ?Sized>(
    migrations: &Migrations,
    db: &'d mut D,
) -> Result<(D::Driver<'d>, TableName<'static>, HistorySql)> {
    let driver = db.driver();
    let table = table_of(migrations)?;
    let sql = HistorySql::new(driver.dialect(), &table);
    Ok((driver, table, sql))
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
    /// it whole, and hands the rows to `f`.
    fn with_history<Dr: Driver, T>(
        &self,
        driver: &mut Dr,
        table: &TableName<'_>,
        sql: &HistorySql,
        f: impl FnOnce(&mut Dr, Vec<HistoryRow>) -> Result<T>,
    ) -> Result<T> {
        locked(driver, table, self.lock_timeout, |driver| {
            sql.create(driver)?;
            let rows = sql.read_all(driver)?;
            f(driver, rows)
        })
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
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Calls `progress` after each migration is applied or reverted (after
    /// its commit), e.g. to drive a progress bar.
    pub fn on_progress(mut self, progress: &'m dyn Fn(&Applied)) -> Self {
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
    /// With nothing pending this is one query. Otherwise it takes the
    /// migration lock (other processes wait their turn and then find nothing
    /// to do), validates the whole history, and applies each migration in
    /// its own transaction together with its history row.
    ///
    /// # Errors
    ///
    /// - [`Error::Dirty`], [`Error::ChecksumMismatch`], [`Error::OutOfOrder`],
    ///   [`Error::FutureVersions`] (strict): found before anything is applied;
    /// - [`Error::Failed`]: a migration failed; earlier ones stay applied;
    /// - [`Error::LockTimeout`], [`Error::Driver`].
    pub fn run_pending<D: Database + ?Sized>(&self, db: &mut D) -> Result<Report> {
        self.apply(db, None)
    }

    /// Applies pending migrations up to and including `version`.
    ///
    /// # Errors
    ///
    /// As [`run_pending`](Self::run_pending), and [`Error::UnknownVersion`].
    pub fn run_to<D: Database + ?Sized>(&self, db: &mut D, version: u64) -> Result<Report> {
        self.apply(db, Some(version))
    }

    fn apply<D: Database + ?Sized>(&self, db: &mut D, target: Option<u64>) -> Result<Report> {
        let (mut driver, table, sql) = open(self.migrations, db)?;
        crate::stale::warn_if_stale(self.migrations);
        if target.is_none() {
            if let Some(report) = self.current(&mut driver, &sql)? {
                return Ok(report);
            }
        }
        self.with_history(&mut driver, &table, &sql, |driver, rows| {
            let checked = plan::check(self.migrations, &rows, self.rules)?;
            let pending = plan::pending(self.migrations, &checked, self.rules, target)?;
            let mut versions = AppliedVersions::from_checked(&checked, self.migrations);
            let mut report = Report {
                future_versions: checked.future.clone(),
                ..Report::default()
            };
            if self.grouped {
                report.applied = self.apply_grouped(driver, &sql, &pending, &mut versions)?;
            } else {
                for migration in pending {
                    let highest = versions.insert(migration.version());
                    let applied = apply_one(driver, &sql, migration, highest)?;
                    self.report_progress(&applied);
                    report.applied.push(applied);
                }
            }
            report.version = versions.highest_known();
            Ok(report)
        })
    }

    /// The hot path: `Some` when the database is already current.
    fn current<D: Driver>(&self, driver: &mut D, sql: &HistorySql) -> Result<Option<Report>> {
        let head = match sql.head(driver) {
            Ok(head) => head,
            Err(e) if driver.is_missing_table(&e) => Head::default(),
            Err(e) => return Err(e),
        };
        if head.unfinished {
            return Ok(None);
        }
        let current = match (&head.latest, self.migrations.latest()) {
            (None, None) => Some(0),
            (Some((version, chain)), Some(latest))
                if *version == latest.version() && chain == latest.chained_checksum() =>
            {
                Some(*version)
            }
            _ => None,
        };
        Ok(current.map(|version| Report {
            version,
            ..Report::default()
        }))
    }

    /// Applies `pending` in one transaction, all or nothing.
    fn apply_grouped<D: Driver>(
        &self,
        driver: &mut D,
        sql: &HistorySql,
        pending: &[&'static Migration],
        versions: &mut AppliedVersions,
    ) -> Result<Vec<Applied>> {
        let Some(&last) = pending.last() else {
            return Ok(Vec::new());
        };
        if let Some(m) = pending.iter().find(|m| !m.transactional()) {
            return Err(Error::NoTransactionInGroup {
                version: m.version(),
                file: m.file_name().to_owned(),
            });
        }
        driver.begin()?;
        let mut applied = Vec::with_capacity(pending.len());
        for migration in pending {
            let start = Instant::now();
            let result = run_step(driver, migration.up()).and_then(|()| {
                sql.insert(
                    driver,
                    migration,
                    RowState::Applied,
                    millis(start.elapsed()),
                )
            });
            if let Err(source) = result {
                let _ = driver.rollback();
                return Err(failed(migration, Cleanup::GroupRolledBack, source));
            }
            applied.push(done(migration, start.elapsed()));
        }
        for migration in pending {
            versions.insert(migration.version());
        }
        let finished = sql
            .set_schema_version(driver, versions.highest())
            .and_then(|()| driver.commit());
        if let Err(source) = finished {
            let _ = driver.rollback();
            return Err(failed(last, Cleanup::GroupRolledBack, source));
        }
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
        let (mut driver, table, sql) = open(self.migrations, db)?;
        self.with_history(&mut driver, &table, &sql, |driver, rows| {
            let checked = plan::check(self.migrations, &rows, self.rules)?;
            let revert = plan::to_revert(self.migrations, &checked, version)?;
            let mut versions = AppliedVersions::from_checked(&checked, self.migrations);
            let mut report = Report {
                future_versions: checked.future.clone(),
                ..Report::default()
            };
            for migration in revert {
                let Some(down) = migration.down() else {
                    continue; // to_revert checked every one has a down step
                };
                let start = Instant::now();
                let below = versions.remove(migration.version());
                if down.transactional() {
                    driver.begin()?;
                    let result = run_step(driver, down)
                        .and_then(|()| sql.delete(driver, migration.version()))
                        .and_then(|()| sql.set_schema_version(driver, below))
                        .and_then(|()| driver.commit());
                    if let Err(source) = result {
                        let _ = driver.rollback();
                        return Err(failed(migration, Cleanup::RolledBack, source));
                    }
                } else {
                    // The row says "unfinished" while the step runs outside a transaction.
                    sql.unfinish(driver, migration.version())?;
                    run_step(driver, down)
                        .and_then(|()| sql.delete(driver, migration.version()))
                        .and_then(|()| sql.set_schema_version(driver, below))
                        .map_err(|source| failed(migration, Cleanup::LeftDirty, source))?;
                }
                let reverted = done(migration, start.elapsed());
                log_done("reverted", &reverted);
                self.report_progress(&reverted);
                report.reverted.push(reverted);
            }
            report.version = versions.highest_known();
            Ok(report)
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
        let rows = self.read_history(db)?;
        let checked = plan::check(self.migrations, &rows, self.rules)?;
        plan::pending(self.migrations, &checked, self.rules, None)
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
        let (mut driver, table, sql) = open(self.migrations, db)?;
        self.with_history(&mut driver, &table, &sql, |driver, rows| {
            if !rows.is_empty() {
                return Err(Error::HistoryNotEmpty {
                    table: table.to_string(),
                    rows: rows.len(),
                });
            }
            driver.begin()?;
            let result = self
                .migrations
                .iter()
                .take_while(|m| m.version() <= version)
                .try_for_each(|m| sql.insert(driver, m, RowState::Applied, 0))
                .and_then(|()| sql.set_schema_version(driver, version))
                .and_then(|()| driver.commit());
            if let Err(e) = result {
                let _ = driver.rollback();
                return Err(e);
            }
            log::info!("baselined `{table}` at version {version}");
            Ok(Report {
                version,
                ..Report::default()
            })
        })
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
        let (mut driver, table, sql) = open(self.migrations, db)?;
        self.with_history(&mut driver, &table, &sql, |driver, rows| {
            let unfinished = rows
                .iter()
                .any(|r| r.version == version && r.state == RowState::InProgress);
            if !unfinished {
                return Err(Error::NothingToRepair { version });
            }
            let mut versions =
                AppliedVersions::new(rows.iter().map(|r| r.version), self.migrations);
            match how {
                Repair::Completed => sql.finish(driver, version, 0)?,
                Repair::Undone => {
                    sql.delete(driver, version)?;
                    versions.remove(version);
                }
            }
            sql.set_schema_version(driver, versions.highest())?;
            log::info!("repaired version {version} of `{table}`: {how:?}");
            Ok(Report {
                version: versions.highest_known(),
                ..Report::default()
            })
        })
    }

    /// The whole history, empty when the table does not exist yet.
    fn read_history<D: Database + ?Sized>(&self, db: &mut D) -> Result<Vec<HistoryRow>> {
        let (mut driver, _, sql) = open(self.migrations, db)?;
        match sql.read_all(&mut driver) {
            Err(e) if driver.is_missing_table(&e) => Ok(Vec::new()),
            other => other,
        }
    }
}

fn run_step<D: Driver>(driver: &mut D, step: &Step) -> Result<()> {
    match step {
        Step::Sql {
            sql,
            transactional: false,
        } => driver.batch_without_transaction(sql),
        _ => step.run(driver as &mut dyn Tx),
    }
}

fn failed(migration: &Migration, cleanup: Cleanup, source: Error) -> Error {
    let source: crate::error::BoxError = match source {
        // A Rust migration's own error, or the driver's, is the cause itself.
        Error::Driver(e) | Error::Other(e) => e,
        other => Box::new(other),
    };
    Error::Failed {
        version: migration.version(),
        name: migration.name().to_owned(),
        file: migration.file_name().to_owned(),
        cleanup,
        source,
    }
}

fn done(migration: &'static Migration, duration: Duration) -> Applied {
    Applied {
        version: migration.version(),
        name: migration.name(),
        file_name: migration.file_name(),
        duration,
    }
}

/// Applies one migration: in a transaction with its history row, or — for a
/// no-transaction migration — recorded as in progress first. `highest` is the
/// highest applied version once it is applied, for `PRAGMA user_version`.
fn apply_one<D: Driver>(
    driver: &mut D,
    sql: &HistorySql,
    migration: &'static Migration,
    highest: u64,
) -> Result<Applied> {
    let start = Instant::now();
    if migration.transactional() {
        driver.begin()?;
        let result = run_step(driver, migration.up())
            .and_then(|()| {
                sql.insert(
                    driver,
                    migration,
                    RowState::Applied,
                    millis(start.elapsed()),
                )
            })
            .and_then(|()| sql.set_schema_version(driver, highest))
            .and_then(|()| driver.commit());
        if let Err(source) = result {
            let _ = driver.rollback();
            return Err(failed(migration, Cleanup::RolledBack, source));
        }
    } else {
        sql.insert(driver, migration, RowState::InProgress, 0)?;
        run_step(driver, migration.up())
            .and_then(|()| sql.finish(driver, migration.version(), millis(start.elapsed())))
            .and_then(|()| sql.set_schema_version(driver, highest))
            .map_err(|source| failed(migration, Cleanup::LeftDirty, source))?;
    }
    let applied = done(migration, start.elapsed());
    log_done("applied", &applied);
    Ok(applied)
}

#[cfg(test)]
mod tests {
    //! The runtime's choreography against a recording driver: which
    //! statements and locks each path takes.

    use super::*;
    use crate::plan::tests::SET;
    use crate::tx::{Dialect, Value};

    /// Answers the boot check with `head`, records every call.
    #[derive(Default)]
    struct Recorder {
        head: Vec<Vec<Option<String>>>,
        calls: Vec<String>,
    }

    struct Recording<'r>(&'r mut Recorder);

    impl Database for Recorder {
        type Driver<'c> = Recording<'c>;
        fn driver(&mut self) -> Recording<'_> {
            Recording(self)
        }
    }

    impl Tx for Recording<'_> {
        fn execute(&mut self, sql: &str, _: &[Value]) -> Result<u64> {
            self.0.calls.push(format!(
                "execute {}",
                sql.split_whitespace().next().unwrap_or("")
            ));
            Ok(1)
        }
        fn batch(&mut self, sql: &str) -> Result<()> {
            self.0.calls.push(format!(
                "batch {}",
                sql.split_whitespace().next().unwrap_or("")
            ));
            Ok(())
        }
        fn query(&mut self, _: &str, _: &[Value]) -> Result<Vec<Vec<Value>>> {
            self.0.calls.push("query".into());
            Ok(Vec::new())
        }
        fn dialect(&self) -> Dialect {
            Dialect::Postgres
        }
    }

    impl Driver for Recording<'_> {
        fn begin(&mut self) -> Result<()> {
            self.0.calls.push("begin".into());
            Ok(())
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
        fn is_missing_table(&self, _: &Error) -> bool {
            false
        }
        fn query_text(&mut self, _: &str) -> Result<Vec<Vec<Option<String>>>> {
            self.0.calls.push("query_text".into());
            Ok(self.0.head.clone())
        }
    }

    fn head(version: &str, chain: &str) -> Vec<Vec<Option<String>>> {
        vec![vec![
            Some(version.into()),
            Some(chain.into()),
            Some("applied".into()),
        ]]
    }

    #[test]
    fn boot_with_nothing_pending_is_one_statement_and_no_lock() {
        let mut db = Recorder {
            head: head("3", "h3"),
            ..Recorder::default()
        };
        let report = SET.run_pending(&mut db).unwrap();
        assert!(report.applied.is_empty());
        assert_eq!(report.version, 3);
        assert_eq!(db.calls, ["query_text"]);
    }

    #[test]
    fn a_different_chain_or_version_takes_the_slow_path_under_the_lock() {
        for (version, chain) in [("3", "edited"), ("2", "h2")] {
            let mut db = Recorder {
                head: head(version, chain),
                ..Recorder::default()
            };
            // The recorder's history reads back empty, so all three apply.
            let report = SET.run_pending(&mut db).unwrap();
            assert_eq!(report.applied.len(), 3);
            assert_eq!(db.calls[..3], ["query_text", "lock", "batch CREATE"]);
            assert_eq!(db.calls.last().map(String::as_str), Some("unlock"));
            let per_migration = ["begin", "batch SELECT", "execute INSERT", "commit"];
            assert_eq!(db.calls[4..8], per_migration, "{:?}", db.calls);
        }
    }

    #[test]
    fn progress_is_reported_once_per_migration_in_both_modes() {
        for grouped in [false, true] {
            let mut db = Recorder::default();
            let seen = std::cell::RefCell::new(Vec::new());
            let record = |a: &Applied| seen.borrow_mut().push(a.version);
            SET.runner()
                .grouped(grouped)
                .on_progress(&record)
                .run_pending(&mut db)
                .unwrap();
            assert_eq!(*seen.borrow(), [1, 2, 3], "grouped: {grouped}");
        }
    }

    #[test]
    fn an_unfinished_row_is_never_current() {
        let mut rows = head("3", "h3");
        rows.push(vec![
            Some("2".into()),
            Some("h2".into()),
            Some("in_progress".into()),
        ]);
        let mut db = Recorder {
            head: rows,
            ..Recorder::default()
        };
        SET.run_pending(&mut db).unwrap();
        assert!(db.calls.contains(&"lock".to_owned()));
    }
}
