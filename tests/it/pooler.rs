//! Beyond one server: PgBouncer in transaction and session mode in front of
//! the test server, and a streaming replica of it (`scripts/with-postgres`
//! starts all three). Each test creates its own database on the primary and
//! reaches it through the pooler or the replica.
//!
//! With `CI=true` a missing PgBouncer or replica fails these tests;
//! elsewhere they say they were skipped.

use std::path::Path;
use std::time::{Duration, Instant};

use migrate::postgres::Client;
use migrate::{Database, Driver, Error, LockStrategy, Tx, Value};

use crate::postgres::{connect, first_text, fresh_database, table_exists, versions};
use crate::processes::{applied_by, spawn, spawn_many, wait_for};
use crate::sets::{NO_TX, SLOW, V1, V2};

const HISTORY: &str = "migrate_schema_history";

/// The URL of `database` (a URL on the primary) through the server the
/// environment variable `var` names, or `None` (with a notice) outside CI.
fn through(var: &str, database: &str) -> Option<String> {
    let Ok(base) = std::env::var(var) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{var} is required in CI; run the suite through ./scripts/test"
        );
        eprintln!(
            "skipped: {var} is not set (run through ./scripts/test or scripts/with-postgres)"
        );
        return None;
    };
    let (base, _) = base.rsplit_once('/').unwrap();
    let (_, name) = database.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

/// A fresh database, and its URL through `var`'s server.
fn fresh_through(var: &str) -> Option<(String, String)> {
    let direct = fresh_database()?;
    let via = through(var, &direct)?;
    Some((direct, via))
}

const TRANSACTION_POOLER: &str = "MIGRATE_TEST_PGBOUNCER_URL";
const SESSION_POOLER: &str = "MIGRATE_TEST_PGBOUNCER_SESSION_URL";
const REPLICA: &str = "MIGRATE_TEST_POSTGRES_REPLICA_URL";

fn pooler_runner(set: &'static migrate::Migrations) -> migrate::Runner<'static> {
    set.runner().lock_strategy(LockStrategy::TransactionPooler)
}

/// Starts `count` processes booting V2 through the pooler `url`, taking
/// turns among `roles`, all at once; how many migrations they applied.
fn boot_through(roles: &[&str], url: &str, count: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let children = spawn_many(roles, count, Path::new(url), dir.path(), &go);
    std::thread::sleep(Duration::from_millis(100 + 25 * count as u64));
    std::fs::write(&go, "go").unwrap();
    applied_by(children)
}

/// PgBouncer in transaction mode gives each transaction to any of its four
/// server connections: sixteen processes, sync and async, each migration
/// applied once, every process Ok.
#[test]
fn sixteen_processes_through_pgbouncer_in_transaction_mode_apply_each_migration_once() {
    let Some((direct, via)) = fresh_through(TRANSACTION_POOLER) else {
        return;
    };
    let roles = ["pgb-pooler-v2", "pgb-async-pooler-v2"];
    assert_eq!(boot_through(&roles, &via, 16), 5);
    let mut client = connect(&direct);
    assert_eq!(versions(&mut client, HISTORY), [1, 2, 3, 4, 5]);
    // Nothing of the runs is left in any server session of the pool.
    assert_no_prepared_statements_left(&direct);
}

/// In session mode a client keeps its server session: the clients'
/// default strategies are correct there.
#[test]
fn sixteen_processes_through_pgbouncer_in_session_mode_apply_each_migration_once() {
    let Some((direct, via)) = fresh_through(SESSION_POOLER) else {
        return;
    };
    let roles = ["pgb-session-v2", "pgb-async-session-v2"];
    assert_eq!(boot_through(&roles, &via, 16), 5);
    let mut client = connect(&direct);
    assert_eq!(versions(&mut client, HISTORY), [1, 2, 3, 4, 5]);
}

/// The pooler's server sessions, seen through it: none holds a prepared
/// statement (a named one left behind would collide with the next client's
/// of the same name there). `pg_prepared_statements` is per session: four
/// clients in open transactions at once hold the pool's four sessions.
fn assert_no_prepared_statements_left(direct: &str) {
    let via = through(TRANSACTION_POOLER, direct).unwrap();
    let mut clients: Vec<Client> = (0..4).map(|_| connect(&via)).collect();
    let seen: Vec<Option<String>> = clients
        .iter_mut()
        .map(|c| {
            c.batch_execute("BEGIN").unwrap();
            crate::postgres::first_text(
                c,
                "SELECT pg_backend_pid() || ': ' || count(*) || ' ' \
                 || coalesce(string_agg(statement, '; '), '') FROM pg_prepared_statements",
            )
        })
        .collect();
    let mut sessions: Vec<&str> = seen
        .iter()
        .map(|s| s.as_deref().unwrap().split(':').next().unwrap())
        .collect();
    sessions.dedup();
    assert_eq!(
        sessions.len(),
        4,
        "not every pooled session was seen: {seen:?}"
    );
    assert!(
        seen.iter().all(|s| s.as_deref().unwrap().ends_with(": 0 ")),
        "prepared statements left in pooled sessions: {seen:?}"
    );
}

/// A migrator SIGKILLed inside a migration behind the pooler: PgBouncer
/// drops the server session it was in, which rolls back and lets go of the
/// transaction's lock; the next run proceeds at once.
#[test]
fn a_migrator_killed_behind_the_transaction_pooler_leaves_no_trace() {
    let Some((direct, via)) = fresh_through(TRANSACTION_POOLER) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("inside");
    let result = dir.path().join("result");
    let mut child = spawn(
        "pgb-pooler-slow",
        Path::new(&via),
        &result,
        &[("MIGRATE_IT_SLOW_MARKER", &marker)],
    );
    wait_for(&marker, &mut child, &result);
    child.kill().unwrap();
    child.wait().unwrap();

    let mut client = connect(&direct);
    let start = Instant::now();
    while crate::postgres::first_text(
        &mut client,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'",
    )
    .as_deref()
        != Some("0")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the killed migrator's lock lingers"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(versions(&mut client, HISTORY), [1]);
    assert!(!table_exists(&mut client, "filled"));

    let mut pooled = connect(&via);
    let report = pooler_runner(&SLOW)
        .lock_timeout(Duration::from_secs(5))
        .run_pending(&mut pooled)
        .unwrap();
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [2]
    );
    let rows = crate::postgres::first_text(&mut client, "SELECT count(*) FROM filled");
    assert_eq!(rows.as_deref(), Some("500"));
}

