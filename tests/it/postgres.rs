//! The runtime on a real PostgreSQL server: every SQLite behaviour, plus the
//! advisory lock, schema-qualified tables and independent sets. Each test
//! creates its own database, so they run in parallel.
//!
//! The server comes from `MIGRATE_TEST_POSTGRES_URL`, which `scripts/test`
//! (through `scripts/with-postgres`) sets. With `CI=true` a missing server
//! fails these tests; elsewhere they say they were skipped.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use migrate::postgres::{Client, NoTls};
use migrate::{Cleanup, Error, Repair, State};

use crate::sets::*;

/// A fresh database on the test server, or `None` (with a notice) when there
/// is no server outside CI.
pub fn fresh_database() -> Option<String> {
    let Ok(server) = std::env::var("MIGRATE_TEST_POSTGRES_URL") else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "PostgreSQL is required in CI but MIGRATE_TEST_POSTGRES_URL is not set; \
                 run the suite through ./scripts/test"
            );
        }
        eprintln!(
            "skipped: no PostgreSQL server (run through ./scripts/test or scripts/with-postgres)"
        );
        return None;
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "migrate_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = Client::connect(&server, NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

pub fn connect(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap()
}

pub fn versions(client: &mut Client, table: &str) -> Vec<u64> {
    client
        .query(
            &format!("SELECT version FROM {table} ORDER BY version"),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, i64>(0) as u64)
        .collect()
}

pub fn table_exists(client: &mut Client, name: &str) -> bool {
    client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .unwrap()
        .get(0)
}

const HISTORY: &str = "migrate_schema_history";

macro_rules! database {
    () => {
        match fresh_database() {
            Some(url) => url,
            None => return,
        }
    };
}

#[test]
fn applies_everything_then_nothing_and_runs_rust_migrations() {
    let url = database!();
    let mut client = connect(&url);
    let report = V2.run_pending(&mut client).unwrap();
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(versions(&mut client, HISTORY), [1, 2, 3, 4, 5]);
    // The Rust migration ran through Tx with $N placeholders on PostgreSQL.
    let names: Vec<String> = client
        .query("SELECT name FROM items ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, ["widget", "gadget"]);
    let again = V2.run_pending(&mut connect(&url)).unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.version, 5);
    // The example set too (BIGINT ids, a Rust backfill).
    let url = database!();
    assert_eq!(
        EXAMPLE
            .run_pending(&mut connect(&url))
            .unwrap()
            .applied
            .len(),
        4
    );
}

#[test]
fn run_to_rollback_to_status_plan() {
    let url = database!();
    let mut client = connect(&url);
    assert_eq!(V2.plan(&mut client).unwrap().len(), 5);
    assert!(
        !table_exists(&mut client, HISTORY),
        "plan created the history table"
    );
    V2.run_to(&mut client, 3).unwrap();
    assert_eq!(V2.plan(&mut client).unwrap().len(), 2);
    let states: Vec<State> = V2
        .status(&mut client)
        .unwrap()
        .iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(
        states,
        [
            State::Applied,
            State::Applied,
            State::Applied,
            State::Pending,
            State::Pending
        ]
    );
    V2.run_pending(&mut client).unwrap();
    let report = V2.rollback_to(&mut client, 1).unwrap();
    assert_eq!(
        report
            .reverted
            .iter()
            .map(|a| a.version)
            .collect::<Vec<_>>(),
        [5, 4, 3, 2]
    );
    assert_eq!(versions(&mut client, HISTORY), [1]);
    assert!(!table_exists(&mut client, "orders"));

    let url = database!();
    let mut client = connect(&url);
    IRREVERSIBLE.run_pending(&mut client).unwrap();
    let err = IRREVERSIBLE.rollback_to(&mut client, 0).unwrap_err();
    assert!(
        matches!(err, Error::Irreversible { version: 2, .. }),
        "{err}"
    );
    assert_eq!(
        versions(&mut client, HISTORY),
        [1, 2, 3],
        "nothing may be reverted"
    );
}

