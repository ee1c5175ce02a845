//! The choreography, decided once: what happens to the database for one
//! migration step, a grouped run, a baseline or a repair — begin, run,
//! write the history row, set the schema version, commit — and what a
//! failure at each point means: rolled back, left dirty, or unconfirmed.
//!
//! A [`Script`] is plain data: a list of [`Op`]s and a failure policy
//! ([`Script::failure`]). An executor (the synchronous one is in
//! `execute.rs`) performs the operations one by one against a driver and,
//! when one fails, does what the policy says. Nothing here performs I/O,
//! so an async executor is a twin of the sync one, not a copy of these
//! decisions.

use std::collections::BTreeMap;

use crate::driver::LockScope;
use crate::error::{Cleanup, Error};
use crate::history::{RowState, Seen};
use crate::registry::{Migration, SqlMode, Step};

/// What a step does to its migration's history row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// An up step: the row is inserted.
    Apply,
    /// A down step: the row is deleted.
    Revert,
}

/// One migration a script runs or records.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unit {
    pub migration: &'static Migration,
    /// The step to run (`None` when the migration is only recorded).
    pub step: Option<&'static Step>,
    pub change: Change,
    /// How the step meets transactions on this database ([`effective_mode`]).
    pub mode: SqlMode,
}

/// How `step` meets transactions on a database: as its file says, except
/// that where schema changes commit on the spot (`transactional_ddl` is
/// false), SQL holding one runs as a no-transaction step.
pub(crate) fn effective_mode(
    step: &Step,
    transactional_ddl: bool,
    rules: crate::source::sql::LexicalRules,
) -> SqlMode {
    match step {
        Step::Sql {
            sql,
            mode: SqlMode::Transaction,
        } if !transactional_ddl && crate::source::sql::first_ddl(sql, rules).is_some() => {
            SqlMode::NoTransaction
        }
        other => other.mode(),
    }
}

impl Unit {
    /// The file a failure names: the down step's when reverting.
    fn file(&self) -> &'static str {
        match self.change {
            Change::Revert => self
                .migration
                .down_file_name()
                .unwrap_or(self.migration.file_name()),
            Change::Apply => self.migration.file_name(),
        }
    }
}

/// A history row write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    /// Insert unit `i`'s row as applied, with the time since its step began.
    Applied(usize),
    /// Insert unit `i`'s row as in progress (a no-transaction step begins).
    InProgress(usize),
    /// Mark a row applied, with the time since unit `i`'s step began.
    Finish(u64, Option<usize>),
    /// Mark a row as reverting (a no-transaction down step begins).
    Reverting(u64),
    /// Delete a row (reverted, or undone by hand).
    Delete(u64),
}

/// One operation an executor performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Fail if foreign keys are violated already (before a table rebuild).
    CheckForeignKeysBefore,
    /// Turn foreign key enforcement off, remembering the setting; the
    /// executor restores it after the script, on every path.
    ForeignKeysOff,
    /// Open a write transaction (taking the migration lock, where the
    /// driver holds it per transaction).
    Begin,
    /// Commit, and — where the lock is held per transaction — keep holding
    /// it past the commit, in the same message, until [`Op::CommitReleasing`]:
    /// a step that runs between two transactions runs under it, so others
    /// wait for it instead of finding it unfinished. Taken and committed
    /// together, so an abandoned run cannot keep the lock with a clean
    /// history. The executor releases it on every failure path.
    CommitHolding,
    /// Commit, releasing what [`Op::CommitHolding`] kept, in the same message.
    CommitReleasing,
    /// Fail with [`Error::HistoryChanged`] unless the history is as the
    /// run last saw it (where the lock is held per transaction, another
    /// process may have changed it between two of ours).
    Verify,
    /// Run unit `i`'s step. A panic, or the step ending its own
    /// transaction, is a failure like an error.
    Run(usize),
    /// Write a history row.
    Write(Write),
    /// Set the database's schema-version counter.
    SchemaVersion(u64),
    /// Fail if the transaction left foreign keys violated.
    CheckForeignKeysAfter,
    /// Commit.
    Commit,
}

