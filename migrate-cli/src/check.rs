//! `migrate check`: the macro's rules, from the command line.

use std::path::Path;

use migrate_core::source::{check_dir, Checked, Problem};

use crate::Failure;

/// Scans and validates `dir` exactly as `embed_migrations!` does.
pub fn validated(dir: &Path) -> Result<Checked, Vec<Problem>> {
    let checked = check_dir(dir);
    if checked.problems.is_empty() && checked.source.is_some() {
        Ok(checked)
    } else {
        Err(checked.problems)
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
    let checked = validated(dir).map_err(|problems| failure(dir, &problems))?;
    let count = checked.source.map_or(0, |s| s.migrations.len());
    println!(
        "{}: {count} migration(s), versions 1 to {count}, ok",
        dir.display()
    );
    Ok(())
}
