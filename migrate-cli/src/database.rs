//! Database URLs: opening `sqlite://` and `postgres://` connections, and
//! keeping passwords out of everything printed.

use std::path::PathBuf;

#[cfg(feature = "postgres")]
use migrate_core::postgres::{Client, NoTls};
#[cfg(feature = "sqlite")]
use migrate_core::rusqlite::{Connection, OpenFlags};

use percent_encoding::percent_decode_str;

use crate::Failure;

/// An open connection to one of the databases this build supports.
pub enum Conn {
    #[cfg(feature = "sqlite")]
    Sqlite(Connection),
    #[cfg(feature = "postgres")]
    Postgres(Client),
}

/// Runs `$body` with `$db` bound to whichever connection `$conn` holds.
macro_rules! with_db {
    ($conn:expr, |$db:ident| $body:expr) => {
        match $conn {
            #[cfg(feature = "sqlite")]
            $crate::database::Conn::Sqlite($db) => $body,
            #[cfg(feature = "postgres")]
            $crate::database::Conn::Postgres($db) => $body,
        }
    };
}
pub(crate) use with_db;

/// The password in a URL, to hide wherever it might be printed.
pub fn secrets(url: Option<&str>) -> Vec<String> {
    let Some((_, rest)) = url.and_then(|u| u.split_once("://")) else {
        return Vec::new();
    };
    let authority = rest.split('/').next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => match userinfo.split_once(':') {
            Some((_, password)) if !password.is_empty() => vec![password.to_owned()],
            _ => Vec::new(),
        },
        None => Vec::new(),
    }
}

/// `text` with every secret replaced by `***`.
pub fn hide_secrets(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_owned(), |text, secret| {
        text.replace(secret.as_str(), "***")
    })
}

/// What a database URL names, parsed once: what is opened is what messages name.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Sqlite(Sqlite),
    Postgres(String),
}

/// A SQLite database, from the URL forms sqlx users have in `DATABASE_URL`:
/// `sqlite://relative/path.db`, `sqlite:///absolute/path.db`, `sqlite:path.db`
/// and `sqlite::memory:`, the path percent-decoded, with an optional
/// `?mode=ro|rw|rwc|memory`.
#[derive(Debug, PartialEq, Eq)]
pub struct Sqlite {
    /// The file; `None` for an in-memory database.
    pub file: Option<PathBuf>,
    /// The `mode` parameter, if given.
    pub mode: Option<SqliteMode>,
}

/// SQLite's `mode` URL parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteMode {
    /// `ro`: read-only; commands that write are refused.
    ReadOnly,
    /// `rw`: read-write, an existing file only.
    ReadWrite,
    /// `rwc`: read-write, the file created if missing (by a command that writes).
    ReadWriteCreate,
    /// `memory`: an in-memory database, no file.
    Memory,
}

const SQLITE_MODES: &str = "mode=ro (read-only), mode=rw (an existing file), \
                            mode=rwc (created if missing) or mode=memory";

impl Target {
    /// Parses a `--database` value. The error is a usage error's message.
    pub fn parse(url: &str) -> Result<Target, String> {
        if let Some(rest) = strip_scheme(url, "sqlite:") {
            return parse_sqlite(rest).map(Target::Sqlite);
        }
        if strip_scheme(url, "postgres://").is_some()
            || strip_scheme(url, "postgresql://").is_some()
        {
            return Ok(Target::Postgres(url.to_owned()));
        }
        Err(unsupported(url))
    }
}

fn unsupported(url: &str) -> String {
    let supported: &[&str] = &[
        #[cfg(feature = "sqlite")]
        "sqlite://path.db",
        #[cfg(feature = "postgres")]
        "postgres://user@host/db",
    ];
    format!(
        "unsupported database URL `{}`; this build supports {}",
        redacted(url),
        if supported.is_empty() {
            "no database: enable the `sqlite` or `postgres` feature".to_owned()
        } else {
            supported.join(" and ")
        }
    )
}

/// `url` after `scheme`, which is matched ignoring ASCII case.
fn strip_scheme<'a>(url: &'a str, scheme: &str) -> Option<&'a str> {
    let head = url.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &url[scheme.len()..])
}