/// Boot with nothing pending through the pooler: one statement, sync and
/// async, whatever the strategy.
#[test]
fn boot_through_the_transaction_pooler_with_nothing_pending() {
    let Some((direct, via)) = fresh_through(TRANSACTION_POOLER) else {
        return;
    };
    let mut pooled = connect(&via);
    assert_eq!(
        pooler_runner(&V2)
            .run_pending(&mut pooled)
            .unwrap()
            .applied
            .len(),
        5
    );
    for _ in 0..3 {
        let report = pooler_runner(&V2).run_pending(&mut pooled).unwrap();
        assert!(report.applied.is_empty());
        assert_eq!(report.version, 5);
        // The boot check alone is one simple-query statement, whatever
        // the strategy.
        assert!(V2.run_pending(&mut pooled).unwrap().applied.is_empty());
        assert_eq!(pooler_runner(&V2).status(&mut pooled).unwrap().len(), 5);
        assert!(pooler_runner(&V2).plan(&mut pooled).unwrap().is_empty());
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = crate::postgres_async::connect_async(&via).await;
        let report = pooler_runner(&V2)
            .run_pending_async(&mut client)
            .await
            .unwrap();
        assert!(report.applied.is_empty());
        assert!(V2
            .run_pending_async(&mut client)
            .await
            .unwrap()
            .applied
            .is_empty());
    });
    assert_no_prepared_statements_left(&direct);
}

/// Reverting through the pooler, statement by statement where a Rust
/// migration is among them, keeps no state in the pooled sessions either.
#[test]
fn rollback_and_reapply_through_the_transaction_pooler() {
    let Some((direct, via)) = fresh_through(TRANSACTION_POOLER) else {
        return;
    };
    let mut pooled = connect(&via);
    pooler_runner(&V1).run_pending(&mut pooled).unwrap();
    let report = pooler_runner(&V1).rollback_steps(&mut pooled, 3).unwrap();
    assert_eq!(report.reverted.len(), 3);
    let report = pooler_runner(&V1)
        .grouped(true)
        .run_pending(&mut pooled)
        .unwrap();
    assert_eq!(report.applied.len(), 3);
    let mut client = connect(&direct);
    assert_eq!(versions(&mut client, HISTORY), [1, 2, 3]);
    assert_no_prepared_statements_left(&direct);
}

