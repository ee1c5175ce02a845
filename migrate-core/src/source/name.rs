//! Migration file names: what a file name in a migration directory means.
//!
//! | file                          | meaning                          |
//! | ----------------------------- | -------------------------------- |
//! | `0001_create_users.sql`       | SQL up migration, version 1      |
//! | `0001_create_users.up.sql`    | the same, spelled explicitly     |
//! | `0001_create_users.down.sql`  | its down migration               |
//! | `0002_backfill_emails.rs`     | Rust migration, version 2        |
//! | `V3__add_index.sql`           | Flyway/refinery-style up         |
//! | `U3__add_index.sql`           | Flyway-style down (undo)         |
//!
//! Files that are neither `.sql` nor `.rs` (README.md, .gitkeep) and hidden
//! files (starting with `.`) are ignored. A `.sql` or `.rs` file whose name
//! does not parse is an error, never silently skipped.

use std::fmt;

use crate::registry::MigrationKind;

/// Whether a file applies a change or reverts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Applies the change (`0001_x.sql`, `0001_x.up.sql`, `V1__x.sql`, `0001_x.rs`).
    Up,
    /// Reverts the change (`0001_x.down.sql`, `U1__x.sql`).
    Down,
}

/// How a file name spells its version, so tools can write new files in the
/// directory's own style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameStyle {
    /// `0001_name.sql`: the version zero-padded to `width` digits (1 when not padded).
    Plain {
        /// Number of digits the version was written with, leading zeros included.
        width: usize,
    },
    /// `V1__name.sql` / `U1__name.sql` (Flyway, refinery).
    Flyway,
}

/// A parsed migration file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFileName {
    /// The leading integer of the name.
    pub version: u64,
    /// The part after the separator, e.g. `create_users`.
    pub name: String,
    /// SQL or Rust.
    pub kind: MigrationKind,
    /// Up or down.
    pub direction: Direction,
    /// How the version and separator were written.
    pub style: NameStyle,
}

/// A `.sql` or `.rs` file whose name does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    /// The offending file name.
    pub file_name: String,
    /// What is wrong and how to fix it.
    pub reason: String,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.file_name, self.reason)
    }
}

impl std::error::Error for NameError {}

/// The largest version: history tables store versions as `BIGINT`.
pub const MAX_VERSION: u64 = i64::MAX as u64;

/// Parses one file name.
///
/// Returns `Ok(None)` for files that are not migrations (other extensions,
/// hidden files) and an error for a `.sql`/`.rs` file whose name is malformed.
///
/// # Example
///
/// ```
/// use migrate_core::source::{parse_file_name, Direction};
///
/// let parsed = parse_file_name("0003_add_index.down.sql").unwrap().unwrap();
/// assert_eq!((parsed.version, parsed.name.as_str()), (3, "add_index"));
/// assert_eq!(parsed.direction, Direction::Down);
/// assert!(parse_file_name("README.md").unwrap().is_none());
/// assert!(parse_file_name("0003 add index.sql").is_err());
/// ```
///
/// # Errors
///
/// A [`NameError`] naming the file and the fix when a `.sql` or `.rs` file
/// does not follow one of the naming schemes above.
pub fn parse_file_name(file_name: &str) -> Result<Option<MigrationFileName>, NameError> {
    if file_name.starts_with('.') {
        return Ok(None);
    }
    let Some((stem, extension)) = file_name.rsplit_once('.') else {
        return Ok(None);
    };
    let kind = match extension.to_ascii_lowercase().as_str() {
        "sql" => MigrationKind::Sql,
        "rs" => MigrationKind::Rust,
        _ => return Ok(None),
    };
    let fail = |reason: String| NameError {
        file_name: file_name.to_owned(),
        reason,
    };
    let lower = extension.to_ascii_lowercase();
    let extension = lower.as_str();
    let (stem, explicit) = match stem.rsplit_once('.') {
        Some((rest, "up")) => (rest, Some(Direction::Up)),
        Some((rest, "down")) => (rest, Some(Direction::Down)),
        _ => (stem, None),
    };
    // A Rust migration is one file: parse the stem as if `.up`/`.down` were
    // absent, so a bad stem is reported first and the suggestion parses.
    let stem_explicit = if kind == MigrationKind::Rust {
        None
    } else {
        explicit
    };
    let parsed = if let Some(rest) = stem.strip_prefix(['V', 'U', 'R']) {
        parse_flyway(file_name, stem, rest, kind, stem_explicit, extension)?
    } else {
        parse_plain(stem, kind, stem_explicit, extension).map_err(fail)?
    };
    if kind == MigrationKind::Rust && explicit.is_some() {
        return Err(fail(format!(
            "a Rust migration is one file holding `pub fn up` and, optionally, `pub fn down`; \
             rename it to `{stem}.rs` (and move a down step into `pub fn down` there)"
        )));
    }
    let written = &file_name[file_name.len() - extension.len()..];
    if written != extension {
        let base = &file_name[..file_name.len() - extension.len()];
        return Err(fail(format!(
            "the extension must be lowercase; rename it to `{base}{extension}`"
        )));
    }
    Ok(Some(parsed))
}

