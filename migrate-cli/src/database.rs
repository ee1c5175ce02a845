//! Database URLs: what `--database` (or `DATABASE_URL`) names, parsed once
//! into a [`Target`] that is both what is opened and what messages name.
//!
//! Passwords are kept out of everything printed by structure: a PostgreSQL
//! target is shown rebuilt from its parts with the password (the URL's
//! `user:password@` field, any `password=` parameter, or the keyword form's
//! `password=`) replaced by `***`. Nothing is hidden by searching printed
//! text for the password: that garbles ordinary words and so tells the
//! password (`o` turns "connect" into "c***nnect"). Driver and server
//! messages are printed as they are; neither repeats the password.

use std::fmt;
use std::path::PathBuf;

#[cfg(feature = "mysql")]
use migrate_core::mysql;
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
    #[cfg(feature = "mysql")]
    Mysql(mysql::Conn),
}

/// Runs `$body` with `$db` bound to whichever connection `$conn` holds.
macro_rules! with_db {
    ($conn:expr, |$db:ident| $body:expr) => {
        match $conn {
            #[cfg(feature = "sqlite")]
            $crate::database::Conn::Sqlite($db) => $body,
            #[cfg(feature = "postgres")]
            $crate::database::Conn::Postgres($db) => $body,
            #[cfg(feature = "mysql")]
            $crate::database::Conn::Mysql($db) => $body,
        }
    };
}
pub(crate) use with_db;

/// What a database URL names, parsed once: what is opened is what messages name.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Sqlite(Sqlite),
    Postgres(Postgres),
    Mysql(Mysql),
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
    /// Parses a `--database` value. The error is a usage error's message,
    /// which never repeats the value: it may hold a password.
    pub fn parse(url: &str) -> Result<Target, String> {
        if let Some(rest) = strip_scheme(url, "sqlite:") {
            return parse_sqlite(rest).map(Target::Sqlite);
        }
        for scheme in ["postgres://", "postgresql://"] {
            if let Some(rest) = strip_scheme(url, scheme) {
                let scheme = &url[..scheme.len()];
                return parse_postgres_url(scheme, rest).map(Target::Postgres);
            }
        }
        for scheme in ["mysql://", "mariadb://"] {
            if let Some(rest) = strip_scheme(url, scheme) {
                let scheme = &url[..scheme.len()];
                return parse_mysql_url(scheme, rest).map(Target::Mysql);
            }
        }
        match url.split_once("://") {
            Some((scheme, _)) if is_scheme(scheme) => Err(format!(
                "unsupported database URL scheme `{scheme}://`; {SUPPORTED}"
            )),
            None if is_keyword_form(url) => parse_keywords(url).map(Target::Postgres),
            _ => Err(format!(
                "the database is not a URL this tool reads (not shown, as it may hold a \
                 password); {SUPPORTED}"
            )),
        }
    }
}

const SUPPORTED: &str = "use sqlite://path.db, postgres://user@host/db, \
                         `host=... user=... dbname=...` or mysql://user@host/db";

fn is_scheme(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
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
        Failure::usage(
            "no database given; pass --database sqlite://app.db, postgres://... or \
             mysql://..., or set DATABASE_URL",
        )
    })?;
    match Target::parse(url).map_err(Failure::usage)? {
        #[cfg(feature = "sqlite")]
        Target::Sqlite(db) => open_sqlite(&db, writes),
        #[cfg(not(feature = "sqlite"))]
        Target::Sqlite(_) => {
            let _ = writes;
            Err(not_built("SQLite", "sqlite"))
        }
        #[cfg(feature = "postgres")]
        Target::Postgres(db) => connect_postgres(&db),
        #[cfg(not(feature = "postgres"))]
        Target::Postgres(_) => Err(not_built("PostgreSQL", "postgres")),
        #[cfg(feature = "mysql")]
        Target::Mysql(db) => connect_mysql(&db),
        #[cfg(not(feature = "mysql"))]
        Target::Mysql(_) => Err(not_built("MySQL", "mysql")),
    }
}

