//! Fault injection: a wrapper around the real drivers makes operation k of a
//! run fail — an error before or after the database did it, a panic, or
//! the process killed — for every k of the run, and after each the
//! invariants must hold:
//!
//! - the history matches the schema: each applied migration's table is
//!   there, each unapplied one's is not (a no-transaction migration may be
//!   dirty, and is then repaired by what the schema shows);
//! - the error names the right migration: a rolled-back `Failed { v }`
//!   means versions below `v` applied and `v` not;
//! - no lock is held: another connection takes it at once;
//! - the connection is usable and outside any transaction;
//! - a fresh run completes, applying everything.
//!
//! The same harness runs on SQLite files and on PostgreSQL, over a set with
//! every step kind: SQL, Rust, no-transaction, down steps, grouped runs.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use migrate::{
    AtOnce, Cleanup, Database, Dialect, Driver, Error, Migrations, Repair, Result, TableName, Tx,
    Value, WholeStep,
};

use crate::scenarios::{assert_failed, Backend};

static SET: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/fault-set");
const HISTORY: &str = "migrate_schema_history";
const TABLES: [&str; 4] = ["fa", "fb", "fc", "fd"];

/// What happens at the chosen operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An error instead of the operation.
    ErrorBefore,
    /// The operation is done, then an error is reported (a lost reply).
    ErrorAfter,
    /// A panic instead of the operation.
    Panic,
    /// The process dies instead of the operation.
    Abort,
    /// The last SQL step of each transaction sent whole gets this SQL
    /// appended where the run-time check cannot see it: transaction
    /// control the check missed.
    Sneak(&'static str),
}

#[derive(Debug, Clone, Copy)]
struct Fault {
    at: usize,
    kind: Kind,
}

/// A connection whose driver fails at operation `fault.at` (counted from 1).
struct Faulty<'a, C> {
    conn: &'a mut C,
    fault: Option<Fault>,
    ops: Cell<usize>,
}

impl<'a, C> Faulty<'a, C> {
    fn new(conn: &'a mut C, fault: Option<Fault>) -> Self {
        Faulty {
            conn,
            fault,
            ops: Cell::new(0),
        }
    }
}

struct FaultyDriver<'f, D> {
    inner: D,
    fault: Option<Fault>,
    ops: &'f Cell<usize>,
}

impl<C: Database> Database for Faulty<'_, C> {
    type Driver<'c>
        = FaultyDriver<'c, C::Driver<'c>>
    where
        Self: 'c;

    fn driver(&mut self) -> Self::Driver<'_> {
        FaultyDriver {
            inner: self.conn.driver(),
            fault: self.fault,
            ops: &self.ops,
        }
    }
}

impl<D> FaultyDriver<'_, D> {
    /// Counts one operation and runs it, injecting the fault where it is due.
    fn op<T>(&mut self, run: impl FnOnce(&mut D) -> Result<T>) -> Result<T> {
        let n = self.ops.get() + 1;
        self.ops.set(n);
        let due = self.fault.filter(|f| f.at == n).map(|f| f.kind);
        match due {
            Some(Kind::ErrorBefore) => Err(Error::Driver(format!("injected fault at {n}").into())),
            Some(Kind::Panic) => panic!("injected panic at {n}"),
            Some(Kind::Abort) => std::process::abort(),
            Some(Kind::Sneak(_)) => run(&mut self.inner),
            Some(Kind::ErrorAfter) => {
                run(&mut self.inner)?;
                Err(Error::Driver(format!("injected lost reply at {n}").into()))
            }
            None => run(&mut self.inner),
        }
    }
}

impl<D: Driver> Tx for FaultyDriver<'_, D> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.op(|d| d.execute(sql, params))
    }
    fn batch(&mut self, sql: &str) -> Result<()> {
        self.op(|d| d.batch(sql))
    }
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>> {
        self.op(|d| d.query(sql, params))
    }
    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }
}