/// How a script meets transactions, which decides what a failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One migration's step in a transaction with its history row.
    Step,
    /// Several migrations in one transaction.
    Group,
    /// One migration's step outside a transaction, recorded in progress first.
    NoTransaction,
    /// History writes only (baseline, repair), in one transaction.
    Bookkeeping,
}

/// The operations for one piece of work, and what a failure means.
#[derive(Debug)]
pub(crate) struct Script {
    pub units: Vec<Unit>,
    pub ops: Vec<Op>,
    kind: Kind,
}

/// What the executor must do after operation `at` failed, beyond ending
/// whatever transaction is open (always).
#[derive(Debug)]
pub(crate) struct Failure {
    /// A history write marking the migration dirty, after the rollback.
    pub mark_dirty: Option<Write>,
    /// The error to return.
    pub error: Error,
}

impl Script {
    /// One migration's step: in a transaction with its history row, or —
    /// for a no-transaction step — recorded as unfinished first.
    /// `schema_version` is the highest applied version once it is done.
    pub fn step(unit: Unit, schema_version: u64, scope: LockScope) -> Script {
        let version = unit.migration.version();
        let mode = unit.mode;
        let (kind, ops) = match (mode, unit.change) {
            (SqlMode::NoTransaction, change) => {
                let (mark, done) = match change {
                    Change::Apply => (Write::InProgress(0), Write::Finish(version, Some(0))),
                    Change::Revert => (Write::Reverting(version), Write::Delete(version)),
                };
                let ops = match scope {
                    LockScope::Transaction => {
                        // The marker is written once the history is checked
                        // unchanged; the lock is kept from its commit to
                        // the finishing one; the step runs in between.
                        vec![
                            Op::Begin,
                            Op::Verify,
                            Op::Write(mark),
                            Op::CommitHolding,
                            Op::Run(0),
                            Op::Begin,
                            Op::Write(done),
                            Op::SchemaVersion(schema_version),
                            Op::CommitReleasing,
                        ]
                    }
                    _ => vec![
                        Op::Write(mark),
                        Op::Run(0),
                        Op::Write(done),
                        Op::SchemaVersion(schema_version),
                    ],
                };
                (Kind::NoTransaction, ops)
            }
            (mode, change) => {
                let record = match change {
                    Change::Apply => Write::Applied(0),
                    Change::Revert => Write::Delete(version),
                };
                let body = [
                    Op::Run(0),
                    Op::Write(record),
                    Op::SchemaVersion(schema_version),
                ];
                (
                    Kind::Step,
                    transaction(&body, mode == SqlMode::ForeignKeysOff, scope),
                )
            }
        };
        Script {
            units: vec![unit],
            ops,
            kind,
        }
    }

