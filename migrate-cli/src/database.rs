//! Database URLs: opening `sqlite://` and `postgres://` connections, and
//! keeping passwords out of everything printed.

#[cfg(feature = "postgres")]
use migrate_core::postgres::{Client, NoTls};
#[cfg(feature = "sqlite")]
use migrate_core::rusqlite::{Connection, OpenFlags};

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

/// Opens the database a URL names. `create`: whether a missing SQLite file
/// may be created (only commands that write should).
pub fn open(url: Option<&str>, create: bool) -> Result<Conn, Failure> {
    let url = url.ok_or_else(|| {
        Failure::usage("no database given; pass --database sqlite://app.db or postgres://..., or set DATABASE_URL")
    })?;
    #[cfg(feature = "sqlite")]
    {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"));
        if let Some(path) = path {
            let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            if create {
                flags |= OpenFlags::SQLITE_OPEN_CREATE;
            }
            return Connection::open_with_flags(path, flags)
                .map(Conn::Sqlite)
                .map_err(|e| {
                    Failure::problem(format!("cannot open the SQLite database `{path}`: {e}"))
                });
        }
    }
    #[cfg(feature = "postgres")]
    {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Client::connect(url, NoTls)
                .map(Conn::Postgres)
                .map_err(|e| {
                    Failure::problem(format!(
                        "cannot connect to PostgreSQL at `{}`: {e}",
                        redacted(url)
                    ))
                });
        }
    }
    let _ = create;
    let supported: &[&str] = &[
        #[cfg(feature = "sqlite")]
        "sqlite://path.db",
        #[cfg(feature = "postgres")]
        "postgres://user@host/db",
    ];
    Err(Failure::usage(format!(
        "unsupported database URL `{}`; this build supports {}",
        redacted(url),
        if supported.is_empty() {
            "no database: enable the `sqlite` or `postgres` feature".to_owned()
        } else {
            supported.join(" and ")
        }
    )))
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
}
