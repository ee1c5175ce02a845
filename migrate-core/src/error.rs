//! `migrate::Error`: every way running migrations can fail, each message
//! naming the migration file, the version and what to do next.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error from a database driver or a Rust migration.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What became of a failed migration's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cleanup {
    /// Its transaction was rolled back; earlier migrations stay applied.
    RolledBack,
    /// The whole group (grouped mode) was rolled back: nothing was applied.
    GroupRolledBack,
    /// It ran outside a transaction: the database may be partly changed and
    /// is marked dirty until repaired.
    LeftDirty,
    /// The commit was sent but not confirmed (the connection failed): the
    /// migration and its history row were committed together or not at
    /// all, and the history says which.
    Unconfirmed,
}

/// Everything that can go wrong while migrating.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A migration failed; see `cleanup` for what became of its changes.
    Failed {
        /// The migration's version.
        version: u64,
        /// The migration's name.
        name: String,
        /// The migration's file.
        file: String,
        /// Rolled back, group rolled back, or left dirty.
        cleanup: Cleanup,
        /// The database's (or the Rust migration's) error.
        source: BoxError,
    },
    /// An applied migration differs from the one embedded in this binary.
    ChecksumMismatch {
        /// The migration's version.
        version: u64,
        /// The migration's name.
        name: String,
        /// The migration's file.
        file: String,
        /// The checksum recorded when it was applied.
        applied: String,
        /// The checksum of the file embedded in this binary.
        embedded: String,
        /// Whether the two texts differ only in whitespace.
        whitespace_only: bool,
    },
    /// A migration that runs outside a transaction started but never finished.
    Dirty {
        /// The migration's version.
        version: u64,
        /// The migration's name.
        name: String,
        /// The migration's file.
        file: String,
    },
    /// A rollback by steps asked for more migrations than are applied;
    /// nothing was changed.
    TooFewApplied {
        /// The steps asked for.
        steps: u64,
        /// The applied migrations this binary knows.
        applied: usize,
    },
    /// A migration's down step did not restore the schema its up step
    /// was applied to ([`Runner::verify_reversible`](crate::Runner::verify_reversible)).
    NotReversible {
        /// The migration's version.
        version: u64,
        /// The migration's name.
        name: String,
        /// The down step's file.
        file: String,
        /// What differs, one line each: `- ` what the revert lost, `+ `
        /// what it left behind, `~ ` what it changed.
        differences: Vec<String>,
    },
    /// A rollback needs a migration that has no down step; nothing was changed.
    Irreversible {
        /// The migration's version.
        version: u64,
        /// The migration's name.
        name: String,
        /// The migration's file.
        file: String,
    },
    /// The history records another name for a version, with another
    /// checksum: the table holds a different migration set's history.
    HistoryOfAnotherSet {
        /// The version.
        version: u64,
        /// This binary's file for it.
        file: String,
        /// The name the history recorded for it.
        recorded_name: String,
    },
    /// The history lacks a version that a later row proves was applied (its
    /// chained checksum covers it): the row was deleted by hand, and
    /// applying the migration again would apply it twice.
    MissingHistoryRow {
        /// The version whose row is missing.
        version: u64,
        /// Its file.
        file: String,
        /// The later version whose row covers it.
        covered_by: u64,
    },
    /// The database holds versions this binary does not know (strict mode only).
    FutureVersions {
        /// The unknown versions.
        versions: Vec<u64>,
        /// The highest version this binary knows.
        latest_known: u64,
    },
    /// A pending migration is older than the newest applied one, and out-of-order
    /// application is not allowed.
    OutOfOrder {
        /// The pending migration's version.
        version: u64,
        /// The pending migration's file.
        file: String,
        /// The highest applied version.
        highest_applied: u64,
    },
    /// A version asked for (`run_to`, `rollback_to`, `baseline`, `repair`) that this binary does not have.
    UnknownVersion {
        /// The version asked for.
        version: u64,
        /// The highest version this binary knows.
        latest_known: u64,
    },
    /// `baseline` on a database whose history is not empty.
    HistoryNotEmpty {
        /// The history table.
        table: String,
        /// How many rows it holds.
        rows: usize,
    },
    /// Grouped mode met a migration that must run outside a transaction.
    NoTransactionInGroup {
        /// The migration's version.
        version: u64,
        /// The migration's file.
        file: String,
    },
    /// A migration that runs outside a transaction, through a transaction
    /// pooler ([`LockStrategy::TransactionPooler`](crate::LockStrategy::TransactionPooler)),
    /// where nothing can hold the migration lock while it runs. Refused
    /// before anything is applied or reverted.
    NeedsSession {
        /// The migration's version.
        version: u64,
        /// The migration's file.
        file: String,
    },
    /// The database refused to be written to (a hot standby, a read-only
    /// transaction or server) while the run had migrations to apply or
    /// revert. Nothing was changed.
    ReadOnly {
        /// The history table.
        table: String,
        /// The versions the run would have applied (or reverted), in order.
        versions: Vec<u64>,
    },
    /// A migration could not take a table lock within the DDL lock timeout
    /// ([`Runner::ddl_lock_timeout`](crate::Runner::ddl_lock_timeout)), on
    /// every attempt. Each attempt was rolled back: nothing of it applied.
    DdlLockTimeout {
        /// The migration's version.
        version: u64,
        /// The migration's file.
        file: String,
        /// How long each attempt waited for a lock.
        timeout: Duration,
        /// How many attempts were made.
        attempts: u32,
        /// What became of the last attempt: rolled back, or — a migration
        /// that ran outside a transaction (a schema change on MySQL) —
        /// left dirty, though the statement that waited changed nothing.
        cleanup: Cleanup,
        /// The sessions holding table locks in an open transaction when
        /// the last attempt gave up, oldest transaction first, as the
        /// database describes them (empty where it cannot say).
        holders: Vec<String>,
        /// The database's error of the last attempt.
        source: BoxError,
    },
    /// Grouped mode met a `-- migrate:foreign-keys-off` migration among others.
    ForeignKeysOffInGroup {
        /// The migration's version.
        version: u64,
        /// The migration's file.
        file: String,
    },
    /// `repair` on a version that is not unfinished.
    NothingToRepair {
        /// The version asked for.
        version: u64,
    },
    /// Another process held the migration lock for longer than the timeout.
    LockTimeout {
        /// The history table the lock guards.
        table: String,
        /// How long this process waited.
        waited: Duration,
        /// Who holds the lock, if the database says (e.g. `pid 4242`).
        holder: Option<String>,
    },
    /// Another process changed the history between two transactions of a
    /// run whose lock is held per transaction. The runtime reads the
    /// history again and re-plans; this reaches the caller only when that
    /// keeps happening.
    HistoryChanged {
        /// The history table.
        table: String,
    },
    /// The history table itself could not be created, read or written: the
    /// fault is in the database's set-up (privileges, a read-only
    /// connection, another tool's table under the same name), not in a
    /// migration.
    History {
        /// The history table.
        table: String,
        /// What migrate was doing, e.g. `create`.
        action: &'static str,
        /// The database's error.
        source: BoxError,
    },
    /// `baseline_from_user_version` on a set that does not own SQLite's
    /// `PRAGMA user_version` (only the set with the default history table does).
    UserVersionNotOwned {
        /// The set's history table.
        table: String,
    },
    /// The runtime was called on a connection inside a transaction of the
    /// caller's: migrations need their own transactions.
    InsideTransaction,
    /// A transactional migration ended its own transaction (a `COMMIT` or
    /// `ROLLBACK` the checks could not see, or a conflict clause such as
    /// SQLite's `INSERT OR ROLLBACK`): part of it may be committed.
    TransactionEnded,
    /// A commit the database did not confirm; see [`Cleanup::Unconfirmed`].
    Unconfirmed(BoxError),
    /// A history row holds a value migrate never writes: it was changed by hand.
    CorruptHistory {
        /// The history table.
        table: String,
        /// The column holding the value.
        column: &'static str,
        /// What the column should hold.
        expected: &'static str,
        /// What it holds, as SQL would show it.
        found: String,
    },
    /// A history table name that is not a plain identifier (only a
    /// hand-built registry can hold one; the macro refuses it).
    InvalidTableName(String),
    /// SQL and parameters passed to [`Tx`](crate::Tx) that do not fit: a
    /// missing `$N`, a count mismatch.
    Parameters(String),
    /// A value that cannot cross the [`Tx`](crate::Tx) boundary: a column
    /// type a [`Value`](crate::Value) cannot hold.
    Conversion(String),
    /// The migration lock file next to a SQLite database cannot be used.
    LockFile {
        /// The lock file.
        path: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `PRAGMA foreign_key_check` found violations before a
    /// `-- migrate:foreign-keys-off` migration's commit.
    ForeignKeyViolations {
        /// How many rows violate a foreign key.
        count: usize,
        /// The first few, as `table row N → parent`.
        examples: Vec<String>,
        /// Whether they were there before the migration ran (then it did not run).
        before_migration: bool,
    },
    /// PostgreSQL's `search_path` names no existing schema, so an
    /// unqualified history table has nowhere to live.
    NoSchemaSelected,
    /// Any other database error: the database's own, nothing else.
    Driver(BoxError),
    /// An error raised by a Rust migration's own code, see [`Error::other`].
    Other(BoxError),
}

