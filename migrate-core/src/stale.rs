//! The stale-binary warning: in debug builds, when the directory a set was
//! embedded from still exists and holds migration files the binary does not
//! embed, the binary was not rebuilt after a file was added. Logged once per
//! directory and process, never an error.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::registry::Migrations;
use crate::source::parse_file_name;

static CHECKED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// Logs a warning naming the files on disk that `migrations` does not embed.
pub(crate) fn warn_if_stale(migrations: &Migrations) {
    // Only debug builds carry the directory.
    let Some(dir) = migrations.source_dir() else {
        return;
    };
    {
        let Ok(mut checked) = CHECKED.lock() else {
            return;
        };
        if checked.contains(&dir) {
            return;
        }
        checked.push(dir);
    }
    let unknown = unembedded_files(migrations, dir);
    if !unknown.is_empty() {
        log::warn!(
            "this binary is stale: `{dir}` holds migration file(s) it does not embed ({}); \
             rebuild it, and have build.rs print `cargo:rerun-if-changed={dir}` so adding a \
             migration triggers a rebuild",
            unknown.join(", ")
        );
    }
}

/// Migration files in `dir` (by name) that `migrations` does not embed.
pub(crate) fn unembedded_files(migrations: &Migrations, dir: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let embedded: HashSet<&str> = migrations
        .iter()
        .flat_map(|m| [Some(m.file_name()), m.down_file_name()])
        .flatten()
        .collect();
    let mut unknown: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // Bad names count too: they are migrations the binary could not have.
        .filter(|name| !matches!(parse_file_name(name), Ok(None)))
        .filter(|name| !embedded.contains(name.as_str()))
        .collect();
    unknown.sort();
    unknown
}