impl<D: Driver> Driver for FaultyDriver<'_, D> {
    fn begin(&mut self) -> Result<()> {
        self.op(|d| d.begin())
    }
    fn commit(&mut self) -> Result<()> {
        self.op(|d| d.commit())
    }
    fn rollback(&mut self) -> Result<()> {
        // Cleanup itself is not faulted: the harness tests what a failure
        // leaves, and a failing rollback is the database's own crash.
        self.inner.rollback()
    }
    fn lock(&mut self, table: &TableName<'_>, timeout: Duration) -> Result<()> {
        self.op(|d| d.lock(table, timeout))
    }
    fn unlock(&mut self) -> Result<()> {
        self.inner.unlock()
    }
    fn is_missing_table(&self, error: &Error) -> bool {
        self.inner.is_missing_table(error)
    }
    fn batch_without_transaction(&mut self, sql: &str) -> Result<()> {
        self.op(|d| d.batch_without_transaction(sql))
    }
    fn default_schema(&mut self) -> Result<Option<String>> {
        self.op(|d| d.default_schema())
    }
    fn head_filter(&self, quoted_table: &str) -> Option<String> {
        self.inner.head_filter(quoted_table)
    }
    fn sql_rules(&self) -> migrate::LexicalRules {
        self.inner.sql_rules()
    }
    fn sql_dialect(&self) -> &'static dyn migrate::SqlDialect {
        self.inner.sql_dialect()
    }
    fn restore_session(&mut self) {
        self.inner.restore_session();
    }
    fn transaction_intact(&mut self) -> Result<Option<bool>> {
        self.inner.transaction_intact()
    }
    fn in_transaction(&mut self) -> Option<bool> {
        self.inner.in_transaction()
    }
    fn step_fault(&self, error: &Error) -> Option<&'static str> {
        self.inner.step_fault(error)
    }
    fn schema_version(&mut self) -> Result<Option<u64>> {
        self.op(|d| d.schema_version())
    }
    fn set_schema_version(&mut self, version: u64) -> Result<()> {
        self.op(|d| d.set_schema_version(version))
    }
    fn foreign_keys(&mut self, on: bool) -> Result<bool> {
        self.op(|d| d.foreign_keys(on))
    }
    fn check_foreign_keys(&mut self) -> Result<()> {
        self.op(|d| d.check_foreign_keys())
    }
    fn query_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        self.op(|d| d.query_text(sql))
    }
    fn transaction_at_once(
        &mut self,
        guard: Option<&str>,
        steps: &[WholeStep<'_>],
    ) -> Option<AtOnce> {
        if let Some(Fault {
            kind: Kind::Sneak(tail),
            ..
        }) = self.fault
        {
            // Into the last step, so that a group must tell which it was.
            let last = format!("{}\n;{tail}", steps.last()?.sql);
            let mut sneaky = steps.to_vec();
            if let Some(step) = sneaky.last_mut() {
                step.sql = &last;
            }
            return self.inner.transaction_at_once(guard, &sneaky);
        }
        // One operation: the whole transaction. An error before it is
        // nothing sent; after it, a reply lost once it had committed.
        let mut outcome = None;
        let faulted = self.op(|d| {
            outcome = d.transaction_at_once(guard, steps);
            Ok(())
        });
        match (faulted, outcome) {
            (Ok(()), outcome) => outcome,
            (Err(e), None) => Some(AtOnce::NotBegun(e)),
            (Err(e), Some(_)) => Some(AtOnce::Commit(e)),
        }
    }
}

/// What a harness run does under the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    /// `run_pending` on an empty database: one transaction per migration.
    Apply,
    /// `run_to(2)` grouped: one transaction for both.
    ApplyGrouped,
    /// `rollback_to(0)` on a fully migrated database.
    Revert,
}

impl Operation {
    const ALL: [Operation; 3] = [Operation::Apply, Operation::ApplyGrouped, Operation::Revert];

