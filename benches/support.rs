//! Helpers shared by the benchmarks: timing, medians, generated migrations.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use migrate_core::registry::Checksums;
use migrate_core::source::scan_files;
use migrate_core::{Migration, Migrations};

/// Runs `f` `runs` times and returns each duration.
pub fn time_runs(runs: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect()
}

/// The median of some durations.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let mid = samples.len() / 2;
    if !samples.len().is_multiple_of(2) {
        samples[mid]
    } else {
        (samples[mid - 1] + samples[mid]) / 2
    }
}

/// A duration in milliseconds with three decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// The SQL of generated migration `v`: one small table each, as in a
/// long-lived application's history.
pub fn sql(v: usize) -> String {
    format!(
        "-- migration {v}\nCREATE TABLE t{v} (\n    id BIGINT PRIMARY KEY,\n    name TEXT NOT NULL,\n    created_at TEXT\n);\n"
    )
}

/// A number from the environment, or a default.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The generated set as a migrate registry: the same static data the macro
/// emits, built at run time so the size can vary without generated sources.
pub fn migrate_registry(count: usize) -> &'static Migrations {
    let files = (1..=count).map(|v| (format!("{v:04}_create_table_{v}.sql"), sql(v)));
    let source = scan_files("migrations", files).expect("valid generated set");
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let list: Vec<Migration> = source
        .migrations
        .into_iter()
        .map(|m| {
            Migration::__new(
                m.version,
                leak(m.name),
                leak(m.up.file_name),
                Migration::__sql(leak(m.up.text), m.mode),
                Checksums {
                    exact: leak(m.checksum),
                    loose: leak(m.loose_checksum),
                    chained: leak(m.chained_checksum),
                },
            )
        })
        .collect();
    Box::leak(Box::new(Migrations::__new(
        Box::leak(list.into_boxed_slice()),
        migrate::DEFAULT_TABLE,
        None,
    )))
}

/// refinery's runner over the same texts, built as its `embed_migrations!`
/// builds it on every start (names parsed, texts hashed).
pub fn refinery_runner(texts: &[String]) -> refinery::Runner {
    let migrations: Vec<refinery::Migration> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            refinery::Migration::unapplied(&format!("V{}__create_table_{}", i + 1, i + 1), text)
                .expect("valid refinery migration")
        })
        .collect();
    refinery::Runner::new(&migrations)
}

/// `a` as a multiple of `b`.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// Prints an apply comparison: medians of the hand-written floor, migrate
/// (against `target`) and refinery.
pub fn print_apply(title: &str, [floor, migrate, refinery]: [Duration; 3], target: f64) {
    println!("{title}");
    println!("  floor (by hand)   {:>12}", ms(floor));
    println!(
        "  migrate           {:>12}  {:.2}x floor (target <= {target:.2}x)",
        ms(migrate),
        ratio(migrate, floor)
    );
    println!(
        "  refinery          {:>12}  {:.2}x floor",
        ms(refinery),
        ratio(refinery, floor)
    );
}

/// Prints a boot comparison: medians with no library, with a one-query
/// hand-written check of the history (the floor), migrate (against
/// `target`) and refinery.
pub fn print_boot(title: &str, [none, history, migrate, refinery]: [Duration; 4], target: f64) {
    println!("{title}");
    println!("  floor: no library            {:>10}", ms(none));
    println!("  floor: one query, history    {:>10}", ms(history));
    println!(
        "  migrate                      {:>10}  {:.2}x floor (target <= {target:.2}x), +{:.3} ms over no library",
        ms(migrate),
        ratio(migrate, history),
        (migrate.as_secs_f64() - none.as_secs_f64()) * 1000.0
    );
    println!(
        "  refinery                     {:>10}  {:.2}x floor",
        ms(refinery),
        ratio(refinery, history)
    );
}
