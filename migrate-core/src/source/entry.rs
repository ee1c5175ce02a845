//! From a validated directory to registry entries: what each migration's
//! up and down steps are. The macro expands these into tokens; the
//! standalone CLI builds a registry from them at run time
//! ([`Checked::leak_registry`]). One mapping, so the two cannot disagree.

use std::path::Path;

use super::problem::Problem;
use super::{scan_dir, MigrationSource, SourceMigration};
use crate::registry::{Checksums, Migration, MigrationKind, Migrations, SqlMode, Step};
use crate::tx::Tx;

/// A directory checked as the macro and `migrate check` both check it:
/// scanned, and its Rust migrations inspected.
#[derive(Debug)]
pub struct Checked {
    /// The scanned set, when the directory could be read and its set is valid.
    pub source: Option<MigrationSource>,
    /// For each migration of `source`, in order, whether it has a down step.
    pub has_down: Vec<bool>,
    /// Every problem found, scanning and inspection alike.
    pub problems: Vec<Problem>,
}

/// Scans `dir` and inspects its Rust migrations: the one validation both
/// the macro and `migrate check` run.
pub fn check_dir(dir: &Path) -> Checked {
    match scan_dir(dir) {
        Err(problems) => Checked {
            source: None,
            has_down: Vec::new(),
            problems: problems.0,
        },
        Ok(source) => {
            let (has_down, problems) = super::inspect_rust_migrations(&source);
            Checked {
                source: Some(source),
                has_down,
                problems,
            }
        }
    }
}

/// One direction of a migration, as the registry will hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepSource<'a> {
    /// SQL text and how it meets transactions.
    Sql {
        /// The text, normalised.
        text: &'a str,
        /// Its first-line directive.
        mode: SqlMode,
    },
    /// The Rust file's `up` or `down` function.
    Rust,
}

/// A migration's down step, as the registry will hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownSource<'a> {
    /// The down file (`None` for a Rust migration's `down` in its own file).
    pub file_name: Option<&'a str>,
    /// The step.
    pub step: StepSource<'a>,
}

impl SourceMigration {
    /// Its up step.
    pub fn up_step(&self) -> StepSource<'_> {
        match self.kind {
            MigrationKind::Sql => StepSource::Sql {
                text: &self.up.text,
                mode: self.mode,
            },
            MigrationKind::Rust => StepSource::Rust,
        }
    }

    /// Its down step, given whether the migration has one (a `.down.sql`
    /// file, or `pub fn down` in a Rust file as inspection found).
    pub fn down_step(&self, has_down: bool) -> Option<DownSource<'_>> {
        match (&self.down, self.kind) {
            (Some(down), _) => Some(DownSource {
                file_name: Some(&down.file_name),
                step: StepSource::Sql {
                    text: &down.text,
                    mode: self.down_mode,
                },
            }),
            (None, MigrationKind::Rust) if has_down => Some(DownSource {
                file_name: None,
                step: StepSource::Rust,
            }),
            (None, _) => None,
        }
    }
}

impl Checked {
    /// A registry built at run time from the checked set, for tools such as
    /// the `migrate` CLI; `None` when there were problems. Applications
    /// embed theirs with `embed_migrations!` instead.
    ///
    /// Its memory is never freed (the registry is `'static`, like an
    /// embedded one): build it once per process. A Rust migration cannot
    /// run without being compiled into a binary, so its steps here fail,
    /// naming the file.
    pub fn leak_registry(&self, table: &str) -> Option<&'static Migrations> {
        fn leak(s: &str) -> &'static str {
            Box::leak(s.to_owned().into_boxed_str())
        }
        fn not_compiled(_: &mut dyn Tx) -> crate::Result<()> {
            Err(crate::Error::other(
                "a Rust migration runs only from the application that embeds it; use the \
                 application's own CLI (`migrate::cli::run`) or let it migrate on boot",
            ))
        }
        fn step(source: StepSource<'_>) -> Step {
            match source {
                StepSource::Sql { text, mode } => Migration::__sql(leak(text), mode),
                StepSource::Rust => Migration::__rust(not_compiled),
            }
        }
        if !self.problems.is_empty() {
            return None;
        }
        let source = self.source.as_ref()?;
        let list: Vec<Migration> = source
            .migrations
            .iter()
            .zip(&self.has_down)
            .map(|(m, &has_down)| {
                let migration = Migration::__new(
                    m.version,
                    leak(&m.name),
                    leak(&m.up.file_name),
                    step(m.up_step()),
                    Checksums {
                        exact: leak(&m.checksum),
                        loose: leak(&m.loose_checksum),
                        chained: leak(&m.chained_checksum),
                    },
                );
                match m.down_step(has_down) {
                    Some(down) => migration.__with_down(down.file_name.map(leak), step(down.step)),
                    None => migration,
                }
            })
            .collect();
        Some(Box::leak(Box::new(Migrations::__new(
            Box::leak(list.into_boxed_slice()),
            leak(table),
            None,
        ))))
    }
}