    fn name(self) -> &'static str {
        match self {
            Operation::Apply => "apply",
            Operation::ApplyGrouped => "apply-grouped",
            Operation::Revert => "revert",
        }
    }

    fn parse(name: &str) -> Self {
        Operation::ALL
            .into_iter()
            .find(|o| o.name() == name)
            .unwrap()
    }

    fn prepare<C: Database>(self, conn: &mut C) {
        if self == Operation::Revert {
            SET.run_pending(conn).unwrap();
        }
    }

    fn run<C: Database>(self, conn: &mut C) -> Result<migrate::Report> {
        match self {
            Operation::Apply => SET.run_pending(conn),
            Operation::ApplyGrouped => SET.runner().grouped(true).run_to(conn, 2),
            Operation::Revert => SET.rollback_to(conn, 0),
        }
    }
}

/// How many operations a clean run of `operation` performs.
fn count_ops<B: Backend<Conn: Database>>(operation: Operation) -> Option<usize> {
    let mut db = B::fresh()?;
    operation.prepare(db.conn());
    let mut faulty = Faulty::new(db.conn(), None);
    operation.run(&mut faulty).unwrap();
    Some(faulty.ops.get())
}

/// The history's applied and unfinished versions.
fn history<B: Backend<Conn: Database>>(db: &mut B, set: &Migrations) -> (Vec<u64>, Vec<u64>) {
    if !db.table_exists(HISTORY) {
        return (Vec::new(), Vec::new());
    }
    let all = db.versions(HISTORY);
    let status = set.status(&mut db.other()).unwrap();
    let dirty: Vec<u64> = status
        .iter()
        .filter(|s| matches!(s.state, migrate::State::Dirty | migrate::State::Reverting))
        .map(|s| s.version)
        .collect();
    let applied = all.into_iter().filter(|v| !dirty.contains(v)).collect();
    (applied, dirty)
}

/// Checks every invariant after a faulted run, then finishes the migration.
fn check_invariants<B: Backend<Conn: Database>>(
    db: &mut B,
    set: &Migrations,
    tables: &[&str],
    what: &str,
    outcome: Option<&Result<migrate::Report>>,
    same_connection: bool,
) {
    // No lock held: another connection gets it at once.
    let mut other = db.other();
    // (`repair` of a version that is not unfinished takes the lock, then refuses.)
    let locked =
        SET.runner()
            .lock_timeout(Duration::from_secs(3))
            .repair(&mut other, 0, Repair::Undone);
    assert!(
        matches!(locked, Err(Error::NothingToRepair { .. })),
        "{what}: the lock is still held: {locked:?}"
    );
    // The connection is usable and outside any transaction.
    if same_connection {
        let usable = panic::catch_unwind(AssertUnwindSafe(|| B::exec_on(db.conn(), "SELECT 1")));
        assert!(usable.is_ok(), "{what}: the connection is not usable");
    }
    // History = schema.
    let (applied, dirty) = history(db, set);
    for (i, table) in tables.iter().enumerate() {
        let version = i as u64 + 1;
        if dirty.contains(&version) {
            continue;
        }
        assert_eq!(
            db.table_exists(table),
            applied.contains(&version),
            "{what}: history {applied:?} but table {table} exists: {}",
            db.table_exists(table)
        );
    }
    assert!(dirty.len() <= 1, "{what}: several dirty rows {dirty:?}");
    let failed = outcome.and_then(|o| o.as_ref().err());
    if let Some(Error::Failed { version, file, .. }) = failed {
        let migration = set.get(*version).unwrap();
        let expected = if what.starts_with("revert") {
            migration.down_file_name().unwrap_or(migration.file_name())
        } else {
            migration.file_name()
        };
        assert_eq!(file, expected, "{what}: the error names the wrong file");
    }
    // The error names the migration that did not stay.
    if let Some(Err(Error::Failed {
        version,
        cleanup: Cleanup::RolledBack,
        ..
    })) = outcome
    {
        let reverting = applied.len() > *version as usize || what.contains("revert");
        if !reverting {
            assert!(
                !applied.contains(version),
                "{what}: {version} was reported rolled back but is applied"
            );
            assert!(
                (1..*version).all(|v| applied.contains(&v)),
                "{what}: {version} failed but earlier ones are missing: {applied:?}"
            );
        } else {
            assert!(
                applied.contains(version),
                "{what}: the revert of {version} was reported rolled back but it is gone"
            );
        }
    }
    // A dirty no-transaction step is repaired by what the schema shows:
    // an up step whose table exists was completed, a down step's undone.
    let status = set.status(&mut db.other()).unwrap();
    for version in dirty {
        let table = tables[version as usize - 1];
        let reverting = status
            .iter()
            .any(|s| s.version == version && s.state == migrate::State::Reverting);
        let how = if db.table_exists(table) != reverting {
            Repair::Completed
        } else {
            Repair::Undone
        };
        set.repair(&mut db.other(), version, how).unwrap();
    }
    // A fresh run completes.
    let mut fresh = db.other();
    set.run_pending(&mut fresh)
        .unwrap_or_else(|e| panic!("{what}: a fresh run failed: {e}"));
    let all: Vec<u64> = (1..=set.len() as u64).collect();
    assert_eq!(db.versions(HISTORY), all, "{what}");
    for table in tables {
        assert!(db.table_exists(table), "{what}: {table} missing");
    }
}

