//! The engine behind the `migrate` crate: the registry `embed_migrations!`
//! expands to, source scanning and validation shared by the macro and the
//! CLI, checksums, the history table, the runtime and its drivers.
//!
//! Applications use the `migrate` facade crate rather than this one.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
// On docs.rs: mark each item with the feature that enables it.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod audit;
pub mod checksum;
pub mod dialect;
pub mod driver;
pub mod error;
pub mod history;
mod jitter;
pub mod plan;
pub mod registry;
pub mod runtime;
pub mod source;
mod stale;
mod table;
#[cfg(test)]
mod testing;
pub mod tx;

pub use audit::LogEntry;
pub use dialect::SqlDialect;
pub use driver::{AtOnce, Database, Driver, LockScope, LockStrategy, WholeStep};
pub use error::{BoxError, Cleanup, Error, Panicked, Result};
pub use plan::{MigrationStatus, State};
pub use registry::{
    Migration, MigrationFn, MigrationKind, Migrations, SqlMode, Step, DEFAULT_TABLE,
};
pub use runtime::{Applied, Repair, Report, Reversibility, Runner, DEFAULT_LOCK_TIMEOUT};
pub use source::sql::LexicalRules;
pub use table::{TableName, MAX_IDENTIFIER_LEN};
pub use tx::{Dialect, Tx, Value};

#[cfg(feature = "mysql")]
pub use mysql;
#[cfg(feature = "postgres")]
pub use postgres;
#[cfg(feature = "sqlite")]
pub use rusqlite;
#[cfg(feature = "tokio-postgres")]
pub use tokio_postgres;
