//! The runtime's behaviour, written once and run on every database: each
//! scenario is generic over a [`Backend`] (a fresh SQLite file, a fresh
//! PostgreSQL database through the sync client, and through the async one)
//! and instantiated by `scenario_tests!` in `sqlite.rs`, `postgres.rs` and
//! `postgres_async.rs`. What only one database has (PRAGMA user_version,
//! advisory locks, server error positions) is tested there.
//!
//! Scenarios make the runtime calls through [`Calls`], so that one body runs
//! the sync API (`run_pending`) on one backend and the async twins
//! (`run_pending_async`, awaited) on another.

use migrate::audit::{Operation, Outcome};
use migrate::{
    Cleanup, Database, Error, LogEntry, Migration, MigrationStatus, Migrations, Repair, Report,
    Result, Runner, State, Tx, Value,
};

/// The runtime calls on one kind of connection.
pub trait Calls {
    fn run_pending(&mut self, runner: Runner<'_>) -> Result<Report>;
    fn run_to(&mut self, runner: Runner<'_>, version: u64) -> Result<Report>;
    fn rollback_to(&mut self, runner: Runner<'_>, version: u64) -> Result<Report>;
    fn rollback_steps(&mut self, runner: Runner<'_>, steps: u64) -> Result<Report>;
    fn status(&mut self, runner: Runner<'_>) -> Result<Vec<MigrationStatus>>;
    fn plan(&mut self, runner: Runner<'_>) -> Result<Vec<&'static Migration>>;
    fn plan_to(&mut self, runner: Runner<'_>, version: u64) -> Result<Vec<&'static Migration>>;
    fn plan_rollback(
        &mut self,
        runner: Runner<'_>,
        version: u64,
    ) -> Result<Vec<&'static Migration>>;
    fn baseline(&mut self, runner: Runner<'_>, version: u64) -> Result<Report>;
    fn repair(&mut self, runner: Runner<'_>, version: u64, how: Repair) -> Result<Report>;
    fn log(&mut self, runner: Runner<'_>) -> Result<Vec<LogEntry>>;
}

/// The sync API, on every connection the runtime takes.
impl<D: Database> Calls for D {
    fn run_pending(&mut self, runner: Runner<'_>) -> Result<Report> {
        runner.run_pending(self)
    }
    fn run_to(&mut self, runner: Runner<'_>, version: u64) -> Result<Report> {
        runner.run_to(self, version)
    }
    fn rollback_to(&mut self, runner: Runner<'_>, version: u64) -> Result<Report> {
        runner.rollback_to(self, version)
    }
    fn rollback_steps(&mut self, runner: Runner<'_>, steps: u64) -> Result<Report> {
        runner.rollback_steps(self, steps)
    }
    fn status(&mut self, runner: Runner<'_>) -> Result<Vec<MigrationStatus>> {
        runner.status(self)
    }
    fn plan(&mut self, runner: Runner<'_>) -> Result<Vec<&'static Migration>> {
        runner.plan(self)
    }
    fn plan_to(&mut self, runner: Runner<'_>, version: u64) -> Result<Vec<&'static Migration>> {
        runner.plan_to(self, version)
    }
    fn plan_rollback(
        &mut self,
        runner: Runner<'_>,
        version: u64,
    ) -> Result<Vec<&'static Migration>> {
        runner.plan_rollback(self, version)
    }
    fn baseline(&mut self, runner: Runner<'_>, version: u64) -> Result<Report> {
        runner.baseline(self, version)
    }
    fn repair(&mut self, runner: Runner<'_>, version: u64, how: Repair) -> Result<Report> {
        runner.repair(self, version, how)
    }
    fn log(&mut self, runner: Runner<'_>) -> Result<Vec<LogEntry>> {
        runner.log(self)
    }
}

/// A set, or a set with options.
pub trait AsRunner {
    fn as_runner(&self) -> Runner<'_>;
}

impl AsRunner for Migrations {
    fn as_runner(&self) -> Runner<'_> {
        self.runner()
    }
}

impl AsRunner for Runner<'_> {
    fn as_runner(&self) -> Runner<'_> {
        *self
    }
}

fn audit_log<C: Calls>(set: &impl AsRunner, conn: &mut C) -> Vec<LogEntry> {
    conn.log(set.as_runner()).unwrap()
}

fn run_pending<C: Calls>(set: &impl AsRunner, conn: &mut C) -> Result<Report> {
    conn.run_pending(set.as_runner())
}
fn run_to<C: Calls>(set: &impl AsRunner, conn: &mut C, version: u64) -> Result<Report> {
    conn.run_to(set.as_runner(), version)
}
fn rollback_to<C: Calls>(set: &impl AsRunner, conn: &mut C, version: u64) -> Result<Report> {
    conn.rollback_to(set.as_runner(), version)
}
fn rollback_steps<C: Calls>(set: &impl AsRunner, conn: &mut C, steps: u64) -> Result<Report> {
    conn.rollback_steps(set.as_runner(), steps)
}
fn status<C: Calls>(set: &impl AsRunner, conn: &mut C) -> Result<Vec<MigrationStatus>> {
    conn.status(set.as_runner())
}
fn plan<C: Calls>(set: &impl AsRunner, conn: &mut C) -> Result<Vec<&'static Migration>> {
    conn.plan(set.as_runner())
}
fn plan_to<C: Calls>(
    set: &impl AsRunner,
    conn: &mut C,
    version: u64,
) -> Result<Vec<&'static Migration>> {
    conn.plan_to(set.as_runner(), version)
}
fn plan_rollback<C: Calls>(
    set: &impl AsRunner,
    conn: &mut C,
    version: u64,
) -> Result<Vec<&'static Migration>> {
    conn.plan_rollback(set.as_runner(), version)
}
fn baseline<C: Calls>(set: &impl AsRunner, conn: &mut C, version: u64) -> Result<Report> {
    conn.baseline(set.as_runner(), version)
}
fn repair<C: Calls>(
    set: &impl AsRunner,
    conn: &mut C,
    version: u64,
    how: Repair,
) -> Result<Report> {
    conn.repair(set.as_runner(), version, how)
}

use crate::sets::*;

/// A fresh, empty database of one kind, with the few queries tests need.
pub trait Backend: Sized {
    type Conn: Calls;
    /// `None` when this database is not available here (and that is allowed).
    fn fresh() -> Option<Self>;
    fn conn(&mut self) -> &mut Self::Conn;
    /// A new connection to the same database: a reboot.
    fn reconnect(&mut self);
    fn versions(&mut self, table: &str) -> Vec<u64>;
    fn table_exists(&mut self, name: &str) -> bool;
    fn exec(&mut self, sql: &str);
    fn item_names(&mut self) -> Vec<String>;
    /// Another connection to the same database: a second process.
    fn other(&self) -> Self::Conn;
    /// A connection that may read but not write (a read replica).
    fn read_only(&self) -> Self::Conn;
    /// Runs `sql` on `conn`, panicking on failure or when the connection
    /// is left inside a transaction: the connection works.
    fn exec_on(conn: &mut Self::Conn, sql: &str);
    /// Where the database is (a path or URL), for a child process.
    fn location(&self) -> String;
    /// Opens a connection to `location`.
    fn connect(location: &str) -> Self::Conn;
    /// How this database says `no_such_table` does not exist.
    const MISSING_TABLE: &'static str;
}

const HISTORY: &str = "migrate_schema_history";

/// `err` is `Failed` for `version`, with `cleanup`.
#[track_caller]
pub fn assert_failed(err: &Error, version: u64, cleanup: Cleanup) {
    assert!(
        matches!(err, Error::Failed { version: v, cleanup: c, .. } if *v == version && *c == cleanup),
        "expected migration {version} to fail with {cleanup:?}, got: {err}"
    );
}

fn versions_of(report: &migrate::Report) -> Vec<u64> {
    report.applied.iter().map(|a| a.version).collect()
}

pub fn applies_everything_in_order_then_nothing<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    let report = run_pending(&V2, db.conn()).unwrap();
    assert_eq!(versions_of(&report), [1, 2, 3, 4, 5]);
    assert_eq!(report.applied[2].file_name, "0003_seed_items.rs");
    assert_eq!(report.version, 5);
    assert_eq!(db.versions(HISTORY), [1, 2, 3, 4, 5]);
    // The Rust migration ran through Tx with $N placeholders.
    assert_eq!(db.item_names(), ["widget", "gadget"]);
    db.reconnect();
    let again = run_pending(&V2, db.conn()).unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.version, 5);
}

pub fn upgrading_applies_only_the_new_migrations<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    run_pending(&V1, db.conn()).unwrap();
    assert_eq!(versions_of(&run_pending(&V2, db.conn()).unwrap()), [4, 5]);
}

pub fn run_to_status_and_plan<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    assert!(status(&V2, db.conn())
        .unwrap()
        .iter()
        .all(|s| s.state == State::Pending));
    assert_eq!(plan(&V2, db.conn()).unwrap().len(), 5);
    assert!(
        !db.table_exists(HISTORY),
        "looking created the history table"
    );

    assert_eq!(run_to(&V2, db.conn(), 3).unwrap().applied.len(), 3);
    let plan: Vec<u64> = plan(&V2, db.conn())
        .unwrap()
        .iter()
        .map(|m| m.version())
        .collect();
    assert_eq!(plan, [4, 5]);
    assert!(!db.table_exists("orders"), "plan applied something");
    let statuses = status(&V2, db.conn()).unwrap();
    let states: Vec<State> = statuses.iter().map(|s| s.state).collect();
    assert_eq!(
        states,
        [
            State::Applied,
            State::Applied,
            State::Applied,
            State::Pending,
            State::Pending
        ]
    );
    assert!(statuses[0].applied_at.is_some());
    assert_eq!(statuses[0].file_name, Some("0001_create_items.sql"));
    assert!(matches!(
        run_to(&V2, db.conn(), 9),
        Err(Error::UnknownVersion {
            version: 9,
            latest_known: 5
        })
    ));

    // An older binary sees the newer versions as future; an edited one as changed.
    run_pending(&V2, db.conn()).unwrap();
    let states: Vec<State> = status(&V1, db.conn())
        .unwrap()
        .iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(
        states,
        [
            State::Applied,
            State::Applied,
            State::Applied,
            State::Future,
            State::Future
        ]
    );
    assert_eq!(status(&EDITED, db.conn()).unwrap()[1].state, State::Changed);
}

pub fn rollback_to_reverts_newest_first<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    run_pending(&V2, db.conn()).unwrap();
    let report = rollback_to(&V2, db.conn(), 2).unwrap();
    let reverted: Vec<u64> = report.reverted.iter().map(|a| a.version).collect();
    assert_eq!(reverted, [5, 4, 3]);
    assert_eq!(report.version, 2);
    assert_eq!(db.versions(HISTORY), [1, 2]);
    assert!(!db.table_exists("orders"));
    // The Rust down step ran: the seeded rows are gone.
    assert!(db.item_names().is_empty());
    assert_eq!(run_pending(&V2, db.conn()).unwrap().applied.len(), 3);
    rollback_to(&V2, db.conn(), 0).unwrap();
    assert!(db.versions(HISTORY).is_empty());
    assert!(!db.table_exists("items"));
}

