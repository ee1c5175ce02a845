//! The runtime on SQLite files: applying, failing, drifting, rolling back,
//! adopting — each test on its own database file.

use std::path::{Path, PathBuf};

use migrate::rusqlite::Connection;
use migrate::{Cleanup, Error, MigrationKind, Repair, State};

use crate::logger;
use crate::sets::*;

/// A fresh database file in its own directory.
pub fn db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    (dir, path)
}

pub fn open(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

pub fn history_versions(conn: &Connection, table: &str) -> Vec<u64> {
    let mut stmt = conn
        .prepare(&format!("SELECT version FROM {table} ORDER BY version"))
        .unwrap();
    stmt.query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|v| v.unwrap() as u64)
        .collect()
}

fn user_version(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

pub fn table_exists(conn: &Connection, name: &str) -> bool {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

const HISTORY: &str = "migrate_schema_history";

#[test]
fn applies_everything_in_order_then_nothing() {
    logger::init();
    let (_dir, path) = db();
    let mut conn = open(&path);
    let report = V2.run_pending(&mut conn).unwrap();
    let versions: Vec<u64> = report.applied.iter().map(|a| a.version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    assert_eq!(report.applied[2].file_name, "0003_seed_items.rs");
    assert_eq!(report.version, 5);
    assert_eq!(history_versions(&conn, HISTORY), [1, 2, 3, 4, 5]);
    assert_eq!(user_version(&conn), 5);
    // The Rust migration ran through Tx with $N placeholders.
    let names: Vec<String> = conn
        .prepare("SELECT name FROM items ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(names, ["widget", "gadget"]);
    // One log line per migration, with its time.
    assert!(!logger::lines(
        log::Level::Info,
        "applied migration 3 (0003_seed_items.rs) in "
    )
    .is_empty());

    // A new connection (a new boot) finds nothing to do.
    drop(conn);
    let mut conn = open(&path);
    let again = V2.run_pending(&mut conn).unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.version, 5);
}

#[test]
fn history_rows_record_what_was_applied() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    V1.run_pending(&mut conn).unwrap();
    let (name, kind, checksum, chained, state, applied_at): (String, String, String, String, String, String) = conn
        .query_row(
            "SELECT name, kind, checksum, chained_checksum, state, applied_at FROM migrate_schema_history WHERE version = 3",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .unwrap();
    let m = V1.get(3).unwrap();
    assert_eq!(
        (
            name.as_str(),
            kind.as_str(),
            checksum.as_str(),
            chained.as_str(),
            state.as_str()
        ),
        (
            "seed_items",
            "rust",
            m.checksum(),
            m.chained_checksum(),
            "applied"
        )
    );
    assert_eq!(m.kind(), MigrationKind::Rust);
    assert!(
        applied_at.ends_with('Z') && applied_at.contains('T'),
        "{applied_at}"
    );
}

#[test]
fn upgrading_applies_only_the_new_migrations() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    V1.run_pending(&mut conn).unwrap();
    let report = V2.run_pending(&mut conn).unwrap();
    let versions: Vec<u64> = report.applied.iter().map(|a| a.version).collect();
    assert_eq!(versions, [4, 5]);
}

#[test]
fn run_to_stops_at_the_version() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    assert_eq!(V2.run_to(&mut conn, 2).unwrap().applied.len(), 2);
    assert_eq!(history_versions(&conn, HISTORY), [1, 2]);
    assert_eq!(user_version(&conn), 2);
    assert_eq!(V2.run_to(&mut conn, 4).unwrap().applied.len(), 2);
    assert!(matches!(
        V2.run_to(&mut conn, 9),
        Err(Error::UnknownVersion {
            version: 9,
            latest_known: 5
        })
    ));
}

#[test]
fn rollback_to_reverts_newest_first() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    V2.run_pending(&mut conn).unwrap();
    let report = V2.rollback_to(&mut conn, 2).unwrap();
    let versions: Vec<u64> = report.reverted.iter().map(|a| a.version).collect();
    assert_eq!(versions, [5, 4, 3]);
    assert_eq!(report.version, 2);
    assert_eq!(history_versions(&conn, HISTORY), [1, 2]);
    assert_eq!(user_version(&conn), 2);
    assert!(!table_exists(&conn, "orders"));
    // The Rust down step ran: the seeded rows are gone.
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
    // And up again.
    assert_eq!(V2.run_pending(&mut conn).unwrap().applied.len(), 3);
    V2.rollback_to(&mut conn, 0).unwrap();
    assert!(history_versions(&conn, HISTORY).is_empty());
    assert!(!table_exists(&conn, "items"));
}

