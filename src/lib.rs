//! Compile-time embedded database migrations.
//!
//! `migrate` bakes a directory of SQL and Rust migrations into your binary.
//! Everything that can be checked without a database is checked **when you
//! build**: a badly named file, a duplicated or missing version, an empty
//! migration, a down migration without its up — each is a compile error that
//! names the file and the fix.
//!
//! ```
//! static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
//!
//! assert_eq!(MIGRATIONS.len(), 4);
//! let users = MIGRATIONS.get(1).unwrap();
//! assert_eq!(users.name(), "create_users");
//! assert_eq!(users.file_name(), "0001_create_users.sql");
//! assert!(users.up_sql().unwrap().contains("CREATE TABLE users"));
//! assert!(users.has_down());
//!
//! for migration in &MIGRATIONS {
//!     println!("{:>4} {:<28} {}", migration.version(), migration.name(), migration.kind());
//! }
//! ```
//!
//! The registry is a `const` value: it lives in a `static`, and nothing is
//! parsed, copied or hashed when your program starts.
//!
//! # Running migrations
//!
//! On boot, bring the database up to date (feature `sqlite` for
//! `rusqlite::Connection`, re-exported as [`rusqlite`]):
//!
//! ```
//! use migrate::rusqlite::Connection;
//!
//! static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("app.db");
//! let mut conn = Connection::open(&path)?;
//! let report = MIGRATIONS.run_pending(&mut conn)?;
//! assert_eq!(report.applied.len(), 4);
//! assert_eq!(report.version, 4);
//!
//! // The next boot applies nothing: one indexed read of the history table.
//! assert!(MIGRATIONS.run_pending(&mut conn)?.applied.is_empty());
//! # Ok(())
//! # }
//! ```
//!
//! What it guarantees:
//!
//! - **Nothing half-applied.** Each migration runs in its own transaction
//!   together with its history row; a failure rolls it back and returns
//!   [`Error::Failed`] naming the file and carrying the database's message.
//!   Earlier migrations stay applied.
//! - **Edits are caught before anything runs.** The whole history is checked
//!   against the binary first: an applied migration whose file changed is
//!   [`Error::ChecksumMismatch`] (saying whether only whitespace differs).
//! - **Many replicas may boot at once.** Processes with work to do take a
//!   migration lock in turn (SQLite: an OS file lock beside the database,
//!   released if the process dies), re-read the history under it, and each
//!   migration is applied exactly once; every caller returns `Ok`.
//! - **Rolling back a deploy does not brick boot.** Versions in the database
//!   that an older binary does not know are reported in
//!   [`Report::future_versions`] and tolerated, unless [`Runner::strict`].
//! - **Migrations outside a transaction** (`-- migrate:no-transaction`) are
//!   recorded as in progress first: if one fails or its process dies, later
//!   runs stop with [`Error::Dirty`] until [`Migrations::repair`].
//! - Progress is logged through the `log` crate, one line per migration;
//!   nothing is printed.
//!
//! Options go through a [`Runner`]:
//!
//! ```
//! # use migrate::rusqlite::Connection;
//! # static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
//! # fn main() -> migrate::Result<()> {
//! # let mut conn = Connection::open_in_memory().map_err(|e| migrate::Error::Driver(e.into()))?;
//! MIGRATIONS
//!     .runner()
//!     .grouped(true)                                   // all pending in one transaction
//!     .strict(true)                                    // unknown versions are an error
//!     .lock_timeout(std::time::Duration::from_secs(300))
//!     .run_pending(&mut conn)?;
//!
//! MIGRATIONS.rollback_to(&mut conn, 2)?;               // every reverted version needs a down step
//! for row in MIGRATIONS.status(&mut conn)? {
//!     println!("{:>4} {:<24} {}", row.version, row.name, row.state);
//! }
//! let pending = MIGRATIONS.plan(&mut conn)?;           // what run_pending would apply
//! assert_eq!(pending.len(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! ## Async services
//!
//! With feature `tokio-postgres`, every call has an `_async` twin taking
//! `&mut tokio_postgres::Client` (re-exported as [`tokio_postgres`]) — or a
//! pooled one: a `deadpool_postgres::Object` or a `bb8` connection passes as
//! `&mut object`. The caller's runtime is never blocked, the futures are
//! `Send`, and dropping one halfway (a timeout) leaves nothing half-applied
//! and no lock behind:
//!
//! ```no_run
//! # #[cfg(feature = "tokio-postgres")]
//! # async fn boot() -> Result<(), Box<dyn std::error::Error>> {
//! use migrate::tokio_postgres::{connect, NoTls};
//!
//! static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
//!
//! let (mut client, connection) = connect("host=localhost user=app", NoTls).await?;
//! tokio::spawn(connection);
//! let report = MIGRATIONS.run_pending_async(&mut client).await?;
//! println!("schema version {}", report.version);
//! # Ok(()) }
//! ```
//!
//! ## MySQL and MariaDB
//!
//! With feature `mysql`, every call takes `&mut mysql::Conn` or a pooled
//! `mysql::PooledConn` (the crate is re-exported as `migrate::mysql`).
//! MySQL commits each schema change on the spot, so a SQL migration holding
//! one (`CREATE`, `ALTER`, `DROP`, ...) cannot be all-or-nothing: it is
//! recorded in progress first and run statement by statement, and a failure
//! names the statement and the ones of that file that had already committed,
//! before `repair`. Keep one schema change per migration on MySQL. A
//! migration of data statements only is atomic with its history row.
//!
//! ```no_run
//! # #[cfg(feature = "mysql")]
//! # fn boot() -> Result<(), Box<dyn std::error::Error>> {
//! static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
//!
//! let mut conn = migrate::mysql::Conn::new("mysql://app:secret@localhost/app")?;
//! MIGRATIONS.run_pending(&mut conn)?;
//! # Ok(()) }
//! ```
//!
//! Async SQLite handles call the sync API inside their closure:
//! `tokio_rusqlite::Connection::call(|c| MIGRATIONS.run_pending(c))`,
//! `deadpool_sqlite::Object::interact(|c| MIGRATIONS.run_pending(c))`.
//!
//! ## Adopting an existing database
//!
//! [`Migrations::baseline`] records versions 1 to N as applied without
//! running them, on a database with no history yet. A database managed by
//! rusqlite_migration keeps its version in `PRAGMA user_version`; adopt it on
//! every boot with one safe call:
//!
//! ```
//! # use migrate::rusqlite::Connection;
//! # static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
//! # fn main() -> migrate::Result<()> {
//! # let mut conn = Connection::open_in_memory().map_err(|e| migrate::Error::Driver(e.into()))?;
//! MIGRATIONS.baseline_from_user_version(&mut conn)?;   // no-op once a history exists
//! MIGRATIONS.run_pending(&mut conn)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Migration files
//!
//! A migration directory holds flat files. The version is the leading
//! integer (leading zeros optional); versions start at 1 and are contiguous.
//!
//! | file                                  | meaning                                     |
//! | ------------------------------------- | ------------------------------------------- |
//! | `0001_create_users.sql`               | SQL up migration, version 1                 |
//! | `0001_create_users.up.sql`            | the same, spelled explicitly                |
//! | `0001_create_users.down.sql`          | its down migration (optional)               |
//! | `0002_backfill_emails.rs`             | Rust migration, version 2                   |
//! | `V3__add_index.sql`, `U3__add_index.sql` | Flyway/refinery-style up and down        |
//!
//! Names after the separator hold ASCII letters, digits and `_`. Files that
//! are neither `.sql` nor `.rs` (`README.md`, `.gitkeep`) and hidden files
//! are ignored; a `.sql` or `.rs` file whose name does not parse is an
//! error, never silently skipped.
//!
//! A SQL file whose first line is `-- migrate:no-transaction` runs outside a
//! transaction (for `CREATE INDEX CONCURRENTLY`, `VACUUM`, ...):
//!
//! ```
//! static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/no-transaction");
//!
//! assert!(!MIGRATIONS.get(2).unwrap().transactional());
//! ```
//!
//! # Rust migrations
//!
//! A `.rs` migration is compiled into your crate. It defines `up` and,
//! optionally, `down`, working through a driver-neutral [`Tx`]: `$1, $2, ...`
//! placeholders and [`Value`]s work the same on SQLite, PostgreSQL and MySQL.
//! On MySQL a Rust migration changes data only: its transaction would be
//! committed halfway by a schema change, which `Tx` refuses there.
//!
//! ```
//! # /*
//! // migrations/0003_backfill_display_names.rs
//! # */
//! use migrate::{Tx, Value};
//!
//! pub fn up(tx: &mut dyn Tx) -> migrate::Result<()> {
//!     tx.batch("ALTER TABLE users ADD COLUMN display_name TEXT")?;
//!     for row in tx.query("SELECT id, email FROM users", &[])? {
//!         let (Some(id), Some(email)) = (row[0].as_i64(), row[1].as_str()) else { continue };
//!         let name = email.split('@').next().unwrap_or(email).to_owned();
//!         tx.execute("UPDATE users SET display_name = $1 WHERE id = $2", &[name.into(), id.into()])?;
//!     }
//!     Ok(())
//! }
//!
//! pub fn down(tx: &mut dyn Tx) -> migrate::Result<()> {
//!     tx.batch("ALTER TABLE users DROP COLUMN display_name")
//! }
//! ```
//!
//! Type errors inside a Rust migration point into the migration file itself.
//!
//! # Compile errors
//!
//! Each is spanned on the macro's argument and names the file(s) and the fix.
//! All problems in the directory are reported in one build:
//!
//! - the directory does not exist or cannot be read (with the resolved path);
//! - two files with the same version;
//! - a gap (a version missing between 1 and the highest), or versions not starting at 1;
//! - a `.sql` or `.rs` file whose name does not parse;
//! - a down migration with no up migration of the same version and name;
//! - an empty (whitespace/comments only) migration, or an unknown `-- migrate:` directive;
//! - a file that is not valid UTF-8;
//! - a Rust migration without `pub fn up`, or with an impossible signature;
//! - an invalid `table = "..."` value, or an unknown option.
//!
//! # Automatic rebuilds
//!
//! Editing any embedded migration rebuilds your crate: the expansion
//! depends on each file. A stable proc macro cannot see a *new* file being
//! added, though, so add this `build.rs` next to your `Cargo.toml`:
//!
//! ```no_run
//! // build.rs
//! fn main() {
//!     println!("cargo:rerun-if-changed=migrations");
//! }
//! ```
//!
//! # Checksums
//!
//! Each migration's checksum is SHA-256 over its text with a leading
//! byte-order mark dropped and line endings normalised to `\n`, so a CRLF
//! checkout does not look like an edit. A chained checksum per version
//! covers every version up to it, so a whole history can be validated by
//! comparing one value.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
// On docs.rs: mark each item with the feature that enables it.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
// The build.rs example must show `fn main`: that is the point of it.
#![allow(clippy::needless_doctest_main)]