pub fn rollback_steps_reverts_the_newest_applied<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    run_pending(&V2, db.conn()).unwrap();
    // Undo the last migration, without looking up its version.
    let report = rollback_steps(&V2, db.conn(), 1).unwrap();
    let reverted: Vec<u64> = report.reverted.iter().map(|a| a.version).collect();
    assert_eq!(reverted, [5]);
    assert_eq!(report.version, 4);
    let report = rollback_steps(&V2, db.conn(), 2).unwrap();
    let reverted: Vec<u64> = report.reverted.iter().map(|a| a.version).collect();
    assert_eq!(reverted, [4, 3]);
    assert_eq!(db.versions(HISTORY), [1, 2]);
    // More than are applied: refused, nothing reverted.
    let err = rollback_steps(&V2, db.conn(), 3).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooFewApplied {
                steps: 3,
                applied: 2
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("only 2 applied"), "{err}");
    assert_eq!(db.versions(HISTORY), [1, 2]);
    assert!(rollback_steps(&V2, db.conn(), 0)
        .unwrap()
        .reverted
        .is_empty());
    rollback_steps(&V2, db.conn(), 2).unwrap();
    assert!(db.versions(HISTORY).is_empty());
    // A step without a down: refused before anything is reverted.
    run_pending(&IRREVERSIBLE, db.conn()).unwrap();
    let err = rollback_steps(&IRREVERSIBLE, db.conn(), 2).unwrap_err();
    assert!(
        matches!(err, Error::Irreversible { version: 2, .. }),
        "{err}"
    );
    assert_eq!(db.versions(HISTORY), [1, 2, 3]);
}