/// Nothing can hold the lock across a no-transaction migration through a
/// transaction pooler: refused before anything runs, naming the file and
/// what to do.
#[test]
fn a_no_transaction_migration_through_the_transaction_pooler_is_refused_up_front() {
    let Some((direct, via)) = fresh_through(TRANSACTION_POOLER) else {
        return;
    };
    let mut pooled = connect(&via);
    let err = pooler_runner(&NO_TX).run_pending(&mut pooled).unwrap_err();
    let Error::NeedsSession { version, file } = &err else {
        panic!("expected NeedsSession, got {err}");
    };
    assert_eq!((*version, file.as_str()), (2, "0002_vacuum.sql"));
    let message = err.to_string();
    assert!(
        message.contains("LockStrategy::TransactionPooler"),
        "{message}"
    );
    assert!(message.contains("direct connection"), "{message}");
    let mut client = connect(&direct);
    assert!(
        versions(&mut client, HISTORY).is_empty(),
        "applied before refusing"
    );

    // Over a direct connection it applies; the pooler then boots.
    NO_TX.run_pending(&mut client).unwrap();
    let report = pooler_runner(&NO_TX).run_pending(&mut pooled).unwrap();
    assert!(report.applied.is_empty());
}

/// The replica has replayed everything the primary wrote so far.
fn caught_up(primary: &mut Client, replica_url: &str) -> Client {
    let lsn = crate::postgres::first_text(primary, "SELECT pg_current_wal_lsn()::text").unwrap();
    let start = Instant::now();
    loop {
        if let Ok(mut replica) =
            migrate::postgres::Client::connect(replica_url, migrate::postgres::NoTls)
        {
            let replayed = crate::postgres::first_text(
                &mut replica,
                &format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"),
            );
            if replayed.as_deref() == Some("t") {
                return replica;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the replica did not catch up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An app instance on a hot standby: with nothing pending it boots without
/// writing (a standby cannot); with something pending it is told the
/// database is read-only and to migrate the primary first; an older binary
/// boots and reports the versions it does not know.
#[test]
fn booting_on_a_streaming_replica() {
    let Some((direct, replica_url)) = fresh_through(REPLICA) else {
        return;
    };
    let mut primary = connect(&direct);
    V1.run_pending(&mut primary).unwrap();
    let mut replica = caught_up(&mut primary, &replica_url);
    assert_eq!(
        crate::postgres::first_text(&mut replica, "SELECT pg_is_in_recovery()").as_deref(),
        Some("t")
    );

    // Nothing pending: Ok, for the sync client and the async one.
    let report = V1.run_pending(&mut replica).unwrap();
    assert!(report.applied.is_empty());
    assert_eq!(report.version, 3);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = crate::postgres_async::connect_async(&replica_url).await;
        assert!(V1
            .run_pending_async(&mut client)
            .await
            .unwrap()
            .applied
            .is_empty());
    });

    // Pending: refused as read-only, nothing attempted.
    for strategy in [LockStrategy::Session, LockStrategy::Transaction] {
        let err = V2
            .runner()
            .lock_strategy(strategy)
            .run_pending(&mut replica)
            .unwrap_err();
        let Error::ReadOnly { table, versions } = &err else {
            panic!("expected ReadOnly, got {err:?}");
        };
        assert_eq!(table, "public.migrate_schema_history");
        assert_eq!(versions, &[4, 5]);
        let message = err.to_string();
        assert!(message.contains("read-only"), "{message}");
        assert!(message.contains("primary"), "{message}");
    }
    runtime.block_on(async {
        let mut client = crate::postgres_async::connect_async(&replica_url).await;
        let err = V2.run_pending_async(&mut client).await.unwrap_err();
        assert!(matches!(err, Error::ReadOnly { .. }), "{err}");
    });

    // The primary migrated by a newer release; this older binary's replica boots.
    V2.run_pending(&mut primary).unwrap();
    let mut replica = caught_up(&mut primary, &replica_url);
    let report = V1.run_pending(&mut replica).unwrap();
    assert!(report.applied.is_empty());
    assert_eq!(report.future_versions, [4, 5]);
    assert!(V2.run_pending(&mut replica).unwrap().applied.is_empty());
}

/// A replica whose history table does not exist yet (the primary was never
/// migrated): read-only, not "cannot create the history table".
#[test]
fn a_replica_of_a_never_migrated_primary_says_so() {
    let Some((direct, replica_url)) = fresh_through(REPLICA) else {
        return;
    };
    let mut primary = connect(&direct);
    let mut replica = caught_up(&mut primary, &replica_url);
    let err = V1.run_pending(&mut replica).unwrap_err();
    let Error::ReadOnly { versions, .. } = &err else {
        panic!("expected ReadOnly, got {err:?}");
    };
    assert_eq!(versions, &[1, 2, 3]);
    assert!(V1
        .status(&mut replica)
        .unwrap()
        .iter()
        .all(|s| s.state == migrate::State::Pending));
}

/// The body of a child process started by the tests above, in `role`
/// (`processes::child_process_entry` strips its `pgb-` prefix), against
/// `url` through a pooler.
pub fn child(role: &str, url: &str) -> migrate::Result<migrate::Report> {
    let (asynchronous, role) = match role.strip_prefix("async-") {
        Some(role) => (true, role),
        None => (false, role),
    };
    let runner = match role {
        "pooler-v2" => pooler_runner(&V2),
        "session-v2" => V2.runner(),
        "pooler-slow" => pooler_runner(&SLOW),
        other => panic!("unknown child role pgb-{other}"),
    };
    if !asynchronous {
        return runner.run_pending(&mut connect(url));
    }
    // The async client, on a multi-thread runtime as services run.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = crate::postgres_async::connect_async(url).await;
        runner.run_pending_async(&mut client).await
    })
}

