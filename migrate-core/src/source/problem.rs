//! Problems found in a migration directory, each naming its file(s) and the fix.
//!
//! The scanner never stops at the first problem: it collects every one in the
//! directory into [`Problems`], so a user fixing a bad merge sees the
//! duplicate *and* the gap at once. The macro turns each into one
//! `compile_error!`; the CLI prints one per line.

use std::fmt;
use std::path::PathBuf;

use super::name::NameError;

/// One thing wrong with a migration directory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The directory does not exist or cannot be listed.
    DirectoryUnreadable {
        /// The directory as it was resolved.
        dir: PathBuf,
        /// The operating system's reason.
        error: String,
    },
    /// A `.sql` or `.rs` file whose name does not parse.
    BadFileName(NameError),
    /// A migration file that cannot be read.
    FileUnreadable {
        /// The file name.
        file: String,
        /// The operating system's reason.
        error: String,
    },
    /// A migration file that is not valid UTF-8.
    NotUtf8 {
        /// The file name.
        file: String,
        /// 1-based line of the first invalid byte.
        line: usize,
    },
    /// A SQL migration holding a NUL byte, where SQLite stops reading.
    NulByte {
        /// The file name.
        file: String,
        /// 1-based line of the NUL byte.
        line: usize,
    },
    /// A migration holding nothing but whitespace and comments.
    Empty {
        /// The file name.
        file: String,
    },
    /// A first line `-- migrate:...` that is not a known directive.
    UnknownDirective {
        /// The file name.
        file: String,
        /// The directive as written, e.g. `no-transactions`.
        directive: String,
    },
    /// A `-- migrate:` directive below the first line, where it would be ignored.
    MisplacedDirective {
        /// The file name.
        file: String,
        /// 1-based line.
        line: usize,
        /// The directive as written.
        directive: String,
    },
    /// A transactional SQL migration with a top-level `BEGIN`, `COMMIT`, ...
    /// that would end the transaction the runtime runs it in.
    TransactionControl {
        /// The file name.
        file: String,
        /// 1-based line of the statement.
        line: usize,
        /// The command, e.g. `COMMIT`.
        command: String,
    },
    /// The `mysql` client's `DELIMITER` command, which no server runs.
    ClientDelimiter {
        /// The file name.
        file: String,
        /// 1-based line of the command.
        line: usize,
    },
    /// `PRAGMA foreign_keys = ...` in a transactional migration, where SQLite ignores it.
    ForeignKeysInTransaction {
        /// The file name.
        file: String,
        /// 1-based line of the statement.
        line: usize,
    },
    /// Two or more files claim the same version (and direction).
    DuplicateVersion {
        /// The version.
        version: u64,
        /// Every file claiming it.
        files: Vec<String>,
        /// The first version no file uses, to suggest a renumbering.
        next_free: u64,
    },
    /// Versions missing between two migrations.
    MissingVersions {
        /// First missing version.
        from: u64,
        /// Last missing version.
        to: u64,
        /// The file just before the gap.
        before: String,
        /// The file just after the gap.
        after: String,
    },
    /// The lowest version is not 1.
    DoesNotStartAtOne {
        /// The lowest version found.
        first: u64,
        /// The file holding it.
        file: String,
    },
    /// A down migration whose version has no up migration.
    DownWithoutUp {
        /// The down file.
        file: String,
        /// What the up file would be called.
        expected_up: String,
    },
    /// A down migration whose name differs from its up migration's.
    DownNameMismatch {
        /// The down file.
        down: String,
        /// The up file of the same version.
        up: String,
        /// What the down file should be called.
        expected_down: String,
    },
    /// A `.down.sql` file for a Rust migration, whose down step belongs in `pub fn down`.
    SqlDownForRustMigration {
        /// The down file.
        down: String,
        /// The Rust migration.
        up: String,
    },
    /// A Rust migration without a usable `pub fn up`.
    RustMissingUp {
        /// The `.rs` file.
        file: String,
    },
    /// A Rust migration still holding the `compile_error!` line of the
    /// template `migrate new --rust` writes: not written yet.
    RustUnwritten {
        /// The `.rs` file.
        file: String,
    },
    /// A Rust migration's `up` or `down` whose signature cannot be right.
    RustBadSignature {
        /// The `.rs` file.
        file: String,
        /// `up` or `down`.
        function: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A Rust migration that does not parse as Rust.
    RustSyntax {
        /// The `.rs` file.
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// A sub-directory that looks like a migration (diesel's layout); migrations are flat files.
    NestedDirectory {
        /// The directory's name.
        name: String,
    },
}

impl Problem {
    /// The file names this problem is about, for tools that point at files.
    pub fn files(&self) -> Vec<&str> {
        match self {
            Problem::DirectoryUnreadable { .. } => Vec::new(),
            Problem::BadFileName(e) => vec![e.file_name.as_str()],
            Problem::FileUnreadable { file, .. }
            | Problem::NotUtf8 { file, .. }
            | Problem::NulByte { file, .. }
            | Problem::Empty { file }
            | Problem::UnknownDirective { file, .. }
            | Problem::MisplacedDirective { file, .. }
            | Problem::TransactionControl { file, .. }
            | Problem::ClientDelimiter { file, .. }
            | Problem::ForeignKeysInTransaction { file, .. }
            | Problem::DoesNotStartAtOne { file, .. }
            | Problem::DownWithoutUp { file, .. }
            | Problem::RustMissingUp { file }
            | Problem::RustUnwritten { file }
            | Problem::RustBadSignature { file, .. }
            | Problem::RustSyntax { file, .. } => vec![file.as_str()],
            Problem::DuplicateVersion { files, .. } => files.iter().map(String::as_str).collect(),
            Problem::MissingVersions { before, after, .. } => vec![before.as_str(), after.as_str()],
            Problem::DownNameMismatch { down, up, .. }
            | Problem::SqlDownForRustMigration { down, up } => vec![down.as_str(), up.as_str()],
            Problem::NestedDirectory { name } => vec![name.as_str()],
        }
    }
}

fn quoted_list(files: &[String]) -> String {
    let quoted: Vec<String> = files.iter().map(|f| format!("`{f}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::DirectoryUnreadable { dir, error } => write!(
                f,
                "cannot read the migration directory `{}`: {error}",
                dir.display()
            ),
            Problem::BadFileName(e) => write!(f, "{e}"),
            Problem::FileUnreadable { file, error } => write!(f, "cannot read `{file}`: {error}"),
            Problem::NotUtf8 { file, line } => write!(
                f,
                "`{file}` is not valid UTF-8 (first bad byte on line {line}); save it as UTF-8"
            ),
            Problem::NulByte { file, line } => write!(
                f,
                "`{file}` line {line} holds a NUL byte, where SQLite stops reading (everything \
                 after it would be skipped silently); remove it"
            ),
            Problem::Empty { file } => write!(
                f,
                "`{file}` is empty (only whitespace or comments); write the migration or delete the file"
            ),
            Problem::UnknownDirective { file, directive } => write!(
                f,
                "`{file}`: unknown directive `-- migrate:{directive}` on the first line; \
                 the directives are `-- migrate:no-transaction` and `-- migrate:foreign-keys-off`"
            ),
            Problem::MisplacedDirective {
                file,
                line,
                directive,
            } => write!(
                f,
                "`{file}` line {line}: `{directive}` is ignored below the first line; \
                 move it to line 1"
            ),
            Problem::TransactionControl {
                file,
                line,
                command,
            } => write!(
                f,
                "`{file}` line {line}: `{command}` is transaction control, but this migration \
                 already runs in a transaction; delete it, or put `-- migrate:no-transaction` \
                 on line 1 to manage transactions yourself"
            ),
            Problem::ClientDelimiter { file, line } => write!(
                f,
                "`{file}` line {line}: `DELIMITER` is a command of the `mysql` client, not SQL, \
                 and no database runs it; delete the DELIMITER lines and end each stored \
                 program with `END;` (migrate finds where `CREATE PROCEDURE|FUNCTION|TRIGGER|\
                 EVENT ... BEGIN ... END` ends by itself)"
            ),
            Problem::ForeignKeysInTransaction { file, line } => write!(
                f,
                "`{file}` line {line}: `PRAGMA foreign_keys` does nothing inside the \
                 migration's transaction, so a table rebuild would cascade its deletes; put \
                 `-- migrate:foreign-keys-off` on line 1 instead"
            ),
            Problem::DuplicateVersion {
                version,
                files,
                next_free,
            } => write!(
                f,
                "version {version} is used by {}; keep one and renumber the others \
                 (the next free version is {next_free})",
                quoted_list(files)
            ),
            Problem::MissingVersions {
                from,
                to,
                before,
                after,
            } => {
                if from == to {
                    write!(f, "version {from} is missing")?;
                } else {
                    write!(f, "versions {from} to {to} are missing")?;
                }
                write!(
                    f,
                    " between `{before}` and `{after}`; versions must be contiguous: \
                     add the missing migration or renumber `{after}` and the ones after it"
                )
            }
            Problem::DoesNotStartAtOne { first, file } => write!(
                f,
                "versions start at 1, but the first migration is `{file}` (version {first}); \
                 renumber the migrations from 1"
            ),
            Problem::DownWithoutUp { file, expected_up } => write!(
                f,
                "`{file}` is a down migration with no up migration; add `{expected_up}` or delete it"
            ),
            Problem::DownNameMismatch {
                down,
                up,
                expected_down,
            } => write!(
                f,
                "`{down}` does not match the name of its up migration `{up}`; rename it to `{expected_down}`"
            ),
            Problem::SqlDownForRustMigration { down, up } => write!(
                f,
                "`{down}` reverts a Rust migration; write the down step as `pub fn down` in `{up}` and delete `{down}`"
            ),
            Problem::RustUnwritten { file } => write!(
                f,
                "`{file}` is still the template `migrate new` wrote; write the migration, \
                 then delete its `compile_error!` line"
            ),
            Problem::RustMissingUp { file } => write!(
                f,
                "`{file}` has no `pub fn up`; define \
                 `pub fn up(tx: &mut dyn migrate::Tx) -> migrate::Result<()>` in it"
            ),
            Problem::RustBadSignature {
                file,
                function,
                reason,
            } => write!(
                f,
                "`{file}`: `{function}` {reason}; its signature must be \
                 `pub fn {function}(tx: &mut dyn migrate::Tx) -> migrate::Result<()>`"
            ),
            Problem::RustSyntax {
                file,
                line,
                message,
            } => write!(f, "`{file}` line {line} does not parse as Rust: {message}"),
            Problem::NestedDirectory { name } => write!(
                f,
                "`{name}/` is a directory, but migrations are flat files; move its up and down \
                 SQL into `{name}.sql` and `{name}.down.sql`"
            ),
        }
    }
}

/// Every problem found in one migration directory, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// The problems, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.0.iter()
    }

    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Problems {
    type Item = &'a Problem;
    type IntoIter = std::slice::Iter<'a, Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}
