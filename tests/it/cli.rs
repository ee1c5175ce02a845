//! `migrate::cli::run`: the commands over the migrations embedded in the
//! application (Rust migrations included, which the standalone tool leaves
//! to the application).

use std::process::ExitCode;

use crate::sets::EXAMPLE;
use crate::sqlite::{db, history_versions, open};

fn run(args: &[&str]) -> ExitCode {
    migrate::cli::run(&EXAMPLE, std::iter::once("app").chain(args.iter().copied()))
}

#[test]
fn the_embedded_commands_work_on_the_embedded_set() {
    let (_dir, path) = db();
    let url = format!("sqlite://{}", path.display());
    assert_eq!(
        run(&["up", "--to", "3", "--database", &url]),
        ExitCode::SUCCESS
    );
    // Version 3 is a Rust migration: embedded, it runs.
    assert_eq!(
        history_versions(&open(&path), "migrate_schema_history"),
        [1, 2, 3]
    );
    assert_eq!(run(&["status", "--database", &url]), ExitCode::SUCCESS);
    assert_eq!(
        run(&["down", "--to", "1", "--database", &url]),
        ExitCode::SUCCESS
    );
    assert_eq!(
        history_versions(&open(&path), "migrate_schema_history"),
        [1]
    );
    assert_eq!(
        run(&["baseline", "2", "--database", &url]),
        ExitCode::from(1)
    );
    assert_eq!(
        run(&["new", "x"]),
        ExitCode::from(2),
        "new is for the standalone tool"
    );
    assert_eq!(
        run(&["status", "--database", "mongodb://db/app"]),
        ExitCode::from(2),
        "an unsupported database is a usage error"
    );
}
