//! `migrate check`: the macro's rules, from the command line.

use std::path::Path;

use migrate_core::source::{inspect_rust_migrations, scan_dir, MigrationSource, Problem};

use crate::Failure;

/// Scans and validates `dir` exactly as `embed_migrations!` does.
pub fn validated(dir: &Path) -> Result<MigrationSource, Vec<Problem>> {
    let source = scan_dir(dir).map_err(|problems| problems.0)?;
    let (_, problems) = inspect_rust_migrations(&source);
    if problems.is_empty() {
        Ok(source)
    } else {
        Err(problems)
    }
}

/// Every problem, one per line, as a failure with exit code 1.
pub fn failure(dir: &Path, problems: &[Problem]) -> Failure {
    for problem in problems {
        eprintln!("error: {}: {problem}", dir.display());
    }
    Failure::problem(format!(
        "{} problem(s) in {}",
        problems.len(),
        dir.display()
    ))
}

pub fn run(dir: &Path) -> Result<(), Failure> {
    let source = validated(dir).map_err(|problems| failure(dir, &problems))?;
    println!(
        "{}: {} migration(s), versions 1 to {}, ok",
        dir.display(),
        source.migrations.len(),
        source.migrations.len()
    );
    Ok(())
}