/// `text` with its `%XX` escapes decoded; `what` names it in the error.
fn decode(text: &str, what: &str) -> Result<String, String> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("{what} is not UTF-8 once its %XX escapes are decoded"))
}

/// After `sqlite:`: `//path`, `///absolute/path`, `path` or `:memory:`,
/// then `?` and parameters. As in sqlx, the path runs to the first `?`
/// (write a `?` in a file name as `%3F`).
fn parse_sqlite(rest: &str) -> Result<Sqlite, String> {
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut mode = None;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key, "a parameter of the SQLite database URL")?;
        let value = decode(value, "a parameter of the SQLite database URL")?;
        if key != "mode" {
            return Err(format!(
                "unsupported parameter `{key}` in the SQLite database URL; the one supported \
                 is `mode`: {SQLITE_MODES}"
            ));
        }
        mode = Some(match value.as_str() {
            "ro" => SqliteMode::ReadOnly,
            "rw" => SqliteMode::ReadWrite,
            "rwc" => SqliteMode::ReadWriteCreate,
            "memory" => SqliteMode::Memory,
            _ => {
                return Err(format!(
                    "unsupported SQLite mode `{value}` in the database URL; use {SQLITE_MODES}"
                ))
            }
        });
    }
    if path == ":memory:" || mode == Some(SqliteMode::Memory) {
        return Ok(Sqlite { file: None, mode });
    }
    if path.is_empty() {
        let forms = "sqlite://path.db, sqlite:///absolute/path.db or sqlite::memory:";
        return Err(format!(
            "the SQLite database URL names no file; use {forms}"
        ));
    }
    Ok(Sqlite {
        file: Some(PathBuf::from(decode(path, "the SQLite database path")?)),
        mode,
    })
}

/// Opens the database a URL names. `writes`: whether the command writes;
/// only such a command may create a missing SQLite file.
pub fn open(url: Option<&str>, writes: bool) -> Result<Conn, Failure> {
    let url = url.ok_or_else(|| {
        Failure::usage("no database given; pass --database sqlite://app.db or postgres://..., or set DATABASE_URL")
    })?;
    match Target::parse(url).map_err(Failure::usage)? {
        #[cfg(feature = "sqlite")]
        Target::Sqlite(db) => open_sqlite(&db, writes),
        #[cfg(feature = "postgres")]
        Target::Postgres(url) => Client::connect(&url, NoTls)
            .map(Conn::Postgres)
            .map_err(|e| {
                Failure::problem(format!(
                    "cannot connect to PostgreSQL at `{}`: {e}",
                    redacted(&url)
                ))
            }),
        // A URL for a database this build was compiled without.
        #[allow(unreachable_patterns)]
        _ => {
            let _ = writes;
            Err(Failure::usage(unsupported(url)))
        }
    }
}