#[test]
fn rollback_without_a_down_changes_nothing() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    IRREVERSIBLE.run_pending(&mut conn).unwrap();
    let err = IRREVERSIBLE.rollback_to(&mut conn, 0).unwrap_err();
    assert!(
        matches!(err, Error::Irreversible { version: 2, .. }),
        "{err}"
    );
    // Version 3 had a down step, but nothing was reverted.
    assert_eq!(history_versions(&conn, HISTORY), [1, 2, 3]);
    assert!(table_exists(&conn, "tags"));
    // Rolling back to 2 needs only 3's down.
    IRREVERSIBLE.rollback_to(&mut conn, 2).unwrap();
    assert_eq!(history_versions(&conn, HISTORY), [1, 2]);
}

#[test]
fn status_and_plan() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    // Before anything: all pending, and no table is created by looking.
    let status = V2.status(&mut conn).unwrap();
    assert!(status.iter().all(|s| s.state == State::Pending));
    assert!(!table_exists(&conn, HISTORY));
    assert_eq!(V2.plan(&mut conn).unwrap().len(), 5);

    V1.run_pending(&mut conn).unwrap();
    let plan: Vec<u64> = V2
        .plan(&mut conn)
        .unwrap()
        .iter()
        .map(|m| m.version())
        .collect();
    assert_eq!(plan, [4, 5]);
    assert!(!table_exists(&conn, "orders"), "plan applied something");
    let status = V2.status(&mut conn).unwrap();
    let states: Vec<State> = status.iter().map(|s| s.state).collect();
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
    assert!(status[0].applied_at.is_some());
    assert_eq!(status[0].file_name, Some("0001_create_items.sql"));

    // An older binary sees the newer versions as future; an edited one as changed.
    V2.run_pending(&mut conn).unwrap();
    let states: Vec<State> = V1
        .status(&mut conn)
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
            State::Future,
            State::Future
        ]
    );
    let states: Vec<State> = EDITED
        .status(&mut conn)
        .unwrap()
        .iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(states[1], State::Changed);
}

#[test]
fn a_failing_migration_leaves_no_trace_and_earlier_ones_stay() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    let err = FAILING.run_pending(&mut conn).unwrap_err();
    match &err {
        Error::Failed {
            version,
            name,
            file,
            cleanup,
            ..
        } => {
            assert_eq!(
                (*version, name.as_str(), file.as_str()),
                (3, "broken", "0003_broken.sql")
            );
            assert_eq!(*cleanup, Cleanup::RolledBack);
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.starts_with("migration 3 (`0003_broken.sql`) failed and was rolled back: "),
        "{message}"
    );
    assert!(
        message.contains("no such table: no_such_table"),
        "{message}"
    );
    assert!(std::error::Error::source(&err).is_some());
    // Its first statement left nothing behind; 1 and 2 stay applied.
    assert!(!table_exists(&conn, "half_done"));
    assert_eq!(history_versions(&conn, HISTORY), [1, 2]);
    assert_eq!(user_version(&conn), 2);

    // The fixed binary continues from there.
    let report = FIXED.run_pending(&mut conn).unwrap();
    assert_eq!(report.applied.len(), 1);
    assert!(table_exists(&conn, "half_done"));
}

