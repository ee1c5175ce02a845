//! Concurrency and crash safety with real processes: the test binary runs
//! itself again as a child (see `child_process_entry`) and is killed for real.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use migrate::rusqlite::Connection;
use migrate::Error;

use crate::sets::{MYSQL_DDL_SLOW, MYSQL_SLOW, NO_TX_SLOW, SLOW, V2};
use crate::sqlite::{db, history_versions, open, table_exists};

const ROLE: &str = "MIGRATE_IT_CHILD";
const DB: &str = "MIGRATE_IT_DB";
const RESULT: &str = "MIGRATE_IT_RESULT";

/// Starts this test binary again, running only `child_process_entry` in the given role.
pub fn spawn(role: &str, db: &Path, result: &Path, extra: &[(&str, &Path)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "processes::child_process_entry",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ROLE, role)
    .env(DB, db)
    .env(RESULT, result)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for (key, value) in extra {
        cmd.env(key, value);
    }
    cmd.spawn().unwrap()
}

/// Not a test of its own: the body of the child processes the tests below
/// start. Without `MIGRATE_IT_CHILD` (a normal test run) it has nothing to do.
#[test]
fn child_process_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let db = PathBuf::from(std::env::var_os(DB).unwrap());
    let result = PathBuf::from(std::env::var_os(RESULT).unwrap());
    if let Some(role) = role.strip_prefix("my-") {
        // DB holds a MySQL URL.
        let url = db.to_str().unwrap();
        wait_for_go();
        let mut conn = crate::mysql::connect(url);
        let outcome = match role {
            "boot-v2" => V2.run_pending(&mut conn),
            "slow" => MYSQL_SLOW.run_pending(&mut conn),
            "ddl-slow" => MYSQL_DDL_SLOW.run_pending(&mut conn),
            other => panic!("unknown child role my-{other}"),
        };
        write_outcome(&result, outcome);
        return;
    }
    if let Some(role) = role.strip_prefix("pgb-") {
        // DB holds a URL through PgBouncer.
        let url = db.to_str().unwrap();
        wait_for_go();
        let outcome = crate::pooler::child(role, url);
        write_outcome(&result, outcome);
        return;
    }
    if let Some(role) = role.strip_prefix("pg-") {
        // DB holds a PostgreSQL URL.
        let url = db.to_str().unwrap();
        wait_for_go();
        let outcome = match role {
            "boot-v2" => V2.run_pending(&mut crate::postgres::connect(url)),
            "slow" => SLOW.run_pending(&mut crate::postgres::connect(url)),
            async_role => {
                // The async client, on a multi-thread runtime as services run.
                let runtime = tokio::runtime::Runtime::new().unwrap();
                runtime.block_on(async {
                    let mut client = crate::postgres_async::connect_async(url).await;
                    match async_role {
                        "async-boot-v2" => V2.run_pending_async(&mut client).await,
                        "async-slow" => SLOW.run_pending_async(&mut client).await,
                        other => panic!("unknown child role pg-{other}"),
                    }
                })
            }
        };
        write_outcome(&result, outcome);
        return;
    }
    wait_for_go();
    let mut conn = Connection::open(&db).unwrap();
    let outcome = match role.as_str() {
        "boot-v2" => V2.run_pending(&mut conn),
        "slow" => SLOW.run_pending(&mut conn),
        "no-tx-slow" => NO_TX_SLOW.run_pending(&mut conn),
        other => panic!("unknown child role {other}"),
    };
    write_outcome(&result, outcome);
}

