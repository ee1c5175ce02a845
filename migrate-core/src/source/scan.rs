//! Scanning: from a directory (or a list of files) to a validated
//! [`MigrationSource`], or every [`Problem`] in it at once.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::content::{self, Directive};
use super::name::{parse_file_name, Direction, MigrationFileName, NameStyle};
use super::problem::{Problem, Problems};
use super::{MigrationSource, SourceFile, SourceMigration};
use crate::checksum;
use crate::registry::{MigrationKind, SqlMode};

/// Reads, validates and checksums every migration in `dir`.
///
/// Only `.sql` and `.rs` files are read; other files are ignored. Every
/// problem in the directory is reported, not just the first.
///
/// # Example
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("0001_create_users.sql"), "CREATE TABLE users (id INTEGER);")?;
/// std::fs::write(dir.path().join("0002_add_email.sql"), "ALTER TABLE users ADD email TEXT;")?;
/// std::fs::write(dir.path().join("README.md"), "ignored")?;
///
/// let source = migrate_core::source::scan_dir(dir.path())?;
/// assert_eq!(source.migrations.len(), 2);
/// assert_eq!(source.migrations[1].name, "add_email");
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`Problems`] listing everything wrong: an unreadable directory, bad file
/// names, duplicated or missing versions, empty or non-UTF-8 files, down
/// migrations without an up.
pub fn scan_dir(dir: impl AsRef<Path>) -> Result<MigrationSource, Problems> {
    let dir = dir.as_ref();
    let entries = fs::read_dir(dir).map_err(|e| {
        Problems(vec![Problem::DirectoryUnreadable {
            dir: dir.to_path_buf(),
            error: e.to_string(),
        }])
    })?;
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                problems.push(Problem::DirectoryUnreadable {
                    dir: dir.to_path_buf(),
                    error: e.to_string(),
                });
                continue;
            }
        };
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        // `metadata` follows symlinks, so a linked migration file counts.
        let is_dir = fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false);
        if is_dir {
            if looks_like_migration_dir(&file_name) {
                problems.push(Problem::NestedDirectory { name: file_name });
            }
            continue;
        }
        match parse_file_name(&file_name) {
            Ok(None) => {}
            Ok(Some(_)) | Err(_) => {
                let bytes = match fs::read(&path) {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        problems.push(Problem::FileUnreadable {
                            file: file_name,
                            error: e.to_string(),
                        });
                        continue;
                    }
                };
                files.push(RawFile {
                    file_name,
                    path,
                    bytes,
                });
            }
        }
    }
    build(dir, files, problems)
}

/// Validates and checksums migrations given as `(file name, contents)`
/// pairs, as if they were the files of `dir`: the pure core of [`scan_dir`],
/// for tools and tests that hold the files in memory.
///
/// # Errors
///
/// The same [`Problems`] as [`scan_dir`].
pub fn scan_files<I, N, B>(dir: impl AsRef<Path>, files: I) -> Result<MigrationSource, Problems>
where
    I: IntoIterator<Item = (N, B)>,
    N: Into<String>,
    B: Into<Vec<u8>>,
{
    let dir = dir.as_ref();
    let files = files
        .into_iter()
        .map(|(name, bytes)| {
            let file_name = name.into();
            RawFile {
                path: dir.join(&file_name),
                file_name,
                bytes: bytes.into(),
            }
        })
        .collect();
    build(dir, files, Vec::new())
}

struct RawFile {
    file_name: String,
    path: PathBuf,
    bytes: Vec<u8>,
}

/// A file whose name parsed and whose contents passed the per-file checks.
struct Checked {
    parsed: MigrationFileName,
    file: SourceFile,
    mode: SqlMode,
}

fn looks_like_migration_dir(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_digit())
}

