//! The history table: where a database records which migrations it has applied.
//!
//! Its name is `migrate_schema_history` unless the macro's `table = "..."`
//! option names another, optionally schema-qualified (`app.schema_history`).
//! The name is validated as a plain SQL identifier at compile time, so
//! nothing can be injected through it.

use crate::dialect::SqlDialect;
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::registry::Migration;
use crate::table::TableName;
use crate::tx::{Tx, Value};

/// Whether a history row's migration finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// Applied and committed.
    Applied,
    /// A no-transaction migration that started and has not finished: the
    /// process running it died, or it failed halfway.
    InProgress,
    /// A no-transaction down step that started and has not finished.
    Reverting,
}

impl RowState {
    fn as_str(self) -> &'static str {
        match self {
            RowState::Applied => "applied",
            RowState::InProgress => "in_progress",
            RowState::Reverting => "reverting",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "applied" => RowState::Applied,
            "reverting" => RowState::Reverting,
            // Anything else did not finish: the safe reading.
            _ => RowState::InProgress,
        }
    }

    /// Whether the migration did not finish (either way).
    pub fn is_unfinished(self) -> bool {
        self != RowState::Applied
    }
}

/// One row of the history table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The migration's version.
    pub version: u64,
    /// Its name when it was applied.
    pub name: String,
    /// `sql` or `rust`.
    pub kind: String,
    /// Its checksum when it was applied.
    pub checksum: String,
    /// Its whitespace-insensitive checksum when it was applied.
    pub loose_checksum: String,
    /// The chained checksum of versions 1 to this one when it was applied.
    pub chained_checksum: String,
    /// Whether it finished.
    pub state: RowState,
    /// When it was applied (UTC, ISO 8601).
    pub applied_at: String,
    /// How long it took, in milliseconds.
    pub execution_ms: i64,
}

/// What boot needs: the chained checksum recorded for the binary's latest
/// version, the versions above it, and whether any row is unfinished.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// The chained checksum of the binary's latest version, if applied.
    pub latest_chain: Option<String>,
    /// Versions recorded above the binary's latest (a newer release ran).
    pub future: Vec<u64>,
    /// Whether any row is unfinished (in progress or dirty).
    pub unfinished: bool,
}

impl Head {
    /// The boot check, one statement: the rows from the binary's latest
    /// version up (a primary-key range: one row unless a newer release ran)
    /// and any unfinished row (a partial index, empty unless something is
    /// unfinished). No count: a row deleted by hand below the latest is
    /// found by `status`, `plan` and any run with something pending.
    ///
    /// Boot's hot path: it formats this one statement and nothing else. The
    /// driver's [`head_filter`](Driver::head_filter) keeps the rows to the
    /// table every other operation uses.
    pub(crate) fn read(
        driver: &mut dyn Driver,
        table: &TableName<'_>,
        latest_known: u64,
    ) -> Result<Head> {
        let quoted = driver.sql_dialect().quote_table(table);
        let filter = driver.head_filter(&quoted);
        let rows = driver.query_text(&Head::statement(&quoted, filter, latest_known))?;
        Head::parse(&rows, table, latest_known)
    }

    /// The one statement of [`read`](Head::read), for a driver that sends
    /// it itself (the async one).
    pub(crate) fn statement(quoted: &str, filter: Option<String>, latest_known: u64) -> String {
        let filter = filter.unwrap_or_default();
        format!(
            "SELECT version, chained_checksum, state FROM {quoted} \
             WHERE version >= {latest_known}{filter} \
             UNION ALL \
             SELECT version, chained_checksum, state FROM {quoted} \
             WHERE state <> 'applied'{filter}"
        )
    }

    /// What the rows of [`statement`](Head::statement) say.
    pub(crate) fn parse(
        rows: &[Vec<Option<String>>],
        table: &TableName<'_>,
        latest_known: u64,
    ) -> Result<Head> {
        let mut head = Head::default();
        for row in rows {
            let column = |c: usize| row.get(c).cloned().flatten().unwrap_or_default();
            if RowState::parse(&column(2)).is_unfinished() {
                head.unfinished = true;
                continue;
            }
            let version = column(0)
                .parse::<u64>()
                .map_err(|_| Error::CorruptHistory {
                    table: table.to_string(),
                    column: COLUMNS[0],
                    expected: "a version from 1",
                    found: format!("'{}'", column(0)),
                })?;
            if version == latest_known {
                head.latest_chain = Some(column(1));
            } else if version > latest_known {
                head.future.push(version);
            }
        }
        Ok(head)
    }
}