pub fn rollback_without_a_down_changes_nothing<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    run_pending(&IRREVERSIBLE, db.conn()).unwrap();
    let err = rollback_to(&IRREVERSIBLE, db.conn(), 0).unwrap_err();
    assert!(
        matches!(err, Error::Irreversible { version: 2, .. }),
        "{err}"
    );
    // Version 3 had a down step, but nothing was reverted.
    assert_eq!(db.versions(HISTORY), [1, 2, 3]);
    assert!(db.table_exists("tags"));
    rollback_to(&IRREVERSIBLE, db.conn(), 2).unwrap();
    assert_eq!(db.versions(HISTORY), [1, 2]);
}

pub fn a_failing_migration_leaves_no_trace_and_earlier_ones_stay<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    let err = run_pending(&FAILING, db.conn()).unwrap_err();
    match &err {
        Error::Failed {
            version,
            name,
            file,
            cleanup,
            ..
        } => {
            assert_eq!(
                (*version, name.as_str(), file.as_str()),
                (3, "broken", "0003_broken.sql")
            );
            assert_eq!(*cleanup, Cleanup::RolledBack);
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.starts_with("migration 3 (`0003_broken.sql`) failed and was rolled back: "),
        "{message}"
    );
    assert!(message.contains(B::MISSING_TABLE), "{message}");
    assert!(std::error::Error::source(&err).is_some());
    // Its first statement left nothing behind; 1 and 2 stay applied.
    assert!(!db.table_exists("half_done"));
    assert_eq!(db.versions(HISTORY), [1, 2]);
    // The fixed binary continues from there.
    assert_eq!(run_pending(&FIXED, db.conn()).unwrap().applied.len(), 1);
    assert!(db.table_exists("half_done"));
}

pub fn a_rust_migration_returning_err_is_rolled_back<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    let err = run_pending(&RUST_FAILS, db.conn()).unwrap_err();
    assert_failed(&err, 2, Cleanup::RolledBack);
    assert_eq!(
        err.to_string(),
        "migration 2 (`0002_check_items.rs`) failed and was rolled back: items must not be \
         empty; fix the migration and run again (earlier migrations stay applied)"
    );
    assert!(!db.table_exists("audit"));
    assert_eq!(db.versions(HISTORY), [1]);
}

pub fn an_edited_migration_is_refused_before_anything_is_applied<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    run_to(&V1, db.conn(), 2).unwrap();
    let err = run_pending(&EDITED, db.conn()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ChecksumMismatch {
                version: 2,
                whitespace_only: false,
                ..
            }
        ),
        "{err}"
    );
    assert!(err
        .to_string()
        .starts_with("migration 2 (`0002_add_price.sql`) was changed after it was applied"));
    assert!(!err.to_string().contains("only whitespace"));
    // Version 3 was pending, and was not applied.
    assert_eq!(db.versions(HISTORY), [1, 2]);
    let err = run_pending(&WHITESPACE, db.conn()).unwrap_err();
    assert!(matches!(
        err,
        Error::ChecksumMismatch {
            version: 2,
            whitespace_only: true,
            ..
        }
    ));
    assert!(
        err.to_string().contains("(only whitespace differs)"),
        "{err}"
    );
}

pub fn future_versions_are_tolerated_unless_strict<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    run_pending(&V2, db.conn()).unwrap();
    // An older binary boots during a rollback deploy.
    let report = run_pending(&V1, db.conn()).unwrap();
    assert!(report.applied.is_empty());
    assert_eq!(report.future_versions, [4, 5]);
    let err = run_pending(&V1.runner().strict(true), db.conn()).unwrap_err();
    assert!(
        matches!(&err, Error::FutureVersions { versions, latest_known: 3 } if versions == &[4, 5])
    );
}