#[test]
fn a_failing_migration_carries_the_server_message_and_position() {
    let url = database!();
    let mut client = connect(&url);
    let err = FAILING.run_pending(&mut client).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Failed {
                version: 3,
                cleanup: Cleanup::RolledBack,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("ERROR: relation \"no_such_table\" does not exist (line 2, column 13)"),
        "{message}"
    );
    assert!(!table_exists(&mut client, "half_done"));
    assert_eq!(versions(&mut client, HISTORY), [1, 2]);
    assert_eq!(FIXED.run_pending(&mut client).unwrap().applied.len(), 1);

    let url = database!();
    let err = RUST_FAILS.run_pending(&mut connect(&url)).unwrap_err();
    assert!(err.to_string().contains("items must not be empty"), "{err}");
    assert!(!table_exists(&mut connect(&url), "audit"));
}

#[test]
fn drift_future_versions_and_out_of_order() {
    let url = database!();
    let mut client = connect(&url);
    V1.run_to(&mut client, 2).unwrap();
    assert!(matches!(
        EDITED.run_pending(&mut client),
        Err(Error::ChecksumMismatch {
            version: 2,
            whitespace_only: false,
            ..
        })
    ));
    assert!(matches!(
        WHITESPACE.run_pending(&mut client),
        Err(Error::ChecksumMismatch {
            version: 2,
            whitespace_only: true,
            ..
        })
    ));
    assert_eq!(versions(&mut client, HISTORY), [1, 2]);

    V2.run_pending(&mut client).unwrap();
    assert_eq!(V1.run_pending(&mut client).unwrap().future_versions, [4, 5]);
    assert!(matches!(
        V1.runner().strict(true).run_pending(&mut client),
        Err(Error::FutureVersions { .. })
    ));

    let url = database!();
    let mut client = connect(&url);
    V2.run_to(&mut client, 4).unwrap();
    client.batch_execute("DELETE FROM migrate_schema_history WHERE version = 2; ALTER TABLE items DROP COLUMN price").unwrap();
    assert!(matches!(
        V2.run_pending(&mut client),
        Err(Error::OutOfOrder {
            version: 2,
            highest_applied: 4,
            ..
        })
    ));
    let report = V2
        .runner()
        .allow_out_of_order(true)
        .run_pending(&mut client)
        .unwrap();
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [2, 5]
    );
}

#[test]
fn create_index_concurrently_runs_outside_a_transaction() {
    let url = database!();
    let mut client = connect(&url);
    assert_eq!(
        PG_CONCURRENTLY
            .run_pending(&mut client)
            .unwrap()
            .applied
            .len(),
        2
    );
    assert!(table_exists(&mut client, "items_by_name"));
    PG_CONCURRENTLY.rollback_to(&mut client, 1).unwrap();
    assert!(!table_exists(&mut client, "items_by_name"));
}

#[test]
fn a_failed_no_transaction_migration_is_dirty_until_repaired() {
    let url = database!();
    let mut client = connect(&url);
    let err = NO_TX_FAILS.run_pending(&mut client).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Failed {
                version: 2,
                cleanup: Cleanup::LeftDirty,
                ..
            }
        ),
        "{err}"
    );
    let err = NO_TX_FAILS.run_pending(&mut connect(&url)).unwrap_err();
    assert!(matches!(err, Error::Dirty { version: 2, .. }), "{err}");
    client
        .batch_execute("CREATE TABLE missing (id INTEGER)")
        .unwrap();
    NO_TX_FAILS
        .repair(&mut client, 2, Repair::Completed)
        .unwrap();
    let report = NO_TX_FAILS.run_pending(&mut client).unwrap();
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [3]
    );
}

