//! The synchronous executor: performs a [`Script`]'s operations against a
//! driver, one call each, and on failure does what the script's policy
//! says. An async executor is this loop with `.await`s; the decisions stay
//! in `script.rs`.

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant, SystemTime};

use super::script::{Change, Op, Script, Write};
use crate::audit::{Actor, Entry, LogSql, Operation, Outcome};
use crate::driver::{AtOnce, Driver, WholeStep};
use crate::error::{Error, Panicked, Result};
use crate::history::{HistorySql, RecentRows, RowState};
use crate::registry::{Migrations, SqlMode, Step};
use crate::source::sql::LexicalRules;
use crate::tx::{Dialect, Tx, Value};

/// Where and for whom a run logs its operations (see `audit.rs`).
pub(crate) struct Logging<'a> {
    pub sql: &'a LogSql,
    pub actor: &'a Actor,
    /// For the name of a version a script only names by number (repair).
    pub migrations: &'a Migrations,
}

impl Logging<'_> {
    /// The log entry of history write `write`, where it completes an
    /// operation (an in-progress mark does not).
    fn entry<'s>(
        &self,
        script: &'s Script,
        write: Write,
        started: &[Instant],
    ) -> Option<Entry<'s>> {
        let unit_of = |version: u64| {
            script
                .units
                .iter()
                .position(|u| u.migration.version() == version)
        };
        let (version, unit, operation) = match write {
            Write::Applied(i) if script.units[i].step.is_none() => (
                script.units[i].migration.version(),
                Some(i),
                Operation::Baseline,
            ),
            Write::Applied(i) => (
                script.units[i].migration.version(),
                Some(i),
                Operation::Apply,
            ),
            Write::Finish(version, Some(i)) => (version, Some(i), Operation::Apply),
            Write::Finish(version, None) => (version, None, Operation::Repair),
            Write::Delete(version) => match unit_of(version) {
                Some(i) if script.units[i].change == Change::Revert => {
                    (version, Some(i), Operation::Revert)
                }
                _ => (version, None, Operation::Repair),
            },
            Write::InProgress(_) | Write::Reverting(_) => return None,
        };
        let took = unit
            .filter(|&i| script.units[i].step.is_some())
            .map_or(Duration::ZERO, |i| started[i].elapsed());
        let name = match unit {
            Some(i) => script.units[i].migration.name(),
            None => self.migrations.get(version).map_or("", |m| m.name()),
        };
        Some(Entry {
            version,
            name,
            operation,
            outcome: Outcome::Ok,
            error: None,
            started: SystemTime::now() - took,
            took,
        })
    }

    /// Logs `error`, a failure of one of `script`'s migrations that its
    /// transaction's rollback undid (or that left it dirty): best effort,
    /// in a transaction of its own.
    fn failure<D: Driver>(
        &self,
        driver: &mut D,
        script: &Script,
        error: &Error,
        started: &[Instant],
    ) {
        let Error::Failed {
            version, cleanup, ..
        } = error
        else {
            return;
        };
        let Some(i) = script
            .units
            .iter()
            .position(|u| u.migration.version() == *version)
        else {
            return;
        };
        let took = started[i].elapsed();
        let entry = Entry {
            version: *version,
            name: script.units[i].migration.name(),
            operation: match script.units[i].change {
                Change::Apply => Operation::Apply,
                Change::Revert => Operation::Revert,
            },
            outcome: if *cleanup == crate::error::Cleanup::LeftDirty {
                Outcome::Dirty
            } else {
                Outcome::Failed
            },
            error: Some(error.to_string()),
            started: SystemTime::now() - took,
            took,
        };
        let (statement, values) = self.sql.insert(&entry, self.actor);
        if let Err(e) = driver.execute(statement, &values) {
            log::warn!("could not log the failure of migration {version} in the audit log: {e}");
        }
    }
}

