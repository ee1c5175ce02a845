//! Migration sources: reading a migration directory, parsing its file names
//! and validating the whole set, with no database anywhere near.
//!
//! The `embed_migrations!` macro and the `migrate` CLI share this one scanner,
//! so a directory that `migrate check` accepts is one that compiles.
//!
//! - [`name`](parse_file_name): what a file name means;
//! - [`scan_dir`] / [`scan_files`]: read, check and checksum every file;
//! - [`Problem`]: each thing that can be wrong, naming the file and the fix.

mod content;
#[cfg(feature = "rust-source")]
mod entry;
mod name;
mod problem;
#[cfg(feature = "rust-source")]
mod rust;
mod scan;
pub mod sql;

use std::path::PathBuf;

#[cfg(feature = "rust-source")]
pub use entry::{check_dir, Checked, DownSource, StepSource};
pub use name::{parse_file_name, Direction, MigrationFileName, NameError, NameStyle, MAX_VERSION};
pub use problem::{Problem, Problems};
#[cfg(feature = "rust-source")]
pub use rust::{inspect_rust_migration, inspect_rust_migrations, RustFunctions};
pub use scan::{scan_dir, scan_files};

use crate::registry::{MigrationKind, SqlMode};

/// A validated migration directory: migrations in version order, contiguous from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationSource {
    /// The directory the files were read from.
    pub dir: PathBuf,
    /// The migrations, version 1 first.
    pub migrations: Vec<SourceMigration>,
}

impl MigrationSource {
    /// Every file name the set is made of, downs included, sorted.
    pub fn file_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .migrations
            .iter()
            .flat_map(|m| std::iter::once(&m.up).chain(m.down.as_ref()))
            .map(|f| f.file_name.as_str())
            .collect();
        names.sort_unstable();
        names
    }
}

/// One migration read from disk: its up file, optional down file and checksums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMigration {
    /// The version, from 1.
    pub version: u64,
    /// The name after the version, e.g. `create_users`.
    pub name: String,
    /// SQL or Rust.
    pub kind: MigrationKind,
    /// How the up file's name is written.
    pub style: NameStyle,
    /// The up file (for Rust, the only file).
    pub up: SourceFile,
    /// The SQL down file, if any. Rust migrations keep `down` in their one file.
    pub down: Option<SourceFile>,
    /// How the up step meets transactions (its first-line directive).
    pub mode: SqlMode,
    /// How the down step meets transactions.
    pub down_mode: SqlMode,
    /// SHA-256 (hex) of the up file's normalised text.
    pub checksum: String,
    /// SHA-256 (hex) of the up file's text without whitespace.
    pub loose_checksum: String,
    /// The chained checksum covering versions 1 to this one.
    pub chained_checksum: String,
}

/// One file of a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The file name, e.g. `0001_create_users.sql`.
    pub file_name: String,
    /// Where it was read from.
    pub path: PathBuf,
    /// Its text: leading byte-order mark dropped, line endings normalised to `\n`.
    pub text: String,
}