/// Start together: waits for the parent's go signal, if it gives one.
fn wait_for_go() {
    if let Some(go) = std::env::var_os("MIGRATE_IT_GO") {
        let start = Instant::now();
        while !Path::new(&go).exists() && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn write_outcome(result: &Path, outcome: migrate::Result<migrate::Report>) {
    let line = match outcome {
        Ok(report) => format!("ok {}", report.applied.len()),
        Err(e) => format!("err {e}"),
    };
    std::fs::write(result, line).unwrap();
}

/// Waits for every child and adds up how many migrations each applied.
pub fn applied_by(children: Vec<(Child, PathBuf)>) -> usize {
    let mut total = 0;
    for (mut child, result) in children {
        assert!(child.wait().unwrap().success());
        let line = std::fs::read_to_string(&result).unwrap();
        let count = line
            .strip_prefix("ok ")
            .unwrap_or_else(|| panic!("a booting process failed: {line}"));
        total += count.parse::<usize>().unwrap();
    }
    total
}

/// Starts `count` children in `role` against `db`, lets every one get as far
/// as waiting, releases them at once, and returns how many migrations they
/// applied in all.
fn boot_together(role: &str, db: &Path, count: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let children = spawn_many(&[role], count, db, dir.path(), &go);
    std::thread::sleep(Duration::from_millis(100 + 25 * count as u64));
    std::fs::write(&go, "go").unwrap();
    applied_by(children)
}

/// Starts `count` children, taking turns among `roles`, each waiting for
/// the file `go` before it boots; results go in `dir`.
pub fn spawn_many(
    roles: &[&str],
    count: usize,
    db: impl AsRef<Path>,
    dir: &Path,
    go: &Path,
) -> Vec<(Child, PathBuf)> {
    (0..count)
        .map(|i| {
            let result = dir.join(format!("result-{i}"));
            let role = roles[i % roles.len()];
            let child = spawn(role, db.as_ref(), &result, &[("MIGRATE_IT_GO", go)]);
            (child, result)
        })
        .collect()
}

/// A fleet of `count` processes, taking turns among `roles`, released at
/// once against `db`: how many migrations they applied in all, and how
/// long the last one took from the release.
pub fn fleet(roles: &[&str], db: &Path, count: usize) -> (usize, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let children = spawn_many(roles, count, db, dir.path(), &go);
    // Every child started and waiting (each polls for `go`).
    std::thread::sleep(Duration::from_millis(500 + 40 * count as u64));
    let released = Instant::now();
    std::fs::write(&go, "go").unwrap();
    let applied = applied_by(children);
    (applied, released.elapsed())
}

/// Issue: a release rolled out to 64 instances at once. Exactly one
/// applies each migration; every other waits (polling a local lock file
/// with backoff and jitter) and boots; none reaches the default lock
/// timeout.
#[test]
fn sixty_four_processes_booting_a_release_at_once_on_sqlite() {
    let (_dir, path) = db();
    let (applied, took) = fleet(&["boot-v2"], &path, 64);
    assert_eq!(applied, 5);
    eprintln!("64 processes booted in {took:?} after their release");
    assert!(took < crate::sets::DEFAULT_LOCK_TIMEOUT / 2, "{took:?}");
    assert_eq!(
        history_versions(&open(&path), "migrate_schema_history"),
        [1, 2, 3, 4, 5]
    );
}

/// The fleet on PostgreSQL, sync clients (waiting on the server for the
/// session lock: woken when it is free, no polling) and async ones
/// (polling outside any transaction with backoff and jitter), half each.
/// The server's transaction count for the database bounds the polling.
#[test]
fn sixty_four_processes_booting_a_release_at_once_on_postgres() {
    let Some(url) = crate::postgres::fresh_database() else {
        return;
    };
    crate::postgres::connect(&url)
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .unwrap();
    let before = transactions(&url);
    let (applied, took) = fleet(&["pg-boot-v2", "pg-async-boot-v2"], Path::new(&url), 64);
    assert_eq!(applied, 5);
    let mut client = crate::postgres::connect(&url);
    assert_eq!(
        crate::postgres::versions(&mut client, "migrate_schema_history"),
        [1, 2, 3, 4, 5]
    );
    let seen = transactions(&url) - before;
    let mut calls = |pattern: &str| -> i64 {
        crate::postgres::first_text(
            &mut client,
            &format!(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                 AND query LIKE '{pattern}'"
            ),
        )
        .unwrap()
        .parse()
        .unwrap()
    };
    // The async clients' polls while they wait, and the sync clients'
    // waits on the server.
    let polls = calls("SELECT pg_try_advisory_xact_lock($1)::int");
    let waits = calls("SELECT pg_catalog.pg_advisory_lock($1)");
    eprintln!(
        "64 processes booted in {took:?}; the server saw {seen} transactions, \
         {polls} lock polls (32 async clients) and {waits} lock waits (32 sync clients)"
    );
    assert!(took < crate::sets::DEFAULT_LOCK_TIMEOUT / 2, "{took:?}");
    assert!(
        waits <= 32,
        "{waits} waits: a sync client asked more than once"
    );
    // Backoff from 10 ms to 250 ms: about a dozen polls per client in the
    // first two seconds of waiting, where polling every 25 ms would be 80.
    assert!(
        polls < 32 * 16,
        "{polls} polls: the fleet flooded the server"
    );
}

/// Transactions committed and rolled back in the database of `url`, as
/// the server counts them once the sessions that ran them ended.
pub fn transactions(url: &str) -> i64 {
    let mut client = crate::postgres::connect(url);
    // Statistics arrive when sessions end or go idle: wait until the
    // count holds still.
    let mut last = -1;
    loop {
        std::thread::sleep(Duration::from_millis(600));
        client
            .batch_execute("SELECT pg_stat_clear_snapshot()")
            .unwrap();
        let now: i64 = crate::postgres::first_text(
            &mut client,
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()",
        )
        .unwrap()
        .parse()
        .unwrap();
        if now == last {
            return now;
        }
        last = now;
    }
}

#[test]
fn eight_processes_booting_at_once_apply_each_migration_exactly_once() {
    let (_dir, path) = db();
    // Every migration was applied by exactly one of them.
    assert_eq!(boot_together("boot-v2", &path, 8), 5);
    assert_eq!(
        history_versions(&open(&path), "migrate_schema_history"),
        [1, 2, 3, 4, 5]
    );
}

#[test]
fn eight_threads_with_their_own_connections_all_succeed() {
    let (_dir, path) = db();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || V2.run_pending(&mut open(&path)).map(|r| r.applied.len()))
        })
        .collect();
    let total: usize = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap_or_else(|e| panic!("{e}")))
        .sum();
    assert_eq!(total, 5);
}