#[cfg(feature = "mysql")]
fn connect_mysql(db: &Mysql) -> Result<Conn, Failure> {
    let opts = |ssl: Option<mysql::SslOpts>| {
        mysql::OptsBuilder::new()
            .user(db.user.as_deref())
            .pass(db.password.as_deref())
            .ip_or_hostname(Some(db.host.as_str()))
            .tcp_port(db.port)
            .db_name(db.database.as_deref())
            .socket(db.socket.as_deref())
            .prefer_socket(db.socket.is_some())
            .ssl_opts(ssl)
    };
    // As the `mysql` client's --ssl-mode: PREFERRED (the default) uses TLS
    // when the server offers it, without checking its certificate;
    // REQUIRED insists on TLS; VERIFY_CA checks the chain against ssl-ca
    // (or Mozilla's roots), VERIFY_IDENTITY the host name too.
    if db.socket.is_some()
        && !matches!(
            db.ssl_mode,
            MysqlSslMode::Disabled | MysqlSslMode::Preferred
        )
    {
        return Err(Failure::usage(format!(
            "ssl-mode={} does not apply over a Unix socket (`socket=` in `{db}`): the \
             connection is local and not encrypted; drop ssl-mode, or connect over TCP",
            db.ssl_mode.name()
        )));
    }
    if let Some(ca) = &db.ssl_ca {
        let pem = std::fs::read_to_string(ca).map_err(|e| {
            Failure::usage(format!(
                "cannot read the CA certificates in ssl-ca `{ca}`: {e}"
            ))
        })?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(Failure::usage(format!(
                "ssl-ca `{ca}` holds no PEM certificate"
            )));
        }
    }
    // REQUIRED with a CA checks the chain, as the `mysql` client does.
    let mode = match (db.ssl_mode, &db.ssl_ca) {
        (MysqlSslMode::Required, Some(_)) => MysqlSslMode::VerifyCa,
        (mode, _) => mode,
    };
    let ssl = match mode {
        MysqlSslMode::Disabled => None,
        MysqlSslMode::Preferred | MysqlSslMode::Required => Some(
            mysql::SslOpts::default()
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        MysqlSslMode::VerifyCa | MysqlSslMode::VerifyIdentity => {
            let mut ssl = mysql::SslOpts::default()
                .with_danger_skip_domain_validation(mode == MysqlSslMode::VerifyCa);
            if let Some(ca) = &db.ssl_ca {
                ssl = ssl.with_root_cert_path(Some(PathBuf::from(ca)));
            }
            Some(ssl)
        }
    };
    let connected = match mysql::Conn::new(opts(ssl)) {
        // PREFERRED falls back to a plain connection when the server has no TLS.
        Err(mysql::Error::DriverError(mysql::DriverError::TlsNotSupported))
            if db.ssl_mode == MysqlSslMode::Preferred =>
        {
            mysql::Conn::new(opts(None))
        }
        other => other,
    };
    connected.map(Conn::Mysql).map_err(|e| {
        let text = e.to_string();
        let hint = if text.contains("UnknownIssuer") && db.ssl_ca.is_some() {
            "; the server's certificate is not signed by the CA in ssl-ca: check that the file \
             holds the CA that signed the server's certificate"
        } else if text.contains("UnknownIssuer") {
            "; the server's certificate is not signed by a trusted root: name its CA with \
             `ssl-ca=/path/to/ca.pem` (or use ssl-mode=REQUIRED, which does not check it)"
        } else if text.to_ascii_lowercase().contains("not valid for name") {
            "; the server's certificate was issued for another name: connect by the name it \
             was issued for, or use ssl-mode=VERIFY_CA, which checks the CA only"
        } else {
            ""
        };
        Failure::problem(format!("cannot connect to MySQL at `{db}`: {text}{hint}"))
    })
}

/// The `mysql` client's `--ssl-mode`, from the URL's `ssl-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MysqlSslMode {
    Disabled,
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

impl MysqlSslMode {
    /// The mode as the URL writes it.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    fn name(self) -> &'static str {
        match self {
            MysqlSslMode::Disabled => "DISABLED",
            MysqlSslMode::Preferred => "PREFERRED",
            MysqlSslMode::Required => "REQUIRED",
            MysqlSslMode::VerifyCa => "VERIFY_CA",
            MysqlSslMode::VerifyIdentity => "VERIFY_IDENTITY",
        }
    }
}

/// A MySQL or MariaDB database: `mysql://` (or `mariadb://`)
/// `[user[:password]@]host[:port][/database][?socket=path]`.
#[derive(PartialEq, Eq)]
pub struct Mysql {
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: u16,
    database: Option<String>,
    socket: Option<String>,
    ssl_mode: MysqlSslMode,
    ssl_ca: Option<String>,
    /// The URL rebuilt from its parts, the password as `***`.
    shown: String,
}

impl fmt::Display for Mysql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// The printed form too: a derived `Debug` would show the password.
impl fmt::Debug for Mysql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mysql({})", self.shown)
    }
}

