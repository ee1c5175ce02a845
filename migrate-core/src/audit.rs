//! The audit log: beside the history table (what is applied now), an
//! append-only table `<history table>_log` with one row per operation —
//! apply, revert, baseline, repair — including the attempts that failed.
//! A success is logged in the transaction that records it, so the two
//! commit together; a failure is logged after its transaction was rolled
//! back, so it is recorded although the migration is not.
//!
//! Boot with nothing pending neither reads nor writes the log; a run with
//! something to do creates it when missing, so existing databases gain it
//! on their next such run.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::dialect::SqlDialect;
use crate::error::{Error, Result};
use crate::table::TableName;
use crate::tx::{Tx, Value};

/// What an operation did to a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Its up step ran.
    Apply,
    /// Its down step ran.
    Revert,
    /// It was recorded as applied without running (`baseline`).
    Baseline,
    /// An unfinished row was resolved by hand (`repair`).
    Repair,
}

impl Operation {
    /// The word stored in the log: `apply`, `revert`, `baseline`, `repair`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "apply",
            Operation::Revert => "revert",
            Operation::Baseline => "baseline",
            Operation::Repair => "repair",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Operation::Apply,
            Operation::Revert,
            Operation::Baseline,
            Operation::Repair,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Done and recorded.
    Ok,
    /// Failed and rolled back: nothing of it remains.
    Failed,
    /// Failed outside a transaction: the database may be partly changed,
    /// and the history marks the migration dirty until `repair`.
    Dirty,
}

impl Outcome {
    /// The word stored in the log: `ok`, `failed`, `dirty`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Dirty => "dirty",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Outcome::Ok, Outcome::Failed, Outcome::Dirty]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// One row of the audit log ([`Migrations::log`](crate::Migrations::log)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogEntry {
    /// Its place in the log: later operations have higher ids.
    pub id: i64,
    /// The migration's version.
    pub version: u64,
    /// The migration's name (empty where the binary that wrote the row did
    /// not know the version).
    pub name: String,
    /// What was done.
    pub operation: Operation,
    /// How it ended.
    pub outcome: Outcome,
    /// The error, for a failure.
    pub error: Option<String>,
    /// When it started and finished, UTC ISO 8601 (`2026-11-23T21:56:23.120Z`).
    pub started_at: String,
    /// See `started_at`.
    pub finished_at: String,
    /// How long it took, in milliseconds.
    pub execution_ms: i64,
    /// The database user it ran as, where the database has users.
    pub db_user: Option<String>,
    /// The application that ran it: the embedding crate's name and version
    /// (or what [`Runner::application`](crate::Runner::application) says).
    pub app_name: Option<String>,
    /// See `app_name`.
    pub app_version: Option<String>,
    /// The host it ran on, where it could be read.
    pub host: Option<String>,
}

/// Who runs the operations a run logs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Actor {
    pub application: Option<(String, String)>,
    pub host: Option<String>,
}

impl Actor {
    pub(crate) fn new(application: Option<(&str, &str)>) -> Self {
        Actor {
            application: application.map(|(n, v)| (n.to_owned(), v.to_owned())),
            host: host_name(),
        }
    }
}

/// One operation to log.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    pub version: u64,
    pub name: &'a str,
    pub operation: Operation,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub started: SystemTime,
    pub took: Duration,
}

/// The columns, in the order `read` selects them.
const COLUMNS: &str = "id, version, name, operation, outcome, error, started_at, finished_at, \
                       execution_ms, db_user, app_name, app_version, host";

/// The SQL of the log table for one dialect, beside one history table.
pub(crate) struct LogSql {
    create: String,
    insert: String,
    select: String,
}

