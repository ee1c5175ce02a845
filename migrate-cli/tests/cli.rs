//! The `migrate` binary run as a real process on real directories and
//! databases: new → check → up → status → down → status, a broken
//! directory, a dirty database and repair, passwords, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

fn migrate(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-migrate"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run the migrate binary")
}

/// `migrate <cmd> --dir <dir> --database sqlite://<work>/app.db`, run in `work`.
fn on_sqlite(work: &Path, dir: &Path, cmd: &[&str]) -> Output {
    let db = format!("sqlite://{}", work.join("app.db").display());
    let dir = dir.display().to_string();
    let mut args = cmd.to_vec();
    args.extend(["--dir", &dir, "--database", &db]);
    migrate(work, &args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn new_check_up_status_down_status_on_sqlite() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let created = ok(&migrate(dir, &["new", "create_users", "--down"]));
    assert_eq!(
        created,
        "migrations/0001_create_users.sql\nmigrations/0001_create_users.down.sql\n"
    );
    // A second one can be created while the first is still a template.
    assert_eq!(
        ok(&migrate(dir, &["new", "add_email"])),
        "migrations/0002_add_email.sql\n"
    );

    // Templates hold only comments: check refuses them until written.
    let out = migrate(dir, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("`0001_create_users.sql` is empty"));

    let append = |file: &str, sql: &str| {
        let path = dir.join("migrations").join(file);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(sql);
        std::fs::write(path, text).unwrap();
    };
    append(
        "0001_create_users.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY);\n",
    );
    append("0001_create_users.down.sql", "DROP TABLE users;\n");
    append(
        "0002_add_email.sql",
        "ALTER TABLE users ADD COLUMN email TEXT;\n",
    );
    assert!(ok(&migrate(dir, &["check"])).ends_with("2 migration(s), versions 1 to 2, ok\n"));

    let db = ["--database", "sqlite://app.db"];
    let plan = ok(&migrate(dir, &[&["up"][..], &db].concat()));
    assert!(
        plan.starts_with("applied 2 migration(s) (1 to 2) in "),
        "{plan}"
    );
    assert!(plan.ends_with("at version 2 of 2\n"), "{plan}");
    let status = ok(&migrate(dir, &[&["status"][..], &db].concat()));
    assert!(status.starts_with("VERSION  NAME"), "{status}");
    assert!(
        status.contains("      2  add_email     applied"),
        "{status}"
    );
    assert!(status.ends_with("2 applied, 0 pending\n"), "{status}");

    // 2 has no down: refused, nothing changed.
    let out = migrate(dir, &[&["down", "--to", "0"][..], &db].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr)
        .starts_with("migrate: error: migration 2 (`0002_add_email.sql`) has no down step"));
    append("0002_add_email.sql", "");
    std::fs::write(
        dir.join("migrations/0002_add_email.down.sql"),
        "ALTER TABLE users DROP COLUMN email;\n",
    )
    .unwrap();
    // `down` says how far: `--to` or `--steps`, one of them.
    let out = migrate(dir, &[&["down"][..], &db].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--to"), "{}", text(&out.stderr));
    let out = migrate(
        dir,
        &[&["down", "--to", "0", "--steps", "1"][..], &db].concat(),
    );
    assert_eq!(out.status.code(), Some(2));
    let out = migrate(dir, &[&["down", "--steps", "3"][..], &db].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot roll back 3 migration(s): only 2 applied"),
        "{}",
        text(&out.stderr)
    );
    // Undo the last one, then the rest.
    let down = ok(&migrate(
        dir,
        &[&["down", "--steps", "1"][..], &db].concat(),
    ));
    assert!(
        down.starts_with("reverted 1 migration(s) (2) in "),
        "{down}"
    );
    let down = ok(&migrate(dir, &[&["down", "--to", "0"][..], &db].concat()));
    assert!(
        down.starts_with("reverted 1 migration(s) (1) in "),
        "{down}"
    );
    let status = ok(&migrate(dir, &[&["status"][..], &db].concat()));
    assert!(status.ends_with("0 applied, 2 pending\n"), "{status}");

    // plan prints the SQL that would run.
    let plan = ok(&migrate(dir, &[&["plan"][..], &db].concat()));
    assert!(plan.contains("-- 1 0001_create_users.sql\n"), "{plan}");
    assert!(
        plan.contains("CREATE TABLE users (id INTEGER PRIMARY KEY);"),
        "{plan}"
    );
}

#[test]
fn a_broken_directory_lists_every_problem() {
    let dir = fixture("bad-merge");
    let out = migrate(
        dir.parent().unwrap(),
        &["check", "--dir", dir.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("version 2 is used by `0002_from_branch.sql` and `0002_from_main.sql`"),
        "{stderr}"
    );
    assert!(stderr.contains("version 3 is missing between"), "{stderr}");
    assert!(
        stderr.ends_with(&format!(
            "migrate: error: 2 problem(s) in {}\n",
            dir.display()
        )),
        "{stderr}"
    );
    let rust = fixture("rust-wrong-signature");
    let out = migrate(
        dir.parent().unwrap(),
        &["check", "--dir", rust.to_str().unwrap()],
    );
    assert!(
        text(&out.stderr).contains("`up` takes `&mut String` instead of `&mut dyn migrate::Tx`")
    );
}

#[test]
fn a_dirty_database_is_reported_and_repaired() {
    let work = tempfile::tempdir().unwrap();
    let dir = fixture("rt-no-tx-fails");
    let run = |cmd: &[&str]| on_sqlite(work.path(), &dir, cmd);
    let out = run(&["up"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is marked dirty"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["up"]);
    assert!(
        text(&out.stderr).contains("did not finish"),
        "{}",
        text(&out.stderr)
    );
    let status = ok(&run(&["status"]));
    assert!(
        status
            .lines()
            .any(|l| l.split_whitespace().take(3).eq(["2", "half", "dirty"])),
        "{status}"
    );
    assert!(ok(&run(&["repair", "2", "undone"])).starts_with("version 2 marked not applied"));
    assert_eq!(run(&["repair", "2", "undone"]).status.code(), Some(1));
}

/// A failed no-transaction down step is `reverting`: `repair N completed`
/// finishes the revert, and the CLI says the migration is now not applied.
#[test]
fn repairing_a_failed_revert_says_what_became_of_it() {
    let work = tempfile::tempdir().unwrap();
    let dir = fixture("rt-no-tx-down-fails");
    let run = |cmd: &[&str]| on_sqlite(work.path(), &dir, cmd);
    ok(&run(&["up"]));
    assert_eq!(run(&["down", "--to", "1"]).status.code(), Some(1));
    let status = ok(&run(&["status"]));
    assert!(status.contains("reverting"), "{status}");
    let repaired = ok(&run(&["repair", "2", "completed"]));
    assert!(
        repaired.starts_with("version 2 marked not applied"),
        "{repaired}"
    );
}

#[test]
fn rust_migrations_are_left_to_the_application() {
    let work = tempfile::tempdir().unwrap();
    let dir = fixture("rust");
    let db = format!("sqlite://{}", work.path().join("app.db").display());
    let out = migrate(
        work.path(),
        &["up", "--dir", dir.to_str().unwrap(), "--database", &db],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("migration 2 (`0002_seed_settings.rs`) is a Rust migration"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("stop before it here with `up --to 1`"));
    // What comes before it can still be applied from here.
    let up = ok(&migrate(
        work.path(),
        &[
            "up",
            "--to",
            "1",
            "--dir",
            dir.to_str().unwrap(),
            "--database",
            &db,
        ],
    ));
    assert!(up.starts_with("applied 1 migration(s) (1)"), "{up}");

    // Reverting reaches the newest Rust migration first: it names that one.
    let work = tempfile::tempdir().unwrap();
    let run = |cmd: &[&str]| on_sqlite(work.path(), &dir, cmd);
    ok(&run(&["baseline", "3"]));
    // 3 defines no `down`: nothing could revert it, here or in the application.
    let out = run(&["down", "--to", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("migration 3 (`0003_no_down.rs`) has no down step"),
        "{stderr}"
    );
    // 2 defines one, which only the application can run: it is named.
    std::fs::remove_file(work.path().join("app.db")).unwrap();
    ok(&run(&["baseline", "2"]));
    let out = run(&["down", "--to", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("migration 2 (`0002_seed_settings.rs`) is a Rust migration"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stop before it here with `down --to 2`"),
        "{stderr}"
    );
}

#[test]
fn passwords_are_never_printed() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("migrations")).unwrap();
    let out = migrate(
        work.path(),
        &[
            "status",
            "--database",
            "postgres://app:hunter2@127.0.0.1:1/prod",
            "-v",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("postgres://app:***@127.0.0.1:1/prod"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn usage_errors_exit_with_2() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("migrations")).unwrap();
    for args in [
        &[][..],
        &["frobnicate"],
        &["new"],
        &["new", "bad name"],
        &["status"],
        &["status", "--database", "mongodb://x/y"],
        &[
            "up",
            "--table",
            "x; DROP TABLE y",
            "--database",
            "sqlite://a.db",
        ],
        &["repair", "2", "maybe"],
    ] {
        let out = migrate(work.path(), args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(migrate(work.path(), &["--help"]).status.code(), Some(0));
}

/// The environment variable `var` (`what` a test needs); `None` (and so a
/// skipped test) only outside CI.
fn required(var: &str, what: &str) -> Option<String> {
    let value = std::env::var(var).ok();
    if value.is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{what} ({var}) is required in CI"
        );
    }
    value
}

/// The test server's URL; `None` (and so a skipped test) only outside CI.
fn test_server() -> Option<String> {
    required("MIGRATE_TEST_POSTGRES_URL", "PostgreSQL")
}

/// The port of a `scheme://user@host:port/database` URL.
fn port_of(url: &str) -> &str {
    let after = url.rsplit(':').next().unwrap();
    after.split('/').next().unwrap()
}

/// A new database `<prefix>_<pid>` on `server`, and its URL.
fn fresh_pg_database(server: &str, prefix: &str) -> String {
    let name = format!("{prefix}_{}", std::process::id());
    let mut admin =
        migrate_core::postgres::Client::connect(server, migrate_core::postgres::NoTls).unwrap();
    // Another test's CREATE DATABASE may be copying template1 at this
    // moment ("being accessed by other users"): try again briefly.
    let mut attempt = 0;
    while let Err(e) = admin.batch_execute(&format!("CREATE DATABASE {name}")) {
        attempt += 1;
        let busy = e
            .as_db_error()
            .is_some_and(|d| d.message().contains("being accessed by other users"));
        assert!(busy && attempt < 50, "cannot create a test database: {e:?}");
        std::thread::sleep(std::time::Duration::from_millis(20 * attempt));
    }
    format!("{}/{name}", server.rsplit_once('/').unwrap().0)
}

/// `--lock-strategy pooler` through PgBouncer in transaction mode refuses
/// a no-transaction migration up front; the DDL lock flags reach the run.
#[test]
fn postgres_behind_a_transaction_pooler_from_the_command_line() {
    let (Some(server), Some(pooler)) = (
        test_server(),
        required("MIGRATE_TEST_PGBOUNCER_URL", "PgBouncer"),
    ) else {
        return;
    };
    let url = fresh_pg_database(&server, "migrate_cli_pooler");
    let (_, name) = url.rsplit_once('/').unwrap();
    let via = format!("{}/{name}", pooler.rsplit_once('/').unwrap().0);
    let dir = fixture("rt-no-tx");
    let dir = dir.to_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let refused = migrate(
        work.path(),
        &[
            "up",
            "--lock-strategy",
            "pooler",
            "--dir",
            dir,
            "--database",
            &via,
        ],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("migration 2 (`0002_vacuum.sql`) runs outside a transaction"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was applied"), "{stderr}");
    let up = ok(&migrate(
        work.path(),
        &[
            "up",
            "--ddl-lock-timeout",
            "2",
            "--ddl-lock-retries",
            "3",
            "--dir",
            dir,
            "--database",
            &url,
        ],
    ));
    assert!(up.starts_with("applied 2 migration(s) (1 to 2)"), "{up}");
    let status = ok(&migrate(
        work.path(),
        &[
            "status",
            "--lock-strategy",
            "pooler",
            "--dir",
            dir,
            "--database",
            &via,
        ],
    ));
    assert!(status.ends_with("2 applied, 0 pending\n"), "{status}");
    let refused = migrate(
        work.path(),
        &[
            "up",
            "--ddl-lock-retries",
            "3",
            "--dir",
            dir,
            "--database",
            &url,
        ],
    );
    assert_eq!(
        refused.status.code(),
        Some(2),
        "retries without a timeout are a usage error"
    );
}

#[test]
fn postgres_from_the_command_line() {
    let Some(server) = test_server() else {
        return;
    };
    let url = fresh_pg_database(&server, "migrate_cli");
    let dir = fixture("flyway");
    let work = tempfile::tempdir().unwrap();
    let up = ok(&migrate(
        work.path(),
        &["up", "--dir", dir.to_str().unwrap(), "--database", &url],
    ));
    assert!(up.starts_with("applied 2 migration(s) (1 to 2)"), "{up}");
    let status = ok(&migrate(
        work.path(),
        &["status", "--dir", dir.to_str().unwrap(), "--database", &url],
    ));
    assert!(status.ends_with("2 applied, 0 pending\n"), "{status}");
}

/// `status` of the `flyway` fixture on `url`: exit code, stdout, stderr.
fn status_of(work: &Path, url: &str) -> (Option<i32>, String, String) {
    let dir = fixture("flyway");
    let out = migrate(
        work,
        &["status", "--dir", dir.to_str().unwrap(), "--database", url],
    );
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// `status` connected and read the history: every migration is listed.
#[track_caller]
fn connected((code, stdout, stderr): (Option<i32>, String, String)) {
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("add_due_date"), "{stdout}");
}

/// TLS with libpq's `sslmode` meanings, against the test server's
/// certificate for `localhost` (signed by a throwaway CA): `tls_only` may
/// connect over TLS only.
#[test]
fn postgres_over_tls_as_sslmode_says() {
    let Some(server) = test_server() else {
        return;
    };
    let Some(ca) = required("MIGRATE_TEST_POSTGRES_CA", "the test server's CA") else {
        return;
    };
    let port = port_of(&server);
    let work = tempfile::tempdir().unwrap();
    let status = |host: &str, query: &str| {
        status_of(
            work.path(),
            &format!("postgres://tls_only@{host}:{port}/postgres?{query}"),
        )
    };
    let ok = connected;
    // Encrypted, the certificate checked as far as each mode says.
    ok(status(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ));
    ok(status(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    ));
    ok(status("127.0.0.1", "sslmode=require"));
    ok(status("127.0.0.1", "sslmode=prefer"));
    ok(status("127.0.0.1", ""));
    // The certificate is for `localhost`, not 127.0.0.1.
    let (code, _, stderr) = status(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot connect to PostgreSQL at `postgres://tls_only@127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("not valid for name"), "{stderr}");
    assert!(
        stderr.contains("connect by the name it was issued for, or use sslmode=verify-ca"),
        "{stderr}"
    );
    // Mozilla's roots do not know the test CA.
    let (code, _, stderr) = status("localhost", "sslmode=verify-full");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    assert!(
        stderr.contains("name its CA with `sslrootcert=/path/to/ca.pem`"),
        "{stderr}"
    );
    // Without TLS, the server's own refusal.
    let (code, _, stderr) = status("127.0.0.1", "sslmode=disable");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("pg_hba.conf rejects connection for host \"127.0.0.1\", user \"tls_only\""),
        "{stderr}"
    );
    assert!(stderr.contains("no encryption"), "{stderr}");
    // Mistakes in the URL are usage errors naming the fix.
    // The system's roots vouch for any name they signed: verify-full only,
    // and by default.
    let (code, _, stderr) = status("localhost", "sslrootcert=system");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    let (code, _, stderr) = status("localhost", "sslmode=require&sslrootcert=system");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("sslmode `require` may not be used with sslrootcert=system"),
        "{stderr}"
    );
    let (code, _, stderr) = status("localhost", "sslmode=verify-full&sslrootcert=system");
    assert_eq!(code, Some(1), "{stderr}");
    let (code, _, stderr) = status("localhost", "sslmode=verify-everything");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("unsupported sslmode `verify-everything`"),
        "{stderr}"
    );
    let (code, _, stderr) = status(
        "localhost",
        "sslmode=verify-full&sslrootcert=/no/such/ca.crt",
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read the root certificates in sslrootcert `/no/such/ca.crt`"),
        "{stderr}"
    );
}

#[test]
fn mysql_from_the_command_line() {
    let Some(server) = required("MIGRATE_TEST_MYSQL_URL", "MariaDB") else {
        return;
    };
    use migrate_core::mysql::prelude::Queryable;
    let name = format!("migrate_cli_{}", std::process::id());
    let mut admin = migrate_core::mysql::Conn::new(server.as_str()).unwrap();
    admin.query_drop(format!("CREATE DATABASE {name}")).unwrap();
    // The `mariadb://` spelling, with the password shown as `***` in messages.
    let url = format!(
        "{}/{name}",
        server
            .replacen("mysql://", "mariadb://", 1)
            .rsplit_once('/')
            .unwrap()
            .0
    );
    let dir = fixture("flyway");
    let work = tempfile::tempdir().unwrap();
    let up = ok(&migrate(
        work.path(),
        &["up", "--dir", dir.to_str().unwrap(), "--database", &url],
    ));
    assert!(up.starts_with("applied 2 migration(s) (1 to 2)"), "{up}");
    let status = ok(&migrate(
        work.path(),
        &["status", "--dir", dir.to_str().unwrap(), "--database", &url],
    ));
    assert!(status.ends_with("2 applied, 0 pending\n"), "{status}");
    // A wrong password: the server's refusal, and no password in it.
    let wrong = url.replacen(":migrate@", ":not-the-password@", 1);
    let out = migrate(
        work.path(),
        &[
            "status",
            "--dir",
            dir.to_str().unwrap(),
            "--database",
            &wrong,
        ],
    );
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr.contains("cannot connect to MySQL at `mariadb://migrate:***@"),
        "{stderr}"
    );
    assert!(stderr.contains("Access denied"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");
}

/// TLS to MySQL with the `mysql` client's `ssl-mode` meanings, against
/// the test server's certificate for `localhost` (signed by a throwaway
/// CA): `tls_only` may connect over TLS only.
#[test]
fn mysql_over_tls_as_ssl_mode_says() {
    let (Some(server), Some(ca)) = (
        required("MIGRATE_TEST_MYSQL_URL", "MariaDB"),
        required("MIGRATE_TEST_MYSQL_CA", "MariaDB's CA"),
    ) else {
        return;
    };
    let port = port_of(&server);
    let work = tempfile::tempdir().unwrap();
    let status = |host: &str, query: &str| {
        status_of(
            work.path(),
            &format!("mysql://tls_only:tls_only@{host}:{port}/migrate?{query}"),
        )
    };
    let ok = connected;
    ok(status(
        "localhost",
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
    ));
    ok(status(
        "127.0.0.1",
        &format!("ssl-mode=VERIFY_CA&ssl-ca={ca}"),
    ));
    ok(status("127.0.0.1", "ssl-mode=REQUIRED"));
    ok(status("127.0.0.1", ""));
    let (code, _, stderr) = status(
        "127.0.0.1",
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("connect by the name it was issued for"),
        "{stderr}"
    );
    let (code, _, stderr) = status("localhost", "ssl-mode=VERIFY_IDENTITY");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("name its CA with `ssl-ca=/path/to/ca.pem`"),
        "{stderr}"
    );
    // Without TLS, the server's own refusal, and no password in it.
    let (code, _, stderr) = status("127.0.0.1", "ssl-mode=DISABLED");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("Access denied for user 'tls_only'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("mysql://tls_only:***@127.0.0.1"),
        "{stderr}"
    );
    // Over a socket TLS cannot apply: asking for it is refused, not ignored.
    let (code, _, stderr) = status(
        "localhost",
        "socket=/tmp/mysqld.sock&ssl-mode=VERIFY_IDENTITY",
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("ssl-mode=VERIFY_IDENTITY does not apply over a Unix socket"),
        "{stderr}"
    );
    // The CA file is read before connecting, and REQUIRED with it checks the chain.
    let (code, _, stderr) = status("localhost", "ssl-mode=REQUIRED&ssl-ca=/no/such/ca.pem");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read the CA certificates in ssl-ca `/no/such/ca.pem`"),
        "{stderr}"
    );
    let not_pem = work.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let (code, _, stderr) = status(
        "localhost",
        &format!("ssl-mode=REQUIRED&ssl-ca={}", not_pem.display()),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("holds no PEM certificate"), "{stderr}");
    ok(status(
        "127.0.0.1",
        &format!("ssl-mode=REQUIRED&ssl-ca={ca}"),
    ));
    let (code, _, stderr) = status("localhost", "ssl-mode=SOMETIMES");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("unsupported ssl-mode `SOMETIMES`"),
        "{stderr}"
    );
}

/// `count` SQL migrations with down steps in `dir/migrations`.
fn write_migrations(dir: &Path, count: u64) -> PathBuf {
    let migrations = dir.join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    for v in 1..=count {
        std::fs::write(
            migrations.join(format!("{v:04}_t{v}.sql")),
            format!("CREATE TABLE t{v} (id INTEGER);\n"),
        )
        .unwrap();
        std::fs::write(
            migrations.join(format!("{v:04}_t{v}.down.sql")),
            format!("DROP TABLE t{v};\n"),
        )
        .unwrap();
    }
    migrations
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn sqlite_url_parameters_are_read_not_taken_as_part_of_the_file_name() {
    let work = tempfile::tempdir().unwrap();
    write_migrations(work.path(), 3);
    let db = work.path().join("q.db");
    // The form sqlx users have in DATABASE_URL.
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let up = ok(&migrate(work.path(), &["up", "--database", &url]));
    assert!(up.starts_with("applied 3 migration(s) (1 to 3)"), "{up}");
    assert!(db.exists());
    assert!(
        !files_in(work.path()).iter().any(|f| f.contains('?')),
        "{:?}",
        files_in(work.path())
    );
    // Every form names the same file: relative, `sqlite:path`, read-only.
    for url in [
        "sqlite://q.db",
        "sqlite:q.db",
        "sqlite:q.db?mode=ro",
        "sqlite://q.db?mode=rw",
    ] {
        let status = ok(&migrate(work.path(), &["status", "--database", url]));
        assert!(
            status.ends_with("3 applied, 0 pending\n"),
            "{url}: {status}"
        );
    }
    let abs = format!("sqlite://{}?mode=ro", db.display());
    let status = ok(&migrate(work.path(), &["status", "--database", &abs]));
    assert!(status.ends_with("3 applied, 0 pending\n"), "{status}");

    // Through DATABASE_URL as well.
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-migrate"))
        .args(["down", "--to", "2"])
        .current_dir(work.path())
        .env("DATABASE_URL", &url)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        ok(&out).starts_with("reverted 1 migration(s) (3)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn sqlite_url_paths_are_percent_decoded_and_memory_is_in_memory() {
    let work = tempfile::tempdir().unwrap();
    write_migrations(work.path(), 2);
    let url = format!(
        "sqlite://{}/my%20app%3F.db",
        work.path().display().to_string().replace(' ', "%20")
    );
    ok(&migrate(work.path(), &["up", "--database", &url]));
    assert!(
        work.path().join("my app?.db").exists(),
        "{:?}",
        files_in(work.path())
    );

    for url in [
        "sqlite::memory:",
        "sqlite://:memory:",
        "sqlite:x.db?mode=memory",
    ] {
        let up = ok(&migrate(work.path(), &["up", "--database", url]));
        assert!(up.starts_with("applied 2 migration(s)"), "{url}: {up}");
    }
    assert_eq!(
        files_in(work.path()),
        [
            "migrations",
            "my app?.db",
            "my app?.db-migrate_schema_history.migrate-lock"
        ]
    );
}

#[test]
fn sqlite_modes_decide_what_may_be_created_or_written() {
    let work = tempfile::tempdir().unwrap();
    write_migrations(work.path(), 1);
    let fail = |args: &[&str], code: i32| -> String {
        let out = migrate(work.path(), args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        stderr
    };
    // Reading commands never create the file, whatever the mode: a file
    // that does not exist yet has everything pending.
    for url in ["sqlite://new.db", "sqlite://new.db?mode=rwc"] {
        for command in ["status", "plan"] {
            let out = migrate(work.path(), &[command, "--database", url]);
            let stdout = ok(&out);
            assert!(
                text(&out.stderr).contains("`new.db` does not exist yet"),
                "{}",
                text(&out.stderr)
            );
            if command == "status" {
                assert!(stdout.contains("0 applied, 1 pending"), "{stdout}");
            } else {
                assert!(stdout.contains("-- 1 "), "{stdout}");
            }
        }
    }
    // mode=rw: an existing file only.
    let stderr = fail(&["up", "--database", "sqlite://new.db?mode=rw"], 1);
    assert!(stderr.contains("`new.db` does not exist"), "{stderr}");
    assert!(stderr.contains("mode=rw"), "{stderr}");
    assert_eq!(files_in(work.path()), ["migrations"]);

    ok(&migrate(
        work.path(),
        &["up", "--database", "sqlite://app.db"],
    ));
    // mode=ro: reading only; a writing command is refused before anything runs.
    let stderr = fail(
        &["down", "--to", "0", "--database", "sqlite://app.db?mode=ro"],
        2,
    );
    assert!(stderr.contains("mode=ro"), "{stderr}");
    let status = ok(&migrate(
        work.path(),
        &["status", "--database", "sqlite://app.db?mode=ro"],
    ));
    assert!(status.ends_with("1 applied, 0 pending\n"), "{status}");
}

#[test]
fn unknown_sqlite_url_parameters_are_refused() {
    let work = tempfile::tempdir().unwrap();
    write_migrations(work.path(), 1);
    for (url, named) in [
        ("sqlite://app.db?cache=shared", "`cache`"),
        (
            "sqlite://app.db?mode=rwc&journal_mode=wal",
            "`journal_mode`",
        ),
        ("sqlite://app.db?mode=rwx", "`rwx`"),
    ] {
        let out = migrate(work.path(), &["up", "--database", url]);
        assert_eq!(out.status.code(), Some(2), "{url}: {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(named), "{stderr}");
        assert!(
            stderr.contains("mode=ro"),
            "names what is supported: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    assert_eq!(files_in(work.path()), ["migrations"]);
}

/// Runs `migrate status` against a closed port with a URL holding `password`.
fn stderr_for_url(url: &str, password: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("migrations")).unwrap();
    let out = migrate(work.path(), &["status", "--database", url, "-v"]);
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(password), "{url}: {stderr}");
    stderr
}

#[test]
fn passwords_are_hidden_by_the_url_structure() {
    for (url, password, shown) in [
        (
            "postgres://app:pa/ss@127.0.0.1:1/prod",
            "pa/ss",
            "postgres://app:***@127.0.0.1:1/prod",
        ),
        (
            "postgres://app:p@ss:w/rd?x@127.0.0.1:1/prod",
            "ss:w/rd",
            "postgres://app:***@127.0.0.1:1/prod",
        ),
        (
            "postgresql://app:pa%2Fss%40@127.0.0.1:1/prod",
            "pa%2Fss",
            "postgresql://app:***@127.0.0.1:1/prod",
        ),
        (
            "postgres://app@127.0.0.1:1/prod?password=hunter2&connect_timeout=5",
            "hunter2",
            "postgres://app@127.0.0.1:1/prod?password=***&connect_timeout=5",
        ),
        (
            "host=127.0.0.1 port=1 user=app password=s3cret dbname=prod",
            "s3cret",
            "host=127.0.0.1 port=1 user=app password=*** dbname=prod",
        ),
        (
            r"host=127.0.0.1 port=1 password='with sp\'ace' user=app",
            "sp",
            "host=127.0.0.1 port=1 password=*** user=app",
        ),
    ] {
        let stderr = stderr_for_url(url, password);
        assert!(
            stderr.contains(&format!("cannot connect to PostgreSQL at `{shown}`")),
            "{url}: {stderr}"
        );
    }
}

#[test]
fn a_short_password_does_not_garble_messages() {
    // Replacing the password's text everywhere would turn this into
    // "cann***t c***nnect", which tells the password.
    let stderr = stderr_for_url("postgres://o:o@127.0.0.1:1/prod", "c***");
    assert!(
        stderr.starts_with(
            "migrate: error: cannot connect to PostgreSQL at `postgres://o:***@127.0.0.1:1/prod`: "
        ),
        "{stderr}"
    );
    let stderr = stderr_for_url("postgres://postgres:postgres@127.0.0.1:1/prod", "***:");
    assert!(
        stderr.contains("at `postgres://postgres:***@127.0.0.1:1/prod`"),
        "{stderr}"
    );
}

#[test]
fn connection_errors_say_why() {
    // The driver's "error connecting to server" alone does not say what happened.
    let stderr = stderr_for_url("postgres://app:hunter2@127.0.0.1:1/prod", "hunter2");
    assert!(stderr.contains("error connecting to server: "), "{stderr}");
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
}

/// A URL given without `--database` is a stray argument to clap, which
/// repeats it: the password must not be.
#[test]
fn a_stray_database_url_is_not_printed() {
    let work = tempfile::tempdir().unwrap();
    for url in [
        "postgres://u:SeCrEt1@localhost/db",
        "host=db password=SeCrEt1 dbname=x",
    ] {
        let out = migrate(work.path(), &["status", url]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(!stderr.contains("SeCrEt1"), "{stderr}");
        assert!(
            stderr.contains("<not shown: it may hold a password>"),
            "{stderr}"
        );
    }
}

#[test]
fn urls_that_are_not_supported_are_not_printed() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("migrations")).unwrap();
    for url in [
        "mongodb://app:hunter2@db/prod",
        "app:hunter2@db/prod",
        "host=db password=hunter2 dbnam=prod",
        "host=db password=hunter2 2 dbname=prod",
        // Credentials or a parameter's `@`: it cannot be told, so not guessed.
        "postgres://app@127.0.0.1:1/prod?password=hunter2@x",
        "postgres://127.0.0.1:1/prod?password=x@hunter2",
    ] {
        let out = migrate(work.path(), &["status", "--database", url]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn postgres_errors_keep_the_servers_message_and_not_the_password() {
    let Some(server) = test_server() else {
        return;
    };
    // The same server and user, a password, and a database that does not exist.
    let (scheme, rest) = server.split_once("://").unwrap();
    let (userinfo, host_db) = rest.rsplit_once('@').unwrap();
    let user = userinfo.split(':').next().unwrap();
    let host = host_db.split(['/', '?']).next().unwrap();
    let (hostname, port) = host.rsplit_once(':').unwrap();
    let db = "migrate_cli_no_such_database";
    for url in [
        format!("{scheme}://{user}:Pa/ss:w0rd@{host}/{db}"),
        format!("{scheme}://{user}@{host}/{db}?password=Pa/ss:w0rd"),
        format!("{scheme}://{user}:Pa%2Fss%40w0rd@{host}/{db}"),
        format!("{scheme}://{user}@{host}/{db}?password=Pa/ss%40w0rd"),
        format!("host={hostname} port={port} user={user} password='Pa/ss@w0rd' dbname={db}"),
    ] {
        let stderr = stderr_for_url(&url, "Pa/ss");
        // Trust authentication: the database is missing; password
        // authentication: the password is wrong. Either is the server's word.
        assert!(
            stderr.contains(&format!("\"{db}\" does not exist"))
                || stderr.contains("password authentication failed"),
            "{stderr}"
        );
        assert!(stderr.contains("db error: FATAL: "), "{stderr}");
        assert!(!stderr.contains("w0rd"), "{stderr}");
    }
}

#[test]
fn down_past_future_versions_says_what_to_do() {
    let newer = tempfile::tempdir().unwrap();
    let older = tempfile::tempdir().unwrap();
    write_migrations(newer.path(), 3);
    let dir = write_migrations(older.path(), 2);
    let db = format!("sqlite://{}", newer.path().join("app.db").display());
    ok(&migrate(newer.path(), &["up", "--database", &db]));

    let out = migrate(
        older.path(),
        &[
            "down",
            "--to",
            "1",
            "--database",
            &db,
            "--dir",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    // The library's advice ("allow future versions") names nothing this
    // command has, and would not let `down` pass them anyway.
    assert!(!stderr.contains("allow future versions"), "{stderr}");
    assert!(stderr.contains("version(s) 3"), "{stderr}");
    assert!(stderr.contains("(`--dir`): `down --to 2`"), "{stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    let status = ok(&migrate(newer.path(), &["status", "--database", &db]));
    assert!(status.ends_with("3 applied, 0 pending\n"), "{status}");
}

#[test]
fn the_runner_options_are_flags() {
    let newer = tempfile::tempdir().unwrap();
    let older = tempfile::tempdir().unwrap();
    write_migrations(newer.path(), 3);
    let dir = write_migrations(older.path(), 2);
    let dir = dir.to_str().unwrap();
    let db_path = newer.path().join("app.db");
    let db = format!("sqlite://{}", db_path.display());
    ok(&migrate(newer.path(), &["up", "--database", &db]));

    // Versions the directory does not know: tolerated, unless --strict.
    ok(&migrate(
        older.path(),
        &["status", "--database", &db, "--dir", dir],
    ));
    let out = migrate(
        older.path(),
        &["up", "--strict", "--database", &db, "--dir", dir],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert_eq!(
        text(&out.stderr),
        "migrate: error: the database has version(s) 3 that these migrations do not include \
         (they go up to 2), which `--strict` refuses, so nothing was changed; run the release \
         that includes them, or run without `--strict` to tolerate them\n"
    );

    // Another process holds the migration lock: --lock-timeout bounds the wait.
    write_migrations(newer.path(), 4);
    let lock = std::fs::File::create(format!(
        "{}-migrate_schema_history.migrate-lock",
        db_path.display()
    ))
    .unwrap();
    lock.lock().unwrap();
    let started = std::time::Instant::now();
    let out = migrate(
        newer.path(),
        &["up", "--lock-timeout", "0.3", "--database", &db],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("waiting for the migration lock"),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    lock.unlock().unwrap();
    ok(&migrate(
        newer.path(),
        &["up", "--lock-timeout", "5", "--database", &db],
    ));

    // A value that is not a number of seconds is a usage error.
    let out = migrate(
        newer.path(),
        &["status", "--lock-timeout", "soon", "--database", &db],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not a number of seconds"));
}

#[test]
fn status_and_plan_speak_json_and_gate_ci_with_an_exit_code() {
    let work = tempfile::tempdir().unwrap();
    write_migrations(work.path(), 2);
    let db = format!("sqlite://{}", work.path().join("app.db").display());
    ok(&migrate(work.path(), &["up", "--database", &db]));
    // Current: exit 0.
    ok(&migrate(
        work.path(),
        &["status", "--exit-code", "--database", &db],
    ));
    let json = ok(&migrate(
        work.path(),
        &["status", "--format", "json", "--database", &db],
    ));
    assert!(
        json.starts_with(r#"{"migrations":[{"version":1,"name":"t1","file":"0001_t1.sql","state":"applied","applied_at":""#),
        "{json}"
    );
    assert!(json.trim_end().ends_with("}]}"), "{json}");

    write_migrations(work.path(), 3);
    let json = ok(&migrate(
        work.path(),
        &["status", "--format", "json", "--database", &db],
    ));
    assert!(
        json.contains(r#"{"version":3,"name":"t3","file":"0003_t3.sql","state":"pending","applied_at":null,"execution_ms":null}"#),
        "{json}"
    );
    // Something pending: exit 3, saying what.
    let out = migrate(work.path(), &["status", "--exit-code", "--database", &db]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stderr), "migrate: not current; pending: 3\n");

    let plan = ok(&migrate(
        work.path(),
        &["plan", "--format", "json", "--database", &db],
    ));
    assert_eq!(
        plan,
        "{\"pending\":[{\"version\":3,\"name\":\"t3\",\"file\":\"0003_t3.sql\",\
         \"transactional\":true,\"sql\":\"CREATE TABLE t3 (id INTEGER);\\n\"}]}\n"
    );
}

#[test]
fn list_needs_no_database() {
    let work = tempfile::tempdir().unwrap();
    write_migrations(work.path(), 2);
    let listed = ok(&migrate(work.path(), &["list"]));
    assert_eq!(
        listed,
        "      1  sql   0001_t1.sql  (down: 0001_t1.down.sql)\n      \
         2  sql   0002_t2.sql  (down: 0002_t2.down.sql)\n2 migration(s)\n"
    );
    let json = ok(&migrate(work.path(), &["list", "--format", "json"]));
    assert!(
        json.starts_with(
            r#"{"migrations":[{"version":1,"name":"t1","file":"0001_t1.sql","kind":"sql","transactional":true,"down_file":"0001_t1.down.sql"}"#
        ),
        "{json}"
    );
    assert_eq!(files_in(work.path()), ["migrations"], "no database created");
}

#[test]
fn completions_are_printed_for_each_shell() {
    let work = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "_cargo__migrate()"),
        ("zsh", "#compdef cargo-migrate"),
        ("fish", "complete -c cargo-migrate"),
    ] {
        let script = ok(&migrate(work.path(), &["completions", shell]));
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("lock-timeout"), "{shell} knows the flags");
    }
    let out = migrate(work.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unwritten_rust_template_fails_the_check_as_an_unwritten_sql_one_does() {
    let work = tempfile::tempdir().unwrap();
    ok(&migrate(work.path(), &["new", "seed", "--rust"]));
    let out = migrate(work.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("`0001_seed.rs` is still the template `migrate new` wrote"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn run_by_cargo_as_a_subcommand_it_takes_its_own_name_first() {
    let work = tempfile::tempdir().unwrap();
    write_migrations(work.path(), 1);
    // `cargo migrate list` runs `cargo-migrate migrate list`.
    let listed = ok(&migrate(work.path(), &["migrate", "list"]));
    assert!(listed.ends_with("1 migration(s)\n"), "{listed}");
    let help = ok(&migrate(work.path(), &["--help"]));
    assert!(help.contains("Usage: cargo migrate"), "{help}");
}

#[test]
fn allow_out_of_order_applies_a_version_below_the_highest() {
    let work = tempfile::tempdir().unwrap();
    write_migrations(work.path(), 3);
    let path = work.path().join("app.db");
    let db = format!("sqlite://{}", path.display());
    ok(&migrate(work.path(), &["up", "--database", &db]));
    // Version 2 late, below 3: the row of 3 recorded by a binary that did
    // not have 2 yet (its chain does not cover it), as after a merge.
    let conn = migrate_core::rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE t2; DELETE FROM migrate_schema_history WHERE version = 2;
         UPDATE migrate_schema_history SET chained_checksum = 'other' WHERE version = 3;",
    )
    .unwrap();
    drop(conn);

    let out = migrate(work.path(), &["up", "--database", &db]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("migration 2 (`0002_t2.sql`) is pending but version 3"),
        "{}",
        text(&out.stderr)
    );
    let applied = ok(&migrate(
        work.path(),
        &["up", "--allow-out-of-order", "--database", &db],
    ));
    assert!(
        applied.starts_with("applied 1 migration(s) (2)"),
        "{applied}"
    );
}

#[test]
fn verify_proves_the_down_steps_on_a_scratch_database() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let migrations = dir.join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    let write = |file: &str, sql: &str| std::fs::write(migrations.join(file), sql).unwrap();
    write(
        "0001_users.sql",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\n",
    );
    write("0001_users.down.sql", "DROP TABLE users;\n");
    write(
        "0002_index.sql",
        "CREATE INDEX users_email ON users (email);\n",
    );
    write("0002_index.down.sql", "SELECT 1;\n");
    let scratch = |name: &str| ["verify", "--database", name].map(str::to_owned);
    let out = migrate(
        dir,
        &scratch("sqlite://first.db").each_ref().map(String::as_str),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the down step of migration 2 (`0002_index.down.sql`) does not restore"),
        "{stderr}"
    );
    assert!(
        stderr.contains("+ index users.users_email was left behind"),
        "{stderr}"
    );

    write("0002_index.down.sql", "DROP INDEX users_email;\n");
    let out = ok(&migrate(
        dir,
        &scratch("sqlite://second.db").each_ref().map(String::as_str),
    ));
    assert!(
        out.starts_with("proved 2 down step(s) (1 to 2) in "),
        "{out}"
    );
}

/// `log`: the audit log, for people and for programs; the standalone tool
/// names itself as the application.
#[test]
fn log_lists_every_operation_for_people_and_programs() {
    let work = tempfile::tempdir().unwrap();
    let dir = fixture("rt-failing");
    let empty = ok(&on_sqlite(work.path(), &dir, &["log"]));
    assert!(empty.starts_with("the audit log is empty"), "{empty}");
    let failed = on_sqlite(work.path(), &dir, &["up"]);
    assert_eq!(failed.status.code(), Some(1));
    ok(&on_sqlite(work.path(), &dir, &["down", "--steps", "1"]));
    let table = ok(&on_sqlite(work.path(), &dir, &["log"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("VERSION  NAME"), "{table}");
    assert!(
        lines[1].contains("create_items") && lines[1].contains("apply      ok"),
        "{table}"
    );
    assert!(
        lines[3].contains("broken") && lines[3].contains("apply      failed"),
        "{table}"
    );
    assert!(
        lines[4]
            .trim_start()
            .starts_with("migration 3 (`0003_broken.sql`)"),
        "{table}"
    );
    assert!(
        lines[5].contains("add_price") && lines[5].contains("revert     ok"),
        "{table}"
    );
    assert!(
        lines[1].contains(&format!("cargo-migrate {}", env!("CARGO_PKG_VERSION"))),
        "{table}"
    );
    let json = ok(&on_sqlite(work.path(), &dir, &["log", "--format", "json"]));
    assert!(json.starts_with("{\"log\":[{\"id\":1,\"version\":1,\"name\":\"create_items\",\"operation\":\"apply\",\"outcome\":\"ok\",\"error\":null,\"started_at\":\""), "{json}");
    assert!(json.contains("\"operation\":\"apply\",\"outcome\":\"failed\",\"error\":\"migration 3 (`0003_broken.sql`)"), "{json}");
    assert!(
        json.contains("\"db_user\":null,\"app_name\":\"cargo-migrate\""),
        "{json}"
    );
    assert_eq!(json.matches("\"id\":").count(), 4, "{json}");
}