// Lets Rust migrations and generated code say `migrate::` inside this crate too.
extern crate self as migrate;

pub use migrate_core::{audit, LogEntry};
pub use migrate_core::{
    Applied, BoxError, Cleanup, Database, Dialect, Driver, Error, LockScope, LockStrategy,
    Migration, MigrationFn, MigrationKind, MigrationStatus, Migrations, Panicked, Repair, Report,
    Result, Reversibility, Runner, SqlDialect, SqlMode, State, Step, Tx, Value,
    DEFAULT_LOCK_TIMEOUT, DEFAULT_TABLE,
};

/// A transaction sent whole, as [`Driver::transaction_at_once`] receives
/// its steps and reports how it ended: for implementing [`Driver`] on a
/// connection type of your own.
pub use migrate_core::{AtOnce, WholeStep};

/// The validated name of a history table, as [`Driver::lock`] receives it:
/// for implementing [`Driver`] on a connection type of your own.
pub use migrate_core::TableName;

/// How a database reads SQL, as [`Driver::sql_rules`] reports it: for
/// implementing [`Driver`] on a connection type of your own.
pub use migrate_core::LexicalRules;

/// The `postgres` crate this crate's PostgreSQL driver is built with: use it
/// to connect, so your `postgres` and migrate's are the same version.
#[cfg(feature = "postgres")]
pub use migrate_core::postgres;