fn execute_a_statement_that_is_not_there(tx: &mut dyn migrate::Tx) -> migrate::Result<()> {
    tx.batch("EXECUTE migrate_no_such_statement")
}

/// A prepared statement missing from the server session — what the
/// default strategies meet behind a transaction pooler, where another
/// session answers — says what is likely between, and the option.
#[test]
fn a_missing_prepared_statement_names_the_transaction_pooler_option() {
    use migrate::__private::Migration;
    let Some(url) = fresh_database() else {
        return;
    };
    let set = crate::sets::leaked(vec![Migration::__new(
        1,
        "execute",
        "0001_execute.rs",
        Migration::__rust(execute_a_statement_that_is_not_there),
        crate::sets::placeholder_sums(),
    )]);
    let err = set.run_pending(&mut connect(&url)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("prepared statement \"migrate_no_such_statement\" does not exist"),
        "{message}"
    );
    assert!(
        message.contains("is a pooler in transaction mode (PgBouncer's `pool_mode = transaction`) between? Use `LockStrategy::TransactionPooler` (`--lock-strategy pooler`)"),
        "{message}"
    );
}

/// What `sql` with `values` does through a driver with and without the
/// transaction pooler strategy: the text stored (or the error kind).
fn both_ways(url: &str, column: &str, value: Value) -> (String, String) {
    let mut out = Vec::new();
    for pooled in [false, true] {
        let mut client = connect(url);
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS v; CREATE TABLE v (c {column})"
            ))
            .unwrap();
        let mut d = client.driver();
        if pooled {
            d.set_lock_strategy(LockStrategy::TransactionPooler);
        }
        let r = d.execute(
            "INSERT INTO v (c) VALUES ($1)",
            std::slice::from_ref(&value),
        );
        drop(d);
        out.push(match r {
            Ok(_) => format!("ok {:?}", first_text(&mut client, "SELECT c::text FROM v")),
            Err(e) => format!("err {}", e.to_string().chars().take(70).collect::<String>()),
        });
    }
    (out.remove(0), out.remove(0))
}