/// Runs `script`; returns how long each unit's step took. `expected` is
/// what [`Op::Verify`] compares the history with.
pub(crate) fn execute<D: Driver>(
    driver: &mut D,
    sql: &HistorySql,
    script: &Script,
    expected: Option<&RecentRows>,
    logging: &Logging<'_>,
) -> Result<Vec<Duration>> {
    let mut started = vec![Instant::now(); script.units.len()];
    let mut foreign_keys_were = None;
    let mut held = false;
    let mut checked = None;
    let mut failure = None;
    let mut at = 0;
    while let Some(op) = script.ops.get(at) {
        // Transactional SQL steps go whole, where the driver can.
        if let Some(whole) = whole_steps(script, at) {
            match send_whole(driver, sql, script, &whole, expected, &mut started, logging) {
                Some(Ok(())) => {
                    at = whole.commit + 1;
                    continue;
                }
                Some(Err((op, error))) => {
                    failure = Some((op, error));
                    break;
                }
                None => {}
            }
        }
        // A no-transaction SQL step's in-progress record goes with the step
        // (one round trip where the driver can): the step runs only once it
        // is recorded.
        let result = if let Some((i, step)) = recorded_sql_step(script, at) {
            started[i] = Instant::now();
            let record = row_statement(sql, script, Write::InProgress(i), &started);
            let sent = run_step(driver, step, SqlMode::NoTransaction, Some(record));
            sent_together(&mut at, sent, |e| sql.write_failed(e))
        } else {
            match *op {
                Op::CheckForeignKeysBefore | Op::CheckForeignKeysAfter => {
                    driver.check_foreign_keys()
                }
                Op::ForeignKeysOff => driver
                    .foreign_keys(false)
                    .map(|was| foreign_keys_were = Some(was)),
                // A check right after it is sent with it (one round trip
                // where the driver can), and judged at its own operation.
                Op::Begin => match (script.ops.get(at + 1), expected) {
                    (Some(Op::Verify), Some(expected)) => driver
                        .begin_and_query(&sql.recent_rows_sql(expected))
                        .map(|rows| checked = Some(rows)),
                    _ => driver.begin(),
                },
                Op::Verify => match (expected, checked.take()) {
                    (Some(expected), Some(rows)) => sql.verify(Ok(rows), expected),
                    (Some(expected), None) => {
                        sql.verify(driver.query_text(&sql.recent_rows_sql(expected)), expected)
                    }
                    (None, _) => Ok(()),
                },
                Op::CommitHolding => driver.commit_and_hold().map(|()| held = true),
                Op::CommitReleasing => driver.commit_and_release().map(|()| held = false),
                Op::Run(i) => {
                    started[i] = Instant::now();
                    match script.units[i].step {
                        Some(step) => {
                            run_step(driver, step, script.units[i].mode, None).and_then(|r| r)
                        }
                        None => Ok(()),
                    }
                }
                // The last write of a transaction goes with its COMMIT (one
                // round trip where the driver can); a failing commit is the
                // commit's own failure.
                Op::Write(write) if script.ops.get(at + 1) == Some(&Op::Commit) => {
                    log_write(driver, sql, script, write, &started, logging).and_then(|()| {
                        let statement = row_statement(sql, script, write, &started);
                        let sent = driver.execute_and_commit(statement.0, &statement.1);
                        sent_together(&mut at, sent, |e| sql.write_failed(e))
                    })
                }
                Op::Write(write) => log_write(driver, sql, script, write, &started, logging)
                    .and_then(|()| sql.write(driver, row_statement(sql, script, write, &started))),
                Op::SchemaVersion(version) => sql.set_schema_version(driver, version),
                Op::Commit => driver.commit(),
            }
        };
        if let Err(error) = result {
            failure = Some((at, error));
            break;
        }
        at += 1;
    }
    let Some((at, error)) = failure else {
        if let Some(was_on) = foreign_keys_were {
            driver.foreign_keys(was_on)?;
        }
        // Each unit's time runs until the next one starts (or the script ends).
        let end = Instant::now();
        let ends = started.iter().skip(1).copied().chain([end]);
        return Ok(started.iter().zip(ends).map(|(s, e)| e - *s).collect());
    };
    let step_fault = driver.step_fault(&error);
    let refused = driver.commit_refused(&error);
    let failure = script.failure(at, error, step_fault, refused);
    let _ = driver.rollback();
    if let Some(was_on) = foreign_keys_were {
        if let Err(e) = driver.foreign_keys(was_on) {
            log::error!("could not restore the connection's foreign_keys setting: {e}");
        }
    }
    if let Some(write) = failure.mark_dirty {
        if let Err(e) = sql.write(driver, row_statement(sql, script, write, &started)) {
            log::error!("could not mark the failed migration dirty: {e}");
        }
    }
    logging.failure(driver, script, &failure.error, &started);
    if held {
        if let Err(e) = driver.release_held() {
            log::error!("could not release the migration lock after a failure: {e}");
        }
    }
    Err(failure.error)
}