#[cfg(feature = "sqlite")]
fn open_sqlite(db: &Sqlite, writes: bool) -> Result<Conn, Failure> {
    let Some(path) = &db.file else {
        return Connection::open_in_memory().map(Conn::Sqlite).map_err(|e| {
            Failure::problem(format!("cannot open an in-memory SQLite database: {e}"))
        });
    };
    let read_only = db.mode == Some(SqliteMode::ReadOnly);
    if read_only && writes {
        return Err(Failure::usage(format!(
            "the database URL opens `{}` read-only (mode=ro) and this command writes to it; \
             drop mode=ro to run it",
            path.display()
        )));
    }
    // Only a command that writes creates a missing file, and not with mode=rw.
    let create = writes && db.mode != Some(SqliteMode::ReadWrite);
    let missing =
        matches!(std::fs::metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
    if missing && !create {
        let why = if writes {
            "mode=rw opens an existing file only (with mode=rwc or no mode, this command creates it)"
        } else {
            "`status` and `plan` do not create it"
        };
        return Err(Failure::problem(format!(
            "the SQLite database `{}` does not exist; {why}",
            path.display()
        )));
    }
    let mut flags = OpenFlags::SQLITE_OPEN_NO_MUTEX;
    flags |= if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    Connection::open_with_flags(path, flags)
        .map(Conn::Sqlite)
        .map_err(|e| {
            Failure::problem(format!(
                "cannot open the SQLite database `{}`: {e}",
                path.display()
            ))
        })
}

/// The URL with its password replaced by `***`.
pub fn redacted(url: &str) -> String {
    hide_secrets(url, &secrets(Some(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redacted("postgres://app:s3cret@db:5432/prod"),
            "postgres://app:***@db:5432/prod"
        );
        assert_eq!(redacted("postgres://app@db/prod"), "postgres://app@db/prod");
        assert_eq!(redacted("sqlite://app.db"), "sqlite://app.db");
        assert_eq!(
            hide_secrets(
                "failed for app:s3cret",
                &secrets(Some("postgres://app:s3cret@h/d"))
            ),
            "failed for app:***"
        );
    }

    fn sqlite(url: &str) -> Sqlite {
        match Target::parse(url) {
            Ok(Target::Sqlite(db)) => db,
            other => panic!("{url}: {other:?}"),
        }
    }

    fn file(path: &str, mode: Option<SqliteMode>) -> Sqlite {
        Sqlite {
            file: Some(PathBuf::from(path)),
            mode,
        }
    }

    #[test]
    fn sqlite_urls_in_the_forms_sqlx_takes() {
        assert_eq!(sqlite("sqlite://app.db"), file("app.db", None));
        assert_eq!(sqlite("sqlite://data/app.db"), file("data/app.db", None));
        assert_eq!(
            sqlite("sqlite:///var/lib/app.db"),
            file("/var/lib/app.db", None)
        );
        assert_eq!(sqlite("sqlite:app.db"), file("app.db", None));
        assert_eq!(
            sqlite("sqlite:/var/lib/app.db"),
            file("/var/lib/app.db", None)
        );
        assert_eq!(sqlite("SQLite://app.db"), file("app.db", None));
        let memory = Sqlite {
            file: None,
            mode: None,
        };
        assert_eq!(sqlite("sqlite::memory:"), memory);
        assert_eq!(sqlite("sqlite://:memory:"), memory);
    }

    #[test]
    fn sqlite_paths_are_percent_decoded_and_end_at_the_query() {
        assert_eq!(
            sqlite("sqlite:///tmp/my%20app%3F.db"),
            file("/tmp/my app?.db", None)
        );
        assert_eq!(
            sqlite("sqlite:///tmp/x/q.db?mode=rwc"),
            file("/tmp/x/q.db", Some(SqliteMode::ReadWriteCreate))
        );
        assert_eq!(sqlite("sqlite:q.db?"), file("q.db", None));
        assert!(Target::parse("sqlite:///tmp/%FF.db")
            .unwrap_err()
            .contains("not UTF-8"));
    }

    #[test]
    fn sqlite_modes() {
        for (url, mode) in [
            ("sqlite://q.db?mode=ro", SqliteMode::ReadOnly),
            ("sqlite://q.db?mode=rw", SqliteMode::ReadWrite),
            ("sqlite://q.db?mode=rwc", SqliteMode::ReadWriteCreate),
            (
                "sqlite://q.db?mode=ro&mode=rwc",
                SqliteMode::ReadWriteCreate,
            ),
            ("sqlite://q.db?&mode=%72o", SqliteMode::ReadOnly),
        ] {
            assert_eq!(sqlite(url), file("q.db", Some(mode)), "{url}");
        }
        assert_eq!(
            sqlite("sqlite://q.db?mode=memory"),
            Sqlite {
                file: None,
                mode: Some(SqliteMode::Memory)
            }
        );
    }

    #[test]
    fn unknown_sqlite_parameters_are_refused_by_name() {
        let error = Target::parse("sqlite://q.db?mode=rwc&cache=shared").unwrap_err();
        assert_eq!(
            error,
            "unsupported parameter `cache` in the SQLite database URL; the one supported is \
             `mode`: mode=ro (read-only), mode=rw (an existing file), mode=rwc (created if \
             missing) or mode=memory"
        );
        let error = Target::parse("sqlite://q.db?mode=rwx").unwrap_err();
        assert!(
            error.starts_with("unsupported SQLite mode `rwx` in the database URL; use mode=ro"),
            "{error}"
        );
        let error = Target::parse("sqlite://q.db?mode").unwrap_err();
        assert!(error.starts_with("unsupported SQLite mode ``"), "{error}");
        let error = Target::parse("sqlite://?mode=rwc").unwrap_err();
        assert!(error.contains("names no file"), "{error}");
    }
}