pub fn out_of_order_is_refused_unless_allowed<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    run_to(&V2, db.conn(), 4).unwrap();
    // A hole below the highest applied version, as a hand-edited history
    // leaves: the rows above it prove version 2 was applied, so no option
    // may apply it again (the issue: "allow out-of-order" advice would).
    db.exec("DELETE FROM migrate_schema_history WHERE version = 2");
    for allow in [false, true] {
        let err = run_pending(&V2.runner().allow_out_of_order(allow), db.conn()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::MissingHistoryRow {
                    version: 2,
                    covered_by: 4,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("deleted by hand"), "{err}");
    }
    // A hole the rows above do not cover (they were recorded by a binary
    // whose chain differs) is a late migration: out of order.
    db.exec("ALTER TABLE items DROP COLUMN price");
    db.exec("UPDATE migrate_schema_history SET chained_checksum = 'other' WHERE version > 2");
    assert_eq!(status(&V2, db.conn()).unwrap()[1].state, State::Pending);
    let err = run_pending(&V2, db.conn()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::OutOfOrder {
                version: 2,
                highest_applied: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        plan(&V2, db.conn()),
        Err(Error::OutOfOrder { .. })
    ));
    assert_eq!(db.versions(HISTORY), [1, 3, 4], "nothing may be applied");
    let report = run_pending(&V2.runner().allow_out_of_order(true), db.conn()).unwrap();
    assert_eq!(versions_of(&report), [2, 5]);
    assert_eq!(db.versions(HISTORY), [1, 2, 3, 4, 5]);
}

pub fn no_transaction_migrations_run_outside_a_transaction<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    // VACUUM fails inside a transaction on both databases.
    assert_eq!(run_pending(&NO_TX, db.conn()).unwrap().applied.len(), 2);
    let status = status(&NO_TX, db.conn()).unwrap();
    assert_eq!(status[1].state, State::Applied);
}

pub fn a_failed_no_transaction_migration_is_dirty_until_repaired<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    let err = run_pending(&NO_TX_FAILS, db.conn()).unwrap_err();
    assert_failed(&err, 2, Cleanup::LeftDirty);
    assert!(err.to_string().contains("marked dirty"), "{err}");
    // Its first statement stayed: that is what dirty means.
    assert!(db.table_exists("half"));

    // Every later run stops, naming the version, until repaired.
    db.reconnect();
    let err = run_pending(&NO_TX_FAILS, db.conn()).unwrap_err();
    assert!(matches!(err, Error::Dirty { version: 2, .. }), "{err}");
    assert!(
        err.to_string()
            .contains("`migrate repair 2 completed` or `undone`"),
        "{err}"
    );
    assert!(!db.table_exists("after_half"));
    assert_eq!(
        status(&NO_TX_FAILS, db.conn()).unwrap()[1].state,
        State::Dirty
    );

    // Undone by hand and marked so: it runs (and fails) again.
    assert!(matches!(
        repair(&NO_TX_FAILS, db.conn(), 1, Repair::Undone),
        Err(Error::NothingToRepair { version: 1 })
    ));
    db.exec("DROP TABLE half");
    repair(&NO_TX_FAILS, db.conn(), 2, Repair::Undone).unwrap();
    assert!(matches!(
        run_pending(&NO_TX_FAILS, db.conn()),
        Err(Error::Failed { version: 2, .. })
    ));

    // Finished by hand and marked completed: the run continues after it.
    db.exec("CREATE TABLE missing (id INTEGER)");
    repair(&NO_TX_FAILS, db.conn(), 2, Repair::Completed).unwrap();
    assert_eq!(
        versions_of(&run_pending(&NO_TX_FAILS, db.conn()).unwrap()),
        [3]
    );
}

pub fn a_failed_no_transaction_down_step_is_dirty_too<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    run_pending(&NO_TX_DOWN_FAILS, db.conn()).unwrap();
    let err = rollback_to(&NO_TX_DOWN_FAILS, db.conn(), 1).unwrap_err();
    assert_failed(&err, 2, Cleanup::LeftDirty);
    // Its first statement ran: the row stays, marked unfinished, not deleted.
    assert!(!db.table_exists("extra"));
    assert_eq!(db.versions(HISTORY), [1, 2]);
    assert_eq!(
        status(&NO_TX_DOWN_FAILS, db.conn()).unwrap()[1].state,
        State::Reverting
    );
    // Both messages name the down file that failed.
    assert!(
        err.to_string().contains("`0002_add_extra.down.sql`"),
        "{err}"
    );
    db.reconnect();
    let dirty = run_pending(&NO_TX_DOWN_FAILS, db.conn()).unwrap_err();
    assert!(
        matches!(&dirty, Error::Dirty { version: 2, file, .. } if file == "0002_add_extra.down.sql"),
        "{dirty}"
    );
    // Issue: "completed" after a failed down step recorded the migration as
    // applied. Completing a revert by hand means the row goes.
    repair(&NO_TX_DOWN_FAILS, db.conn(), 2, Repair::Completed).unwrap();
    assert_eq!(db.versions(HISTORY), [1]);
    // And undoing a revert (putting the change back) keeps it applied.
    run_pending(&NO_TX_DOWN_FAILS, db.conn()).unwrap();
    rollback_to(&NO_TX_DOWN_FAILS, db.conn(), 1).unwrap_err();
    db.exec("CREATE TABLE extra (id INTEGER)");
    repair(&NO_TX_DOWN_FAILS, db.conn(), 2, Repair::Undone).unwrap();
    assert_eq!(db.versions(HISTORY), [1, 2]);
    assert_eq!(
        status(&NO_TX_DOWN_FAILS, db.conn()).unwrap()[1].state,
        State::Applied
    );
}