#[test]
fn grouped_mode_and_baseline() {
    let url = database!();
    let mut client = connect(&url);
    let err = FAILING
        .runner()
        .grouped(true)
        .run_pending(&mut client)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Failed {
                cleanup: Cleanup::GroupRolledBack,
                ..
            }
        ),
        "{err}"
    );
    assert!(!table_exists(&mut client, "items"));
    assert_eq!(
        V2.runner()
            .grouped(true)
            .run_pending(&mut client)
            .unwrap()
            .applied
            .len(),
        5
    );

    let url = database!();
    let mut client = connect(&url);
    client
        .batch_execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER NOT NULL DEFAULT 0)")
        .unwrap();
    V2.baseline(&mut client, 2).unwrap();
    assert!(matches!(
        V2.baseline(&mut client, 2),
        Err(Error::HistoryNotEmpty { rows: 2, .. })
    ));
    assert_eq!(V2.run_pending(&mut client).unwrap().applied.len(), 3);
}

#[test]
fn a_schema_qualified_history_table() {
    let url = database!();
    let mut client = connect(&url);
    PG_SCHEMA_TABLE.run_pending(&mut client).unwrap();
    assert_eq!(versions(&mut client, "app.schema_history"), [1, 2, 3]);
    assert!(!table_exists(&mut client, HISTORY));
    assert!(PG_SCHEMA_TABLE
        .run_pending(&mut client)
        .unwrap()
        .applied
        .is_empty());
}

#[test]
fn independent_sets_keep_independent_histories() {
    let url = database!();
    let mut client = connect(&url);
    V1.run_pending(&mut client).unwrap();
    PLUGIN.run_pending(&mut client).unwrap();
    assert_eq!(versions(&mut client, HISTORY), [1, 2, 3]);
    assert_eq!(versions(&mut client, "billing_schema_history"), [1, 2]);
    // Neither sees the other's rows as future versions.
    assert!(V1
        .run_pending(&mut client)
        .unwrap()
        .future_versions
        .is_empty());
    assert!(PLUGIN
        .run_pending(&mut client)
        .unwrap()
        .future_versions
        .is_empty());
}

#[test]
fn sixteen_threads_booting_at_once() {
    let url = database!();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut client = connect(&url);
                barrier.wait();
                V2.run_pending(&mut client).map(|r| r.applied.len())
            })
        })
        .collect();
    let total: usize = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap_or_else(|e| panic!("{e}")))
        .sum();
    assert_eq!(total, 5);
    assert_eq!(versions(&mut connect(&url), HISTORY), [1, 2, 3, 4, 5]);
}

#[test]
fn the_lock_times_out_clearly_and_other_sets_are_not_blocked() {
    let url = database!();
    let mut holder = connect(&url);
    // Hold the history table's lock as a running migrator would.
    V1.run_pending(&mut holder).unwrap();
    let mut other = connect(&url);
    let key_sql = "SELECT pg_advisory_lock(('x' || substr(encode(sha256('migrate:public.migrate_schema_history'::bytea), 'hex'), 1, 16))::bit(64)::bigint)";
    holder.batch_execute(key_sql).unwrap();
    let err = V2
        .runner()
        .lock_timeout(Duration::from_millis(300))
        .run_pending(&mut other)
        .unwrap_err();
    let holder_pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    match &err {
        Error::LockTimeout { table, holder, .. } => {
            assert_eq!(table, "public.migrate_schema_history");
            assert_eq!(
                holder.as_deref(),
                Some(format!("pid {holder_pid}").as_str())
            );
        }
        other => panic!("expected LockTimeout, got {other:?}"),
    }
    // Another set, with its own table, is not blocked.
    PLUGIN
        .runner()
        .lock_timeout(Duration::from_millis(300))
        .run_pending(&mut other)
        .unwrap();
    // A closed session releases its lock: the waiting migrator goes through.
    drop(holder);
    assert_eq!(V2.run_pending(&mut other).unwrap().applied.len(), 2);
}