impl Error {
    /// Wraps an error (or a message) raised by a Rust migration's own code.
    ///
    /// ```
    /// fn parse_flag(text: &str) -> migrate_core::Result<bool> {
    ///     text.parse().map_err(migrate_core::Error::other)
    /// }
    /// assert!(parse_flag("maybe").is_err());
    /// let err = migrate_core::Error::other("settings row is missing");
    /// assert_eq!(err.to_string(), "settings row is missing");
    /// ```
    pub fn other(error: impl Into<BoxError>) -> Self {
        Error::Other(error.into())
    }

    /// The version of the migration this error is about, if any.
    pub fn version(&self) -> Option<u64> {
        match self {
            Error::Failed { version, .. }
            | Error::ChecksumMismatch { version, .. }
            | Error::Dirty { version, .. }
            | Error::Irreversible { version, .. }
            | Error::NotReversible { version, .. }
            | Error::OutOfOrder { version, .. }
            | Error::MissingHistoryRow { version, .. }
            | Error::HistoryOfAnotherSet { version, .. }
            | Error::UnknownVersion { version, .. }
            | Error::NoTransactionInGroup { version, .. }
            | Error::NeedsSession { version, .. }
            | Error::DdlLockTimeout { version, .. }
            | Error::ForeignKeysOffInGroup { version, .. }
            | Error::NothingToRepair { version } => Some(*version),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Failed {
                version,
                file,
                cleanup,
                source,
                ..
            } => match (cleanup, connection_fault(&source.to_string())) {
                (Cleanup::RolledBack | Cleanup::GroupRolledBack, Some(fix)) => write!(
                    f,
                    "migration {version} (`{file}`) could not run and was rolled back: \
                     {source}; {fix}"
                ),
                (Cleanup::RolledBack, None) => write!(
                    f,
                    "migration {version} (`{file}`) failed and was rolled back: {source}; \
                     fix the migration and run again (earlier migrations stay applied)"
                ),
                (Cleanup::GroupRolledBack, None) => write!(
                    f,
                    "migration {version} (`{file}`) failed, so the whole group was rolled back \
                     and nothing was applied: {source}; fix the migration and run again"
                ),
                (Cleanup::Unconfirmed, _) => write!(
                    f,
                    "migration {version} (`{file}`) was sent for commit but the database did not \
                     confirm it: {source}; it was committed with its history row or not at all: \
                     run again once the database is reachable, its history decides"
                ),
                (Cleanup::LeftDirty, _) => write!(
                    f,
                    "migration {version} (`{file}`) failed outside a transaction, so the \
                     database may be partly changed and is marked dirty: {source}; check the \
                     schema, finish or undo the change by hand, then mark it repaired \
                     (`migrate repair {version} completed` or `undone`)"
                ),
            },
            Error::ChecksumMismatch {
                version,
                file,
                applied,
                embedded,
                whitespace_only,
                ..
            } => {
                write!(
                    f,
                    "migration {version} (`{file}`) was changed after it was applied: \
                     the database recorded checksum {applied}, this binary embeds {embedded}"
                )?;
                if *whitespace_only {
                    write!(f, " (only whitespace differs)")?;
                }
                write!(
                    f,
                    "; restore the file as it was applied and put the change in a new migration, \
                     or rebuild if this binary is stale"
                )
            }
            Error::Dirty { version, file, .. } => write!(
                f,
                "migration {version} (`{file}`) runs outside a transaction and did not finish, \
                 so the database may be partly changed; check the schema, finish or undo the \
                 change by hand, then mark it repaired (`migrate repair {version} completed` or `undone`)"
            ),
            Error::NotReversible {
                version,
                file,
                differences,
                ..
            } => write!(
                f,
                "the down step of migration {version} (`{file}`) does not restore the schema \
                 the migration was applied to; after applying and reverting it:\n  {}\n\
                 make the down migration undo exactly what the up migration does",
                differences.join("\n  ")
            ),
            Error::TooFewApplied { steps, applied } => write!(
                f,
                "cannot roll back {steps} migration(s): only {applied} applied, so nothing was \
                 changed; roll back {applied} (`rollback_steps(conn, {applied})`, `migrate down \
                 --steps {applied}`) to revert them all"
            ),
            Error::Irreversible { version, file, .. } => write!(
                f,
                "migration {version} (`{file}`) has no down step, so it cannot be rolled back; \
                 add a down migration or roll back to version {version} or later (nothing was changed)"
            ),
            Error::FutureVersions {
                versions,
                latest_known,
            } => {
                let list: Vec<String> = versions.iter().map(u64::to_string).collect();
                write!(
                    f,
                    "the database has version(s) {} that this binary does not know (it knows 1 to \
                     {latest_known}); a newer release migrated it: deploy that release, or allow \
                     future versions",
                    list.join(", ")
                )
            }
            Error::OutOfOrder {
                version,
                file,
                highest_applied,
            } => write!(
                f,
                "migration {version} (`{file}`) is pending but version {highest_applied} is \
                 already applied; renumber it after {highest_applied}, or allow out-of-order \
                 migrations if applying it late is safe"
            ),
            Error::HistoryOfAnotherSet {
                version,
                file,
                recorded_name,
            } => write!(
                f,
                "the history records version {version} as `{recorded_name}`, but this binary's \
                 is `{file}`, with another checksum: the table holds another migration set's \
                 history; give each set its own `table = \"...\"` (SQLite ignores case in \
                 table names, so `History` and `history` are one table)"
            ),
            Error::MissingHistoryRow {
                version,
                file,
                covered_by,
            } => write!(
                f,
                "the history has no row for migration {version} (`{file}`), but the row of \
                 version {covered_by} records that it was applied before it, so the row was \
                 deleted by hand; applying it again would apply it twice: restore the row from \
                 a backup (nothing was changed)"
            ),
            Error::UnknownVersion {
                version,
                latest_known,
            } => write!(
                f,
                "version {version} is not one of this binary's migrations (it knows 1 to \
                 {latest_known}); pick a version in that range"
            ),
            Error::HistoryNotEmpty { table, rows } => write!(
                f,
                "cannot baseline: the history table `{table}` already holds {rows} row(s); \
                 baseline only adopts a database no migration has touched"
            ),
            Error::NoTransactionInGroup { version, file } => write!(
                f,
                "migration {version} (`{file}`) runs outside a transaction (it says \
                 `-- migrate:no-transaction`, or changes the schema on a database that commits \
                 schema changes on the spot), so it cannot be part of a grouped run; run \
                 without grouping, or apply up to version {} grouped \
                 first",
                version.saturating_sub(1)
            ),
            Error::NeedsSession { version, file } => write!(
                f,
                "migration {version} (`{file}`) runs outside a transaction, and through a \
                 transaction pooler (`LockStrategy::TransactionPooler`) nothing can hold the \
                 migration lock while it runs, so another instance could run it too; nothing \
                 was applied. Apply it over a direct connection or a session-mode pooler \
                 (e.g. `migrate up` with the database's own URL in a release step), then boot \
                 through the pooler"
            ),
            Error::DdlLockTimeout {
                version,
                file,
                timeout,
                attempts,
                cleanup,
                holders,
                source,
            } => {
                write!(
                    f,
                    "migration {version} (`{file}`) could not take a table lock within {} ms \
                     ({attempts} attempt(s), `ddl_lock_timeout`), so the application's queries \
                     kept flowing; ",
                    timeout.as_millis()
                )?;
                if *cleanup == Cleanup::LeftDirty {
                    write!(
                        f,
                        "it runs outside a transaction, so it is marked dirty: if the statement \
                         that waited was its first, nothing changed, and `migrate repair {version} undone` \
                         (`Repair::Undone`) lets it run again. "
                    )?;
                } else {
                    f.write_str("each attempt was rolled back. ")?;
                }
                if holders.is_empty() {
                    f.write_str("No open transaction holds a table lock now. ")?;
                } else {
                    write!(f, "Holding table locks: {}. ", holders.join("; "))?;
                }
                write!(
                    f,
                    "End or wait out those transactions and run again, or raise \
                     `ddl_lock_timeout`/`ddl_lock_retries` ({source})"
                )
            }
            Error::ReadOnly { table, versions } => write!(
                f,
                "the database is read-only (a replica?) and `{table}` needs {} to be \
                 changed ({}); nothing was changed. Migrate the primary first (e.g. run the \
                 new release's migrations against it in a release step): a replica then \
                 receives them, and boots with nothing pending",
                if versions.len() == 1 { "one version" } else { "versions" },
                versions
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Error::ForeignKeysOffInGroup { version, file } => write!(
                f,
                "migration {version} (`{file}`) turns foreign keys off, which in a grouped run \
                 would turn them off for every migration of the group (and their ON DELETE \
                 CASCADE with them); run without grouping, or group the migrations before \
                 and after it"
            ),
            Error::NothingToRepair { version } => write!(
                f,
                "version {version} is not unfinished, so there is nothing to repair; \
                 `repair` is for a migration that ran outside a transaction and did not finish"
            ),
            Error::LockTimeout {
                table,
                waited,
                holder,
            } => {
                write!(
                    f,
                    "gave up after {:.1}s waiting for the migration lock on `{table}`",
                    waited.as_secs_f64()
                )?;
                if let Some(holder) = holder {
                    write!(f, " (held by {holder})")?;
                }
                write!(
                    f,
                    "; another process is migrating: wait for it, or raise the lock timeout"
                )
            }
            Error::HistoryChanged { table } => write!(
                f,
                "the history table `{table}` kept changing under this run (other processes \
                 are migrating the same database at once); run it again"
            ),
            Error::History {
                table,
                action,
                source,
            } => write!(
                f,
                "could not {action} the history table `{table}`: {source}; {}",
                history_hint(&source.to_string())
            ),
            Error::UserVersionNotOwned { table } => write!(
                f,
                "the set with history table `{table}` does not own `PRAGMA user_version` (the \
                 set with the default table `migrate_schema_history` does), so its version \
                 cannot come from there; adopt it with `baseline(N)` naming its version"
            ),
            Error::InsideTransaction => f.write_str(
                "the connection is inside a transaction of its own, and migrations run in \
                 transactions of theirs; commit or roll back first, or migrate on another \
                 connection (nothing was changed). On MySQL with autocommit off, every read \
                 opens a transaction, migrate's own check of the history too: migrate on a \
                 connection with autocommit on",
            ),
            Error::TransactionEnded => f.write_str(
                "the migration ended its own transaction (a COMMIT or ROLLBACK, a conflict \
                 clause such as INSERT OR ROLLBACK, or on MySQL a statement that commits \
                 implicitly, such as a schema change inside a CALLed procedure), so part of it \
                 may already be committed",
            ),
            Error::Unconfirmed(source) => write!(
                f,
                "the database did not confirm a commit: {source}; check `status` before \
                 running again"
            ),
            Error::CorruptHistory {
                table,
                column,
                expected,
                found,
            } => write!(
                f,
                "history table `{table}`: column `{column}` should hold {expected} but holds \
                 {found}; it was changed outside migrate: restore it from a backup, or drop it \
                 and adopt the database again with `baseline`"
            ),
            Error::InvalidTableName(message) => f.write_str(message),
            Error::Parameters(message) | Error::Conversion(message) => f.write_str(message),
            Error::LockFile { path, source } => write!(
                f,
                "cannot use the migration lock file `{}`: {source}; the directory holding the \
                 database must be writable",
                path.display()
            ),
            Error::ForeignKeyViolations {
                count,
                examples,
                before_migration,
            } => {
                let more = if *count > examples.len() { ", ..." } else { "" };
                if *before_migration {
                    write!(
                        f,
                        "the database already has {count} foreign key violation(s) ({}{more}) \
                         before this migration, so the check after its table rebuild could not \
                         tell its own; fix them first (`PRAGMA foreign_key_check` lists them)",
                        examples.join(", ")
                    )
                } else {
                    write!(
                        f,
                        "the migration left {count} foreign key violation(s) ({}{more}); copy \
                         every referenced row into the rebuilt table before dropping the old one",
                        examples.join(", ")
                    )
                }
            }
            Error::NoSchemaSelected => f.write_str(
                "no schema is selected: `search_path` names no existing schema; set it, or \
                 qualify the history table as `schema.table`",
            ),
            Error::Driver(source) => write!(f, "database error: {source}"),
            Error::Other(source) => write!(f, "{source}"),
        }
    }
}

impl Error {
    /// Whether the database's own error in this one says it refused a
    /// write because it is read-only (the words every database uses).
    pub(crate) fn says_read_only(&self) -> bool {
        let cause = match self {
            Error::Failed { source, .. } => source.to_string(),
            other => match other.database_error() {
                Some(e) => e.to_string(),
                None => return false,
            },
        };
        says_read_only(&cause)
    }
}

fn says_read_only(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("read-only") || message.contains("readonly") || message.contains("read only")
}

/// A failure that is the connection's, not the migration's: its fix.
fn connection_fault(message: &str) -> Option<&'static str> {
    if says_read_only(message) {
        Some("the connection is read-only: migrate through a writable connection to the primary")
    } else if message.contains("database is locked") {
        Some(LOCKED)
    } else {
        None
    }
}