/// What a Rust migration relies on: the same `$N` SQL and values on every
/// database, placeholders bound by number in any order, counts checked.
pub fn values_cross_the_tx_boundary_both_ways<B: Backend<Conn: Database>>() {
    let Some(mut db) = B::fresh() else { return };
    let mut tx = db.conn().driver();
    let bytes = match tx.dialect() {
        migrate::Dialect::Postgres => "BYTEA",
        _ => "BLOB",
    };
    tx.batch(&format!(
        "CREATE TABLE v (i BIGINT, r DOUBLE PRECISION, t TEXT, b {bytes}, n TEXT)"
    ))
    .unwrap();
    let written = tx
        .execute(
            "INSERT INTO v (t, i, r, b, n) VALUES ($2, $1, $3, $4, $5)",
            &[
                7.into(),
                "seven".into(),
                0.5.into(),
                vec![0u8, 255].into(),
                Value::Null,
            ],
        )
        .unwrap();
    assert_eq!(written, 1);
    let rows = tx
        .query(
            "SELECT i, r, t, b, n FROM v WHERE i = $1 AND t = $2",
            &[7.into(), "seven".into()],
        )
        .unwrap();
    assert_eq!(
        rows,
        [vec![
            Value::Integer(7),
            Value::Real(0.5),
            Value::Text("seven".into()),
            Value::Blob(vec![0, 255]),
            Value::Null,
        ]]
    );
    // A value short or a value over is an error, never a silent NULL.
    assert!(tx
        .execute("INSERT INTO v (i, t) VALUES ($1, $2)", &[1.into()])
        .is_err());
    assert!(tx
        .execute("INSERT INTO v (i) VALUES ($1)", &[1.into(), 2.into()])
        .is_err());
    assert_eq!(
        tx.query("SELECT count(*) FROM v", &[]).unwrap(),
        [vec![Value::Integer(1)]]
    );
}

pub fn grouped_mode_is_all_or_nothing<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    let err = run_pending(&FAILING.runner().grouped(true), db.conn()).unwrap_err();
    assert_failed(&err, 3, Cleanup::GroupRolledBack);
    assert!(!db.table_exists("items"));
    assert!(db.versions(HISTORY).is_empty());
    assert_eq!(
        run_pending(&V2.runner().grouped(true), db.conn())
            .unwrap()
            .applied
            .len(),
        5
    );
    assert_eq!(db.versions(HISTORY), [1, 2, 3, 4, 5]);

    let Some(mut other) = B::fresh() else { return };
    let err = run_pending(&NO_TX.runner().grouped(true), other.conn()).unwrap_err();
    assert!(
        matches!(err, Error::NoTransactionInGroup { version: 2, .. }),
        "{err}"
    );
}

pub fn baseline_adopts_an_existing_database_once<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER NOT NULL DEFAULT 0)");
    assert_eq!(baseline(&V2, db.conn(), 2).unwrap().version, 2);
    assert_eq!(db.versions(HISTORY), [1, 2]);
    let err = baseline(&V2, db.conn(), 2).unwrap_err();
    assert!(
        matches!(err, Error::HistoryNotEmpty { rows: 2, .. }),
        "{err}"
    );
    assert_eq!(run_pending(&V2, db.conn()).unwrap().applied.len(), 3);
    let Some(mut other) = B::fresh() else { return };
    assert!(matches!(
        baseline(&V2, other.conn(), 6),
        Err(Error::UnknownVersion { .. })
    ));
}

pub fn independent_sets_keep_independent_histories<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    run_pending(&V1, db.conn()).unwrap();
    run_pending(&PLUGIN, db.conn()).unwrap();
    assert_eq!(db.versions(HISTORY), [1, 2, 3]);
    assert_eq!(db.versions("billing_schema_history"), [1, 2]);
    // Neither sees the other's rows as future versions.
    assert!(run_pending(&V1, db.conn())
        .unwrap()
        .future_versions
        .is_empty());
    assert!(run_pending(&PLUGIN, db.conn())
        .unwrap()
        .future_versions
        .is_empty());
}

/// One `#[test]` per scenario, for one backend.
/// Issue: a panicking Rust migration was applied twice on retry, and the
/// lock leaked. Now: rolled back, reported as `Failed`, lock released, and
/// the same connection retries cleanly.
pub fn a_panicking_migration_is_rolled_back_and_the_connection_stays_usable<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    let err = run_pending(&RUST_PANICS, db.conn()).unwrap_err();
    assert_failed(&err, 2, Cleanup::RolledBack);
    assert!(
        err.to_string().starts_with(
            "migration 2 (`0002_insert_then_panic.rs`) failed and was rolled back: panicked: \
             boom in the middle of migration 2"
        ),
        "{err}"
    );
    // Nothing of migration 2 stayed; the lock is free for another process.
    let mut other = db.other();
    let plan = plan(&RUST_PANICS, &mut other).unwrap();
    assert_eq!(plan.len(), 1);
    B::exec_on(&mut other, "SELECT 1");
    assert!(db.item_names().is_empty());
    // The same connection retries, and the migration runs exactly once.
    let report = run_pending(
        &RUST_PANICS
            .runner()
            .lock_timeout(std::time::Duration::from_secs(5)),
        db.conn(),
    )
    .unwrap();
    assert_eq!(versions_of(&report), [2]);
    assert_eq!(db.item_names(), ["one", "two", "three"]);
    assert_eq!(db.versions(HISTORY), [1, 2]);
    db.reconnect();
    assert_eq!(db.item_names(), ["one", "two", "three"]);
}

/// A Rust migration cannot end the transaction it runs in through `Tx`.
pub fn transaction_control_passed_to_tx_is_refused<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    let err = run_pending(&RUST_COMMITS, db.conn()).unwrap_err();
    assert!(
        err.to_string().contains(
            "`COMMIT` (line 2 of the SQL passed to `Tx`) is transaction control, but this \
             migration already runs in a transaction"
        ),
        "{err}"
    );
    db.reconnect();
    assert!(
        !db.table_exists("audit"),
        "the migration's work was committed"
    );
    assert_eq!(db.versions(HISTORY), [1]);
}

/// Issue: a failed no-transaction migration that opened its own
/// transaction left the connection inside it (SQLite: later writes lost at
/// close; PostgreSQL: aborted, lock held, others timing out).
pub fn a_no_transaction_migration_failing_inside_its_own_transaction_leaves_a_usable_connection<
    B: Backend,