/// The `tokio-postgres` crate this crate's async PostgreSQL driver is
/// built with: use it to connect (or your pool's re-export of the same
/// version), and call the `_async` methods, e.g.
/// [`Migrations::run_pending_async`].
#[cfg(feature = "tokio-postgres")]
pub use migrate_core::tokio_postgres;

/// The `mysql` crate this crate's MySQL and MariaDB driver is built with:
/// use it to connect (`mysql::Conn`, or a `mysql::Pool`'s `PooledConn`),
/// so your `mysql` and migrate's are the same version.
#[cfg(feature = "mysql")]
pub use migrate_core::mysql;

/// The rusqlite this crate's SQLite driver is built with: use it to open
/// connections, so your rusqlite and migrate's are the same version.
#[cfg(feature = "sqlite")]
pub use migrate_core::rusqlite;

/// Embeds a migration directory at compile time.
///
/// ```
/// static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
/// static BILLING: migrate::Migrations =
///     migrate::embed_migrations!("tests/fixtures/flyway", table = "billing_schema_history");
///
/// assert_eq!(MIGRATIONS.table(), "migrate_schema_history");
/// assert_eq!(BILLING.table(), "billing_schema_history");
/// ```
///
/// The path is relative to the calling crate's `CARGO_MANIFEST_DIR`. The only
/// option is `table = "name"` (or `"schema.name"`): the history table, which
/// must be a plain SQL identifier.
///
/// Every problem in the directory is a compile error; see the
/// [crate documentation](crate#compile-errors).
#[macro_export]
macro_rules! embed_migrations {
    ($($args:tt)*) => {
        $crate::__private::embed_migrations!([$crate] $($args)*)
    };
}

