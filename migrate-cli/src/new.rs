//! `migrate new`: the next numbered file(s), in the directory's own style.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use migrate_core::source::{parse_file_name, NameStyle};

use crate::Failure;

/// The next version and the style of the newest file. Only names matter
/// here, so a directory whose latest migration is still being written (and
/// would not pass `check`) can get its next one.
fn next_version(dir: &Path) -> Result<(u64, NameStyle), Failure> {
    let mut newest: Option<(u64, NameStyle)> = None;
    if dir.exists() {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Failure::problem(format!("cannot read `{}`: {e}", dir.display())))?;
        for entry in entries.flatten() {
            if let Ok(Some(parsed)) = parse_file_name(&entry.file_name().to_string_lossy()) {
                if newest.is_none_or(|(v, _)| parsed.version > v) {
                    newest = Some((parsed.version, parsed.style));
                }
            }
        }
    }
    Ok(
        newest.map_or((1, NameStyle::Plain { width: 4 }), |(v, style)| {
            (v + 1, style)
        }),
    )
}

pub fn run(dir: &Path, name: &str, rust: bool, down: bool) -> Result<Vec<PathBuf>, Failure> {
    let (version, style) = next_version(dir)?;
    let (up_prefix, down_prefix) = match style {
        NameStyle::Flyway => (format!("V{version}__"), format!("U{version}__")),
        NameStyle::Plain { width } => {
            (format!("{version:0width$}_"), format!("{version:0width$}_"))
        }
    };
    let up_file = format!("{up_prefix}{name}.{}", if rust { "rs" } else { "sql" });
    let mut files = vec![(up_file.clone(), template_up(&up_file, name, rust, down))];
    if down && !rust {
        let down_file = match style {
            NameStyle::Flyway => format!("{down_prefix}{name}.sql"),
            NameStyle::Plain { .. } => format!("{down_prefix}{name}.down.sql"),
        };
        files.push((down_file, format!("-- Reverts {up_file}.\n")));
    }
    for (file, _) in &files {
        match parse_file_name(file) {
            Ok(Some(_)) => {}
            Ok(None) => return Err(Failure::usage(format!("`{file}` would not be a migration"))),
            Err(e) => return Err(Failure::usage(format!("cannot create {e}"))),
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::problem(format!("cannot create `{}`: {e}", dir.display())))?;
    let mut created = Vec::new();
    for (file, text) in files {
        let path = dir.join(&file);
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Failure::problem(format!("cannot create `{}`: {e}", path.display())))?;
        out.write_all(text.as_bytes())
            .map_err(|e| Failure::problem(format!("cannot write `{}`: {e}", path.display())))?;
        created.push(path);
    }
    Ok(created)
}

fn template_up(file: &str, name: &str, rust: bool, down: bool) -> String {
    if !rust {
        return format!(
            "-- {file}: {name}\n-- Write the migration below. A migration holding only comments \
             does not compile, so this file must be filled in before it ships.\n"
        );
    }
    let step = |function: &str, what: &str| {
        format!(
            "\npub fn {function}(tx: &mut dyn Tx) -> migrate::Result<()> {{\n    \
             // e.g. tx.execute(\"UPDATE users SET name = $1 WHERE id = $2\", &[\"ada\".into(), 1.into()])?;\n    \
             let _ = tx;\n    \
             Err(migrate::Error::other(\"{file}: write {what}\"))\n}}\n"
        )
    };
    // As an unwritten SQL file does not compile, neither does this one
    // until the line below is gone.
    let mut text = format!(
        "//! {file}: {name}\n\nuse migrate::Tx;\n\n\
         compile_error!(\"{file} is a template: write the migration, then delete this line\");\n"
    );
    text.push_str(&step("up", "this migration"));
    if down {
        text.push_str(&step("down", "the down step"));
    }
    text
}
