//! The `migrate` command line, in two forms sharing every command:
//!
//! - **standalone** (`migrate`, [`run_standalone`]): works on a migration
//!   directory with the same scanner and rules as `embed_migrations!` —
//!   `new`, `check`, and `status|plan|up|down|baseline|repair` against
//!   `--database sqlite://app.db` or `postgres://...` (or `DATABASE_URL`);
//! - **embedded** ([`run`], `migrate::cli::run` with the facade's `cli`
//!   feature): the same database commands over the migrations baked into an
//!   application, so operators can inspect and repair production without a
//!   migration directory on the host.
//!
//! `--database` takes `sqlite://path.db` (also `sqlite:///absolute/path.db`,
//! `sqlite:path.db`, `sqlite::memory:`, with `?mode=ro|rw|rwc|memory`),
//! `postgres://user:password@host:port/db?param=value`, or PostgreSQL's
//! keyword form `host=... user=... password='...' dbname=...`. Passwords are
//! never printed: messages show the database with its password as `***`.
//!
//! Exit codes: 0 success, 1 a migration problem (a failed or refused
//! migration, a directory with problems), 2 a usage error (bad arguments,
//! an unsupported database URL). Errors are one line; `-v` adds their causes.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!(
    "the migrate commands need a database: enable the `sqlite` or `postgres` feature \
     (with the `migrate` crate: features = [\"cli\", \"sqlite\"])"
);

mod args;
mod check;
mod commands;
mod database;
mod new;
mod output;
#[cfg(feature = "postgres")]
mod tls;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use migrate_core::Migrations;

/// A failure, with its exit code and the detail `-v` shows.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: u8,
    pub message: String,
    pub detail: Vec<String>,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
            detail: Vec::new(),
        }
    }

    /// `status --exit-code` found the database not at these migrations.
    pub fn not_current(message: impl Into<String>) -> Self {
        Failure {
            code: 3,
            message: message.into(),
            detail: Vec::new(),
        }
    }

    pub fn problem(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
            detail: Vec::new(),
        }
    }
}

impl From<migrate_core::Error> for Failure {
    fn from(error: migrate_core::Error) -> Self {
        let mut detail = Vec::new();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            detail.push(cause.to_string());
            source = cause.source();
        }
        Failure {
            code: 1,
            message: error.to_string(),
            detail,
        }
    }
}

/// Prints a failure as it is: messages name a database by its parsed
/// structure, passwords as `***` (see `database`), so nothing here searches
/// the text for a password to hide.
fn finish(result: Result<(), Failure>, verbose: bool) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if failure.code == 3 {
                // Not an error: the answer `--exit-code` asked for.
                eprintln!("migrate: {}", failure.message);
            } else {
                eprintln!("migrate: error: {}", failure.message);
            }
            if verbose {
                for cause in &failure.detail {
                    eprintln!("  caused by: {cause}");
                }
            }
            ExitCode::from(failure.code)
        }
    }
}

/// Runs the standalone tool on `args` (program name first, as
/// `std::env::args_os()` gives them).
pub fn run_standalone<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match args::Standalone::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, &args),
    };
    let verbose = cli.verbose;
    finish(commands::standalone(cli), verbose)
}

/// Runs the database commands (`status`, `plan`, `up`, `down`, `baseline`,
/// `repair`) over an application's embedded migrations, with `args` as the
/// command line (program name first). Applications reach it as
/// `migrate::cli::run` (feature `cli`), whose documentation has an example.
pub fn run<I, T>(migrations: &'static Migrations, args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match args::Embedded::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, &args),
    };
    let verbose = cli.verbose;
    finish(commands::embedded(migrations, cli), verbose)
}

fn usage_error(error: clap::Error, args: &[OsString]) -> ExitCode {
    // Help and version are successes; everything else is a usage error (2).
    if !error.use_stderr() {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    // clap repeats a stray argument; a database URL given without
    // `--database` may hold a password, so it is not shown.
    let mut text = error.render().to_string();
    for arg in args.iter().filter_map(|a| a.to_str()) {
        if may_hold_a_password(arg) {
            text = text.replace(arg, "<not shown: it may hold a password>");
        }
    }
    eprint!("{text}");
    ExitCode::from(2)
}

/// Whether a command-line argument looks like a database URL or connection
/// string with credentials.
fn may_hold_a_password(arg: &str) -> bool {
    (arg.contains("://") && arg.contains('@')) || arg.to_ascii_lowercase().contains("password=")
}
