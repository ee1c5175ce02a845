//! `migrate check` run as a real process on real directories.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

fn migrate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(args)
        .output()
        .expect("run the migrate binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_valid_directory_passes() {
    let dir = fixture("rust");
    let out = migrate(&["check", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("3 migration(s), versions 1 to 3, ok\n"));
}

#[test]
fn every_problem_is_printed_and_the_exit_code_is_1() {
    let dir = fixture("bad-merge");
    let out = migrate(&["check", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("version 2 is used by `0002_from_branch.sql` and `0002_from_main.sql`"),
        "{stderr}"
    );
    assert!(stderr.contains("version 3 is missing between"), "{stderr}");
    let summary = format!("2 problem(s) in {}\n", dir.display());
    assert!(stderr.ends_with(&summary), "{stderr}");
}

#[test]
fn rust_migrations_are_checked_like_the_macro_does() {
    let dir = fixture("rust-wrong-signature");
    let out = migrate(&["check", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("`up` takes `&mut String` instead of `&mut dyn migrate::Tx`")
    );
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["check", "--dir"],
        &["check", "extra"],
    ] {
        let out = migrate(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("usage: migrate check"),
            "{args:?}"
        );
    }
}