fn parse_flyway(
    file_name: &str,
    stem: &str,
    rest: &str,
    kind: MigrationKind,
    explicit: Option<Direction>,
    extension: &str,
) -> Result<MigrationFileName, NameError> {
    let fail = |reason: String| NameError {
        file_name: file_name.to_owned(),
        reason,
    };
    let prefix = &stem[..1];
    // Rust migrations have no separate down file, so suggest `V` for them.
    let suggested_prefix = if kind == MigrationKind::Rust {
        "V"
    } else {
        prefix
    };
    if prefix == "R" {
        if rest.starts_with("__") {
            return Err(fail(
                "repeatable (`R__`) migrations are not supported; \
                 give it a version, e.g. `V7__name.sql`"
                    .to_owned(),
            ));
        }
        return Err(fail(expected_shape(stem, extension)));
    }
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (digits, after) = rest.split_at(digits_end);
    if digits.is_empty() {
        return Err(fail(expected_shape(stem, extension)));
    }
    if after.starts_with('.') || after.starts_with("_.") {
        return Err(fail(
            "dotted versions like `V1.1__name` are not supported; versions are whole numbers \
             counted from 1: renumber it to the next free version"
                .to_owned(),
        ));
    }
    let version = parse_version(digits).map_err(fail)?;
    let Some(name) = after.strip_prefix("__") else {
        let name = after.trim_start_matches('_');
        return Err(fail(format!(
            "Flyway-style names separate the version from the name with two underscores; \
             rename it to `{suggested_prefix}{digits}__{}.{extension}`",
            suggested_name(name)
        )));
    };
    check_name(name).map_err(|reason| {
        fail(format!(
            "{reason}; rename it to `{suggested_prefix}{digits}__{}.{extension}`",
            suggested_name(name)
        ))
    })?;
    let direction = if prefix == "U" {
        Direction::Down
    } else {
        Direction::Up
    };
    if let Some(explicit) = explicit {
        let meant = if explicit == Direction::Down || direction == Direction::Down {
            "U"
        } else {
            "V"
        };
        return Err(fail(format!(
            "`V` marks an up and `U` a down migration already, so `.up`/`.down` is not \
             needed; rename it to `{meant}{digits}__{name}.{extension}`"
        )));
    }
    if kind == MigrationKind::Rust && direction == Direction::Down {
        return Err(fail(format!(
            "a Rust migration keeps its down step in `pub fn down` inside its one file; \
             rename it to `V{digits}__{name}.rs` or move the down step into the existing one"
        )));
    }
    Ok(MigrationFileName {
        version,
        name: name.to_owned(),
        kind,
        direction,
        style: NameStyle::Flyway,
    })
}

fn parse_plain(
    stem: &str,
    kind: MigrationKind,
    explicit: Option<Direction>,
    extension: &str,
) -> Result<MigrationFileName, String> {
    let digits_end = stem
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(stem.len());
    let (digits, after) = stem.split_at(digits_end);
    if digits.is_empty() {
        return Err(expected_shape(stem, extension));
    }
    let version = parse_version(digits)?;
    let suffix = match explicit {
        Some(Direction::Up) => ".up",
        Some(Direction::Down) => ".down",
        None => "",
    };
    let name = match after.strip_prefix('_') {
        Some(name) => name,
        None if after.is_empty() => {
            return Err(format!(
                "add a name after the version, e.g. `{digits}_create_users{suffix}.{extension}`"
            ))
        }
        None => {
            if after.starts_with('.') {
                return Err(
                    "dotted versions are not supported; versions are whole numbers counted \
                     from 1: renumber it to the next free version"
                        .to_owned(),
                );
            }
            let name = after.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
            return Err(format!(
                "separate the version from the name with `_`; rename it to `{digits}_{}{suffix}.{extension}`",
                suggested_name(name)
            ));
        }
    };
    check_name(name).map_err(|reason| {
        format!(
            "{reason}; rename it to `{digits}_{}{suffix}.{extension}`",
            suggested_name(name)
        )
    })?;
    Ok(MigrationFileName {
        version,
        name: name.to_owned(),
        kind,
        direction: explicit.unwrap_or(Direction::Up),
        style: NameStyle::Plain {
            width: digits.len(),
        },
    })
}