/// Every operation, every fault point, every in-process fault kind.
/// Returns how many faulted runs were checked.
pub fn every_fault_point_keeps_the_invariants<B: Backend<Conn: Database>>() -> usize {
    let mut covered = 0;
    for operation in Operation::ALL {
        let Some(ops) = count_ops::<B>(operation) else {
            return 0;
        };
        for at in 1..=ops {
            for kind in [Kind::ErrorBefore, Kind::ErrorAfter, Kind::Panic] {
                let what = format!(
                    "{} with {kind:?} at operation {at} of {ops}",
                    operation.name()
                );
                let mut db = B::fresh().unwrap();
                operation.prepare(db.conn());
                let outcome = {
                    let mut faulty = Faulty::new(db.conn(), Some(Fault { at, kind }));
                    panic::catch_unwind(AssertUnwindSafe(|| operation.run(&mut faulty)))
                };
                check_invariants(&mut db, &SET, &TABLES, &what, outcome.as_ref().ok(), true);
                covered += 1;
            }
        }
    }
    covered
}

const ROLE: &str = "MIGRATE_FAULT_CHILD";

/// Not a test of its own: the body of the processes killed at operation k
/// by `every_kill_point_keeps_the_invariants`. Without its variable (a
/// normal test run) it does nothing.
#[test]
fn fault_child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    if let Some(race) = role.strip_prefix("race|") {
        race_child(race);
        return;
    }
    let mut parts = role.splitn(4, '|');
    let (backend, operation, at, location) = (
        parts.next().unwrap(),
        Operation::parse(parts.next().unwrap()),
        parts.next().unwrap().parse().unwrap(),
        parts.next().unwrap(),
    );
    let fault = Some(Fault {
        at,
        kind: Kind::Abort,
    });
    let outcome = match backend {
        "sqlite" => {
            let mut conn = <crate::sqlite::Sqlite as Backend>::connect(location);
            operation.run(&mut Faulty::new(&mut conn, fault)).map(drop)
        }
        _ => {
            let mut conn = <crate::postgres::Postgres as Backend>::connect(location);
            operation.run(&mut Faulty::new(&mut conn, fault)).map(drop)
        }
    };
    // Reaching here means the kill point was past the end of the run.
    let _ = outcome;
}