    /// Several migrations applied in one transaction, all or nothing. The
    /// caller has refused no-transaction migrations.
    pub fn group(
        migrations: &[&'static Migration],
        schema_version: u64,
        scope: LockScope,
    ) -> Script {
        let units = applying(migrations, true);
        let mut body = Vec::new();
        for i in 0..units.len() {
            body.push(Op::Run(i));
            body.push(Op::Write(Write::Applied(i)));
        }
        body.push(Op::SchemaVersion(schema_version));
        let foreign_keys_off = migrations
            .iter()
            .any(|m| m.up().mode() == SqlMode::ForeignKeysOff);
        Script {
            units,
            ops: transaction(&body, foreign_keys_off, scope),
            kind: Kind::Group,
        }
    }

    /// Records `migrations` as applied without running them.
    pub fn baseline(
        migrations: &[&'static Migration],
        schema_version: u64,
        scope: LockScope,
    ) -> Script {
        let units = applying(migrations, false);
        let mut body: Vec<Op> = (0..units.len())
            .map(|i| Op::Write(Write::Applied(i)))
            .collect();
        body.push(Op::SchemaVersion(schema_version));
        Script {
            units,
            ops: transaction(&body, false, scope),
            kind: Kind::Bookkeeping,
        }
    }

    /// Resolves an unfinished row: applied, or forgotten.
    pub fn repair(version: u64, applied: bool, schema_version: u64, scope: LockScope) -> Script {
        let write = if applied {
            Write::Finish(version, None)
        } else {
            Write::Delete(version)
        };
        Script {
            units: Vec::new(),
            ops: transaction(
                &[Op::Write(write), Op::SchemaVersion(schema_version)],
                false,
                scope,
            ),
            kind: Kind::Bookkeeping,
        }
    }

    /// The index of the unit an operation belongs to: the last one run or
    /// written at or before `at` (the last unit for a group's closing
    /// operations).
    fn culprit(&self, at: usize) -> Option<usize> {
        if let Some(
            Op::SchemaVersion(_) | Op::CheckForeignKeysAfter | Op::Commit | Op::CommitReleasing,
        ) = self.ops.get(at)
        {
            return self.units.len().checked_sub(1);
        }
        let before = &self.ops[..=at.min(self.ops.len().saturating_sub(1))];
        let index = before.iter().rev().find_map(|op| match op {
            Op::Run(i)
            | Op::Write(Write::Applied(i) | Write::InProgress(i))
            | Op::Write(Write::Finish(_, Some(i))) => Some(*i),
            _ => None,
        });
        index.or((!self.units.is_empty()).then_some(0))
    }

    /// What operation `at` failing with `error` means. `step_fault` is the
    /// driver's word that the error was caused by the step that ran before;
    /// `commit_refused`, that a failed commit was refused (rolled back)
    /// rather than unanswered.
    pub fn failure(
        &self,
        at: usize,
        error: Error,
        step_fault: Option<&'static str>,
        commit_refused: bool,
    ) -> Failure {
        let op = self.ops.get(at).copied();
        // Nothing of this script ran: the lock was not granted, or the
        // history changed since the run read it (the run reads it again).
        let ran = self.ops[..at.min(self.ops.len())]
            .iter()
            .any(|op| matches!(op, Op::Run(_) | Op::Write(_)));
        if !ran
            && matches!(
                (op, &error),
                (Some(Op::Verify), _) | (Some(Op::Begin), Error::LockTimeout { .. })
            )
        {
            return Failure {
                mark_dirty: None,
                error,
            };
        }
        let error = match (op, step_fault, error) {
            // Violations already there are not this migration's.
            (
                Some(Op::CheckForeignKeysBefore),
                _,
                Error::ForeignKeyViolations {
                    count, examples, ..
                },
            ) => Error::ForeignKeyViolations {
                count,
                examples,
                before_migration: true,
            },
            // A history write the step made fail (an aborted transaction,
            // dropped prepared statements): the step's fault.
            (Some(Op::Write(_) | Op::SchemaVersion(_)), Some(fault), _) => Error::other(fault),
            // A commit that reports failure may still have happened.
            (Some(Op::Commit | Op::CommitHolding | Op::CommitReleasing), _, error)
                if !commit_refused =>
            {
                Error::Unconfirmed(Box::new(error))
            }
            (_, _, error) => error,
        };
        let Some(index) = self.culprit(at) else {
            return Failure {
                mark_dirty: None,
                error,
            };
        };
        let unit = &self.units[index];
        let (cleanup, mark_dirty) = match self.kind {
            Kind::Bookkeeping => {
                return Failure {
                    mark_dirty: None,
                    error,
                }
            }
            // The dirty marker was committed before the step ran; whatever
            // transaction the step opened itself ends here.
            Kind::NoTransaction => (Cleanup::LeftDirty, None),
            // Part of it may be committed: say so, and make the next run
            // stop until someone has looked.
            Kind::Step | Kind::Group if matches!(error, Error::TransactionEnded) => {
                let mark = match unit.change {
                    Change::Apply => Write::InProgress(index),
                    Change::Revert => Write::Reverting(unit.migration.version()),
                };
                (Cleanup::LeftDirty, Some(mark))
            }
            Kind::Group => (Cleanup::GroupRolledBack, None),
            Kind::Step => (Cleanup::RolledBack, None),
        };
        // A no-transaction step whose dirty marker could not be written
        // (and committed) never ran: its error is the history's, as it is.
        let before_it_ran = self.kind == Kind::NoTransaction
            && self.ops[..=at.min(self.ops.len().saturating_sub(1))]
                .iter()
                .all(|op| !matches!(op, Op::Run(_)));
        Failure {
            mark_dirty,
            error: failed(unit, cleanup, error, before_it_ran),
        }
    }

    /// The version of the first history row this script writes.
    pub fn first_written_version(&self) -> Option<u64> {
        self.ops.iter().find_map(|op| match op {
            Op::Write(Write::Applied(i) | Write::InProgress(i)) => {
                Some(self.units[*i].migration.version())
            }
            Op::Write(Write::Finish(v, _) | Write::Reverting(v) | Write::Delete(v)) => Some(*v),
            _ => None,
        })
    }

    /// Brings `model` (version → state) up to date with what this script
    /// wrote, once it succeeded.
    pub fn record(&self, model: &mut BTreeMap<u64, Seen>) {
        for op in &self.ops {
            let Op::Write(write) = op else { continue };
            let chain = |i: usize| self.units[i].migration.chained_checksum().to_owned();
            match *write {
                Write::Applied(i) => {
                    let version = self.units[i].migration.version();
                    model.insert(version, (RowState::Applied, chain(i)));
                }
                Write::InProgress(i) => {
                    let version = self.units[i].migration.version();
                    model.insert(version, (RowState::InProgress, chain(i)));
                }
                Write::Finish(v, _) => {
                    if let Some(row) = model.get_mut(&v) {
                        row.0 = RowState::Applied;
                    }
                }
                Write::Reverting(v) => {
                    if let Some(row) = model.get_mut(&v) {
                        row.0 = RowState::Reverting;
                    }
                }
                Write::Delete(v) => {
                    model.remove(&v);
                }
            }
        }
    }
}

/// `migrations` as units to apply: their up steps run, or (`run` false)
/// only recorded.
fn applying(migrations: &[&'static Migration], run: bool) -> Vec<Unit> {
    migrations
        .iter()
        .map(|m| Unit {
            migration: m,
            step: run.then(|| m.up()),
            change: Change::Apply,
            mode: if run {
                m.up().mode()
            } else {
                SqlMode::Transaction
            },
        })
        .collect()
}

/// `body` in a transaction; with `foreign_keys_off`, SQLite's rebuild
/// procedure around it; with a lock held per transaction, the history
/// checked unchanged first.
///
/// The schema-version update goes before the last history write, so that
/// the write is the last statement before `COMMIT` and a driver can send
/// the two together ([`Driver::execute_and_commit`](crate::Driver::execute_and_commit)).
fn transaction(body: &[Op], foreign_keys_off: bool, scope: LockScope) -> Vec<Op> {
    let mut body = body.to_vec();
    if let [.., Op::Write(_), Op::SchemaVersion(_)] = body[..] {
        let n = body.len();
        body.swap(n - 2, n - 1);
    }
    let mut ops = Vec::with_capacity(body.len() + 6);
    if foreign_keys_off {
        ops.push(Op::CheckForeignKeysBefore);
        ops.push(Op::ForeignKeysOff);
    }
    ops.push(Op::Begin);
    if scope == LockScope::Transaction {
        ops.push(Op::Verify);
    }
    ops.extend_from_slice(&body);
    if foreign_keys_off {
        ops.push(Op::CheckForeignKeysAfter);
    }
    ops.push(Op::Commit);
    ops
}

/// The error for a failed migration: `Failed`, naming its file, unless
/// the fault is the history table's own (`History`), or nothing of the
/// migration ran yet (`before_it_ran`: its dirty marker could not be written).
fn failed(unit: &Unit, cleanup: Cleanup, source: Error, before_it_ran: bool) -> Error {
    let (cleanup, source): (Cleanup, crate::error::BoxError) = match source {
        history @ Error::History { .. } => return history,
        other if before_it_ran => return other,
        Error::Unconfirmed(source) => (Cleanup::Unconfirmed, source),
        // A Rust migration's own error, or the driver's, is the cause itself.
        Error::Driver(e) | Error::Other(e) => (cleanup, e),
        other => (cleanup, Box::new(other)),
    };
    Error::Failed {
        version: unit.migration.version(),
        name: unit.migration.name().to_owned(),
        file: unit.file().to_owned(),
        cleanup,
        source,
    }
}

#[cfg(test)]
mod tests {
    //! The decisions on plain values: which operations, and what a failure
    //! at each one means.

    use super::*;
    use crate::plan::tests::SET;

    fn unit(version: u64, change: Change) -> Unit {
        let migration = SET.get(version).unwrap();
        let step = match change {
            Change::Apply => migration.up(),
            Change::Revert => migration.down().unwrap(),
        };
        Unit {
            migration,
            step: Some(step),
            change,
            mode: step.mode(),
        }
    }

    fn cleanup_of(error: &Error) -> Option<(u64, Cleanup, &str)> {
        match error {
            Error::Failed {
                version,
                cleanup,
                file,
                ..
            } => Some((*version, *cleanup, file.as_str())),
            _ => None,
        }
    }

    #[test]
    fn a_transactional_step_is_begin_run_version_record_commit() {
        let script = Script::step(unit(1, Change::Apply), 1, LockScope::Session);
        assert_eq!(
            script.ops,
            [
                Op::Begin,
                Op::Run(0),
                Op::SchemaVersion(1),
                Op::Write(Write::Applied(0)),
                Op::Commit
            ]
        );
        let revert = Script::step(unit(3, Change::Revert), 2, LockScope::Session);
        assert_eq!(revert.ops[3], Op::Write(Write::Delete(3)));
    }

    #[test]
    fn failures_roll_back_name_the_file_and_say_what_became_of_it() {
        let script = Script::step(unit(1, Change::Apply), 1, LockScope::Session);
        let failure = script.failure(1, Error::other("boom"), None, false);
        assert!(failure.mark_dirty.is_none());
        assert_eq!(
            cleanup_of(&failure.error),
            Some((1, Cleanup::RolledBack, "0001_a.sql"))
        );
        // A lost reply to COMMIT is not a rollback.
        let failure = script.failure(4, Error::other("connection reset"), None, false);
        assert_eq!(
            cleanup_of(&failure.error),
            Some((1, Cleanup::Unconfirmed, "0001_a.sql"))
        );
        // A commit the database refused is a rollback, not a doubt.
        let failure = script.failure(4, Error::other("deferred constraint"), None, true);
        assert_eq!(
            cleanup_of(&failure.error),
            Some((1, Cleanup::RolledBack, "0001_a.sql"))
        );
        // A step that ended its own transaction is marked dirty.
        let failure = script.failure(1, Error::TransactionEnded, None, false);
        assert_eq!(failure.mark_dirty, Some(Write::InProgress(0)));
        assert_eq!(
            cleanup_of(&failure.error).map(|c| c.1),
            Some(Cleanup::LeftDirty)
        );
        // A history write refused in an aborted transaction blames the step.
        let failure = script.failure(
            3,
            Error::Driver("aborted".into()),
            Some("it ignored"),
            false,
        );
        assert!(failure.error.to_string().contains("it ignored"));
        // A revert names the down file.
        let revert = Script::step(unit(3, Change::Revert), 2, LockScope::Session);
        let failure = revert.failure(1, Error::other("boom"), None, false);
        assert_eq!(
            cleanup_of(&failure.error),
            Some((3, Cleanup::RolledBack, "0003_c.down.sql"))
        );
    }

    #[test]
    fn a_group_is_one_transaction_and_names_the_step_that_failed() {
        let all: Vec<&'static Migration> = SET.iter().collect();
        let script = Script::group(&all, 3, LockScope::Session);
        assert_eq!(script.ops.first(), Some(&Op::Begin));
        assert_eq!(script.ops.last(), Some(&Op::Commit));
        assert_eq!(script.ops.iter().filter(|op| **op == Op::Begin).count(), 1);
        let second_run = script.ops.iter().position(|op| *op == Op::Run(1)).unwrap();
        let failure = script.failure(second_run, Error::other("boom"), None, false);
        assert_eq!(
            cleanup_of(&failure.error),
            Some((2, Cleanup::GroupRolledBack, "0002_b.sql"))
        );
    }

    #[test]
    fn a_rebuild_turns_foreign_keys_off_around_its_transaction() {
        let script = Script::step(unit(1, Change::Apply), 1, LockScope::Session);
        assert!(!script.ops.contains(&Op::ForeignKeysOff));
        let mut ops = transaction(&[Op::Run(0)], true, LockScope::Session);
        assert_eq!(ops.remove(0), Op::CheckForeignKeysBefore);
        assert_eq!(ops.remove(0), Op::ForeignKeysOff);
        assert_eq!(
            ops,
            [Op::Begin, Op::Run(0), Op::CheckForeignKeysAfter, Op::Commit]
        );
    }
}