/// Logs the operation history write `write` completes, in its transaction
/// (just before it), where it completes one.
fn log_write<D: Driver>(
    driver: &mut D,
    sql: &HistorySql,
    script: &Script,
    write: Write,
    started: &[Instant],
    logging: &Logging<'_>,
) -> Result<()> {
    let Some(entry) = logging.entry(script, write, started) else {
        return Ok(());
    };
    let (statement, values) = logging.sql.insert(&entry, logging.actor);
    driver
        .execute(statement, &values)
        .map(drop)
        .map_err(|e| sql.write_failed(e))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The statement of one history write.
fn row_statement<'s>(
    sql: &'s HistorySql,
    script: &Script,
    write: Write,
    started: &[Instant],
) -> (&'s str, Vec<Value>) {
    let elapsed = |i: usize| millis(started[i].elapsed());
    match write {
        Write::Applied(i) => {
            let ms = if script.units[i].step.is_some() {
                elapsed(i)
            } else {
                0
            };
            sql.insert(script.units[i].migration, RowState::Applied, ms)
        }
        Write::InProgress(i) => sql.insert(script.units[i].migration, RowState::InProgress, 0),
        Write::Finish(version, unit) => sql.finish(version, unit.map_or(0, elapsed)),
        Write::Reverting(version) => sql.unfinish(version),
        Write::Delete(version) => sql.delete(version),
    }
}

/// Runs one step. A panic inside it becomes an error, so the step's
/// transaction is rolled back like any failure's. SQL is checked, with
/// the connected database's rules, for statements that would end the
/// transaction it runs in; and a step that ended it anyway is a failure.
///
/// `record`: the statement that records a no-transaction step in progress,
/// sent with a SQL step where the driver can; the step runs only if it
/// succeeded. `Err`: the record failed; `Ok(Err)`: the step did.
fn run_step<D: Driver>(
    driver: &mut D,
    step: &Step,
    mode: SqlMode,
    record: Option<(&str, Vec<Value>)>,
) -> Result<Result<()>> {
    // Whether the driver checked the transaction with the step's own SQL.
    let mut intact = None;
    let mut record_failed = None;
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| match step {
        Step::Sql { sql, .. } => match (mode, record) {
            (SqlMode::NoTransaction, Some((statement, params))) => {
                match driver.execute_then_batch_without_transaction(statement, &params, sql) {
                    Err(e) => {
                        record_failed = Some(e);
                        Ok(())
                    }
                    Ok(result) => result,
                }
            }
            (SqlMode::NoTransaction, None) => driver.batch_without_transaction(sql),
            _ => {
                // The compile-time check cannot know the database; this one
                // reads the SQL as the connected database will, before it runs.
                refuse_transaction_control(sql, driver.sql_rules(), "the migration")?;
                intact = driver.batch_in_transaction(sql)?;
                Ok(())
            }
        },
        // Rust steps run in a transaction: none is recorded first.
        Step::Rust(run) => run(&mut Guarded(driver)),
    }));
    if let Some(e) = record_failed {
        return Err(e);
    }
    let result =
        outcome.unwrap_or_else(|payload| Err(Error::Other(Box::new(Panicked::from(payload)))));
    Ok(step_outcome(driver, mode, intact, result))
}

/// The operations of transactional SQL steps a driver may send whole
/// ([`Driver::transaction_at_once`]), by index: `Begin`, `Verify` (where
/// the lock is held per transaction), for each step its `Run` and its
/// history write (with the schema version, which such a driver does not
/// keep, before the last write), `Commit`.
struct Whole {
    begin: usize,
    verify: Option<usize>,
    /// Each step's unit, `Run` and history write.
    steps: Vec<(usize, usize, usize)>,
    commit: usize,
}