/// The process dies at operation k, for every k: the server (or SQLite's
/// journal) must leave the invariants holding for the next process.
pub fn every_kill_point_keeps_the_invariants<B: Backend<Conn: Database>>(backend: &str) -> usize {
    let mut covered = 0;
    for operation in Operation::ALL {
        let Some(ops) = count_ops::<B>(operation) else {
            return 0;
        };
        for at in 1..=ops {
            let what = format!("{} killed at operation {at} of {ops}", operation.name());
            let mut db = B::fresh().unwrap();
            operation.prepare(db.conn());
            let status = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "faults::fault_child_entry", "--test-threads=1"])
                .env(
                    ROLE,
                    format!("{backend}|{}|{at}|{}", operation.name(), db.location()),
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(!status.success(), "{what}: the child was not killed");
            check_invariants(&mut db, &SET, &TABLES, &what, None, false);
            covered += 1;
        }
    }
    covered
}

static RACE_SET: Migrations = migrate::embed_migrations!("tests/fixtures/race-set");
const RACE_TABLES: [&str; 5] = ["ra", "rb", "rc", "rd", "re"];

/// A racing child: applies everything, or reverts down to a version.
fn race_child(role: &str) {
    let mut parts = role.splitn(3, '|');
    let (backend, target, location) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    fn go<C: Database>(conn: &mut C, target: &str) {
        let runner = RACE_SET.runner().lock_timeout(Duration::from_secs(20));
        // Errors (a dirty state left by a killed sibling, say) are expected;
        // the parent checks the database, not the children.
        let _ = match target {
            "up" => runner.run_pending(conn),
            down => runner.rollback_to(conn, down.parse().unwrap()),
        };
    }
    match backend {
        "sqlite" => go(
            &mut <crate::sqlite::Sqlite as Backend>::connect(location),
            target,
        ),
        _ => go(
            &mut <crate::postgres::Postgres as Backend>::connect(location),
            target,
        ),
    }
}

/// A small deterministic generator (xorshift), so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Rounds of several processes applying and reverting at once, some killed
/// at random moments; after each round the invariants must hold. The seed
/// is printed, and `MIGRATE_RACE_SEED` / `MIGRATE_RACE_ROUNDS` replay or
/// lengthen a run.
pub fn random_kills_among_racing_processes_keep_the_invariants<B: Backend<Conn: Database>>(
    backend: &str,
) -> usize {
    let seed = std::env::var("MIGRATE_RACE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    let rounds: usize = std::env::var("MIGRATE_RACE_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    eprintln!("race on {backend}: seed {seed}, {rounds} rounds");
    let mut rng = Rng(seed);
    let Some(mut db) = B::fresh() else {
        return 0;
    };
    let mut kills = 0;
    for round in 0..rounds {
        let mut children: Vec<_> = (0..4)
            .map(|_| {
                let target = match rng.below(3) {
                    0 => rng.below(4).to_string(),
                    _ => "up".to_owned(),
                };
                Command::new(std::env::current_exe().unwrap())
                    .args(["--exact", "faults::fault_child_entry", "--test-threads=1"])
                    .env(ROLE, format!("race|{backend}|{target}|{}", db.location()))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20 + rng.below(60)));
        for child in &mut children {
            if rng.below(2) == 0 && child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                kills += 1;
            }
        }
        for child in &mut children {
            child.wait().unwrap();
        }
        let what = format!("race on {backend}, seed {seed}, round {round}");
        check_invariants(&mut db, &RACE_SET, &RACE_TABLES, &what, None, false);
        // Start the next round from a random point.
        RACE_SET.rollback_to(db.conn(), rng.below(6)).unwrap();
    }
    kills
}

/// Where the harness reports how much it covered, for the test log.
fn report(backend: &str, kind: &str, covered: usize) {
    let line = format!("fault injection on {backend}: {covered} {kind} fault points checked");
    eprintln!("{line}");
    if let Some(dir) = std::env::var_os("MIGRATE_FAULT_REPORT_DIR") {
        let path = PathBuf::from(dir).join(format!("{backend}-{kind}.txt"));
        std::fs::write(path, line).unwrap();
    }
}