fn expected_shape(stem: &str, extension: &str) -> String {
    format!(
        "a migration file name starts with its version: `0001_{}.{extension}` or `V1__{}.{extension}`",
        suggested_name(stem),
        suggested_name(stem)
    )
}

fn parse_version(digits: &str) -> Result<u64, String> {
    match digits.parse::<u64>() {
        Ok(version) if version <= MAX_VERSION => Ok(version),
        _ => Err(format!(
            "version {digits} is too large (the maximum is {MAX_VERSION}); versions are \
             counted from 1, not timestamps"
        )),
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name after the version is empty".to_owned());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(format!(
            "the name `{name}` holds {}, but names may only hold ASCII letters, digits and `_`",
            describe_char(bad)
        ));
    }
    Ok(())
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        c if c.is_control() => format!("the control character {c:?}"),
        c => format!("`{c}`"),
    }
}

/// `name` with every character a name may not hold replaced by `_`, runs of
/// them folded, so an error can say what to rename the file to.
fn suggested_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches('_');
    if trimmed.is_empty() {
        "name".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(file: &str) -> MigrationFileName {
        match parse_file_name(file) {
            Ok(Some(parsed)) => parsed,
            other => panic!("{file}: expected a migration, got {other:?}"),
        }
    }

    fn err(file: &str) -> String {
        match parse_file_name(file) {
            Err(e) => e.to_string(),
            other => panic!("{file}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn plain_names() {
        let m = ok("0001_create_users.sql");
        assert_eq!(m.version, 1);
        assert_eq!(m.name, "create_users");
        assert_eq!(m.kind, MigrationKind::Sql);
        assert_eq!(m.direction, Direction::Up);
        assert_eq!(m.style, NameStyle::Plain { width: 4 });

        assert_eq!(ok("1_a.sql").style, NameStyle::Plain { width: 1 });
        assert_eq!(ok("12_Mixed_Case_9.up.sql").direction, Direction::Up);
        assert_eq!(ok("12_x.down.sql").direction, Direction::Down);
        let rust = ok("0002_backfill_emails.rs");
        assert_eq!((rust.kind, rust.version), (MigrationKind::Rust, 2));
    }

    #[test]
    fn flyway_names() {
        let up = ok("V3__add_index.sql");
        assert_eq!((up.version, up.name.as_str()), (3, "add_index"));
        assert_eq!((up.direction, up.style), (Direction::Up, NameStyle::Flyway));
        assert_eq!(ok("U3__add_index.sql").direction, Direction::Down);
        assert_eq!(ok("V0004__x.rs").kind, MigrationKind::Rust);
    }

    #[test]
    fn ignored_files() {
        for file in [
            "README.md",
            ".gitkeep",
            ".0001_x.sql.swp",
            ".#0001_x.sql",
            "notes",
            "0001_x.sql~",
            "schema.json",
        ] {
            assert_eq!(parse_file_name(file), Ok(None), "{file}");
        }
    }

    #[test]
    fn malformed_names_say_how_to_fix_them() {
        assert!(err("0001 create users.sql").contains("rename it to `0001_create_users.sql`"));
        assert!(err("0001-create.sql").contains("rename it to `0001_create.sql`"));
        assert!(err("create_users.sql").contains("starts with its version"));
        assert!(err("0001.sql").contains("add a name after the version"));
        assert!(err("0001_.sql").contains("empty"));
        assert!(err("V1_x.sql").contains("two underscores; rename it to `V1__x.sql`"));
        assert!(err("V1.1__x.sql").contains("dotted versions"));
        assert!(err("R__views.sql").contains("repeatable"));
        assert!(err("0001_x.down.rs").contains("`pub fn down`"));
        assert!(err("U1__x.rs").contains("`pub fn down`"));
        assert!(err("0001_x.SQL").contains("lowercase; rename it to `0001_x.sql`"));
        assert!(err("V1__x.up.sql").contains("rename it to `V1__x.sql`"));
        assert!(err("V1__x.down.sql").contains("`U1__x.sql`"));
        assert!(err("99999999999999999999_x.sql").contains("too large"));
        assert!(err("0001_café.sql").contains("`é`"));
        assert!(err("0001_x.y.sql").contains("`.`"));
    }

    /// A tiny deterministic generator, so the property tests need no crate
    /// and fail the same way every run.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() as usize) % items.len()]
        }
    }

    #[test]
    fn property_well_formed_names_round_trip() {
        let mut rng = Lcg(7);
        let alphabet: Vec<char> = ('a'..='z')
            .chain('A'..='Z')
            .chain('0'..='9')
            .chain(['_'])
            .collect();
        for _ in 0..20_000 {
            let version = rng.next() % 100_000 + 1;
            let width = (rng.next() % 8) as usize;
            let len = (rng.next() % 12 + 1) as usize;
            let name: String = (0..len)
                .map(|_| alphabet[(rng.next() as usize) % alphabet.len()])
                .collect();
            let flyway = rng.next().is_multiple_of(3);
            let (file, kind, direction) = if flyway {
                let (prefix, ext, kind, dir) = match rng.next() % 3 {
                    0 => ("V", "sql", MigrationKind::Sql, Direction::Up),
                    1 => ("U", "sql", MigrationKind::Sql, Direction::Down),
                    _ => ("V", "rs", MigrationKind::Rust, Direction::Up),
                };
                (
                    format!("{prefix}{version:0width$}__{name}.{ext}"),
                    kind,
                    dir,
                )
            } else {
                let suffix = rng.pick(&["", ".up", ".down", "rs"]);
                let (tail, kind, dir) = match suffix {
                    "rs" => (".rs".to_owned(), MigrationKind::Rust, Direction::Up),
                    ".down" => (".down.sql".to_owned(), MigrationKind::Sql, Direction::Down),
                    s => (format!("{s}.sql"), MigrationKind::Sql, Direction::Up),
                };
                (format!("{version:0width$}_{name}{tail}"), kind, dir)
            };
            let parsed = ok(&file);
            assert_eq!(parsed.version, version, "{file}");
            assert_eq!(parsed.name, name, "{file}");
            assert_eq!(parsed.kind, kind, "{file}");
            assert_eq!(parsed.direction, direction, "{file}");
        }
    }

    #[test]
    fn property_any_name_either_parses_cleanly_or_errs_with_a_valid_suggestion() {
        let mut rng = Lcg(11);
        let pieces = [
            "0", "1", "42", "V", "U", "R", "_", "__", "-", " ", ".", "up", "down", "a", "Z", "é",
            "sql", "rs", "md", ".sql", ".rs", ".up", ".down", "\t", "x_y",
        ];
        for _ in 0..50_000 {
            let n = (rng.next() % 6 + 1) as usize;
            let file: String = (0..n).map(|_| rng.pick(&pieces)).collect();
            match parse_file_name(&file) {
                Ok(None) => {
                    assert!(
                        file.starts_with('.')
                            || !(file.to_ascii_lowercase().ends_with(".sql")
                                || file.to_ascii_lowercase().ends_with(".rs")),
                        "{file:?} was ignored although it looks like a migration"
                    );
                }
                Ok(Some(parsed)) => {
                    assert!(!parsed.name.is_empty(), "{file:?}");
                    assert!(
                        parsed
                            .name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "{file:?}"
                    );
                    assert!(file.contains(&parsed.name), "{file:?}");
                }
                Err(e) => {
                    assert_eq!(e.file_name, file);
                    // Every suggested rename must itself parse.
                    if let Some(start) = e.reason.find("rename it to `") {
                        let rest = &e.reason[start + "rename it to `".len()..];
                        let suggestion = &rest[..rest.find('`').unwrap_or(rest.len())];
                        assert!(
                            matches!(parse_file_name(suggestion), Ok(Some(_))),
                            "{file:?}: suggestion {suggestion:?} does not parse ({})",
                            e.reason
                        );
                    }
                }
            }
        }
    }
}
