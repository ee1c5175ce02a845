//! The engine behind the `migrate` crate: the registry `embed_migrations!`
//! expands to, source scanning and validation shared by the macro and the
//! CLI, checksums, the history table, and the `Tx` handle Rust migrations
//! use.
//!
//! Applications use the `migrate` facade crate rather than this one.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod checksum;
pub mod error;
pub mod history;
pub mod registry;
pub mod source;
pub mod tx;

pub use error::{BoxError, Error, Result};
pub use registry::{Migration, MigrationFn, MigrationKind, Migrations, Step, DEFAULT_TABLE};
pub use tx::{Dialect, Tx, Value};