>() {
    let Some(mut db) = B::fresh() else { return };
    let err = run_pending(&NO_TX_OWN_TX_FAILS, db.conn()).unwrap_err();
    assert_failed(&err, 2, Cleanup::LeftDirty);
    // Another process sees the dirty state, not a lock timeout.
    let mut other = db.other();
    let err = run_pending(
        &NO_TX_OWN_TX_FAILS
            .runner()
            .lock_timeout(std::time::Duration::from_secs(2)),
        &mut other,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Dirty { version: 2, .. }), "{err}");
    // The same connection repairs, and the app's own writes on it are kept.
    repair(&NO_TX_OWN_TX_FAILS, db.conn(), 2, Repair::Undone).unwrap();
    db.exec("INSERT INTO items (id, name) VALUES (7, 'kept')");
    db.reconnect();
    assert_eq!(db.item_names(), ["kept"]);
    assert_eq!(db.versions(HISTORY), [1]);
}

/// Issue: an older binary booting on a read replica (versions newer than
/// it) failed creating the history table; on a writable database it took
/// the lock on every boot. Now: one read, nothing written, no lock.
pub fn a_read_only_boot_with_nothing_pending_writes_nothing<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    run_pending(&V2, db.conn()).unwrap();
    let mut replica = db.read_only();
    let report = run_pending(&V1.runner(), &mut replica).unwrap();
    assert!(report.applied.is_empty());
    assert_eq!(report.future_versions, [4, 5]);
    assert_eq!(report.version, 3);
    let report = run_pending(&V2, &mut replica).unwrap();
    assert_eq!((report.version, report.future_versions.len()), (5, 0));
    // Status and plan read too.
    assert_eq!(status(&V1, &mut replica).unwrap().len(), 5);
    assert!(plan(&V1, &mut replica).unwrap().is_empty());
    // Strict mode still refuses, naming the versions.
    let err = run_pending(&V1.runner().strict(true), &mut replica).unwrap_err();
    assert!(
        matches!(&err, Error::FutureVersions { versions, latest_known: 3 } if versions == &[4, 5]),
        "{err}"
    );
}

/// Issue: the library's own statement failing on a read-only connection was
/// blamed on the migration ("fix the migration"). Whichever statement the
/// database refuses first (PostgreSQL: creating the history table; SQLite,
/// which has it: the migration's first write; MySQL: the record of a schema
/// change in progress), the run says the database is read-only and names
/// what it would have applied.
pub fn a_read_only_connection_with_something_pending_blames_the_connection<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    run_pending(&V1, db.conn()).unwrap();
    let mut replica = db.read_only();
    let err = run_pending(&V2, &mut replica).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, Error::ReadOnly { versions, .. } if versions == &[4, 5]),
        "{err:?}"
    );
    assert!(
        message.starts_with("the database is read-only (a replica?)"),
        "{message}"
    );
    assert!(message.contains("Migrate the primary first"), "{message}");
    assert!(!message.contains("fix the migration"), "{message}");
    assert_eq!(db.versions(HISTORY), [1, 2, 3]);
}

/// Issue: another tool's history table under the configured name gave
/// "column chained_checksum does not exist", no word of the table being foreign.
pub fn another_tools_table_under_the_same_name_is_named_as_such<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    // refinery's shape.
    db.exec(
        "CREATE TABLE migrate_schema_history (version INTEGER PRIMARY KEY, name TEXT, \
         applied_on TEXT, checksum TEXT)",
    );
    for result in [
        run_pending(&V1, db.conn()).map(drop),
        status(&V1, db.conn()).map(drop),
    ] {
        let err = result.unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::History { .. }), "{message}");
        assert!(
            message.contains("exists but was not created by migrate"),
            "{message}"
        );
    }
    assert!(!db.table_exists("items"));
}

/// Issue: a version-0 row showed as "future", and a garbage checksum was
/// reported as "only whitespace differs".
pub fn damaged_history_rows_are_damage_not_edits_or_future_versions<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    run_pending(&V1, db.conn()).unwrap();
    db.exec("UPDATE migrate_schema_history SET checksum = 'garbage' WHERE version = 2");
    let err = status(&V1, db.conn()).unwrap_err().to_string();
    assert!(
        err.contains(
            "column `checksum` should hold a SHA-256 checksum (64 hex digits) but holds 'garbage'"
        ),
        "{err}"
    );
    assert!(!err.contains("whitespace"), "{err}");
    // Valid again (if wrong), then a row no migrate ever writes.
    db.exec("UPDATE migrate_schema_history SET checksum = loose_checksum WHERE version = 2");
    db.exec(
        "INSERT INTO migrate_schema_history SELECT 0, name, kind, checksum, loose_checksum, \
         chained_checksum, state, applied_at, execution_ms FROM migrate_schema_history \
         WHERE version = 1",
    );
    let err = status(&V1, db.conn()).unwrap_err().to_string();
    assert!(
        err.contains("column `version` should hold a version from 1 but holds 0"),
        "{err}"
    );
}

/// What `run_to` and `rollback_to` would do, asked without doing it (the
/// CLI's `up --to` and `down --to` ask first).
pub fn plans_say_what_run_to_and_rollback_to_would_do<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    let versions =
        |list: Vec<&migrate::Migration>| -> Vec<u64> { list.iter().map(|m| m.version()).collect() };
    assert_eq!(
        versions(plan_to(&V1.runner(), db.conn(), 2).unwrap()),
        [1, 2]
    );
    run_pending(&V1, db.conn()).unwrap();
    assert_eq!(versions(plan_rollback(&V1, db.conn(), 1).unwrap()), [3, 2]);
    assert_eq!(
        db.versions(HISTORY),
        [1, 2, 3],
        "planning changed something"
    );
    let Some(mut other) = B::fresh() else { return };
    run_pending(&IRREVERSIBLE, other.conn()).unwrap();
    assert!(matches!(
        plan_rollback(&IRREVERSIBLE, other.conn(), 0),
        Err(Error::Irreversible { .. })
    ));
}