/// After `mysql://`: `[user[:password]@]host[:port][/database][?socket=path]`.
/// Where the credentials end is worked out as for PostgreSQL, since a
/// password often holds `@`, `/`, `:` or `?` unencoded.
fn parse_mysql_url(scheme: &str, rest: &str) -> Result<Mysql, String> {
    let mut shown = scheme.to_owned();
    let (credentials, rest) = match credentials_end(rest, "MySQL")? {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (mut user, mut password) = (None, None);
    if let Some(credentials) = credentials {
        let (name, secret) = match credentials.split_once(':') {
            Some((name, secret)) => (name, Some(secret)),
            None => (credentials, None),
        };
        user = Some(decode(name, "the user name in the MySQL URL")?);
        shown.push_str(name);
        if let Some(secret) = secret {
            password = Some(decode(secret, "the password in the MySQL URL")?);
            shown.push_str(":***");
        }
        shown.push('@');
    }
    let (hostport, rest) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    shown.push_str(hostport);
    let (host, port) = match hostport.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, after)) if after.starts_with(':') => (host, Some(&after[1..])),
            _ => {
                return Err(format!(
                    "the host `{hostport}` in the MySQL URL is not `[address]` or \
                     `[address]:port`"
                ))
            }
        },
        None => match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        },
    };
    if host.contains(',') {
        return Err("the MySQL URL names several hosts; name one".to_owned());
    }
    let host = match decode(host, "the host in the MySQL URL")? {
        host if host.is_empty() => "localhost".to_owned(),
        host => host,
    };
    let port = match port {
        None => 3306,
        Some(port) => port
            .parse::<u16>()
            .map_err(|_| format!("the port `{port}` in the MySQL URL is not a port number"))?,
    };
    let (database, query) = match rest.strip_prefix('/') {
        Some(path) => {
            let (name, query) = path.split_at(path.find('?').unwrap_or(path.len()));
            shown.push('/');
            shown.push_str(name);
            let name = decode(name, "the database name in the MySQL URL")?;
            ((!name.is_empty()).then_some(name), query)
        }
        None => (None, rest),
    };
    let mut socket = None;
    let mut ssl_mode = MysqlSslMode::Preferred;
    let mut ssl_ca = None;
    if let Some(query) = query.strip_prefix('?') {
        shown.push('?');
        shown.push_str(query);
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key, "a parameter name in the MySQL URL")?;
            let value = decode(value, "a parameter in the MySQL URL")?;
            match key.as_str() {
                "socket" => socket = Some(value),
                "ssl-ca" => ssl_ca = Some(value),
                "ssl-mode" => {
                    ssl_mode = match value.to_ascii_uppercase().as_str() {
                        "DISABLED" => MysqlSslMode::Disabled,
                        "PREFERRED" => MysqlSslMode::Preferred,
                        "REQUIRED" => MysqlSslMode::Required,
                        "VERIFY_CA" => MysqlSslMode::VerifyCa,
                        "VERIFY_IDENTITY" => MysqlSslMode::VerifyIdentity,
                        _ => {
                            return Err(format!(
                                "unsupported ssl-mode `{value}` in the MySQL URL; use DISABLED, \
                                 PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY"
                            ))
                        }
                    }
                }
                _ => {
                    return Err(format!(
                        "unsupported parameter `{key}` in the MySQL URL; the supported ones are \
                         `socket=/path/to/mysqld.sock`, `ssl-mode=...` and `ssl-ca=/path/ca.pem`"
                    ))
                }
            }
        }
    }
    Ok(Mysql {
        user,
        password,
        host,
        port,
        database,
        socket,
        ssl_mode,
        ssl_ca,
        shown,
    })
}

/// For a database this build was compiled without.
#[cfg(not(all(feature = "sqlite", feature = "postgres", feature = "mysql")))]
fn not_built(database: &str, feature: &str) -> Failure {
    Failure::usage(format!(
        "this build has no {database} support; it needs the `{feature}` feature"
    ))
}

#[cfg(feature = "postgres")]
fn connect_postgres(db: &Postgres) -> Result<Conn, Failure> {
    let rootcert = db.param("sslrootcert");
    let mode = crate::tls::mode(db.param("sslmode"), rootcert)
        .map_err(|e| Failure::usage(format!("{e} (in `{db}`)")))?;
    let driver_sslmode = mode.map_or("disable", |(_, driver)| driver);
    let config: migrate_core::postgres::Config =
        db.keywords(driver_sslmode).parse().map_err(|e| {
            Failure::usage(format!(
                "invalid PostgreSQL connection settings in `{db}`: {}",
                with_causes(&e)
            ))
        })?;
    let connected = match mode {
        None => config.connect(NoTls),
        Some((verify, _)) => {
            let tls = crate::tls::connector(verify, rootcert)
                .map_err(|e| Failure::usage(format!("{e} (in `{db}`)")))?;
            config.connect(tls)
        }
    };
    connected.map(Conn::Postgres).map_err(|e| {
        let cause = with_causes(&e);
        Failure::problem(format!(
            "cannot connect to PostgreSQL at `{db}`: {cause}{}",
            crate::tls::hint(&cause, rootcert)
        ))
    })
}