/// FINDING: a Rust migration's `Tx::execute` binds values differently
/// through the transaction pooler (text, typed `unknown`) than over a
/// direct connection (binary, per the inferred type): the same migration
/// succeeds on one and fails (or stores something else) on the other.
#[test]
fn values_bind_alike_with_and_without_the_pooler_strategy() {
    let Some(url) = fresh_database() else { return };
    let cases: Vec<(&str, Value)> = vec![
        ("boolean", Value::Integer(2)),
        ("boolean", Value::Integer(1)),
        ("numeric", Value::Integer(5)),
        ("numeric", Value::Real(1.5)),
        ("double precision", Value::Real(f64::NAN)),
        ("double precision", Value::Real(f64::INFINITY)),
        ("double precision", Value::Real(1e300)),
        ("real", Value::Real(0.1)),
        ("integer", Value::Text("42".into())),
        ("integer", Value::Real(2.0)),
        ("text", Value::Blob(vec![1, 2])),
        ("integer", Value::Blob(vec![1, 2])),
        ("text", Value::Real(0.1)),
        ("bytea", Value::Text("abc".into())),
        ("bytea", Value::Blob(vec![0, 255])),
        ("jsonb", Value::Text("{\"a\":1}".into())),
        ("json", Value::Text("{\"a\":1}".into())),
        (
            "uuid",
            Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
        ),
        ("timestamptz", Value::Text("2024-01-01 00:00:00+00".into())),
        ("smallint", Value::Integer(70_000)),
        ("text", Value::Null),
    ];
    let mut differ = Vec::new();
    for (column, value) in cases {
        let (direct, pooled) = both_ways(&url, column, value.clone());
        // Both may fail, each in its own words (one before sending).
        let same = direct == pooled || (direct.starts_with("err") && pooled.starts_with("err"));
        if !same {
            differ.push(format!(
                "{column} <- {value:?}: direct {direct} | pooler {pooled}"
            ));
        }
    }
    assert!(differ.is_empty(), "\n{}", differ.join("\n"));
}

/// FINDING: through the pooler a Rust migration's query over a column of
/// a type that is not built in (an enum, citext, ...) makes the client
/// look the type up with a *named* prepared statement, left in the pooled
/// server session (PgBouncer 1.18 does not track them).
#[test]
fn a_custom_type_column_leaves_no_named_statement_with_the_pooler_strategy() {
    let Some(url) = fresh_database() else { return };
    let mut client = connect(&url);
    client
        .batch_execute(
            "CREATE TYPE mood AS ENUM ('ok'); CREATE TABLE m (x mood); INSERT INTO m VALUES ('ok')",
        )
        .unwrap();
    let mut d = client.driver();
    d.set_lock_strategy(LockStrategy::TransactionPooler);
    let _ = d.execute("UPDATE m SET x = 'ok' RETURNING x", &[]);
    drop(d);
    assert_eq!(
        first_text(
            &mut client,
            "SELECT count(*) || ' ' || coalesce(string_agg(name || '=' || statement, '; '), '') \
             FROM pg_prepared_statements"
        )
        .as_deref(),
        Some("0 ")
    );
}

/// Through the transaction pooler: rollback, repair and status leave no
/// prepared statements; a role statement_timeout does not cut the lock wait.
#[test]
fn every_operation_through_the_pooler_leaves_no_statements() {
    let Some(direct) = fresh_database() else {
        return;
    };
    let Some(via) = through(TRANSACTION_POOLER, &direct) else {
        return;
    };
    let mut pooled = connect(&via);
    let r = V1.runner().lock_strategy(LockStrategy::TransactionPooler);
    r.run_pending(&mut pooled).unwrap();
    r.status(&mut pooled).unwrap();
    r.plan(&mut pooled).unwrap();
    r.rollback_steps(&mut pooled, 1).unwrap();
    r.run_pending(&mut pooled).unwrap();
    let mut clients: Vec<Client> = (0..4).map(|_| connect(&via)).collect();
    let seen: Vec<String> = clients
        .iter_mut()
        .map(|c| {
            c.batch_execute("BEGIN").unwrap();
            first_text(
                c,
                "SELECT pg_backend_pid() || ' ' || count(*) FROM pg_prepared_statements",
            )
            .unwrap()
        })
        .collect();
    assert!(seen.iter().all(|s| s.ends_with(" 0")), "{seen:?}");
    assert_eq!(versions(&mut connect(&direct), HISTORY), [1, 2, 3]);
}