/// The transactional SQL steps whose transaction begins at `at`, if any.
fn whole_steps(script: &Script, at: usize) -> Option<Whole> {
    let ops = &script.ops;
    if ops.get(at) != Some(&Op::Begin) {
        return None;
    }
    let mut next = at + 1;
    let verify = (ops.get(next) == Some(&Op::Verify)).then_some(next);
    next += usize::from(verify.is_some());
    let mut steps = Vec::new();
    loop {
        match *ops.get(next)? {
            Op::Run(unit) => {
                let step = &script.units[unit];
                if !matches!(step.step, Some(Step::Sql { .. })) || step.mode != SqlMode::Transaction
                {
                    return None;
                }
                let run = next;
                next += 1;
                if matches!(ops.get(next), Some(Op::SchemaVersion(_))) {
                    next += 1;
                }
                let Some(Op::Write(Write::Applied(_) | Write::Delete(_))) = ops.get(next) else {
                    return None;
                };
                steps.push((unit, run, next));
                next += 1;
            }
            Op::SchemaVersion(_) => next += 1,
            Op::Commit => break,
            _ => return None,
        }
    }
    (!steps.is_empty()).then_some(Whole {
        begin: at,
        verify,
        steps,
        commit: next,
    })
}

/// Sends `whole` in one go ([`Driver::transaction_at_once`]): `None` where
/// the driver or its dialect cannot; otherwise success, or the operation
/// that failed and its error.
fn send_whole<D: Driver>(
    driver: &mut D,
    sql: &HistorySql,
    script: &Script,
    whole: &Whole,
    expected: Option<&RecentRows>,
    started: &mut [Instant],
    logging: &Logging<'_>,
) -> Option<std::result::Result<(), (usize, Error)>> {
    let guard = match (whole.verify, expected) {
        (Some(_), Some(expected)) => Some(sql.recent_rows_guard(expected)?),
        _ => None,
    };
    let mut texts = Vec::with_capacity(whole.steps.len());
    for &(unit, run, write) in &whole.steps {
        let Some(Step::Sql { sql: text, .. }) = script.units[unit].step else {
            return None;
        };
        let Op::Write(write) = script.ops[write] else {
            return None;
        };
        let timed = matches!(write, Write::Applied(_));
        let mut record = sql.inline(row_statement(sql, script, write, started), timed)?;
        // Its log row goes with it, timed by the server too.
        if let Some(entry) = logging.entry(script, write, started) {
            let logged = sql.inline(logging.sql.insert(&entry, logging.actor), true)?;
            record.push_str(";\n");
            record.push_str(&logged);
        }
        if let Err(e) = refuse_transaction_control(text, driver.sql_rules(), "the migration") {
            return Some(Err((run, e)));
        }
        texts.push((*text, record));
    }
    let steps: Vec<WholeStep<'_>> = texts
        .iter()
        .map(|(text, record)| WholeStep { sql: text, record })
        .collect();
    let sent = Instant::now();
    for &(unit, _, _) in &whole.steps {
        started[unit] = sent;
    }
    // The driver names a step by its index among `steps`.
    let step = |i: usize| whole.steps[i.min(whole.steps.len() - 1)];
    Some(
        match driver.transaction_at_once(guard.as_deref(), &steps)? {
            AtOnce::Done(took) => {
                // Each step's time as the database measured it, where it did.
                if took.len() == whole.steps.len() {
                    let mut at = sent;
                    for (&(unit, _, _), took) in whole.steps.iter().zip(took) {
                        started[unit] = at;
                        at += took;
                    }
                }
                Ok(())
            }
            AtOnce::NotBegun(e) => Err((whole.begin, e)),
            AtOnce::HistoryChanged => Err((whole.verify.unwrap_or(whole.begin), sql.changed())),
            AtOnce::Step(i, e) => Err((step(i).1, e)),
            AtOnce::Ended(i) => Err((step(i).1, Error::TransactionEnded)),
            AtOnce::Record(i, e) => Err((step(i).2, sql.write_failed(e))),
            AtOnce::Commit(e) => Err((whole.commit, e)),
        },
    )
}