pub fn wait_for(path: &Path, child: &mut Child, result: &Path) {
    let start = Instant::now();
    while !path.exists() {
        if child.try_wait().unwrap().is_some() {
            panic!(
                "the child exited early: {}",
                std::fs::read_to_string(result).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the child never got inside its migration"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_process_killed_mid_migration_leaves_a_consistent_database_and_the_next_boot_finishes() {
    let (dir, path) = db();
    let marker = dir.path().join("inside");
    let result = dir.path().join("result");
    let mut child = spawn(
        "slow",
        &path,
        &result,
        &[("MIGRATE_IT_SLOW_MARKER", &marker)],
    );
    wait_for(&marker, &mut child, &result);

    // While it holds the migration lock, others wait and then give up clearly.
    let err = SLOW
        .runner()
        .lock_timeout(Duration::from_millis(200))
        .run_pending(&mut open(&path))
        .unwrap_err();
    match &err {
        Error::LockTimeout { holder, .. } => {
            assert_eq!(
                holder.as_deref(),
                Some(format!("pid {}", child.id()).as_str())
            );
        }
        other => panic!("expected LockTimeout, got {other:?}"),
    }
    assert!(err
        .to_string()
        .contains("waiting for the migration lock on `migrate_schema_history`"));

    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Version 1 stays; nothing of version 2 is left.
    let conn = open(&path);
    assert_eq!(history_versions(&conn, "migrate_schema_history"), [1]);
    assert!(!table_exists(&conn, "filled"));
    drop(conn);

    // The next boot takes the released lock and finishes the job.
    let report = SLOW.run_pending(&mut open(&path)).unwrap();
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [2]
    );
    let rows: i64 = open(&path)
        .query_row("SELECT count(*) FROM filled", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 500);
}

#[test]
fn a_process_killed_inside_a_no_transaction_migration_leaves_it_dirty() {
    let (dir, path) = db();
    let mut child = spawn("no-tx-slow", &path, &dir.path().join("result"), &[]);
    // Wait until version 2 is recorded as in progress and its first statement ran.
    let start = Instant::now();
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child exited early"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the migration never started"
        );
        let conn = open(&path);
        let inside = table_exists(&conn, "backfill_marker")
            && conn
                .query_row(
                    "SELECT count(*) FROM migrate_schema_history WHERE version = 2 AND state = 'in_progress'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap_or(0)
                == 1;
        if inside {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL, mid-statement
    child.wait().unwrap();

    // The next boot refuses to go on, naming the version, until repaired.
    let mut conn = open(&path);
    let err = NO_TX_SLOW.run_pending(&mut conn).unwrap_err();
    assert!(matches!(err, Error::Dirty { version: 2, .. }), "{err}");
    assert!(
        err.to_string().contains("`0002_long_backfill.sql`"),
        "{err}"
    );
    conn.execute("DROP TABLE backfill_marker", []).unwrap();
    NO_TX_SLOW
        .repair(&mut conn, 2, migrate::Repair::Undone)
        .unwrap();
    assert_eq!(history_versions(&conn, "migrate_schema_history"), [1]);
}

#[test]
fn sixteen_processes_booting_at_once_on_postgres() {
    let Some(url) = crate::postgres::fresh_database() else {
        return;
    };
    assert_eq!(boot_together("pg-boot-v2", Path::new(&url), 16), 5);
    let mut client = crate::postgres::connect(&url);
    assert_eq!(
        crate::postgres::versions(&mut client, "migrate_schema_history"),
        [1, 2, 3, 4, 5]
    );
}

#[test]
fn a_process_killed_mid_migration_on_postgres_leaves_no_trace_and_releases_the_lock() {
    killed_mid_migration_on_postgres("pg-slow");
}

#[test]
fn an_async_migrator_killed_mid_migration_leaves_no_trace_and_releases_the_lock() {
    killed_mid_migration_on_postgres("pg-async-slow");
}

/// A child in `role` is SIGKILLed inside migration 2 (a Rust one, running
/// its Tx calls): nothing of it may remain, and the lock must go with it.
fn killed_mid_migration_on_postgres(role: &str) {
    let Some(url) = crate::postgres::fresh_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("inside");
    let result = dir.path().join("result");
    let mut child = spawn(
        role,
        Path::new(&url),
        &result,
        &[("MIGRATE_IT_SLOW_MARKER", &marker)],
    );
    wait_for(&marker, &mut child, &result);
    let err = SLOW
        .runner()
        .lock_timeout(Duration::from_millis(200))
        .run_pending(&mut crate::postgres::connect(&url))
        .unwrap_err();
    let Error::LockTimeout {
        holder: Some(holder),
        ..
    } = &err
    else {
        panic!("expected LockTimeout naming the holder, got {err}");
    };
    let backend: i32 = holder
        .strip_prefix("backend pid ")
        .and_then(|rest| rest.split(',').next())
        .unwrap()
        .parse()
        .unwrap();

    child.kill().unwrap(); // SIGKILL: the server ends its session, rolls back, drops its lock
    child.wait().unwrap();

    // The server notices the dead client on its own time: wait until its
    // backend is gone, then nothing of version 2 may be left.
    let mut client = crate::postgres::connect(&url);
    let start = Instant::now();
    while client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
            &[&backend],
        )
        .unwrap()
        .get::<_, i64>(0)
        > 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the killed session lingers"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        crate::postgres::versions(&mut client, "migrate_schema_history"),
        [1]
    );
    assert!(!crate::postgres::table_exists(&mut client, "filled"));

    // Its lock went with it: the next boot takes it at once and finishes.
    let report = SLOW
        .runner()
        .lock_timeout(Duration::from_secs(1))
        .run_pending(&mut client)
        .unwrap();
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [2]
    );
    let rows: i64 = client
        .query_one("SELECT count(*) FROM filled", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 500, "a partial fill survived the crash");
}