#[test]
fn sqlite_every_fault_point() {
    let covered = every_fault_point_keeps_the_invariants::<crate::sqlite::Sqlite>();
    assert!(covered > 50, "only {covered} fault points");
    report("sqlite", "in-process", covered);
}

#[test]
fn sqlite_every_kill_point() {
    let covered = every_kill_point_keeps_the_invariants::<crate::sqlite::Sqlite>("sqlite");
    assert!(covered > 20, "only {covered} kill points");
    report("sqlite", "kill", covered);
}

/// A step that ends its transaction unseen (as a missed `COMMIT` would),
/// alone or followed by a new transaction or a failure: the migration is
/// left dirty for an operator, never called rolled back or applied.
#[test]
fn postgres_a_step_ending_its_transaction_unseen_is_left_dirty() {
    for tail in [
        "COMMIT",
        "COMMIT; BEGIN",
        "COMMIT; SELECT 1/0",
        "COMMIT; BEGIN; SELECT 1/0",
    ] {
        let Some(mut db) = <crate::postgres::Postgres as Backend>::fresh() else {
            return;
        };
        let fault = Fault {
            at: 0,
            kind: Kind::Sneak(tail),
        };
        let err = SET
            .run_pending(&mut Faulty::new(db.conn(), Some(fault)))
            .unwrap_err();
        assert_failed(&err, 1, Cleanup::LeftDirty);
        let status = SET.status(&mut db.other()).unwrap();
        assert_eq!(status[0].state, migrate::State::Dirty, "{tail}");
        // Its table committed with the step's own COMMIT: that is why.
        assert!(db.table_exists(TABLES[0]), "{tail}");

        // In a group sent whole, the step that did it is the one named, and
        // what its COMMIT took with it stays recorded.
        let group = crate::sets::unchecked(&[
            ("0001_ga.sql", "CREATE TABLE ga (x INT);"),
            ("0002_gb.sql", "CREATE TABLE gb (x INT);"),
            ("0003_gc.sql", "CREATE TABLE gc (x INT);"),
        ]);
        let Some(mut db) = <crate::postgres::Postgres as Backend>::fresh() else {
            return;
        };
        let err = group
            .runner()
            .grouped(true)
            .run_pending(&mut Faulty::new(db.conn(), Some(fault)))
            .unwrap_err();
        assert_failed(&err, 3, Cleanup::LeftDirty);
        let states: Vec<migrate::State> = group
            .status(&mut db.other())
            .unwrap()
            .iter()
            .map(|s| s.state)
            .collect();
        assert_eq!(
            states,
            [
                migrate::State::Applied,
                migrate::State::Applied,
                migrate::State::Dirty
            ],
            "group, {tail}"
        );
    }
}

#[test]
fn postgres_every_fault_point() {
    let covered = every_fault_point_keeps_the_invariants::<crate::postgres::Postgres>();
    if covered > 0 {
        assert!(covered > 50, "only {covered} fault points");
        report("postgres", "in-process", covered);
    }
}

#[test]
fn postgres_every_kill_point() {
    let covered = every_kill_point_keeps_the_invariants::<crate::postgres::Postgres>("postgres");
    if covered > 0 {
        assert!(covered > 20, "only {covered} kill points");
        report("postgres", "kill", covered);
    }
}

#[test]
fn sqlite_random_kills_among_racing_processes() {
    let kills =
        random_kills_among_racing_processes_keep_the_invariants::<crate::sqlite::Sqlite>("sqlite");
    assert!(kills > 0, "no process was killed: the race checked nothing");
    report("sqlite", "random-kill", kills);
}

#[test]
fn postgres_random_kills_among_racing_processes() {
    let kills = random_kills_among_racing_processes_keep_the_invariants::<crate::postgres::Postgres>(
        "postgres",
    );
    if std::env::var("MIGRATE_TEST_POSTGRES_URL").is_ok() {
        assert!(kills > 0, "no process was killed: the race checked nothing");
    }
    report("postgres", "random-kill", kills);
}