/// When operation `at` records unit `i` in progress and the next runs its
/// no-transaction SQL step: `i` and the step.
fn recorded_sql_step(script: &Script, at: usize) -> Option<(usize, &'static Step)> {
    let (Some(Op::Write(Write::InProgress(i))), Some(Op::Run(run))) =
        (script.ops.get(at), script.ops.get(at + 1))
    else {
        return None;
    };
    let unit = &script.units[*i];
    match unit.step {
        Some(step @ Step::Sql { .. }) if run == i && unit.mode == SqlMode::NoTransaction => {
            Some((*i, step))
        }
        _ => None,
    }
}

/// The outcome of two operations sent together, as one executor step: `Err`
/// is the first's failure (`first_failed` names it), reported at the first;
/// `Ok(Err)` the second's, reported at the second, so `at` moves on to it.
fn sent_together(
    at: &mut usize,
    outcome: Result<Result<()>>,
    first_failed: impl FnOnce(Error) -> Error,
) -> Result<()> {
    match outcome {
        Err(e) => Err(first_failed(e)),
        Ok(second) => {
            *at += 1;
            second
        }
    }
}

/// What a step that ran amounts to, beyond its own result: a transactional
/// step that ended its transaction, or a no-transaction one that left one
/// open, failed.
fn step_outcome<D: Driver>(
    driver: &mut D,
    mode: SqlMode,
    intact: Option<bool>,
    result: Result<()>,
) -> Result<()> {
    if mode != SqlMode::NoTransaction {
        // Checked after errors too: a step that committed part of itself
        // and then failed was not rolled back, whatever its error says.
        let intact = match intact {
            Some(intact) => Some(intact),
            None => driver.transaction_intact().unwrap_or(None),
        };
        if intact == Some(false) {
            return Err(Error::TransactionEnded);
        }
    } else if result.is_ok() && driver.in_transaction() == Some(true) {
        return Err(Error::other(
            "the migration left a transaction of its own open (a BEGIN, or on MySQL a SET \
             autocommit = 0, without its COMMIT), so its changes since then were rolled back; \
             end it with COMMIT",
        ));
    }
    result
}

/// Refuses SQL holding top-level transaction control, read with `rules`.
/// PostgreSQL reads backslashes in strings as escapes when
/// `standard_conforming_strings` is off, which a migration may even set
/// itself: both readings are checked.
fn refuse_transaction_control(sql: &str, rules: LexicalRules, what: &str) -> Result<()> {
    let found = match rules {
        LexicalRules::Postgres | LexicalRules::PostgresBackslashStrings => {
            crate::source::sql::transaction_control(sql, LexicalRules::Postgres).or_else(|| {
                crate::source::sql::transaction_control(sql, LexicalRules::PostgresBackslashStrings)
            })
        }
        other => crate::source::sql::transaction_control(sql, other),
    };
    match found {
        Some((line, command)) => Err(Error::other(format!(
            "`{command}` (line {line} of {what}) is transaction control, but this migration \
             already runs in a transaction; remove it"
        ))),
        None => Ok(()),
    }
}

/// The `Tx` a Rust migration receives: the driver's, refusing SQL that
/// would end the transaction the migration runs in.
struct Guarded<'d, D>(&'d mut D);

impl<D: Driver> Guarded<'_, D> {
    fn check(&self, sql: &str) -> Result<()> {
        let rules = self.0.sql_rules();
        refuse_transaction_control(sql, rules, "the SQL passed to `Tx`")?;
        if self.0.sql_dialect().transactional_ddl() {
            return Ok(());
        }
        // MySQL would commit the migration's transaction on the spot, and
        // run the rest of it, and its history row, outside any transaction.
        match crate::source::sql::first_ddl(sql, rules) {
            Some((line, command)) => Err(Error::other(format!(
                "`{command}` (line {line} of the SQL passed to `Tx`) commits implicitly on {}, \
                 which would end this migration's transaction halfway; nothing of this \
                 migration was applied. Move the schema change into a SQL migration, which \
                 migrate records in progress first and runs statement by statement",
                self.0.dialect()
            ))),
            None => Ok(()),
        }
    }
}

impl<D: Driver> Tx for Guarded<'_, D> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.check(sql)?;
        self.0.execute(sql, params)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.check(sql)?;
        self.0.batch(sql)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>> {
        self.check(sql)?;
        self.0.query(sql, params)
    }

    fn dialect(&self) -> Dialect {
        self.0.dialect()
    }
}
