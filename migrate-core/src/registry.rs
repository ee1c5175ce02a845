//! The registry: the set of migrations baked into a binary.
//!
//! `embed_migrations!` expands to a [`Migrations`] value built entirely from
//! `const fn`s, so it lives in a `static` with no runtime initialisation and
//! nothing is parsed, copied or hashed when the program starts.

use std::fmt;

use crate::error::Result;
use crate::tx::Tx;

/// The default history table: `migrate_schema_history`.
pub const DEFAULT_TABLE: &str = "migrate_schema_history";

/// The signature of a Rust migration's `up` and `down` functions.
pub type MigrationFn = fn(&mut dyn Tx) -> Result<()>;

/// Whether a migration is a SQL file or a Rust file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MigrationKind {
    /// A `.sql` file.
    Sql,
    /// A `.rs` file with `pub fn up` (and optionally `pub fn down`).
    Rust,
}

impl MigrationKind {
    /// `"sql"` or `"rust"`, as stored in the history table.
    pub const fn as_str(self) -> &'static str {
        match self {
            MigrationKind::Sql => "sql",
            MigrationKind::Rust => "rust",
        }
    }
}

impl fmt::Display for MigrationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a SQL step meets transactions, from its first-line directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlMode {
    /// No directive: the step runs in a transaction with its history row.
    Transaction,
    /// `-- migrate:no-transaction`: each statement commits on its own; the
    /// migration is recorded in progress first and is dirty if it fails.
    NoTransaction,
    /// `-- migrate:foreign-keys-off`: SQLite's table-rebuild procedure.
    /// Foreign keys are turned off *before* the transaction (inside one the
    /// pragma does nothing), `PRAGMA foreign_key_check` runs before the
    /// commit (a violation fails the migration), and the connection's
    /// setting is restored afterwards. Other databases run the step in a
    /// plain transaction.
    ForeignKeysOff,
}

impl SqlMode {
    /// The directive that selects this mode, as written on a file's first line.
    pub const fn directive(self) -> Option<&'static str> {
        match self {
            SqlMode::Transaction => None,
            SqlMode::NoTransaction => Some("-- migrate:no-transaction"),
            SqlMode::ForeignKeysOff => Some("-- migrate:foreign-keys-off"),
        }
    }
}

/// One direction of a migration: SQL text or a Rust function.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Step {
    /// SQL run as one batch.
    Sql {
        /// The SQL text, line endings normalised to `\n`.
        sql: &'static str,
        /// How it meets transactions (its first-line directive).
        mode: SqlMode,
    },
    /// A Rust function, always run inside a transaction.
    Rust(MigrationFn),
}

impl Step {
    /// Runs this step on `tx`: SQL through [`Tx::batch`], Rust by calling the function.
    ///
    /// # Errors
    ///
    /// Whatever the database or the Rust function returns.
    pub fn run(&self, tx: &mut dyn Tx) -> Result<()> {
        match self {
            Step::Sql { sql, .. } => tx.batch(sql),
            Step::Rust(run) => run(tx),
        }
    }

    /// Whether this step runs inside a transaction.
    pub const fn transactional(&self) -> bool {
        !matches!(self.mode(), SqlMode::NoTransaction)
    }

    /// How this step meets transactions; a Rust step always runs in one.
    pub const fn mode(&self) -> SqlMode {
        match self {
            Step::Sql { mode, .. } => *mode,
            Step::Rust(_) => SqlMode::Transaction,
        }
    }

    /// The SQL text, for a SQL step.
    pub const fn sql(&self) -> Option<&'static str> {
        match self {
            Step::Sql { sql, .. } => Some(sql),
            Step::Rust(_) => None,
        }
    }
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Sql { sql, mode } => f
                .debug_struct("Sql")
                .field("bytes", &sql.len())
                .field("mode", mode)
                .finish(),
            Step::Rust(_) => f.write_str("Rust"),
        }
    }
}

/// One embedded migration.
#[derive(Clone, Copy)]
pub struct Migration {
    version: u64,
    name: &'static str,
    file_name: &'static str,
    down_file_name: Option<&'static str>,
    up: Step,
    down: Option<Step>,
    checksum: &'static str,
    loose_checksum: &'static str,
    chained_checksum: &'static str,
}

/// The checksums the macro computed for one migration.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Checksums {
    pub exact: &'static str,
    pub loose: &'static str,
    pub chained: &'static str,
}

impl Migration {
    /// Used by `embed_migrations!`; not public API.
    #[doc(hidden)]
    pub const fn __new(
        version: u64,
        name: &'static str,
        file_name: &'static str,
        up: Step,
        checksums: Checksums,
    ) -> Self {
        Migration {
            version,
            name,
            file_name,
            down_file_name: None,
            up,
            down: None,
            checksum: checksums.exact,
            loose_checksum: checksums.loose,
            chained_checksum: checksums.chained,
        }
    }

    /// Used by `embed_migrations!`; not public API.
    #[doc(hidden)]
    pub const fn __with_down(mut self, down_file_name: Option<&'static str>, down: Step) -> Self {
        self.down_file_name = down_file_name;
        self.down = Some(down);
        self
    }

    /// Used by `embed_migrations!`; not public API.
    #[doc(hidden)]
    pub const fn __sql(sql: &'static str, mode: SqlMode) -> Step {
        Step::Sql { sql, mode }
    }

    /// Used by `embed_migrations!`; not public API.
    #[doc(hidden)]
    pub const fn __rust(run: MigrationFn) -> Step {
        Step::Rust(run)
    }

    /// The version, counted from 1.
    pub const fn version(&self) -> u64 {
        self.version
    }

