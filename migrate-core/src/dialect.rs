//! Dialects: the SQL a database speaks for migrate's own bookkeeping.
//!
//! The history table's DDL, its timestamps, identifier quoting and its
//! partial index are written by the driver's [`SqlDialect`]; the core never
//! writes "SQLite, otherwise PostgreSQL". A new database supplies one of
//! these beside its [`Driver`](crate::Driver).

use crate::table::TableName;
use crate::tx::Value;

/// How one database writes the statements migrate sends about its history.
pub trait SqlDialect: Sync {
    /// An identifier quoted for SQL (`"name"`, with `"` doubled).
    fn quote(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    /// A table name quoted for SQL: `"schema"."table"` or `"table"`.
    fn quote_table(&self, table: &TableName<'_>) -> String {
        match table.schema {
            Some(schema) => format!("{}.{}", self.quote(schema), self.quote(table.table)),
            None => self.quote(table.table),
        }
    }

    /// Whether schema changes (`CREATE`, `ALTER`, `DROP`, ...) take part in
    /// transactions. Where they do not (MySQL commits each one on the
    /// spot), a SQL migration holding one cannot be all-or-nothing with its
    /// history row: the runtime records it in progress first, as a
    /// `-- migrate:no-transaction` migration, so a failure halfway leaves it
    /// dirty for an operator rather than half-applied and unrecorded, and a
    /// grouped run refuses it.
    fn transactional_ddl(&self) -> bool {
        true
    }

    /// An expression for the current time as UTC ISO 8601 text.
    fn now_utc(&self) -> &'static str;

    /// As [`now_utc`](SqlDialect::now_utc), but the moment the statement
    /// runs even inside a long transaction (the audit log's `finished_at`).
    fn clock_utc(&self) -> &'static str {
        self.now_utc()
    }

    /// An expression for the database user the session runs as; `NULL`
    /// where the database has none (SQLite).
    fn current_user(&self) -> &'static str {
        "NULL"
    }

    /// The column definition of a key the database numbers itself (the
    /// audit log's `id`); the default is standard SQL's identity column.
    fn serial_key(&self) -> String {
        format!(
            "{} GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
            self.int64_type()
        )
    }

    /// The column type of `version` (a 64-bit integer key).
    fn version_type(&self) -> &'static str;

    /// The column type of `state` (`applied`, `in_progress`, `reverting`):
    /// short text that an ordinary index can cover where the unfinished
    /// rows are found through one (MySQL).
    fn state_type(&self) -> &'static str {
        "TEXT"
    }

    /// The column type of other 64-bit integers (`execution_ms`).
    fn int64_type(&self) -> &'static str {
        "BIGINT"
    }

    /// The statement creating `schema` when missing, where the database
    /// creates schemas (`None` where it attaches them, as SQLite does).
    fn create_schema(&self, schema: &str) -> Option<String>;

    /// The statement creating the partial index `index` (unqualified) over
    /// `table`'s unfinished rows, when missing; `None` where the index is
    /// created with the table ([`table_indexes`](SqlDialect::table_indexes)).
    fn create_unfinished_index(&self, index: &str, table: &TableName<'_>) -> Option<String>;

    /// An index clause inside `CREATE TABLE`, for a database that can
    /// neither index part of a table nor create an index "if not exists"
    /// (MySQL): `index` over `state`, so that unfinished rows are found
    /// without reading the others.
    fn table_indexes(&self, _index: &str) -> Option<String> {
        None
    }

    /// What follows `CREATE TABLE (...)`: MySQL names its transactional
    /// engine, whatever the server's default.
    fn table_options(&self) -> &'static str {
        ""
    }

    /// `value` as an SQL literal, for a statement sent with others in one
    /// message, where no parameter can be bound; `None` where the database
    /// does not send migrations whole ([`Driver::transaction_at_once`](crate::Driver::transaction_at_once)).
    fn literal(&self, _value: &Value) -> Option<String> {
        None
    }

    /// An expression for the milliseconds since the database received the
    /// message the statement is in: what a migration sent whole took.
    fn elapsed_ms(&self) -> Option<&'static str> {
        None
    }

    /// A statement that fails, aborting the transaction it runs in, unless
    /// `query` returns exactly the rows `expected` (each value as text), in
    /// the order of its `version` column: a check sent ahead of the statements it guards, in the same
    /// message. `None` where the database cannot.
    fn rows_guard(&self, _query: &str, _expected: &[Vec<String>]) -> Option<String> {
        None
    }

    /// A query describing the schema migrations change, one row per object
    /// — its kind (`table`, `column`, `index`, `constraint`, `view`,
    /// `trigger`, ...), its name (`table.column` for what belongs to a
    /// table), its definition — for
    /// [`Runner::verify_reversible`](crate::Runner::verify_reversible).
    /// `None` where the database cannot be described.
    fn schema_snapshot(&self) -> Option<&'static str> {
        None
    }
}