// The README's Rust blocks, compiled as doc tests.
#[cfg(doctest)]
mod readme;

/// The `migrate` commands over the migrations baked into your application
/// (feature `cli`), so operators can inspect and repair production without a
/// migration directory on the host: `status`, `plan`, `up [--to N]
/// [--grouped]`, `down --to N`, `baseline N`, `repair N completed|undone`,
/// with `--database sqlite://...|postgres://...` or `DATABASE_URL`.
///
/// ```no_run
/// static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
///
/// fn main() -> std::process::ExitCode {
///     let mut args = std::env::args_os();
///     // `myapp migrate status --database sqlite://app.db`
///     if args.nth(1).is_some_and(|a| a == "migrate") {
///         return migrate::cli::run(&MIGRATIONS, std::env::args_os().skip(1));
///     }
///     // ... the application itself
///     std::process::ExitCode::SUCCESS
/// }
/// ```
///
/// Exit codes: 0 success, 1 a migration problem, 2 a usage error.
#[cfg(feature = "cli")]
pub mod cli {
    pub use migrate_cli::run;
}

/// Used by the code `embed_migrations!` generates; not public API.
#[doc(hidden)]
pub mod __private {
    pub use migrate_core::registry::Checksums;
    pub use migrate_core::{Migration, MigrationFn, Migrations, SqlMode};
    pub use migrate_macros::embed_migrations;
}
