//! Scanning and validating a directory of 1000 migrations: what the macro
//! does on every build of a crate that embeds them, and what `migrate check`
//! does. Target: under 50 ms.
//!
//! Run: `cargo bench -p migrate-benches --bench scan`
//! (`MIGRATIONS=5000 RUNS=50` to change the size and the number of runs).

mod support;

use migrate_core::source::{scan_dir, scan_files};
use support::{env_usize, median, ms, sql, time_runs};

fn main() {
    let count = env_usize("MIGRATIONS", 1000);
    let runs = env_usize("RUNS", 30);
    let dir = tempfile::tempdir().expect("temporary directory");
    let files: Vec<(String, String)> = (1..=count)
        .map(|v| (format!("{v:04}_create_table_{v}.sql"), sql(v)))
        .collect();
    for (name, text) in &files {
        std::fs::write(dir.path().join(name), text).expect("write a migration");
    }

    // Warm the page cache once, as a rebuild would find it.
    assert_eq!(scan_dir(dir.path()).expect("valid").migrations.len(), count);

    let from_disk = median(time_runs(runs, || {
        let source = scan_dir(dir.path()).expect("valid");
        std::hint::black_box(source);
    }));
    let in_memory = median(time_runs(runs, || {
        let source = scan_files(
            "migrations",
            files
                .iter()
                .map(|(n, t)| (n.clone(), t.clone().into_bytes())),
        )
        .expect("valid");
        std::hint::black_box(source);
    }));

    println!("scan + validate + checksum {count} migrations ({runs} runs, median)");
    println!("  from disk (scan_dir):    {}", ms(from_disk));
    println!("  in memory (scan_files):  {}", ms(in_memory));
    println!(
        "  target: under 50 ms from disk -> {}",
        if from_disk.as_millis() < 50 {
            "met"
        } else {
            "MISSED"
        }
    );
}
