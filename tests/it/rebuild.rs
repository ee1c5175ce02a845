//! Rebuilds, on a scratch crate built by a real `cargo`:
//! - editing an embedded migration rebuilds the crate, with no build.rs;
//! - adding a migration is picked up once the documented one-line build.rs
//!   is there;
//! - the Rust template `migrate new --rust` writes compiles once written
//!   (and not before).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

const MAIN: &str = r#"
static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");

fn main() {
    let latest = MIGRATIONS.latest().unwrap();
    println!("{} {} {}", MIGRATIONS.len(), latest.file_name(), latest.checksum());
}
"#;

const BUILD_RS: &str = r#"fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
"#;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes a file and moves its modification time forward, so the change is
/// seen even on file systems with coarse timestamps.
fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    let later = SystemTime::now() + Duration::from_secs(2);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(later)
        .unwrap();
}

fn scratch_crate() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let manifest = format!(
        "[package]\nname = \"rebuild-scratch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
         \n[dependencies]\nmigrate = {{ package = \"migrate-embed\", path = {:?} }}\n\n[workspace]\n",
        workspace()
    );
    fs::write(root.join("Cargo.toml"), manifest).unwrap();
    // The workspace's lock file: the same dependency versions, no network.
    fs::copy(workspace().join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
    fs::create_dir_all(root.join("src")).unwrap();
    fs::write(root.join("src/main.rs"), MAIN).unwrap();
    fs::create_dir_all(root.join("migrations")).unwrap();
    write(
        &root.join("migrations/0001_a.sql"),
        "CREATE TABLE a (id INTEGER);\n",
    );
    dir
}

/// Builds and runs the scratch crate; returns what it printed.
fn run(root: &Path) -> String {
    let (succeeded, stdout, stderr) = try_run(root);
    assert!(succeeded, "scratch build failed:\n{stderr}");
    stdout
}

/// Builds and runs the scratch crate: whether it worked, its stdout and stderr.
fn try_run(root: &Path) -> (bool, String, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // Its own target directory, shared between runs: no lock contention with
    // the outer build, and the dependencies compile once.
    let target = workspace().join("target").join("rebuild-scratch");
    let output = Command::new(cargo)
        .args(["run", "--quiet", "--offline"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("MIGRATE_PRIVATE_UI_TEST_MANIFEST_DIR")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap().trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn edits_rebuild_and_new_files_are_picked_up_with_build_rs() {
    let dir = scratch_crate();
    let root = dir.path();
    let first = run(root);
    assert!(first.starts_with("1 0001_a.sql "), "{first}");

    // Edit, with no build.rs: the crate depends on the file itself.
    assert!(!root.join("build.rs").exists());
    write(
        &root.join("migrations/0001_a.sql"),
        "CREATE TABLE a (id BIGINT);\n",
    );
    let edited = run(root);
    assert!(edited.starts_with("1 0001_a.sql "), "{edited}");
    assert_ne!(
        first, edited,
        "editing a migration did not rebuild the crate"
    );
    let expected = migrate_core::checksum::checksum("CREATE TABLE a (id BIGINT);\n");
    assert!(edited.ends_with(&expected), "{edited}");

    // Add: the build.rs line makes cargo watch the directory.
    fs::write(root.join("build.rs"), BUILD_RS).unwrap();
    assert!(run(root).starts_with("1 "));
    write(
        &root.join("migrations/0002_b.sql"),
        "CREATE TABLE b (id INTEGER);\n",
    );
    let added = run(root);
    assert!(added.starts_with("2 0002_b.sql "), "{added}");

    // What `migrate new --rust --down` writes does not compile until it is
    // written, as an unwritten SQL file does not: then it does.
    let dir = root.join("migrations");
    let code = migrate_cli::run_standalone(
        ["migrate", "new", "seed", "--rust", "--down", "--dir"]
            .into_iter()
            .map(std::ffi::OsString::from)
            .chain([dir.clone().into_os_string()]),
    );
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let template = dir.join("0003_seed.rs");
    let (built, _, stderr) = try_run(root);
    assert!(!built, "an unwritten template compiled");
    assert!(
        stderr.contains("`0003_seed.rs` is still the template `migrate new` wrote"),
        "{stderr}"
    );
    let text = fs::read_to_string(&template).unwrap();
    let written: String = text
        .lines()
        .filter(|line| !line.starts_with("compile_error!"))
        .map(|line| format!("{line}\n"))
        .collect();
    write(&template, &written);
    let generated = run(root);
    assert!(generated.starts_with("3 0003_seed.rs "), "{generated}");
}