#[test]
fn a_rust_migration_returning_err_is_rolled_back() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    let err = RUST_FAILS.run_pending(&mut conn).unwrap_err();
    assert!(matches!(
        err,
        Error::Failed {
            version: 2,
            cleanup: Cleanup::RolledBack,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "migration 2 (`0002_check_items.rs`) failed and was rolled back: items must not be \
         empty; fix the migration and run again (earlier migrations stay applied)"
    );
    assert!(!table_exists(&conn, "audit"));
    assert_eq!(history_versions(&conn, HISTORY), [1]);
}

#[test]
fn an_edited_migration_is_refused_before_anything_is_applied() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    V1.run_to(&mut conn, 2).unwrap();
    let err = EDITED.run_pending(&mut conn).unwrap_err();
    match &err {
        Error::ChecksumMismatch {
            version,
            whitespace_only,
            ..
        } => assert_eq!((*version, *whitespace_only), (2, false)),
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
    assert!(err
        .to_string()
        .starts_with("migration 2 (`0002_add_price.sql`) was changed after it was applied"));
    assert!(!err.to_string().contains("only whitespace"));
    // Version 3 was pending, and was not applied.
    assert_eq!(history_versions(&conn, HISTORY), [1, 2]);

    let err = WHITESPACE.run_pending(&mut conn).unwrap_err();
    assert!(matches!(
        err,
        Error::ChecksumMismatch {
            version: 2,
            whitespace_only: true,
            ..
        }
    ));
    assert!(
        err.to_string().contains("(only whitespace differs)"),
        "{err}"
    );
}

#[test]
fn future_versions_are_tolerated_unless_strict() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    V2.run_pending(&mut conn).unwrap();
    // An older binary boots during a rollback deploy.
    let report = V1.run_pending(&mut conn).unwrap();
    assert!(report.applied.is_empty());
    assert_eq!(report.future_versions, [4, 5]);
    let err = V1.runner().strict(true).run_pending(&mut conn).unwrap_err();
    assert!(
        matches!(&err, Error::FutureVersions { versions, latest_known: 3 } if versions == &[4, 5])
    );
}

#[test]
fn out_of_order_is_refused_unless_allowed() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    V2.run_to(&mut conn, 4).unwrap();
    // A hole below the highest applied version, as a hand-edited history leaves.
    conn.execute("DELETE FROM migrate_schema_history WHERE version = 2", [])
        .unwrap();
    conn.execute("ALTER TABLE items DROP COLUMN price", [])
        .unwrap();
    assert_eq!(V2.status(&mut conn).unwrap()[1].state, State::Pending);
    let err = V2.run_pending(&mut conn).unwrap_err();
    assert!(
        matches!(
            err,
            Error::OutOfOrder {
                version: 2,
                highest_applied: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(V2.plan(&mut conn), Err(Error::OutOfOrder { .. })));
    assert_eq!(
        history_versions(&conn, HISTORY),
        [1, 3, 4],
        "nothing may be applied"
    );
    let report = V2
        .runner()
        .allow_out_of_order(true)
        .run_pending(&mut conn)
        .unwrap();
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [2, 5]
    );
    assert_eq!(history_versions(&conn, HISTORY), [1, 2, 3, 4, 5]);
}

#[test]
fn no_transaction_migrations_run_outside_a_transaction() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    // VACUUM fails inside a transaction: this only passes outside one.
    let report = NO_TX.run_pending(&mut conn).unwrap();
    assert_eq!(report.applied.len(), 2);
    let state: String = conn
        .query_row(
            "SELECT state FROM migrate_schema_history WHERE version = 2",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(state, "applied");
}

#[test]
fn a_failed_no_transaction_migration_leaves_the_database_dirty_until_repaired() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    let err = NO_TX_FAILS.run_pending(&mut conn).unwrap_err();
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
    assert!(err.to_string().contains("marked dirty"), "{err}");
    // Its first statement stayed: that is what dirty means.
    assert!(table_exists(&conn, "half"));

    // Every later run stops, naming the version, until repaired.
    drop(conn);
    let mut conn = open(&path);
    let err = NO_TX_FAILS.run_pending(&mut conn).unwrap_err();
    assert!(matches!(err, Error::Dirty { version: 2, .. }), "{err}");
    assert!(err.to_string().contains("`migrate repair 2`"), "{err}");
    assert!(!table_exists(&conn, "after_half"));
    let status = NO_TX_FAILS.status(&mut conn).unwrap();
    assert_eq!(status[1].state, State::Dirty);

    // The operator undoes the half change and marks it undone: it runs again.
    assert!(matches!(
        NO_TX_FAILS.repair(&mut conn, 1, Repair::Undone),
        Err(Error::NothingToRepair { version: 1 })
    ));
    conn.execute("DROP TABLE half", []).unwrap();
    NO_TX_FAILS.repair(&mut conn, 2, Repair::Undone).unwrap();
    let err = NO_TX_FAILS.run_pending(&mut conn).unwrap_err();
    assert!(matches!(err, Error::Failed { version: 2, .. }));

    // Or finishes it by hand and marks it completed: the run continues after it.
    conn.execute("CREATE TABLE IF NOT EXISTS missing (id INTEGER)", [])
        .unwrap();
    NO_TX_FAILS.repair(&mut conn, 2, Repair::Completed).unwrap();
    let report = NO_TX_FAILS.run_pending(&mut conn).unwrap();
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [3]
    );
    assert_eq!(user_version(&conn), 3);
}