/// Adversarial review: a no-transaction migration that left its own
/// transaction open was reported applied, and the application's later
/// writes on that connection were lost when it closed.
pub fn a_no_transaction_migration_that_leaves_its_transaction_open_fails<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    let err = run_pending(&NO_TX_LEFT_OPEN, db.conn()).unwrap_err();
    assert!(
        err.to_string()
            .contains("left a transaction of its own open"),
        "{err}"
    );
    // The connection is outside any transaction: the app's writes are kept.
    B::exec_on(db.conn(), "INSERT INTO items (id, name) VALUES (1, 'kept')");
    db.reconnect();
    assert_eq!(db.item_names(), ["kept"]);
    assert!(matches!(
        run_pending(&NO_TX_LEFT_OPEN, db.conn()),
        Err(Error::Dirty { version: 2, .. })
    ));
}

macro_rules! scenario_tests {
    // A backend with a sync `Database` connection: every scenario, and the
    // driver's own `Tx` used directly.
    ($backend:ty) => {
        scenario_tests!(@each $backend; values_cross_the_tx_boundary_both_ways, verify_reversible_proves_each_down,);
        scenario_tests!(async $backend);
    };
    // A database whose schema changes commit themselves (MySQL): the
    // scenarios whose fixtures mean the same there. The others (a failing
    // schema change is left dirty, not rolled back; a Rust migration may
    // not change the schema; no grouped schema changes) are stated in
    // `mysql.rs`.
    (without_transactional_ddl $backend:ty) => {
        scenario_tests!(@each $backend;
            values_cross_the_tx_boundary_both_ways,
            applies_everything_in_order_then_nothing,
            upgrading_applies_only_the_new_migrations,
            run_to_status_and_plan,
            rollback_without_a_down_changes_nothing,
            an_edited_migration_is_refused_before_anything_is_applied,
            future_versions_are_tolerated_unless_strict,
            out_of_order_is_refused_unless_allowed,
            a_failed_no_transaction_migration_is_dirty_until_repaired,
            a_failed_no_transaction_down_step_is_dirty_too,
            baseline_adopts_an_existing_database_once,
            independent_sets_keep_independent_histories,
            a_panicking_migration_is_rolled_back_and_the_connection_stays_usable,
            a_no_transaction_migration_failing_inside_its_own_transaction_leaves_a_usable_connection,
            a_read_only_boot_with_nothing_pending_writes_nothing,
            a_read_only_connection_with_something_pending_blames_the_connection,
            another_tools_table_under_the_same_name_is_named_as_such,
            damaged_history_rows_are_damage_not_edits_or_future_versions,
            plans_say_what_run_to_and_rollback_to_would_do,
            the_audit_log_records_every_operation,
        );
    };
    // Any backend: every scenario made through `Calls`.
    (async $backend:ty) => {
        scenario_tests!(@each $backend;
            applies_everything_in_order_then_nothing,
            upgrading_applies_only_the_new_migrations,
            run_to_status_and_plan,
            rollback_to_reverts_newest_first,
            rollback_without_a_down_changes_nothing,
            rollback_steps_reverts_the_newest_applied,
            a_failing_migration_leaves_no_trace_and_earlier_ones_stay,
            a_rust_migration_returning_err_is_rolled_back,
            an_edited_migration_is_refused_before_anything_is_applied,
            future_versions_are_tolerated_unless_strict,
            out_of_order_is_refused_unless_allowed,
            no_transaction_migrations_run_outside_a_transaction,
            a_failed_no_transaction_migration_is_dirty_until_repaired,
            a_failed_no_transaction_down_step_is_dirty_too,
            grouped_mode_is_all_or_nothing,
            baseline_adopts_an_existing_database_once,
            independent_sets_keep_independent_histories,
            a_panicking_migration_is_rolled_back_and_the_connection_stays_usable,
            transaction_control_passed_to_tx_is_refused,
            a_no_transaction_migration_failing_inside_its_own_transaction_leaves_a_usable_connection,
            a_read_only_boot_with_nothing_pending_writes_nothing,
            a_read_only_connection_with_something_pending_blames_the_connection,
            another_tools_table_under_the_same_name_is_named_as_such,
            damaged_history_rows_are_damage_not_edits_or_future_versions,
            plans_say_what_run_to_and_rollback_to_would_do,
            a_no_transaction_migration_that_leaves_its_transaction_open_fails,
            the_audit_log_records_every_operation,
        );
    };
    (@each $backend:ty; $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                crate::scenarios::$name::<$backend>();
            }
        )*
    };
}
pub(crate) use scenario_tests;

