//! `migrate`: the command-line tool.
//!
//! `migrate check [--dir DIR]` validates a migration directory with exactly
//! the rules `embed_migrations!` applies at compile time (the same scanner),
//! printing every problem; for CI and pre-commit hooks.
//!
//! Exit codes: 0 ok, 1 the directory has problems, 2 usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use migrate_core::source::{inspect_rust_migration, scan_dir, Problem};
use migrate_core::MigrationKind;

const USAGE: &str = "usage: migrate check [--dir DIR]   (DIR defaults to `migrations`)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("check") => match parse_dir(&args[1..]) {
            Ok(dir) => check(dir),
            Err(message) => usage_error(&message),
        },
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => usage_error(&format!("unknown command `{other}`")),
        None => usage_error("no command given"),
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("migrate: {message}\n{USAGE}");
    ExitCode::from(2)
}

fn parse_dir(args: &[String]) -> Result<PathBuf, String> {
    match args {
        [] => Ok(PathBuf::from("migrations")),
        [flag, dir] if flag == "--dir" => Ok(PathBuf::from(dir)),
        [flag] if flag == "--dir" => Err("`--dir` needs a directory".to_owned()),
        [other, ..] => Err(format!("unexpected argument `{other}`")),
    }
}

fn check(dir: PathBuf) -> ExitCode {
    let source = match scan_dir(&dir) {
        Ok(source) => source,
        Err(problems) => return report(&dir, problems.0),
    };
    let problems: Vec<Problem> = source
        .migrations
        .iter()
        .filter(|m| m.kind == MigrationKind::Rust)
        .filter_map(|m| inspect_rust_migration(&m.up.file_name, &m.up.text).err())
        .flatten()
        .collect();
    if !problems.is_empty() {
        return report(&dir, problems);
    }
    println!(
        "{}: {} migration(s), versions 1 to {}, ok",
        dir.display(),
        source.migrations.len(),
        source.migrations.len()
    );
    ExitCode::SUCCESS
}

fn report(dir: &std::path::Path, problems: Vec<Problem>) -> ExitCode {
    for problem in &problems {
        eprintln!("error: {}: {problem}", dir.display());
    }
    eprintln!("{} problem(s) in {}", problems.len(), dir.display());
    ExitCode::from(1)
}