#[test]
fn grouped_mode_is_all_or_nothing() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    let err = FAILING
        .runner()
        .grouped(true)
        .run_pending(&mut conn)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Failed {
                version: 3,
                cleanup: Cleanup::GroupRolledBack,
                ..
            }
        ),
        "{err}"
    );
    assert!(!table_exists(&conn, "items"));
    assert!(history_versions(&conn, HISTORY).is_empty());

    let report = V2.runner().grouped(true).run_pending(&mut conn).unwrap();
    assert_eq!(report.applied.len(), 5);
    assert_eq!(history_versions(&conn, HISTORY), [1, 2, 3, 4, 5]);
    assert_eq!(user_version(&conn), 5);

    let (_dir2, path2) = db();
    let err = NO_TX
        .runner()
        .grouped(true)
        .run_pending(&mut open(&path2))
        .unwrap_err();
    assert!(
        matches!(err, Error::NoTransactionInGroup { version: 2, .. }),
        "{err}"
    );
}

#[test]
fn baseline_adopts_an_existing_database_once() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    conn.execute_batch(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         ALTER TABLE items ADD COLUMN price INTEGER NOT NULL DEFAULT 0;",
    )
    .unwrap();
    let report = V2.baseline(&mut conn, 2).unwrap();
    assert_eq!(report.version, 2);
    assert_eq!(history_versions(&conn, HISTORY), [1, 2]);
    assert_eq!(user_version(&conn), 2);
    let err = V2.baseline(&mut conn, 2).unwrap_err();
    assert!(
        matches!(err, Error::HistoryNotEmpty { rows: 2, .. }),
        "{err}"
    );
    assert_eq!(V2.run_pending(&mut conn).unwrap().applied.len(), 3);
    assert!(matches!(
        V2.baseline(&mut open(&db().1), 6),
        Err(Error::UnknownVersion { .. })
    ));
}

#[test]
fn a_rusqlite_migration_database_is_adopted_from_user_version() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    // What rusqlite_migration leaves: the schema and PRAGMA user_version.
    conn.execute_batch(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         ALTER TABLE items ADD COLUMN price INTEGER NOT NULL DEFAULT 0;
         PRAGMA user_version = 2;",
    )
    .unwrap();
    for _ in 0..2 {
        V2.baseline_from_user_version(&mut conn).unwrap();
        V2.run_pending(&mut conn).unwrap();
    }
    assert_eq!(history_versions(&conn, HISTORY), [1, 2, 3, 4, 5]);
    assert_eq!(user_version(&conn), 5);
}

#[test]
fn the_table_option_names_the_history_table() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    CUSTOM_TABLE.run_pending(&mut conn).unwrap();
    assert_eq!(history_versions(&conn, "app_schema_history"), [1, 2, 3]);
    assert!(!table_exists(&conn, HISTORY));
}

#[test]
fn in_memory_databases_work_too() {
    let mut conn = Connection::open_in_memory().unwrap();
    assert_eq!(EXAMPLE.run_pending(&mut conn).unwrap().applied.len(), 4);
    assert!(EXAMPLE.run_pending(&mut conn).unwrap().applied.is_empty());
}

// Only debug builds carry the embedding directory, so only they can warn.
#[cfg(debug_assertions)]
#[test]
fn the_stale_binary_warning_names_files_the_binary_does_not_embed() {
    static STALE: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/stale");
    logger::init();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stale");
    let added = dir.join("0002_added_after_build.sql");
    struct Remove<'a>(&'a Path);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    std::fs::write(&added, "CREATE TABLE late (id INTEGER);\n").unwrap();
    let _cleanup = Remove(&added);
    let mut conn = Connection::open_in_memory().unwrap();
    STALE.run_pending(&mut conn).unwrap();
    let warnings = logger::lines(log::Level::Warn, "this binary is stale");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("(0002_added_after_build.sql)"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("cargo:rerun-if-changed=migrations"));
}

#[test]
fn a_schema_qualified_table_on_sqlite() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    SQLITE_SCHEMA_TABLE.run_pending(&mut conn).unwrap();
    assert_eq!(history_versions(&conn, "main.app_history"), [1, 2, 3]);
    let index: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'app_history_unfinished'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(index, 1);
    assert!(SQLITE_SCHEMA_TABLE
        .run_pending(&mut open(&path))
        .unwrap()
        .applied
        .is_empty());
}