/// The version a malformed name seems to carry (`0004 x.sql` → 4), so one
/// bad name is not also reported as a gap.
fn guessed_version(file_name: &str) -> Option<u64> {
    let rest = file_name.strip_prefix(['V', 'U']).unwrap_or(file_name);
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn build(
    dir: &Path,
    mut files: Vec<RawFile>,
    mut problems: Vec<Problem>,
) -> Result<MigrationSource, Problems> {
    files.sort_by(|a, b| a.file_name.cmp(&b.file_name));

    let mut checked = Vec::new();
    let mut guessed_versions = Vec::new();
    for raw in files {
        let parsed = match parse_file_name(&raw.file_name) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => continue,
            Err(e) => {
                guessed_versions.extend(guessed_version(&raw.file_name));
                problems.push(Problem::BadFileName(e));
                continue;
            }
        };
        if let Some(file) = check_contents(raw, &parsed, &mut problems) {
            checked.push(file);
        }
    }
    problems.extend(validate_set(&checked, &guessed_versions));

    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    Ok(MigrationSource {
        dir: dir.to_path_buf(),
        migrations: assemble(checked),
    })
}

/// UTF-8, emptiness and directive checks of one file. Returns `None` only
/// when the text cannot be used at all.
fn check_contents(
    raw: RawFile,
    parsed: &MigrationFileName,
    problems: &mut Vec<Problem>,
) -> Option<Checked> {
    let text = match String::from_utf8(raw.bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            problems.push(Problem::NotUtf8 {
                file: raw.file_name,
                line,
            });
            return None;
        }
    };
    let text = checksum::normalise(&text).into_owned();
    let mut mode = SqlMode::Transaction;
    match parsed.kind {
        MigrationKind::Sql => {
            match content::sql_directive(&text) {
                Directive::None => {}
                Directive::NoTransaction => mode = SqlMode::NoTransaction,
                Directive::ForeignKeysOff => mode = SqlMode::ForeignKeysOff,
                Directive::Unknown(directive) => problems.push(Problem::UnknownDirective {
                    file: raw.file_name.clone(),
                    directive,
                }),
            }
            for (line, directive) in content::misplaced_directives(&text) {
                problems.push(Problem::MisplacedDirective {
                    file: raw.file_name.clone(),
                    line,
                    directive,
                });
            }
            if let Some(at) = text.find('\0') {
                problems.push(Problem::NulByte {
                    file: raw.file_name.clone(),
                    line: text[..at].matches('\n').count() + 1,
                });
            }
            check_statements(&raw.file_name, &text, mode, problems);
            if super::sql::is_blank(&text) {
                problems.push(Problem::Empty {
                    file: raw.file_name.clone(),
                });
            }
        }
        MigrationKind::Rust => {
            if content::rust_is_blank(&text) {
                problems.push(Problem::Empty {
                    file: raw.file_name.clone(),
                });
            }
        }
    }
    Some(Checked {
        parsed: parsed.clone(),
        file: SourceFile {
            file_name: raw.file_name,
            path: raw.path,
            text,
        },
        mode,
    })
}

/// What a SQL file's statements must not do in its mode: end the
/// transaction the runtime wraps it in, or switch foreign keys inside it
/// (a no-op there, so a table rebuild would cascade its deletes).
fn check_statements(file: &str, text: &str, mode: SqlMode, problems: &mut Vec<Problem>) {
    // No database runs the `mysql` client's `DELIMITER`, in any mode.
    if let Some(line) = super::sql::client_delimiter(text) {
        problems.push(Problem::ClientDelimiter {
            file: file.to_owned(),
            line,
        });
    }
    if mode == SqlMode::NoTransaction {
        return;
    }
    for (line, command) in super::sql::transaction_controls(text) {
        problems.push(Problem::TransactionControl {
            file: file.to_owned(),
            line,
            command: command.to_owned(),
        });
    }
    if mode == SqlMode::Transaction {
        for line in super::sql::sets_foreign_keys(text) {
            problems.push(Problem::ForeignKeysInTransaction {
                file: file.to_owned(),
                line,
            });
        }
    }
}