/// `verify_reversible` proves each down step on a scratch database: a set
/// whose downs undo their ups passes; a down that forgets an index, or
/// drops the wrong column, is named with what differs.
pub fn verify_reversible_proves_each_down<B: Backend<Conn: Database>>() {
    use crate::sets::with_downs;
    const USERS: &str =
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, bio TEXT);";
    const INDEX: &str = "CREATE INDEX users_email ON users (email);";
    const ADD: &str = "ALTER TABLE users ADD COLUMN nickname TEXT;";
    let good = with_downs(&[
        ("0001_users.sql", USERS, Some("DROP TABLE users;")),
        ("0002_index.sql", INDEX, Some("DROP INDEX users_email;")),
        (
            "0003_nickname.sql",
            ADD,
            Some("ALTER TABLE users DROP COLUMN nickname;"),
        ),
        ("0004_audit.sql", "CREATE TABLE audit (x INTEGER);", None),
    ]);
    let Some(mut db) = B::fresh() else { return };
    let found = good.verify_reversible(db.conn()).unwrap();
    assert_eq!(found.reversible, [1, 2, 3]);
    assert_eq!(found.irreversible, [4]);
    // Left fully migrated.
    assert_eq!(db.versions(HISTORY), [1, 2, 3, 4]);

    let forgets_the_index = with_downs(&[
        ("0001_users.sql", USERS, Some("DROP TABLE users;")),
        ("0002_index.sql", INDEX, Some("SELECT 1;")),
    ]);
    let Some(mut db) = B::fresh() else { return };
    let err = forgets_the_index.verify_reversible(db.conn()).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, Error::NotReversible { version: 2, file, .. } if file == "0002_index.down.sql"),
        "{message}"
    );
    assert!(
        message.contains("+ index users.users_email was left behind"),
        "{message}"
    );

    let wrong_column = with_downs(&[
        ("0001_users.sql", USERS, Some("DROP TABLE users;")),
        (
            "0002_nickname.sql",
            ADD,
            Some("ALTER TABLE users DROP COLUMN bio;"),
        ),
    ]);
    let Some(mut db) = B::fresh() else { return };
    let err = wrong_column.verify_reversible(db.conn()).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, Error::NotReversible { version: 2, .. }),
        "{message}"
    );
    assert!(message.contains("- column users.bio is gone"), "{message}");
    assert!(
        message.contains("+ column users.nickname was left behind"),
        "{message}"
    );
}

/// Issue: the audit log. One row per operation — apply, revert, baseline,
/// repair — failures included, each naming the application (the crate that
/// embedded the set), the host and the database user; boot with nothing
/// pending adds nothing; the log outlives reverts.
pub fn the_audit_log_records_every_operation<B: Backend>() {
    let Some(mut db) = B::fresh() else { return };
    assert!(
        audit_log(&V1, db.conn()).is_empty(),
        "no log before any run"
    );
    run_pending(&V1, db.conn()).unwrap();
    let log = audit_log(&V1, db.conn());
    let seen = |log: &[LogEntry]| -> Vec<(u64, Operation, Outcome)> {
        log.iter()
            .map(|e| (e.version, e.operation, e.outcome))
            .collect()
    };
    assert_eq!(
        seen(&log),
        [
            (1, Operation::Apply, Outcome::Ok),
            (2, Operation::Apply, Outcome::Ok),
            (3, Operation::Apply, Outcome::Ok)
        ]
    );
    let first = &log[0];
    assert_eq!(first.name, "create_items");
    assert_eq!(first.app_name.as_deref(), Some(env!("CARGO_PKG_NAME")));
    assert_eq!(
        first.app_version.as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert!(first.host.is_some(), "{first:?}");
    assert!(
        first.started_at.ends_with('Z') && first.finished_at.ends_with('Z'),
        "{first:?}"
    );
    assert!(first.started_at <= first.finished_at, "{first:?}");
    assert!(first.error.is_none());
    assert!(log.windows(2).all(|w| w[0].id < w[1].id));

    // Boot with nothing pending: nothing logged.
    run_pending(&V1, db.conn()).unwrap();
    assert_eq!(audit_log(&V1, db.conn()).len(), 3);

    // A revert is logged, and the log keeps what was reverted.
    rollback_steps(&V1, db.conn(), 1).unwrap();
    let log = audit_log(&V1, db.conn());
    assert_eq!(seen(&log[3..]), [(3, Operation::Revert, Outcome::Ok)]);

    // Another binary, another application name.
    let named = V1.runner().application("billing-cli", "9.9.9");
    run_pending(&named, db.conn()).unwrap();
    let log = audit_log(&V1, db.conn());
    assert_eq!(seen(&log[4..]), [(3, Operation::Apply, Outcome::Ok)]);
    assert_eq!(log[4].app_name.as_deref(), Some("billing-cli"));
    assert_eq!(log[4].app_version.as_deref(), Some("9.9.9"));

    // A failure is logged although its migration was rolled back.
    let Some(mut failing) = B::fresh() else {
        return;
    };
    let err = run_pending(&FAILING, failing.conn()).unwrap_err();
    // (A schema change is left dirty where the database commits it on the
    // spot, MySQL; rolled back elsewhere.)
    let outcome = match &err {
        Error::Failed {
            cleanup: Cleanup::LeftDirty,
            ..
        } => Outcome::Dirty,
        _ => Outcome::Failed,
    };
    let log = audit_log(&FAILING, failing.conn());
    assert_eq!(
        seen(&log),
        [
            (1, Operation::Apply, Outcome::Ok),
            (2, Operation::Apply, Outcome::Ok),
            (3, Operation::Apply, outcome)
        ]
    );
    assert_eq!(log[2].error.as_deref(), Some(err.to_string().as_str()));

    // A no-transaction failure is logged dirty; its repair is logged.
    let Some(mut dirty) = B::fresh() else { return };
    run_pending(&NO_TX_FAILS, dirty.conn()).unwrap_err();
    repair(&NO_TX_FAILS, dirty.conn(), 2, Repair::Undone).unwrap();
    let log = audit_log(&NO_TX_FAILS, dirty.conn());
    assert_eq!(
        seen(&log),
        [
            (1, Operation::Apply, Outcome::Ok),
            (2, Operation::Apply, Outcome::Dirty),
            (2, Operation::Repair, Outcome::Ok)
        ]
    );
    assert_eq!(log[2].name, "half");

    // A baseline is logged, one row per version it adopts.
    let Some(mut adopted) = B::fresh() else {
        return;
    };
    baseline(&V1, adopted.conn(), 2).unwrap();
    assert_eq!(
        seen(&audit_log(&V1, adopted.conn())),
        [
            (1, Operation::Baseline, Outcome::Ok),
            (2, Operation::Baseline, Outcome::Ok)
        ]
    );
}