/// `error` and its causes on one line, `: ` apart. The driver's own text
/// ("db error", "error connecting to server") says nothing without them:
/// the server's message, or the refused connection, is a cause.
#[cfg(feature = "postgres")]
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors print their cause themselves.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    // The server's DETAIL and HINT come on lines of their own.
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    lines.join("; ")
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
    if missing && !writes {
        // Nothing applied yet: an empty database answers as the file
        // would, and nothing is created.
        eprintln!(
            "migrate: the SQLite database `{}` does not exist yet, so nothing is applied \
             (this command creates nothing)",
            path.display()
        );
        return Connection::open_in_memory().map(Conn::Sqlite).map_err(|e| {
            Failure::problem(format!("cannot open an in-memory SQLite database: {e}"))
        });
    }
    if missing && !create {
        return Err(Failure::problem(format!(
            "the SQLite database `{}` does not exist; mode=rw opens an existing file only \
             (with mode=rwc or no mode, this command creates it)",
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

/// A PostgreSQL database: a `postgres://` (or `postgresql://`) URL, or a
/// keyword string (`host=localhost user=app password='...' dbname=prod`),
/// read into the driver's connection parameters.
#[derive(PartialEq, Eq)]
pub struct Postgres {
    /// The parameters by their keyword names, decoded, in the order given.
    params: Vec<(String, String)>,
    /// The URL or keyword string rebuilt from its parts, passwords as `***`.
    shown: String,
}

impl Postgres {
    /// The parameters as the driver's keyword string, every value quoted,
    /// so that the driver connects to exactly what was read here (it would
    /// read an unencoded `/` or `@` in a URL's password differently).
    ///
    /// `sslrootcert` is left out and `sslmode` given as `driver_sslmode`:
    /// TLS is set up here (see `tls.rs`), the driver only knows whether to
    /// ask for it.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    fn keywords(&self, driver_sslmode: &str) -> String {
        let mut quoted: Vec<String> = self
            .params
            .iter()
            .filter(|(key, _)| key != "sslrootcert" && key != "sslmode")
            .map(|(key, value)| format!("{key}={}", quote(value)))
            .collect();
        quoted.push(format!("sslmode={driver_sslmode}"));
        quoted.join(" ")
    }

    /// The last value given for `key`.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Prints what messages print: the target with its passwords as `***`.
impl fmt::Display for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// The printed form too: a derived `Debug` would show the password.
impl fmt::Debug for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Postgres({})", self.shown)
    }
}

/// The connection parameters the driver knows. Any other is refused here,
/// where the message can leave out a name that may be part of a password.
const POSTGRES_PARAMETERS: &[&str] = &[
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "sslmode",
    "sslrootcert",
    "sslnegotiation",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

const URL_HINT: &str = "write `&` in a password as %26";
const KEYWORD_HINT: &str = "quote a password that holds spaces: password='...'";

/// A value in the keyword form: single-quoted, `\` and `'` escaped.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn is_identifier(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An error about the parameter `name`, which is named unless it comes
/// after a password in the same list: then it may be the rest of a password
/// that holds a separator.
fn bad_parameter(
    name: &str,
    after_password: bool,
    hint: &str,
    problem: impl FnOnce(&str) -> String,
) -> String {
    if after_password {
        format!(
            "the PostgreSQL connection parameters do not parse after the password (the \
             rest is not shown, as it may be part of the password); {hint}"
        )
    } else {
        problem(name)
    }
}

fn check_parameter(key: &str, after_password: bool, hint: &str) -> Result<(), String> {
    if POSTGRES_PARAMETERS.contains(&key) {
        return Ok(());
    }
    Err(bad_parameter(key, after_password, hint, |key| {
        format!(
            "unknown PostgreSQL connection parameter `{key}`; the known ones are {}",
            POSTGRES_PARAMETERS.join(", ")
        )
    }))
}

/// After `postgres://`: `[user[:password]@][host[:port][,...]][/dbname][?key=value&...]`.
///
/// A password often holds `@`, `/`, `:` or `?` unencoded, so where the
/// credentials end is worked out by [`credentials_end`]. After them the URL
/// is read as the driver reads it.
fn parse_postgres_url(scheme: &str, rest: &str) -> Result<Postgres, String> {
    let mut params: Vec<(String, String)> = Vec::new();
    let mut shown = scheme.to_owned();
    let (credentials, rest) = match credentials_end(rest, "PostgreSQL")? {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    if let Some(credentials) = credentials {
        let (user, password) = match credentials.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (credentials, None),
        };
        let user = decode(user, "the user name in the PostgreSQL URL")?;
        params.push(("user".to_owned(), user));
        shown.push_str(credentials.split(':').next().unwrap_or_default());
        if let Some(password) = password {
            let password = decode(password, "the password in the PostgreSQL URL")?;
            params.push(("password".to_owned(), password));
            shown.push_str(":***");
        }
        shown.push('@');
    }

    let (hosts, rest) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    shown.push_str(hosts);
    for chunk in hosts.split(',').filter(|_| !hosts.is_empty()) {
        let (host, port) = match chunk.strip_prefix('[') {
            Some(bracketed) => match bracketed.split_once(']') {
                Some((host, "")) => (host, None),
                Some((host, after)) if after.starts_with(':') => (host, Some(&after[1..])),
                _ => {
                    return Err(format!(
                        "the host `{chunk}` in the PostgreSQL URL is not `[address]` or \
                         `[address]:port`"
                    ))
                }
            },
            None => match chunk.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (chunk, None),
            },
        };
        let host = decode(host, "a host in the PostgreSQL URL")?;
        let port = decode(port.unwrap_or("5432"), "a port in the PostgreSQL URL")?;
        params.push(("host".to_owned(), host));
        params.push(("port".to_owned(), port));
    }

    let rest = match rest.strip_prefix('/') {
        Some(path) => {
            let (dbname, rest) = path.split_at(path.find('?').unwrap_or(path.len()));
            shown.push('/');
            shown.push_str(dbname);
            if !dbname.is_empty() {
                let dbname = decode(dbname, "the database name in the PostgreSQL URL")?;
                params.push(("dbname".to_owned(), dbname));
            }
            rest
        }
        None => rest,
    };

    if let Some(mut query) = rest.strip_prefix('?') {
        shown.push('?');
        let mut separator = "";
        // Only a `password=` parameter can run into the ones after it.
        let mut after_password = false;
        while !query.is_empty() {
            // As the driver reads it: a name runs to the next `=`, its value
            // to the next `&`.
            let Some((key, tail)) = query.split_once('=') else {
                return Err(bad_parameter(query, after_password, URL_HINT, |name| {
                    format!("the PostgreSQL URL parameter `{name}` has no `=value`")
                }));
            };
            let (value, tail) = tail.split_once('&').unwrap_or((tail, ""));
            query = tail;
            let name = decode(key, "a parameter name in the PostgreSQL URL")?;
            check_parameter(&name, after_password, URL_HINT)?;
            shown.push_str(separator);
            shown.push_str(key);
            shown.push('=');
            shown.push_str(if name == "password" { "***" } else { value });
            separator = "&";
            after_password |= name == "password";
            let value = decode(value, "a parameter in the PostgreSQL URL")?;
            params.push((name, value));
        }
    }
    Ok(Postgres { params, shown })
}

/// Where the credentials end in a URL after `postgres://` (or `mysql://`): at the one `@`,
/// or none, that leaves every part able to be what it stands for: a user
/// name without `/` or `?`, then hosts without `@` and with numeric ports,
/// then a database name without `@`. A password may hold anything, and so
/// may a parameter's value.
///
/// When more than one reading fits (`db:5432/x?password=p@ss` is a
/// `password` parameter, or the user `db` with a password up to the `@`),
/// the URL is refused rather than guessed at: a wrong guess would print a
/// piece of the password as a host name.
fn credentials_end(rest: &str, database: &str) -> Result<Option<usize>, String> {
    let fits_after_credentials = |tail: &str| {
        let (hosts, after) = tail.split_at(tail.find(['/', '?']).unwrap_or(tail.len()));
        let dbname = after
            .strip_prefix('/')
            .map_or("", |path| path.split('?').next().unwrap_or_default());
        !hosts.contains('@') && hosts_fit(hosts) && !dbname.contains('@')
    };
    let mut readings = Vec::new();
    if fits_after_credentials(rest) {
        readings.push(None);
    }
    for (at, _) in rest.match_indices('@') {
        let user = rest[..at].split(':').next().unwrap_or_default();
        if !user.contains(['/', '?']) && fits_after_credentials(&rest[at + 1..]) {
            readings.push(Some(at));
        }
    }
    let problem = match readings[..] {
        [reading] => return Ok(reading),
        // No `@`: the rest is read as it is, and any error named.
        [] if !rest.contains('@') => return Ok(None),
        [] => "does not parse",
        _ => "can be read more than one way",
    };
    Err(format!(
        "the {database} URL {problem} (it is not shown, as it may hold a password): write \
         `@` in a user name, password, database name or parameter as %40, and check that \
         the host and port come after the credentials' `@`"
    ))
}

/// Whether `hosts` reads as `host[:port]` or `[address][:port]`, `,` apart,
/// with numeric ports.
fn hosts_fit(hosts: &str) -> bool {
    hosts.is_empty()
        || hosts.split(',').all(|chunk| {
            let port = match chunk.strip_prefix('[') {
                Some(bracketed) => match bracketed.split_once(']') {
                    Some((_, "")) => "",
                    Some((_, after)) => match after.strip_prefix(':') {
                        Some(port) => port,
                        None => return false,
                    },
                    None => return false,
                },
                None => chunk.split_once(':').map_or("", |(_, port)| port),
            };
            port.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Whether `text` starts as PostgreSQL's keyword form does: `keyword =`.
fn is_keyword_form(text: &str) -> bool {
    let text = text.trim_start();
    let end = text
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(text.len());
    is_identifier(&text[..end]) && text[end..].trim_start().starts_with('=')
}

/// PostgreSQL's keyword form, read as the driver reads it: `keyword = value`
/// pairs apart by whitespace; a value is either single-quoted (`\'` and
/// `\\` escaped) or runs to the next whitespace (`\` escaping the next
/// character).
fn parse_keywords(text: &str) -> Result<Postgres, String> {
    let mut params: Vec<(String, String)> = Vec::new();
    let mut shown: Vec<String> = Vec::new();
    let mut after_password = false;
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(rest.len());
        let (key, tail) = rest.split_at(end);
        let Some(tail) = tail.trim_start().strip_prefix('=') else {
            return Err(bad_parameter(key, after_password, KEYWORD_HINT, |key| {
                format!("`{key}` has no `=value` in the PostgreSQL connection string")
            }));
        };
        if key.is_empty() {
            return Err(bad_parameter(key, after_password, KEYWORD_HINT, |_| {
                "a `=` has no keyword before it in the PostgreSQL connection string".to_owned()
            }));
        }
        check_parameter(key, after_password, KEYWORD_HINT)?;
        let (value, tail) = keyword_value(tail.trim_start()).map_err(|problem| {
            format!("the value of `{key}` in the PostgreSQL connection string {problem}")
        })?;
        shown.push(if key == "password" {
            "password=***".to_owned()
        } else if value.is_empty()
            || value.contains(|c: char| c.is_whitespace() || "'\\".contains(c))
        {
            format!("{key}={}", quote(&value))
        } else {
            format!("{key}={value}")
        });
        after_password |= key == "password";
        params.push((key.to_owned(), value));
        rest = tail.trim_start();
    }
    Ok(Postgres {
        params,
        shown: shown.join(" "),
    })
}

/// One value of the keyword form, and the text after it.
fn keyword_value(text: &str) -> Result<(String, &str), &'static str> {
    let mut value = String::new();
    if let Some(quoted) = text.strip_prefix('\'') {
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => return Ok((value, &quoted[i + 1..])),
                '\\' => value.extend(chars.next().map(|(_, c)| c)),
                c => value.push(c),
            }
        }
        return Err("has no closing `'`");
    }
    let mut chars = text.char_indices();
    let mut end = text.len();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                end = i;
                break;
            }
            '\\' => value.extend(chars.next().map(|(_, c)| c)),
            c => value.push(c),
        }
    }
    if value.is_empty() {
        return Err("is missing");
    }
    Ok((value, &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn postgres(url: &str) -> Postgres {
        match Target::parse(url) {
            Ok(Target::Postgres(db)) => db,
            other => panic!("{url}: {other:?}"),
        }
    }

    /// The parameters, as `key=value` strings.
    fn params(db: &Postgres) -> Vec<String> {
        db.params.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    fn password(db: &Postgres) -> Option<&str> {
        db.params
            .iter()
            .rev()
            .find(|(k, _)| k == "password")
            .map(|(_, v)| v.as_str())
    }

    fn mysql(url: &str) -> Mysql {
        match Target::parse(url) {
            Ok(Target::Mysql(db)) => db,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn mysql_urls_are_read_and_shown_without_the_password() {
        let db = mysql("mysql://app:p@ss/w:rd@db.internal:3307/prod");
        assert_eq!(db.to_string(), "mysql://app:***@db.internal:3307/prod");
        assert_eq!(
            format!("{db:?}"),
            "Mysql(mysql://app:***@db.internal:3307/prod)"
        );
        assert_eq!(
            (db.user.as_deref(), db.password.as_deref()),
            (Some("app"), Some("p@ss/w:rd"))
        );
        assert_eq!((db.host.as_str(), db.port), ("db.internal", 3307));
        assert_eq!(db.database.as_deref(), Some("prod"));
        let db = mysql("mariadb://root@localhost/app?socket=%2Frun%2Fmysqld.sock");
        assert_eq!(db.port, 3306);
        assert_eq!(db.socket.as_deref(), Some("/run/mysqld.sock"));
        assert_eq!(db.password, None);
        let db = mysql("MySQL://db");
        assert_eq!((db.host.as_str(), db.database), ("db", None));
        for (url, problem) in [
            (
                "mysql://db:port/x",
                "the port `port` in the MySQL URL is not a port number",
            ),
            (
                "mysql://a,b/x",
                "the MySQL URL names several hosts; name one",
            ),
            (
                "mysql://db/x?sslmode=REQUIRED",
                "unsupported parameter `sslmode` in the MySQL URL; the supported ones are \
                 `socket=/path/to/mysqld.sock`, `ssl-mode=...` and `ssl-ca=/path/ca.pem`",
            ),
        ] {
            assert_eq!(Target::parse(url).unwrap_err(), problem, "{url}");
        }
        let err = Target::parse("mysql://u:se@cret@db:33x/app").unwrap_err();
        assert!(!err.contains("se@cret") && !err.contains("cret"), "{err}");
    }

    #[test]
    fn postgres_urls_are_shown_with_the_password_replaced() {
        let db = postgres("postgres://app:s3cret@db:5432/prod");
        assert_eq!(db.to_string(), "postgres://app:***@db:5432/prod");
        assert_eq!(
            params(&db),
            [
                "user=app",
                "password=s3cret",
                "host=db",
                "port=5432",
                "dbname=prod"
            ]
        );
        // Debug, as a failed assertion prints it, hides it too.
        assert_eq!(
            format!("{:?}", Target::Postgres(db)),
            "Postgres(Postgres(postgres://app:***@db:5432/prod))"
        );
        for url in [
            "postgres://app@db/prod",
            "postgresql://db/prod",
            "postgres://db",
            "postgres://",
            "postgres://app@db/prod?sslmode=disable&application_name=migrate",
        ] {
            let db = postgres(url);
            assert_eq!(db.to_string(), url);
            assert_eq!(password(&db), None, "{url}");
        }
    }

    #[test]
    fn passwords_may_hold_url_delimiters() {
        for (url, expected) in [
            ("postgres://app:pa/ss@db/prod", "pa/ss"),
            ("postgres://app:p@ss@db/prod", "p@ss"),
            ("postgres://app:pa:ss@db/prod", "pa:ss"),
            ("postgres://app:p?a#s/s@db/prod", "p?a#s/s"),
            ("postgres://app:pa%2Fss%40%3A%25@db/prod", "pa/ss@:%"),
            ("postgres://app:@db/prod", ""),
        ] {
            let db = postgres(url);
            assert_eq!(password(&db), Some(expected), "{url}");
            assert_eq!(db.to_string(), "postgres://app:***@db/prod", "{url}");
            assert_eq!(
                params(&db)[2..],
                ["host=db", "port=5432", "dbname=prod"],
                "{url}"
            );
        }
    }

    #[test]
    fn an_at_sign_is_read_where_it_can_only_be_read_one_way() {
        // Every `@` before the host: the last one ends the credentials
        // (Azure's `user@server` names too).
        let db = postgres("postgres://me@server:p@ss@db.example.com/prod");
        assert_eq!(
            db.to_string(),
            "postgres://me@server:***@db.example.com/prod"
        );
        assert_eq!(params(&db)[..2], ["user=me@server", "password=p@ss"]);
        // An `@` after the path or query with nothing before it that could be
        // a user name: it is the parameter's.
        let db = postgres("postgres://db/prod?password=p@ss&application_name=a@b");
        assert_eq!(
            db.to_string(),
            "postgres://db/prod?password=***&application_name=a@b"
        );
        assert_eq!(password(&db), Some("p@ss"));
        let db = postgres("postgres:///prod?application_name=a@b");
        assert_eq!(params(&db), ["dbname=prod", "application_name=a@b"]);
        // One `@` after a `/` or `?` where what comes before it cannot be a
        // host (`pa` is no port): the credentials end there.
        let db = postgres("postgres://app:p?a#s/s@db/prod");
        assert_eq!(password(&db), Some("p?a#s/s"));
        // `1234` could be a port, but then `hunter2@db` would be a database name.
        let db = postgres("postgres://app:1234/hunter2@db/prod");
        assert_eq!(password(&db), Some("1234/hunter2"));
        let db = postgres("postgres://app:a@b/c@d:e@db/prod");
        assert_eq!(password(&db), Some("a@b/c@d:e"));
        // `app@db/prod?password=p` cannot be a user name.
        let db = postgres("postgres://app@db/prod?password=p@ss");
        assert_eq!(db.to_string(), "postgres://app@db/prod?password=***");
        assert_eq!(params(&db)[0], "user=app");
        assert_eq!(password(&db), Some("p@ss"));
    }

    #[test]
    fn a_password_parameter_is_a_password_too() {
        let db = postgres("postgres://app@db/prod?password=s%26cret&sslmode=disable");
        assert_eq!(password(&db), Some("s&cret"));
        assert_eq!(
            db.to_string(),
            "postgres://app@db/prod?password=***&sslmode=disable"
        );
        let db = postgres("postgres://app:one@db/prod?password=two");
        assert_eq!(db.to_string(), "postgres://app:***@db/prod?password=***");
        assert_eq!(password(&db), Some("two"));
    }

    #[test]
    fn a_one_letter_password_does_not_garble_the_message() {
        let db = postgres("postgres://o:o@localhost/prod");
        assert_eq!(
            format!("cannot connect to PostgreSQL at `{db}`: error connecting to server"),
            "cannot connect to PostgreSQL at `postgres://o:***@localhost/prod`: error \
             connecting to server"
        );
        let db = postgres("postgres://postgres:postgres@localhost/postgres");
        assert_eq!(db.to_string(), "postgres://postgres:***@localhost/postgres");
    }

    #[test]
    fn hosts_ports_and_sockets() {
        let db = postgres("postgres://u:p@h1:5433,[::1]:5434,h3,[fe80::1]/db");
        assert_eq!(
            db.to_string(),
            "postgres://u:***@h1:5433,[::1]:5434,h3,[fe80::1]/db"
        );
        assert_eq!(
            params(&db)[2..],
            [
                "host=h1",
                "port=5433",
                "host=::1",
                "port=5434",
                "host=h3",
                "port=5432",
                "host=fe80::1",
                "port=5432",
                "dbname=db"
            ]
        );
        let db = postgres("postgres://u@%2Fvar%2Frun%2Fpostgresql/my%20db");
        assert_eq!(
            db.to_string(),
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/my%20db"
        );
        assert_eq!(
            params(&db),
            [
                "user=u",
                "host=/var/run/postgresql",
                "port=5432",
                "dbname=my db"
            ]
        );
        let db = postgres("postgres:///db?host=/tmp&user=me");
        assert_eq!(params(&db), ["dbname=db", "host=/tmp", "user=me"]);
        assert!(Target::parse("postgres://[::1/db")
            .unwrap_err()
            .contains("not `[address]`"));
    }

    #[test]
    fn keyword_strings() {
        let db = postgres("host=localhost user=app password=s3cret dbname=prod");
        assert_eq!(
            db.to_string(),
            "host=localhost user=app password=*** dbname=prod"
        );
        assert_eq!(
            params(&db),
            [
                "host=localhost",
                "user=app",
                "password=s3cret",
                "dbname=prod"
            ]
        );
        for (text, expected) in [
            ("password='with space' user=app", "with space"),
            (r"password='it\'s \\ ok' user=app", r"it's \ ok"),
            (r"password=a\ b\'c user=app", "a b'c"),
            ("  password = 'x'user=app  ", "x"),
            ("password='' user=app", ""),
            ("password=o user=app", "o"),
        ] {
            let db = postgres(text);
            assert_eq!(password(&db), Some(expected), "{text}");
            assert_eq!(db.to_string(), "password=*** user=app", "{text}");
        }
        // Values that need quotes are shown quoted.
        let db = postgres(r"application_name='my app' options='-c x=1' user=app");
        assert_eq!(
            db.to_string(),
            "application_name='my app' options='-c x=1' user=app"
        );
    }

    #[test]
    fn the_driver_reads_what_was_parsed() {
        let db = postgres(
            "postgres://app:p@ss/w'r\\d@db:5433/prod?application_name=x&sslmode=verify-full&sslrootcert=/ca.pem",
        );
        // TLS is set up by the tool: the driver is told only whether to ask for it.
        assert_eq!(
            db.keywords("require"),
            r"user='app' password='p@ss/w\'r\\d' host='db' port='5433' dbname='prod' application_name='x' sslmode=require"
        );
        assert_eq!(db.param("sslrootcert"), Some("/ca.pem"));
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn the_driver_reads_the_keywords_as_it_reads_the_url() {
        use migrate_core::postgres::Config;
        for url in [
            "postgres://app:s3cret@db:5433/prod",
            "postgres://app:pa%2Fss@h1:5433,h2/prod?application_name=x&connect_timeout=5",
            "postgres://app@[::1]:5434/prod?password=hunter2",
            "postgres://app@%2Ftmp/prod",
            "host=localhost user=app password='with space' dbname=prod port=5433",
        ] {
            let ours: Config = postgres(url).keywords("prefer").parse().unwrap();
            let theirs: Config = url.parse().unwrap();
            assert_eq!(ours.get_user(), theirs.get_user(), "{url}");
            assert_eq!(ours.get_password(), theirs.get_password(), "{url}");
            assert_eq!(ours.get_dbname(), theirs.get_dbname(), "{url}");
            assert_eq!(ours.get_hosts(), theirs.get_hosts(), "{url}");
            assert_eq!(ours.get_ports(), theirs.get_ports(), "{url}");
            assert_eq!(
                ours.get_application_name(),
                theirs.get_application_name(),
                "{url}"
            );
            assert_eq!(
                ours.get_connect_timeout(),
                theirs.get_connect_timeout(),
                "{url}"
            );
        }
        // Where the driver would read the password short, we do not.
        let ours: Config = postgres("postgres://app:p@ss@db/prod")
            .keywords("prefer")
            .parse()
            .unwrap();
        assert_eq!(ours.get_password(), Some(&b"p@ss"[..]));
    }

    #[test]
    fn errors_never_repeat_a_password() {
        for (url, says) in [
            (
                "mongodb://app:hunter2@db/prod",
                "unsupported database URL scheme `mongodb://`",
            ),
            ("app:hunter2@db/prod", "not shown"),
            ("hunter2", "not shown"),
            ("://app:hunter2@db", "not shown"),
            // An `@` that could end the credentials in two places.
            (
                "postgres://db:5432/prod?password=hun@ter2",
                "more than one way",
            ),
            ("postgres://app:pw@db/prod?application_name=hun@ter2", "%40"),
            // Or in none.
            ("postgres://app:hunter2@db:5432x/prod", "does not parse"),
            ("postgres://app@db/prod?password=hun&ter2", "%26"),
            ("postgres://app@db/prod?password=hun&ter2=x", "%26"),
            (
                "postgres://app@db/prod?password=x&sslmode=disable&hunter2=x",
                "%26",
            ),
            ("host=db password=hun ter2", "password='...'"),
            ("host=db password=hun ter2=x", "password='...'"),
            (
                "host=db password='hunter2",
                "`password` in the PostgreSQL connection string has no closing `'`",
            ),
            (
                "host=db password=",
                "`password` in the PostgreSQL connection string is missing",
            ),
            (
                "postgres://app:hunter2%FF@db/prod",
                "the password in the PostgreSQL URL is not UTF-8",
            ),
        ] {
            let error = Target::parse(url).unwrap_err();
            assert!(!error.contains("hunter2"), "{url}: {error}");
            assert!(!error.contains("hun"), "{url}: {error}");
            assert!(error.contains(says), "{url}: {error}");
        }
    }

    #[test]
    fn unknown_postgres_parameters_are_named_when_they_cannot_be_a_password() {
        let error = Target::parse("postgres://app:pw@db/prod?sslmod=disable").unwrap_err();
        assert!(
            error.starts_with("unknown PostgreSQL connection parameter `sslmod`; the known ones are user, password,"),
            "{error}"
        );
        let error = Target::parse("host=db dbnam=prod password=x").unwrap_err();
        assert!(error.contains("`dbnam`"), "{error}");
        let error = Target::parse("host=db prod").unwrap_err();
        assert_eq!(
            error,
            "`prod` has no `=value` in the PostgreSQL connection string"
        );
        let error = Target::parse("postgres://db/prod?sslmode").unwrap_err();
        assert_eq!(
            error,
            "the PostgreSQL URL parameter `sslmode` has no `=value`"
        );
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn connection_errors_carry_their_causes_on_one_line() {
        #[derive(Debug)]
        struct Error(&'static str, Option<Box<Error>>);
        impl fmt::Display for Error {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Error {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let server = Error(
            "FATAL: database \"x\" does not exist\nHINT: create it",
            None,
        );
        let error = Error("db error", Some(Box::new(server)));
        assert_eq!(
            with_causes(&error),
            "db error: FATAL: database \"x\" does not exist; HINT: create it"
        );
        // A cause the error already prints is not repeated.
        let error = Error("refused: no", Some(Box::new(Error("no", None))));
        assert_eq!(with_causes(&error), "refused: no");
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