const LOCKED: &str = "another connection held the database's write lock for longer than the \
                      lock timeout: run again, or raise `lock_timeout`";

/// The likely cause of a failure on the history table, from the database's words.
fn history_hint(message: &str) -> &'static str {
    if says_read_only(message) {
        return "the connection is read-only: migrate through a writable connection to the primary";
    }
    let message = message.to_ascii_lowercase();
    if message.contains("permission denied")
        || message.contains("must be owner")
        || message.contains("command denied")
        || message.contains("access denied")
    {
        "the database user needs CREATE on the schema and SELECT, INSERT, UPDATE and DELETE on \
         the table: grant them, or migrate as the schema's owner"
    } else if message.contains("database is locked") {
        LOCKED
    } else if message.contains("no schema has been selected") {
        "`search_path` names no existing schema: set it, or qualify the table as `schema.table`"
    } else if message.contains("column") || message.contains("is not a table") {
        "a table of that name exists but was not created by migrate (another tool's history, \
         or a view): give migrate its own table with `table = \"...\"`"
    } else {
        "check the database's message; migrations themselves are not at fault"
    }
}

impl Error {
    /// The database's error inside a [`Driver`](Error::Driver) or
    /// [`History`](Error::History) error, for drivers classifying it.
    pub fn database_error(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        match self {
            Error::Driver(e) | Error::History { source: e, .. } => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// A Rust migration (or a step of the runtime) panicked; the transaction it
/// ran in was rolled back like after any error.
#[derive(Debug)]
pub struct Panicked {
    message: String,
}

impl From<Box<dyn std::any::Any + Send>> for Panicked {
    fn from(payload: Box<dyn std::any::Any + Send>) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string payload".to_owned());
        Panicked { message }
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.message)
    }
}

impl StdError for Panicked {}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            // Each displays its inner error itself, so its source is the
            // inner's own cause: `{:#}` and a CLI's `-v` show each cause once.
            Error::Failed { source, .. }
            | Error::Driver(source)
            | Error::Unconfirmed(source)
            | Error::Other(source)
            | Error::History { source, .. }
            | Error::DdlLockTimeout { source, .. } => source.source(),
            Error::LockFile { source, .. } => source.source(),
            _ => None,
        }
    }
}