impl LogSql {
    /// The log of `history` (as resolved for the run): the same schema,
    /// the name with `_log` after it.
    pub(crate) fn new(dialect: &'static dyn SqlDialect, history: &TableName<'_>) -> Self {
        let name = format!("{}_log", history.table);
        let quoted = dialect.quote_table(&TableName {
            schema: history.schema,
            table: &name,
        });
        let text = "TEXT";
        let int64 = dialect.int64_type();
        LogSql {
            create: format!(
                "CREATE TABLE IF NOT EXISTS {quoted} (\n\
                 \x20   id {},\n\
                 \x20   version {int64} NOT NULL,\n\
                 \x20   name {text} NOT NULL,\n\
                 \x20   operation {text} NOT NULL,\n\
                 \x20   outcome {text} NOT NULL,\n\
                 \x20   error {text},\n\
                 \x20   started_at {text} NOT NULL,\n\
                 \x20   finished_at {text} NOT NULL,\n\
                 \x20   execution_ms {int64} NOT NULL,\n\
                 \x20   db_user {text},\n\
                 \x20   app_name {text},\n\
                 \x20   app_version {text},\n\
                 \x20   host {text}\n\
                 ){}",
                dialect.serial_key(),
                dialect.table_options()
            ),
            // `execution_ms` last: a transaction sent whole times it on the
            // server, as the history row's.
            insert: format!(
                "INSERT INTO {quoted} (version, name, operation, outcome, error, started_at, \
                 finished_at, db_user, app_name, app_version, host, execution_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, {}, {}, $7, $8, $9, $10)",
                dialect.clock_utc(),
                dialect.current_user()
            ),
            select: format!("SELECT {COLUMNS} FROM {quoted} ORDER BY id"),
        }
    }

    /// `CREATE TABLE IF NOT EXISTS` for the log.
    pub(crate) fn create_sql(&self) -> &str {
        &self.create
    }

    /// The statement logging `entry`, with its values.
    pub(crate) fn insert(&self, entry: &Entry<'_>, actor: &Actor) -> (&str, Vec<Value>) {
        let (app_name, app_version) = match &actor.application {
            Some((name, version)) => (name.clone().into(), version.clone().into()),
            None => (Value::Null, Value::Null),
        };
        (
            &self.insert,
            vec![
                Value::Integer(i64::try_from(entry.version).unwrap_or(i64::MAX)),
                entry.name.into(),
                entry.operation.as_str().into(),
                entry.outcome.as_str().into(),
                entry.error.clone().map_or(Value::Null, Value::Text),
                iso_utc(entry.started).into(),
                app_name,
                app_version,
                actor.host.clone().map_or(Value::Null, Value::Text),
                Value::Integer(i64::try_from(entry.took.as_millis()).unwrap_or(i64::MAX)),
            ],
        )
    }

    /// Every row, oldest first.
    pub(crate) fn read(&self, tx: &mut dyn Tx) -> Result<Vec<LogEntry>> {
        let rows = tx.query(&self.select, &[])?;
        rows.into_iter().map(entry_of).collect()
    }
}

fn entry_of(row: Vec<Value>) -> Result<LogEntry> {
    let text = |i: usize| match row.get(i) {
        Some(Value::Text(t)) => Some(t.clone()),
        Some(Value::Integer(n)) => Some(n.to_string()),
        _ => None,
    };
    let int = |i: usize| match row.get(i) {
        Some(Value::Integer(n)) => Some(*n),
        Some(Value::Text(t)) => t.parse().ok(),
        _ => None,
    };
    let bad = |what: &str| {
        Error::Conversion(format!(
            "the audit log holds a row migrate did not write ({what}); another tool's table \
             under the log's name?"
        ))
    };
    Ok(LogEntry {
        id: int(0).ok_or_else(|| bad("id"))?,
        version: int(1)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| bad("version"))?,
        name: text(2).unwrap_or_default(),
        operation: text(3)
            .as_deref()
            .and_then(Operation::parse)
            .ok_or_else(|| bad("operation"))?,
        outcome: text(4)
            .as_deref()
            .and_then(Outcome::parse)
            .ok_or_else(|| bad("outcome"))?,
        error: text(5),
        started_at: text(6).unwrap_or_default(),
        finished_at: text(7).unwrap_or_default(),
        execution_ms: int(8).unwrap_or(0),
        db_user: text(9),
        app_name: text(10),
        app_version: text(11),
        host: text(12),
    })
}

/// `time` as UTC ISO 8601 with milliseconds, `2026-11-23T21:56:23.120Z`.
pub(crate) fn iso_utc(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// This machine's name, where it can be read without a system call
/// binding: the kernel's (Linux), or the environment's.
fn host_name() -> Option<String> {
    let from_kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    from_kernel
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times_are_written_as_utc_iso_8601() {
        assert_eq!(super::iso_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_470_983_120);
        assert_eq!(super::iso_utc(t), "2026-11-23T21:56:23.120Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(super::iso_utc(leap), "2000-02-29T00:00:00.000Z");
    }
}