#[test]
fn eight_processes_booting_at_once_on_mysql() {
    let Some(url) = crate::mysql::fresh_database() else {
        return;
    };
    assert_eq!(boot_together("my-boot-v2", Path::new(&url), 8), 5);
    assert_eq!(
        crate::mysql::versions(&mut crate::mysql::connect(&url), "migrate_schema_history"),
        [1, 2, 3, 4, 5]
    );
}

/// A child is SIGKILLed inside a data migration: MySQL rolls its
/// transaction back and releases its `GET_LOCK` with the session.
#[test]
fn a_process_killed_mid_migration_on_mysql_leaves_no_trace_and_releases_the_lock() {
    use migrate::mysql::prelude::Queryable;
    let Some(url) = crate::mysql::fresh_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("inside");
    let result = dir.path().join("result");
    let mut child = spawn(
        "my-slow",
        Path::new(&url),
        &result,
        &[("MIGRATE_IT_SLOW_MARKER", &marker)],
    );
    wait_for(&marker, &mut child, &result);
    let err = MYSQL_SLOW
        .runner()
        .lock_timeout(Duration::from_millis(200))
        .run_pending(&mut crate::mysql::connect(&url))
        .unwrap_err();
    let Error::LockTimeout {
        holder: Some(holder),
        ..
    } = &err
    else {
        panic!("expected LockTimeout naming the holder, got {err}");
    };
    let id: u32 = holder
        .strip_prefix("MySQL connection id ")
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .parse()
        .unwrap();

    child.kill().unwrap();
    child.wait().unwrap();

    // The server notices the closed socket on its own: wait until the
    // session is gone, then nothing of version 2 may be left.
    let mut conn = crate::mysql::connect(&url);
    let start = Instant::now();
    loop {
        let alive: Option<u32> = conn
            .exec_first(
                "SELECT 1 FROM information_schema.processlist WHERE id = ?",
                (id,),
            )
            .unwrap();
        if alive.is_none() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the session outlived its process"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let rows: Option<u64> = conn.query_first("SELECT COUNT(*) FROM filled").unwrap();
    assert_eq!(rows, Some(0));
    assert_eq!(
        crate::mysql::versions(&mut conn, "migrate_schema_history"),
        [1]
    );
    // The lock went with the session: the next run finishes the job.
    assert_eq!(MYSQL_SLOW.run_pending(&mut conn).unwrap().applied.len(), 1);
    let rows: Option<u64> = conn.query_first("SELECT COUNT(*) FROM filled").unwrap();
    assert_eq!(rows, Some(500));
}

/// A child is SIGKILLed between two schema changes of one migration: MySQL
/// has committed the first, so the migration stays recorded in progress,
/// and the next run refuses it, naming the file, until it is repaired.
#[test]
fn a_process_killed_between_two_schema_changes_on_mysql_leaves_it_dirty() {
    let Some(url) = crate::mysql::fresh_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let result = dir.path().join("result");
    let mut child = spawn("my-ddl-slow", Path::new(&url), &result, &[]);
    let mut conn = crate::mysql::connect(&url);
    let start = Instant::now();
    while !crate::mysql::table_exists(&mut conn, "first_half") {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child ended before the pause"
        );
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the migration never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The server finishes the message it had (and then drops the session
    // and its lock); the history still says the migration did not finish.
    let err = MYSQL_DDL_SLOW.run_pending(&mut conn).unwrap_err();
    assert!(
        matches!(&err, Error::Dirty { version: 2, file, .. } if file == "0002_slow.sql"),
        "{err}"
    );
    assert!(err.to_string().contains("repair"), "{err}");
    assert_eq!(
        crate::mysql::versions(&mut conn, "migrate_schema_history"),
        [1, 2]
    );
    MYSQL_DDL_SLOW
        .repair(&mut conn, 2, migrate::Repair::Completed)
        .unwrap();
    assert!(MYSQL_DDL_SLOW
        .run_pending(&mut conn)
        .unwrap()
        .applied
        .is_empty());
}
