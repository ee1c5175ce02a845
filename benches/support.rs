//! Helpers shared by the benchmarks: timing, medians, generated migrations.

#![allow(dead_code)]

use std::time::{Duration, Instant};

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