    /// The name after the version, e.g. `create_users` for `0001_create_users.sql`.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// SQL or Rust.
    pub const fn kind(&self) -> MigrationKind {
        match self.up {
            Step::Sql { .. } => MigrationKind::Sql,
            Step::Rust(_) => MigrationKind::Rust,
        }
    }

    /// The up file's name, e.g. `0001_create_users.sql` (for Rust, the `.rs` file).
    pub const fn file_name(&self) -> &'static str {
        self.file_name
    }

    /// The SQL down file's name, if there is one.
    pub const fn down_file_name(&self) -> Option<&'static str> {
        self.down_file_name
    }

    /// The up step.
    pub const fn up(&self) -> &Step {
        &self.up
    }

    /// The down step, if the migration can be reverted.
    pub const fn down(&self) -> Option<&Step> {
        self.down.as_ref()
    }

    /// The up SQL, for a SQL migration.
    pub const fn up_sql(&self) -> Option<&'static str> {
        self.up.sql()
    }

    /// The down SQL, for a SQL migration with a down file.
    pub const fn down_sql(&self) -> Option<&'static str> {
        match &self.down {
            Some(step) => step.sql(),
            None => None,
        }
    }

    /// Whether the migration can be reverted (a down file, or `pub fn down`).
    pub const fn has_down(&self) -> bool {
        self.down.is_some()
    }

    /// Whether the up step runs in a transaction (no `-- migrate:no-transaction`).
    pub const fn transactional(&self) -> bool {
        self.up.transactional()
    }

    /// SHA-256 (hex) of the up file's text, line endings normalised.
    pub const fn checksum(&self) -> &'static str {
        self.checksum
    }

    /// SHA-256 (hex) of the up file's text with whitespace removed: equal
    /// loose checksums mean an edit touched only whitespace.
    pub const fn loose_checksum(&self) -> &'static str {
        self.loose_checksum
    }

    /// The chained checksum covering every version from 1 to this one.
    pub const fn chained_checksum(&self) -> &'static str {
        self.chained_checksum
    }
}

impl fmt::Debug for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migration")
            .field("version", &self.version)
            .field("name", &self.name)
            .field("file_name", &self.file_name)
            .field("kind", &self.kind())
            .field("has_down", &self.has_down())
            .field("transactional", &self.transactional())
            .field("checksum", &self.checksum)
            .finish()
    }
}

/// The migrations embedded in a binary by `embed_migrations!`, version 1 first.
///
/// Build it with `migrate::embed_migrations!("migrations")` in a `static`;
/// the `migrate` crate's documentation shows it in use.
#[derive(Clone, Copy)]
pub struct Migrations {
    migrations: &'static [Migration],
    table: &'static str,
    source_dir: Option<&'static str>,
    /// The embedding crate's name and version, for the audit log.
    application: Option<(&'static str, &'static str)>,
}

impl Migrations {
    /// Used by `embed_migrations!`; not public API.
    #[doc(hidden)]
    pub const fn __new(
        migrations: &'static [Migration],
        table: &'static str,
        source_dir: Option<&'static str>,
    ) -> Self {
        Migrations {
            migrations,
            table,
            source_dir,
            application: None,
        }
    }

    /// Used by `embed_migrations!` (the calling crate's `CARGO_PKG_NAME`
    /// and `CARGO_PKG_VERSION`, where a build tool sets them); not public API.
    #[doc(hidden)]
    pub const fn __application(
        mut self,
        name: Option<&'static str>,
        version: Option<&'static str>,
    ) -> Self {
        if let (Some(name), Some(version)) = (name, version) {
            self.application = Some((name, version));
        }
        self
    }

    /// The value `embed_migrations!` expands to next to its compile errors,
    /// so the user sees those errors and no type errors after them.
    #[doc(hidden)]
    pub const fn __invalid() -> Self {
        Migrations {
            migrations: &[],
            table: DEFAULT_TABLE,
            source_dir: None,
            application: None,
        }
    }

    /// The migrations, version 1 first.
    pub fn iter(&self) -> std::slice::Iter<'static, Migration> {
        self.migrations.iter()
    }

    /// The migrations as a slice, version 1 first.
    pub const fn as_slice(&self) -> &'static [Migration] {
        self.migrations
    }

    /// How many migrations there are (also the highest version).
    pub const fn len(&self) -> usize {
        self.migrations.len()
    }

    /// Whether there are no migrations.
    pub const fn is_empty(&self) -> bool {
        self.migrations.is_empty()
    }

    /// The migration with the highest version.
    pub const fn latest(&self) -> Option<&'static Migration> {
        self.migrations.last()
    }

    /// The migration with this version.
    pub fn get(&self, version: u64) -> Option<&'static Migration> {
        let index = usize::try_from(version.checked_sub(1)?).ok()?;
        self.migrations.get(index).filter(|m| m.version == version)
    }

    /// The history table's name (`migrate_schema_history` unless the macro's
    /// `table = "..."` option says otherwise), possibly `schema.table`.
    pub const fn table(&self) -> &'static str {
        self.table
    }

    /// The directory the migrations were embedded from, in debug builds only
    /// (release binaries do not carry the build machine's paths).
    pub const fn source_dir(&self) -> Option<&'static str> {
        self.source_dir
    }

    /// The name and version of the crate that embedded the migrations (its
    /// `CARGO_PKG_NAME` and `CARGO_PKG_VERSION` at compile time); `None` for
    /// a set built by hand, or a build without Cargo's variables.
    pub const fn application(&self) -> Option<(&'static str, &'static str)> {
        self.application
    }
}

impl fmt::Debug for Migrations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migrations")
            .field("table", &self.table)
            .field("migrations", &self.migrations)
            .finish()
    }
}

impl IntoIterator for &Migrations {
    type Item = &'static Migration;
    type IntoIter = std::slice::Iter<'static, Migration>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