/// What one history row looks like to [`HistorySql::verify`]: its state
/// and chained checksum (which covers every version up to it).
pub(crate) type Seen = (RowState, String);

/// What [`HistorySql::verify`] expects to read: the rows from version
/// `from` up and the unfinished ones, each with its state and chained
/// checksum, compared exactly.
///
/// Why rows from `from` suffice, with `from` the lower of the highest
/// version the run knows and the version its next transaction writes:
/// another process applying anything this run would apply, or anything
/// newer, adds a row there; a revert removes the highest rows, the known
/// highest among them, and a re-apply by another binary puts back a row
/// with another chained checksum; a repair or a crash changes an
/// unfinished row. So the check reads a primary-key range (normally one
/// row) and the partial index of unfinished rows, not the whole history.
/// (A row deleted by hand below `from` is found by the next run's full read.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RecentRows {
    from: u64,
    rows: Vec<(u64, RowState, String)>,
}

impl RecentRows {
    /// What a history whose rows are `model` shows to a transaction
    /// writing `writes` first.
    pub(crate) fn of(model: &std::collections::BTreeMap<u64, Seen>, writes: u64) -> Self {
        let highest = model.keys().next_back().copied().unwrap_or(0);
        RecentRows::over(model, highest.min(writes))
    }

    /// `model`'s rows from version `from` up and its unfinished ones:
    /// what [`HistorySql::verify`] reads.
    fn over(model: &std::collections::BTreeMap<u64, Seen>, from: u64) -> Self {
        RecentRows {
            from,
            rows: model
                .iter()
                .filter(|(v, (state, _))| **v >= from || state.is_unfinished())
                .map(|(v, (state, chain))| (*v, *state, chain.clone()))
                .collect(),
        }
    }
}

/// The SQL of the history table for one dialect and table name. Every
/// statement the runtime sends about history is written here, once, in
/// the words the driver's [`SqlDialect`] gives.
pub(crate) struct HistorySql {
    dialect: &'static dyn SqlDialect,
    table: String,
    /// The table as the registry names it, for messages.
    shown: String,
    /// `CREATE SCHEMA` / `CREATE TABLE` / `CREATE INDEX`, formatted once.
    create: String,
    /// Whether this set keeps the database's schema-version counter
    /// (SQLite's `PRAGMA user_version`): only the set with the default,
    /// unqualified history table does, since one file has one counter and
    /// several sets would fight over it.
    owns_schema_version: bool,
    /// The statements run once per migration, formatted once per run.
    insert: String,
    finish: String,
    unfinish: String,
    delete: String,
    recent_rows: String,
}