/// The rules over the whole set: one up (and at most one down) per version,
/// downs matching their ups, versions contiguous from 1.
fn validate_set(checked: &[Checked], guessed_versions: &[u64]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut by_version: BTreeMap<u64, (Vec<&Checked>, Vec<&Checked>)> = BTreeMap::new();
    for file in checked {
        let slot = by_version.entry(file.parsed.version).or_default();
        match file.parsed.direction {
            Direction::Up => slot.0.push(file),
            Direction::Down => slot.1.push(file),
        }
    }
    let highest = by_version
        .keys()
        .chain(guessed_versions)
        .max()
        .copied()
        .unwrap_or(0);
    let next_free = highest.saturating_add(1);
    let names = |files: &[&Checked]| -> Vec<String> {
        files.iter().map(|f| f.file.file_name.clone()).collect()
    };

    for (&version, (ups, downs)) in &by_version {
        for group in [ups, downs] {
            if group.len() > 1 {
                problems.push(Problem::DuplicateVersion {
                    version,
                    files: names(group),
                    next_free,
                });
            }
        }
        match (ups.as_slice(), downs.as_slice()) {
            ([], downs) => {
                for down in downs {
                    problems.push(Problem::DownWithoutUp {
                        file: down.file.file_name.clone(),
                        expected_up: up_name_for(&down.parsed),
                    });
                }
            }
            ([up], [down]) if up.parsed.kind == MigrationKind::Rust => {
                problems.push(Problem::SqlDownForRustMigration {
                    down: down.file.file_name.clone(),
                    up: up.file.file_name.clone(),
                });
            }
            ([up], [down]) if up.parsed.name != down.parsed.name => {
                problems.push(Problem::DownNameMismatch {
                    down: down.file.file_name.clone(),
                    up: up.file.file_name.clone(),
                    expected_down: down_name_for(&up.parsed, &down.parsed),
                });
            }
            _ => {}
        }
    }

    // Contiguity, over every version any file claims (malformed names
    // included), so one mistake is reported once.
    let mut versions: Vec<(u64, String)> = by_version
        .iter()
        .map(|(v, (ups, downs))| {
            let first = ups
                .first()
                .or(downs.first())
                .map(|f| f.file.file_name.clone());
            (*v, first.unwrap_or_default())
        })
        .collect();
    for &v in guessed_versions {
        if !by_version.contains_key(&v) {
            versions.push((v, String::new()));
        }
    }
    versions.sort();
    versions.dedup_by_key(|(v, _)| *v);
    if let Some((first, file)) = versions.first() {
        if *first != 1 && !file.is_empty() {
            problems.push(Problem::DoesNotStartAtOne {
                first: *first,
                file: file.clone(),
            });
        }
    }
    for pair in versions.windows(2) {
        let ((a, before), (b, after)) = (&pair[0], &pair[1]);
        if b - a > 1 && !before.is_empty() && !after.is_empty() {
            problems.push(Problem::MissingVersions {
                from: a + 1,
                to: b - 1,
                before: before.clone(),
                after: after.clone(),
            });
        }
    }
    problems
}

fn up_name_for(down: &MigrationFileName) -> String {
    let (version, name) = (down.version, &down.name);
    match down.style {
        NameStyle::Flyway => format!("V{version}__{name}.sql"),
        NameStyle::Plain { width } => format!("{version:0width$}_{name}.sql"),
    }
}

fn down_name_for(up: &MigrationFileName, down: &MigrationFileName) -> String {
    let (version, name) = (up.version, &up.name);
    match down.style {
        NameStyle::Flyway => format!("U{version}__{name}.sql"),
        NameStyle::Plain { width } => format!("{version:0width$}_{name}.down.sql"),
    }
}

/// Pairs each up with its down and computes the checksums, in version order.
/// Only called on a set that passed validation.
fn assemble(checked: Vec<Checked>) -> Vec<SourceMigration> {
    let mut ups: BTreeMap<u64, Checked> = BTreeMap::new();
    let mut downs: BTreeMap<u64, Checked> = BTreeMap::new();
    for file in checked {
        match file.parsed.direction {
            Direction::Up => ups.insert(file.parsed.version, file),
            Direction::Down => downs.insert(file.parsed.version, file),
        };
    }
    let mut chained = String::new();
    ups.into_iter()
        .map(|(version, up)| {
            let down = downs.remove(&version);
            let checksum = checksum::checksum(&up.file.text);
            chained = checksum::chain(&chained, version, &checksum);
            SourceMigration {
                version,
                name: up.parsed.name,
                kind: up.parsed.kind,
                style: up.parsed.style,
                loose_checksum: checksum::loose_checksum(&up.file.text),
                checksum,
                chained_checksum: chained.clone(),
                mode: up.mode,
                down_mode: down.as_ref().map_or(SqlMode::Transaction, |d| d.mode),
                up: up.file,
                down: down.map(|d| d.file),
            }
        })
        .collect()
}
