//! Incremental release build time of a crate embedding 1000 migrations,
//! side by side: migrate's `embed_migrations!`, refinery's
//! `embed_migrations!`, and rusqlite_migration's `include_dir!` set.
//!
//! For each library a scratch crate with the same 1000 small migrations is
//! generated under `target/bench-build/`, built once, then rebuilt after
//! touching its `main.rs`, which re-expands the macro. Target for migrate:
//! at most 1.5 s, validation included.
//!
//! Run: `cargo bench -p migrate-benches --bench build_time`
//! - `RUNS=5` rebuilds per library (median reported; default 3);
//! - `MIGRATIONS=1000` migrations per crate;
//! - `LIBS=migrate,rusqlite_migration` to leave refinery out (its rebuild
//!   takes about a minute here).
//!
//! The scratch crates use the workspace's `Cargo.lock` and build `--offline`,
//! so the peers' versions are those this package depends on.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use support::{env_usize, median, sql};

struct Lib {
    name: &'static str,
    dependencies: &'static str,
    main: &'static str,
    write_migration: fn(&Path, usize),
}

const LIBS: &[Lib] = &[
    Lib {
        name: "migrate",
        dependencies: "", // filled in with the path to this workspace
        main: r#"static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");

fn main() {
    println!("{}", MIGRATIONS.len());
}
"#,
        write_migration: |dir, v| {
            write(&dir.join(format!("{v:04}_create_table_{v}.sql")), &sql(v));
        },
    },
    Lib {
        name: "refinery",
        dependencies: r#"refinery = { version = "0.10", features = ["rusqlite-bundled"] }
rusqlite = { version = "0.40", features = ["bundled"] }"#,
        main: r#"refinery::embed_migrations!("migrations");

fn main() {
    println!("{}", migrations::runner().get_migrations().len());
}
"#,
        write_migration: |dir, v| {
            write(&dir.join(format!("V{v}__create_table_{v}.sql")), &sql(v));
        },
    },
    Lib {
        name: "rusqlite_migration",
        dependencies: r#"rusqlite_migration = { version = "2.6", features = ["from-directory"] }
include_dir = "0.7"
rusqlite = { version = "0.40", features = ["bundled"] }"#,
        main: r#"static DIR: include_dir::Dir = include_dir::include_dir!("$CARGO_MANIFEST_DIR/migrations");

fn main() {
    let migrations = rusqlite_migration::Migrations::from_directory(&DIR).unwrap();
    println!("{}", std::hint::black_box(&migrations) as *const _ as usize != 0);
}
"#,
        write_migration: |dir, v| {
            let sub = dir.join(format!("{v:04}-create_table_{v}"));
            fs::create_dir_all(&sub).expect("create a migration directory");
            write(&sub.join("up.sql"), &sql(v));
        },
    },
];

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the benches package sits in the workspace")
        .to_path_buf()
}

fn generate(lib: &Lib, root: &Path, count: usize) {
    let migrations = root.join("migrations");
    if migrations.exists() {
        fs::remove_dir_all(&migrations).expect("clear old migrations");
    }
    fs::create_dir_all(root.join("src")).expect("create src");
    fs::create_dir_all(&migrations).expect("create migrations");
    let dependencies = if lib.name == "migrate" {
        format!(
            "migrate = {{ package = \"migrate-embed\", path = {:?} }}",
            workspace()
        )
    } else {
        lib.dependencies.to_owned()
    };
    write(
        &root.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"build-time-{}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\n{dependencies}\n\n[workspace]\n",
            lib.name.replace('_', "-")
        ),
    );
    fs::copy(workspace().join("Cargo.lock"), root.join("Cargo.lock")).expect("copy Cargo.lock");
    write(&root.join("src/main.rs"), lib.main);
    for v in 1..=count {
        (lib.write_migration)(&migrations, v);
    }
}

fn cargo_build(root: &Path, target: &Path) -> Duration {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let start = Instant::now();
    let output = Command::new(cargo)
        .args(["build", "--release", "--offline", "--quiet"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("run cargo");
    let elapsed = start.elapsed();
    assert!(
        output.status.success(),
        "building {} failed:\n{}",
        root.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

fn touch(path: &Path) {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now()))
        .unwrap_or_else(|e| panic!("touch {}: {e}", path.display()));
}

fn main() {
    let count = env_usize("MIGRATIONS", 1000);
    let runs = env_usize("RUNS", 3);
    let selected = std::env::var("LIBS").unwrap_or_default();
    let base = workspace().join("target").join("bench-build");
    let target = base.join("target");

    println!("incremental `cargo build --release` after touching main.rs, {count} migrations, median of {runs}");
    let mut results: Vec<(&str, Duration)> = Vec::new();
    for lib in LIBS {
        if !selected.is_empty() && !selected.split(',').any(|s| s.trim() == lib.name) {
            continue;
        }
        let root = base.join(lib.name);
        generate(lib, &root, count);
        let first = cargo_build(&root, &target);
        eprintln!("  {}: first build {:.1} s", lib.name, first.as_secs_f64());
        let samples: Vec<Duration> = (0..runs)
            .map(|_| {
                touch(&root.join("src/main.rs"));
                cargo_build(&root, &target)
            })
            .collect();
        results.push((lib.name, median(samples)));
    }

    let baseline = results
        .iter()
        .find(|(name, _)| *name == "migrate")
        .map(|(_, d)| *d);
    for (name, time) in &results {
        let ratio = baseline
            .map(|b| format!("{:.2}x migrate", time.as_secs_f64() / b.as_secs_f64()))
            .unwrap_or_default();
        println!("  {name:<20} {:>8.3} s   {ratio}", time.as_secs_f64());
    }
    if let Some(b) = baseline {
        println!(
            "  target: migrate at most 1.5 s -> {}",
            if b.as_secs_f64() <= 1.5 {
                "met"
            } else {
                "MISSED"
            }
        );
    }
}