/// A version as an SQL literal (versions are at most `i64::MAX`).
fn version_bound(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

fn version_value(version: u64) -> Value {
    // Versions are at most i64::MAX: the scanner and the runtime check it.
    Value::Integer(i64::try_from(version).unwrap_or(i64::MAX))
}

/// A value as SQL would show it, for error messages.
fn shown(value: Option<&Value>) -> String {
    match value {
        None => "nothing".to_owned(),
        Some(Value::Null) => "NULL".to_owned(),
        Some(Value::Integer(i)) => i.to_string(),
        Some(Value::Real(r)) => r.to_string(),
        Some(Value::Text(t)) => format!("'{t}'"),
        Some(Value::Blob(b)) => format!("a blob of {} bytes", b.len()),
    }
}

/// `sql` with each placeholder `$n` outside quoted names replaced by
/// `values[n - 1]`.
fn bind_inline(sql: &str, values: &[String]) -> String {
    let mut out = String::with_capacity(sql.len() + values.iter().map(String::len).sum::<usize>());
    let mut quoted = false;
    let mut chars = sql.char_indices();
    while let Some((at, c)) = chars.next() {
        if c == '"' {
            quoted = !quoted;
        }
        if c == '$' && !quoted {
            let digits: String = sql[at + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Some(value) = digits
                .parse::<usize>()
                .ok()
                .and_then(|n| values.get(n.wrapping_sub(1)))
            {
                out.push_str(value);
                chars.nth(digits.len() - 1);
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The history table's columns, in the order `read_all` selects them.
const COLUMNS: [&str; 9] = [
    "version",
    "name",
    "kind",
    "checksum",
    "loose_checksum",
    "chained_checksum",
    "state",
    "applied_at",
    "execution_ms",
];

impl HistorySql {
    /// The SQL for `table`, which is `configured` (the registry's name)
    /// perhaps qualified with the schema the driver resolved.
    pub(crate) fn new(
        dialect: &'static dyn SqlDialect,
        table: &TableName<'_>,
        configured: &TableName<'_>,
    ) -> Self {
        let owns_schema_version =
            configured.schema.is_none() && configured.table == crate::registry::DEFAULT_TABLE;
        let quoted = dialect.quote_table(table);
        let now = dialect.now_utc();
        let mut create = String::new();
        // Only a schema the registry names itself: a resolved one exists.
        if let Some(statement) = configured.schema.and_then(|s| dialect.create_schema(s)) {
            create.push_str(&statement);
            create.push_str(";\n");
        }
        let index = format!("{}_unfinished", table.table);
        let inline_index = dialect
            .table_indexes(&index)
            .map(|clause| format!(",\n    {clause}"))
            .unwrap_or_default();
        create.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {quoted} (\n\
             \x20   version {} PRIMARY KEY,\n\
             \x20   name TEXT NOT NULL,\n\
             \x20   kind TEXT NOT NULL,\n\
             \x20   checksum TEXT NOT NULL,\n\
             \x20   loose_checksum TEXT NOT NULL,\n\
             \x20   chained_checksum TEXT NOT NULL,\n\
             \x20   state {} NOT NULL,\n\
             \x20   applied_at TEXT NOT NULL,\n\
             \x20   execution_ms {} NOT NULL{inline_index}\n\
             ){}",
            dialect.version_type(),
            dialect.state_type(),
            dialect.int64_type(),
            dialect.table_options(),
        ));
        if let Some(statement) = dialect.create_unfinished_index(&index, table) {
            create.push_str(";\n");
            create.push_str(&statement);
        }
        HistorySql {
            dialect,
            owns_schema_version,
            shown: table.to_string(),
            create,
            insert: format!(
                "INSERT INTO {quoted} (version, name, kind, checksum, loose_checksum, \
                 chained_checksum, state, applied_at, execution_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, {now}, $8)"
            ),
            finish: format!(
                "UPDATE {quoted} SET state = $1, execution_ms = $2, applied_at = {now} \
                 WHERE version = $3"
            ),
            unfinish: format!("UPDATE {quoted} SET state = $1 WHERE version = $2"),
            delete: format!("DELETE FROM {quoted} WHERE version = $1"),
            recent_rows: format!("SELECT version, state, chained_checksum FROM {quoted} WHERE "),
            table: quoted,
        }
    }

    /// Creates the table (and a schema the registry names) if missing.
    pub(crate) fn create(&self, tx: &mut dyn Tx) -> Result<()> {
        // `IF NOT EXISTS` accepts any table of that name: the read that
        // follows names one that is not ours.
        tx.batch(&self.create).map_err(|e| self.failed("create", e))
    }

    /// A failure to create the table (or to begin the transaction that
    /// does), named as the history's.
    pub(crate) fn create_failed(&self, error: Error) -> Error {
        self.failed("create", error)
    }

    /// A failure of one of the history's own statements, named as such.
    fn failed(&self, action: &'static str, error: Error) -> Error {
        match error {
            Error::Driver(source) => Error::History {
                table: self.shown.clone(),
                action,
                source,
            },
            conversion @ Error::Conversion(_) => Error::History {
                table: self.shown.clone(),
                action,
                source: Box::new(conversion),
            },
            other => other,
        }
    }

    /// A history value migrate did not write: say where, and what to do.
    fn corrupt(&self, column: usize, expected: &'static str, found: &str) -> Error {
        Error::CorruptHistory {
            table: self.shown.clone(),
            column: COLUMNS[column],
            expected,
            found: found.to_owned(),
        }
    }

    fn integer(&self, row: &[Value], column: usize) -> Result<i64> {
        match row.get(column) {
            Some(Value::Integer(i)) => Ok(*i),
            other => Err(self.corrupt(column, "an integer", &shown(other))),
        }
    }

    fn text(&self, row: &[Value], column: usize) -> Result<String> {
        match row.get(column) {
            Some(Value::Text(s)) => Ok(s.clone()),
            Some(Value::Null) => Ok(String::new()),
            other => Err(self.corrupt(column, "text", &shown(other))),
        }
    }

    /// Every row, lowest version first.
    pub(crate) fn read_all(&self, tx: &mut dyn Tx) -> Result<Vec<HistoryRow>> {
        let rows = tx
            .query(
                &format!(
                    "SELECT {} FROM {} ORDER BY version",
                    COLUMNS.join(", "),
                    self.table
                ),
                &[],
            )
            .map_err(|e| self.failed("read", e))?;
        rows.iter()
            .map(|row| {
                let version = self.integer(row, 0)?;
                let version = u64::try_from(version)
                    .ok()
                    .filter(|v| *v >= 1)
                    .ok_or_else(|| self.corrupt(0, "a version from 1", &version.to_string()))?;
                for column in [3, 4] {
                    // A missing or damaged checksum must not pass for an edit
                    // ("only whitespace differs"): it is damage.
                    let valid = matches!(row.get(column), Some(Value::Text(t))
                        if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()));
                    if !valid {
                        return Err(self.corrupt(
                            column,
                            "a SHA-256 checksum (64 hex digits)",
                            &shown(row.get(column)),
                        ));
                    }
                }
                Ok(HistoryRow {
                    version,
                    name: self.text(row, 1)?,
                    kind: self.text(row, 2)?,
                    checksum: self.text(row, 3)?,
                    loose_checksum: self.text(row, 4)?,
                    chained_checksum: self.text(row, 5)?,
                    state: RowState::parse(&self.text(row, 6)?),
                    applied_at: self.text(row, 7)?,
                    execution_ms: self.integer(row, 8)?,
                })
            })
            .collect()
    }

    /// The query [`verify`](HistorySql::verify) compares the answer of:
    /// the rows from the expected range's start up, and the unfinished
    /// ones below it — each read through its index, and at most one more
    /// than expected (enough to see a difference), whatever the planner
    /// guesses about a history it has no statistics for yet.
    pub(crate) fn recent_rows_sql(&self, expected: &RecentRows) -> String {
        let from = version_bound(expected.from);
        let above = expected
            .rows
            .iter()
            .filter(|r| r.0 >= expected.from)
            .count();
        let below = expected.rows.len() - above;
        format!(
            "SELECT * FROM ({}version >= {from} ORDER BY version LIMIT {}) AS recent \
             UNION ALL SELECT * FROM ({}state <> 'applied' AND version < {from} \
             ORDER BY version LIMIT {}) AS unfinished ORDER BY version",
            self.recent_rows,
            above + 1,
            self.recent_rows,
            below + 1,
        )
    }

    /// A statement failing unless the history's rows are those `expected`
    /// describes, for a transaction sent whole (see
    /// [`Driver::step_at_once`](crate::Driver::step_at_once)); `None` where
    /// the dialect cannot write one.
    pub(crate) fn recent_rows_guard(&self, expected: &RecentRows) -> Option<String> {
        let rows: Vec<Vec<String>> = expected
            .rows
            .iter()
            .map(|(version, state, chain)| {
                vec![
                    version.to_string(),
                    state.as_str().to_owned(),
                    chain.clone(),
                ]
            })
            .collect();
        self.dialect
            .rows_guard(&self.recent_rows_sql(expected), &rows)
    }

    /// The error of a history found changed since the run read it.
    pub(crate) fn changed(&self) -> Error {
        Error::HistoryChanged {
            table: self.shown.clone(),
        }
    }

    /// A history write as one statement with its values inline, for a
    /// transaction sent whole; `execution_ms` (a row's last value) becomes
    /// the time since the message arrived. `None` where the dialect cannot.
    pub(crate) fn inline(&self, (sql, params): (&str, Vec<Value>), timed: bool) -> Option<String> {
        let mut values = Vec::with_capacity(params.len());
        for (i, value) in params.iter().enumerate() {
            if timed && i + 1 == params.len() {
                values.push(self.dialect.elapsed_ms()?.to_owned());
            } else {
                values.push(self.dialect.literal(value)?);
            }
        }
        Some(bind_inline(sql, &values))
    }

    /// Fails with [`Error::HistoryChanged`] unless the history's rows are
    /// those `expected` describes; `rows` are the answer to
    /// [`recent_rows_sql`](HistorySql::recent_rows_sql), or the read's error.
    pub(crate) fn verify(
        &self,
        rows: Result<Vec<Vec<Option<String>>>>,
        expected: &RecentRows,
    ) -> Result<()> {
        let rows = rows.map_err(|e| self.failed("read", e))?;
        let found: Vec<(u64, RowState, String)> = rows
            .iter()
            .map(|row| {
                let column = |c: usize| row.get(c).cloned().flatten().unwrap_or_default();
                (
                    column(0).parse().unwrap_or(0),
                    RowState::parse(&column(1)),
                    column(2),
                )
            })
            .collect();
        if found == expected.rows {
            Ok(())
        } else {
            Err(self.changed())
        }
    }

    /// The statement recording a migration as applied or in progress.
    pub(crate) fn insert(
        &self,
        migration: &Migration,
        state: RowState,
        execution_ms: i64,
    ) -> (&str, Vec<Value>) {
        (
            &self.insert,
            vec![
                version_value(migration.version()),
                migration.name().into(),
                migration.kind().as_str().into(),
                migration.checksum().into(),
                migration.loose_checksum().into(),
                migration.chained_checksum().into(),
                state.as_str().into(),
                Value::Integer(execution_ms),
            ],
        )
    }

    /// The statement marking an in-progress row applied.
    pub(crate) fn finish(&self, version: u64, execution_ms: i64) -> (&str, Vec<Value>) {
        (
            &self.finish,
            vec![
                RowState::Applied.as_str().into(),
                Value::Integer(execution_ms),
                version_value(version),
            ],
        )
    }

    /// The statement marking an applied row as reverting, while a
    /// no-transaction down step runs.
    pub(crate) fn unfinish(&self, version: u64) -> (&str, Vec<Value>) {
        (
            &self.unfinish,
            vec![RowState::Reverting.as_str().into(), version_value(version)],
        )
    }

    /// The statement deleting a row (a reverted or undone migration).
    pub(crate) fn delete(&self, version: u64) -> (&str, Vec<Value>) {
        (&self.delete, vec![version_value(version)])
    }

    /// Runs one of the statements above.
    pub(crate) fn write(&self, tx: &mut dyn Tx, (sql, params): (&str, Vec<Value>)) -> Result<()> {
        tx.execute(sql, &params)
            .map(drop)
            .map_err(|e| self.write_failed(e))
    }

    /// A failure of one of the statements above, named as the history's.
    pub(crate) fn write_failed(&self, error: Error) -> Error {
        self.failed("write", error)
    }

    /// The database's schema version (SQLite's `PRAGMA user_version`)
    /// follows the highest applied version of the set with the default
    /// history table; other sets leave it alone.
    pub(crate) fn set_schema_version(&self, driver: &mut dyn Driver, version: u64) -> Result<()> {
        if self.owns_schema_version {
            driver
                .set_schema_version(version)
                .map_err(|e| self.failed("write the schema version beside", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{bind_inline, RecentRows, RowState, Seen};

    #[test]
    fn values_go_inline_in_place_of_placeholders_outside_quoted_names() {
        let values = ["1".to_owned(), "E'x'".to_owned()];
        assert_eq!(
            bind_inline(r#"INSERT INTO "a$1" (v, n) VALUES ($1, $2)"#, &values),
            r#"INSERT INTO "a$1" (v, n) VALUES (1, E'x')"#
        );
        let ten: Vec<String> = (1..=10).map(|i| format!("v{i}")).collect();
        assert_eq!(bind_inline("($10, $1)", &ten), "(v10, v1)");
    }

    fn model(rows: &[(u64, RowState, &str)]) -> BTreeMap<u64, Seen> {
        rows.iter()
            .map(|(v, s, c)| (*v, (*s, (*c).to_owned())))
            .collect()
    }

    #[test]
    fn the_check_sees_what_other_processes_do() {
        use RowState::{Applied as A, InProgress as P};
        // What this run expects, against what the database's rows read
        // over the same range.
        let differs = |run: &[(u64, RowState, &str)], writes, db: &[(u64, RowState, &str)]| {
            let expected = RecentRows::of(&model(run), writes);
            expected != RecentRows::over(&model(db), expected.from)
        };
        let run = [(1, A, "c1"), (2, A, "c2")];
        // Another process applied the version this run writes next, or a newer one.
        assert!(differs(
            &run,
            3,
            &[(1, A, "c1"), (2, A, "c2"), (3, A, "c3")]
        ));
        assert!(differs(
            &run,
            3,
            &[(1, A, "c1"), (2, A, "c2"), (7, A, "c7")]
        ));
        // Reverted the highest; or reverted it and applied another binary's.
        assert!(differs(&run, 3, &[(1, A, "c1")]));
        assert!(differs(&run, 3, &[(1, A, "c1"), (2, A, "other")]));
        // Which version is unfinished matters, wherever it is.
        assert!(differs(
            &[(1, P, "c1"), (2, A, "c2"), (3, A, "c3")],
            4,
            &[(1, A, "c1"), (2, P, "c2"), (3, A, "c3")]
        ));
        // An out-of-order version this run applies next, below the highest.
        assert!(differs(
            &[(1, A, "c1"), (5, A, "c5")],
            3,
            &[(1, A, "c1"), (3, A, "c3"), (5, A, "c5")]
        ));
        // Nothing changed: equal, though rows below the range are not read.
        assert!(!differs(&run, 3, &run));
        assert_eq!(RecentRows::of(&model(&run), 3).rows.len(), 1);
    }
}
