//! Validation: everything that can be wrong with the arguments or the
//! directory, gathered into one combined error so the user sees every
//! problem in one build.
//!
//! The directory rules live in `migrate_core::source`, shared with the CLI;
//! this module only decides where each error is spanned.

use migrate_core::source::{check_dir, MigrationSource, Problem};
use migrate_core::TableName;
use migrate_core::DEFAULT_TABLE;

use crate::args::Args;
use crate::resolve;

/// A directory that passed validation, ready to expand.
pub struct ValidSet {
    /// The scanned, checksummed migrations.
    pub source: MigrationSource,
    /// For each migration, whether it has a down step.
    pub has_down: Vec<bool>,
    /// The history table.
    pub table: String,
}

/// Validates the arguments and the directory they name.
pub fn validate(args: &Args) -> Result<ValidSet, syn::Error> {
    let mut errors: Vec<syn::Error> = Vec::new();

    let table = match &args.table {
        Some(lit) => {
            let value = lit.value();
            if let Err(reason) = TableName::parse(&value) {
                errors.push(syn::Error::new(lit.span(), reason));
            }
            value
        }
        None => DEFAULT_TABLE.to_owned(),
    };

    let written = args.dir.value();
    let span = args.dir.span();
    let mut has_down = Vec::new();
    let source = match resolve::resolve(&written) {
        Err(reason) => {
            errors.push(syn::Error::new(span, reason));
            None
        }
        Ok(dir) => {
            let checked = check_dir(&dir);
            // Syntax errors in Rust migrations are left to rustc, which
            // reports them in the file itself with real spans once the
            // module is included.
            for problem in &checked.problems {
                if !matches!(problem, Problem::RustSyntax { .. }) {
                    errors.push(syn::Error::new(span, describe(problem, &written)));
                }
            }
            has_down = checked.has_down;
            checked.source
        }
    };

    let mut errors = errors.into_iter();
    if let Some(mut first) = errors.next() {
        first.extend(errors);
        return Err(first);
    }
    match source {
        Some(source) => Ok(ValidSet {
            source,
            has_down,
            table,
        }),
        None => Err(syn::Error::new(
            span,
            "the migration directory could not be read",
        )),
    }
}

/// A problem's message, with the directory as the user wrote it where the
/// scanner's message alone would not say where to look.
fn describe(problem: &Problem, written: &str) -> String {
    match problem {
        Problem::DirectoryUnreadable { dir, error } => format!(
            "cannot read the migration directory \"{written}\" (resolved to `{}`): {error}; \
             the path is relative to the directory holding the crate's Cargo.toml",
            dir.display()
        ),
        other => other.to_string(),
    }
}
