//! The runtime on SQLite files: the shared scenarios (see `scenarios.rs`),
//! then what only SQLite has — `PRAGMA user_version`, adoption from it,
//! in-memory databases, the stale-binary warning.

use std::path::{Path, PathBuf};
use std::time::Duration;

use migrate::rusqlite::Connection;
use migrate::{Error, MigrationKind};

use crate::logger;
use crate::scenarios::{scenario_tests, Backend};
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

pub fn table_exists(conn: &Connection, name: &str) -> bool {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        > 0
}

fn foreign_keys_on(conn: &Connection) -> bool {
    conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap()
}

fn user_version(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// A fresh SQLite file.
pub struct Sqlite {
    _dir: tempfile::TempDir,
    path: PathBuf,
    conn: Connection,
}

impl Backend for Sqlite {
    type Conn = Connection;
    const MISSING_TABLE: &'static str = "no such table: no_such_table";

    fn fresh() -> Option<Self> {
        let (dir, path) = db();
        let conn = open(&path);
        Some(Sqlite {
            _dir: dir,
            path,
            conn,
        })
    }
    fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }
    fn reconnect(&mut self) {
        self.conn = open(&self.path);
    }
    fn versions(&mut self, table: &str) -> Vec<u64> {
        history_versions(&self.conn, table)
    }
    fn table_exists(&mut self, name: &str) -> bool {
        table_exists(&self.conn, name)
    }
    fn exec(&mut self, sql: &str) {
        self.conn.execute_batch(sql).unwrap();
    }
    fn other(&self) -> Connection {
        open(&self.path)
    }
    fn read_only(&self) -> Connection {
        Connection::open_with_flags(
            &self.path,
            migrate::rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }
    fn location(&self) -> String {
        self.path.display().to_string()
    }
    fn connect(location: &str) -> Connection {
        open(Path::new(location))
    }
    fn exec_on(conn: &mut Connection, sql: &str) {
        conn.execute_batch(sql).unwrap();
        assert!(
            conn.is_autocommit(),
            "the connection was left in a transaction"
        );
    }
    fn item_names(&mut self) -> Vec<String> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM items ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
}

scenario_tests!(Sqlite);

const HISTORY: &str = "migrate_schema_history";

#[test]
fn user_version_follows_the_latest_applied_version() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    V2.run_to(&mut conn, 2).unwrap();
    assert_eq!(user_version(&conn), 2);
    V2.run_pending(&mut conn).unwrap();
    assert_eq!(user_version(&conn), 5);
    V2.rollback_to(&mut conn, 1).unwrap();
    assert_eq!(user_version(&conn), 1);
    let (_dir2, path2) = db();
    let mut other = open(&path2);
    FAILING.run_pending(&mut other).unwrap_err();
    assert_eq!(
        user_version(&other),
        2,
        "a failed migration leaves it at the last success"
    );
    let (_dir3, path3) = db();
    let mut grouped = open(&path3);
    V2.runner().grouped(true).run_pending(&mut grouped).unwrap();
    assert_eq!(user_version(&grouped), 5);

    // It is the highest applied version, not the last one touched: applying
    // 2 late (4 is applied) or reverting across a hole must not lower it wrongly.
    let (_dir4, path4) = db();
    let mut holes = open(&path4);
    V2.run_to(&mut holes, 4).unwrap();
    holes
        .execute_batch(
            "DELETE FROM migrate_schema_history WHERE version = 2;
             ALTER TABLE items DROP COLUMN price;
             -- As if 3 and 4 were recorded by a binary without 2: a late migration.
             UPDATE migrate_schema_history SET chained_checksum = 'other' WHERE version > 2;",
        )
        .unwrap();
    let report = V2
        .runner()
        .allow_out_of_order(true)
        .run_to(&mut holes, 2)
        .unwrap();
    assert_eq!(report.version, 4);
    assert_eq!(user_version(&holes), 4);
    holes
        .execute_batch("DELETE FROM migrate_schema_history WHERE version = 3")
        .unwrap();
    let report = V2.rollback_to(&mut holes, 1).unwrap();
    let reverted: Vec<u64> = report.reverted.iter().map(|a| a.version).collect();
    assert_eq!(reverted, [4, 2]);
    assert_eq!(report.version, 1);
    assert_eq!(user_version(&holes), 1);
}

#[test]
fn history_rows_record_what_was_applied_and_progress_is_logged() {
    logger::init();
    let (_dir, path) = db();
    let mut conn = open(&path);
    V1.run_pending(&mut conn).unwrap();
    type Row = (String, String, String, String, String, String);
    let row: Row = conn
        .query_row(
            "SELECT name, kind, checksum, chained_checksum, state, applied_at \
             FROM migrate_schema_history WHERE version = 3",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .unwrap();
    let m = V1.get(3).unwrap();
    assert_eq!(m.kind(), MigrationKind::Rust);
    assert_eq!(
        (
            row.0.as_str(),
            row.1.as_str(),
            row.2.as_str(),
            row.3.as_str(),
            row.4.as_str()
        ),
        (
            "seed_items",
            "rust",
            m.checksum(),
            m.chained_checksum(),
            "applied"
        )
    );
    assert!(row.5.ends_with('Z') && row.5.contains('T'), "{}", row.5);
    // One log line per migration, with its time.
    assert!(!logger::lines(
        log::Level::Info,
        "applied migration 3 (0003_seed_items.rs) in "
    )
    .is_empty());
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
fn a_schema_qualified_table_on_sqlite() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    SQLITE_SCHEMA_TABLE.run_pending(&mut conn).unwrap();
    assert_eq!(history_versions(&conn, "main.app_history"), [1, 2, 3]);
    assert!(
        table_exists(&conn, "app_history_unfinished"),
        "the index lives in its schema"
    );
    assert!(SQLITE_SCHEMA_TABLE
        .run_pending(&mut open(&path))
        .unwrap()
        .applied
        .is_empty());
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
    // The build.rs hint names this set's directory, wherever it lives.
    let hint = format!("`cargo:rerun-if-changed={}`", dir.display());
    assert!(warnings[0].contains(&hint), "{}", warnings[0]);
}

#[test]
fn a_hand_damaged_history_row_is_named_with_what_to_do() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    V1.run_pending(&mut conn).unwrap();
    conn.execute(
        "UPDATE migrate_schema_history SET execution_ms = 'slow' WHERE version = 2",
        [],
    )
    .unwrap();
    let err = V1.status(&mut conn).unwrap_err();
    assert_eq!(
        err.to_string(),
        "history table `migrate_schema_history`: column `execution_ms` should hold an \
         integer but holds 'slow'; it was changed outside migrate: restore it from a backup, \
         or drop it and adopt the database again with `baseline`"
    );
}

/// Issue: with foreign keys on, SQLite's documented table rebuild ran
/// inside the migration's transaction, where `PRAGMA foreign_keys = OFF`
/// is a no-op: `DROP TABLE parent` cascaded and deleted every child row.
#[test]
fn a_table_rebuild_with_foreign_keys_off_keeps_child_rows() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    SQLITE_REBUILD.run_pending(&mut conn).unwrap();
    let children: i64 = conn
        .query_row("SELECT count(*) FROM child", [], |r| r.get(0))
        .unwrap();
    assert_eq!(children, 3, "the rebuild cascaded into the child table");
    let parent_sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'parent'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(parent_sql.contains("NOT NULL"), "{parent_sql}");
    // The connection's setting is back.
    assert!(foreign_keys_on(&conn));
}

/// A rebuild that loses referenced rows fails `PRAGMA foreign_key_check`
/// before the commit and is rolled back; the setting is restored.
#[test]
fn a_table_rebuild_that_breaks_foreign_keys_is_rolled_back() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    let err = SQLITE_REBUILD_BAD.run_pending(&mut conn).unwrap_err();
    assert!(matches!(err, Error::Failed { version: 2, .. }), "{err}");
    assert!(
        err.to_string()
            .contains("the migration left 3 foreign key violation(s) (`child` row 1 → `parent`"),
        "{err}"
    );
    let parents: i64 = conn
        .query_row("SELECT count(*) FROM parent", [], |r| r.get(0))
        .unwrap();
    assert_eq!(parents, 1, "the rebuild was not rolled back");
    assert_eq!(history_versions(&conn, HISTORY), [1]);
    assert!(foreign_keys_on(&conn));
}

/// Issue: adopting a second set from `user_version` recorded it as applied
/// without running it, since one file has one `user_version`. Only the set
/// with the default history table owns it.
#[test]
fn only_the_default_set_owns_user_version() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    V1.baseline_from_user_version(&mut conn).unwrap();
    V1.run_pending(&mut conn).unwrap();
    assert_eq!(user_version(&conn), 3);
    let err = PLUGIN.baseline_from_user_version(&mut conn).unwrap_err();
    assert!(
        matches!(&err, Error::UserVersionNotOwned { table } if table == "billing_schema_history"),
        "{err}"
    );
    let plugin = PLUGIN.run_pending(&mut conn).unwrap();
    assert_eq!(plugin.applied.len(), PLUGIN.len());
    assert_eq!(user_version(&conn), 3, "another set moved user_version");
}

/// Issue: independent sets on SQLite waited for each other (one lock file
/// per database). The lock is per history table.
#[test]
fn independent_sets_do_not_wait_for_each_other() {
    let (_dir, path) = db();
    let lock_path = format!("{}-migrate_schema_history.migrate-lock", path.display());
    let held = std::fs::File::create(&lock_path).unwrap();
    held.lock().unwrap();
    let mut conn = open(&path);
    let start = std::time::Instant::now();
    PLUGIN
        .runner()
        .lock_timeout(Duration::from_secs(5))
        .run_pending(&mut conn)
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "the plugin waited"
    );
    let err = V1
        .runner()
        .lock_timeout(Duration::from_millis(200))
        .run_pending(&mut conn)
        .unwrap_err();
    assert!(matches!(err, Error::LockTimeout { .. }), "{err}");
    held.unlock().unwrap();
    V1.run_pending(&mut conn).unwrap();
}

/// Issue: on SQLite the history tables `History` and `history` are one
/// table; the second set's run said its first migration was "changed".
/// The message now says the table holds another set's history.
#[test]
fn two_sets_whose_tables_differ_only_in_case_are_told_apart() {
    static UPPER: migrate::Migrations =
        migrate::embed_migrations!("tests/fixtures/rt-v1", table = "History");
    static LOWER: migrate::Migrations =
        migrate::embed_migrations!("tests/fixtures/flyway", table = "history");
    let (_dir, path) = db();
    let mut conn = open(&path);
    UPPER.run_pending(&mut conn).unwrap();
    let err = LOWER.run_pending(&mut conn).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, Error::HistoryOfAnotherSet { version: 1, recorded_name, .. }
            if recorded_name == "create_items"),
        "{message}"
    );
    assert!(
        message.contains("`History` and `history` are one table"),
        "{message}"
    );
}

/// Issue: SQLite's "database is locked" came after rusqlite's own 5 s busy
/// wait, whatever `lock_timeout` said. The runner's timeout bounds it.
#[test]
fn lock_timeout_bounds_the_wait_for_sqlites_write_lock() {
    let (_dir, path) = db();
    let writer = open(&path);
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut conn = open(&path);
    let start = std::time::Instant::now();
    let err = V1
        .runner()
        .lock_timeout(Duration::from_millis(300))
        .run_pending(&mut conn)
        .unwrap_err();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "waited {waited:?}"
    );
    assert!(
        err.to_string().contains(
            "another connection held the database's write lock for longer than the lock timeout"
        ),
        "{err}"
    );
    // The connection's own busy timeout is back (rusqlite's default, 5 s).
    let busy: i64 = conn
        .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
        .unwrap();
    assert_eq!(busy, 5000);
    writer.execute_batch("COMMIT").unwrap();
    V1.run_pending(&mut conn).unwrap();
}

/// Adversarial review: a conflict clause such as `INSERT OR ROLLBACK`,
/// ignored by a Rust migration, ended the transaction; the rest of the
/// migration ran in autocommit and its history row was recorded. The
/// runtime now notices the transaction ended and leaves the migration dirty.
#[test]
fn a_migration_that_ends_its_own_transaction_is_left_dirty_not_recorded() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    let err = RUST_OR_ROLLBACK.run_pending(&mut conn).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Failed {
                version: 2,
                cleanup: migrate::Cleanup::LeftDirty,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("ended its own transaction"),
        "{err}"
    );
    assert!(matches!(
        RUST_OR_ROLLBACK.run_pending(&mut open(&path)),
        Err(Error::Dirty { version: 2, .. })
    ));
    assert!(conn.is_autocommit());
}

/// Each transactional step is read again at run time with the connected
/// database's own rules before it runs: here a registry built by hand, which
/// no compile-time check has seen.
#[test]
fn transaction_control_the_compile_check_cannot_see_is_refused_before_running() {
    let sneaky = unchecked(&[(
        "0001_sneaky.sql",
        "CREATE TABLE sneaky (x INTEGER);\nSELECT $a$x$a$;\n/* /srv/* */ COMMIT;",
    )]);
    let (_dir, path) = db();
    let mut conn = open(&path);
    let err = sneaky.run_pending(&mut conn).unwrap_err();
    assert!(
        err.to_string()
            .contains("`COMMIT` (line 3 of the migration) is transaction control"),
        "{err}"
    );
    assert!(!table_exists(&conn, "sneaky"));
    assert_eq!(history_versions(&conn, HISTORY), Vec::<u64>::new());
}

/// Adversarial review: a foreign key violation already in the database was
/// blamed on a foreign-keys-off rebuild. It is now refused before it runs.
#[test]
fn foreign_key_violations_from_before_are_not_blamed_on_the_rebuild() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    SQLITE_REBUILD.run_to(&mut conn, 1).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF; INSERT INTO child VALUES (9, 42);")
        .unwrap();
    let err = SQLITE_REBUILD.run_pending(&mut conn).unwrap_err();
    assert!(
        err.to_string()
            .contains("the database already has 1 foreign key violation(s)"),
        "{err}"
    );
    assert_eq!(history_versions(&conn, HISTORY), [1]);
}

/// Adversarial review: called inside the caller's own transaction, the
/// runtime's failure path rolled the caller's work back and blamed a
/// migration. It now refuses before touching anything.
#[test]
fn running_inside_the_callers_transaction_is_refused() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    conn.execute_batch("CREATE TABLE mine (x INTEGER); BEGIN; INSERT INTO mine VALUES (1);")
        .unwrap();
    let err = V1.run_pending(&mut conn).unwrap_err();
    assert!(matches!(err, Error::InsideTransaction), "{err}");
    conn.execute_batch("COMMIT").unwrap();
    let mine: i64 = conn
        .query_row("SELECT count(*) FROM mine", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mine, 1, "the caller's work was rolled back");
    V1.run_pending(&mut conn).unwrap();
}

/// Adversarial review: a step that ended its transaction and began another
/// (`ROLLBACK; BEGIN`) looked like it was still in the runtime's. The
/// runtime's savepoint tells them apart.
#[test]
fn a_transaction_ended_and_begun_again_is_not_intact() {
    use migrate::{Database, Driver, Tx};
    let (_dir, path) = db();
    let mut conn = open(&path);
    let mut driver = conn.driver();
    driver.begin().unwrap();
    assert_eq!(driver.transaction_intact().unwrap(), Some(true));
    driver.batch("ROLLBACK; BEGIN").unwrap();
    assert_eq!(driver.transaction_intact().unwrap(), Some(false));
    driver.rollback().unwrap();
}

/// Adversarial review: a grouped run holding a foreign-keys-off rebuild
/// turned foreign keys off for the whole group (another migration's ON
/// DELETE CASCADE with them) and blamed the rebuild. It is refused.
#[test]
fn a_foreign_keys_off_rebuild_is_not_grouped_with_others() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    let err = SQLITE_REBUILD
        .runner()
        .grouped(true)
        .run_pending(&mut conn)
        .unwrap_err();
    assert!(
        matches!(err, Error::ForeignKeysOffInGroup { version: 2, .. }),
        "{err}"
    );
    assert_eq!(history_versions(&conn, HISTORY), Vec::<u64>::new());
}

/// Adversarial review: `baseline_from_user_version`, called on every boot,
/// took the migration lock every time, so a boot waited for (and timed out
/// behind) another process's migration. With a history it only reads.
#[test]
fn adopting_from_user_version_on_a_migrated_database_takes_no_lock() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    V1.run_pending(&mut conn).unwrap();
    let lock_path = format!("{}-migrate_schema_history.migrate-lock", path.display());
    let held = std::fs::File::create(&lock_path).unwrap();
    held.lock().unwrap();
    let start = std::time::Instant::now();
    let report = V1.baseline_from_user_version(&mut conn).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "it waited for the lock"
    );
    assert_eq!(report.version, 3);
    held.unlock().unwrap();
}

/// A panic outside any migration — here the application's progress
/// callback, after the first commit — still releases the lock and leaves the
/// connection outside any transaction; the panic reaches the caller.
#[test]
fn a_panicking_progress_callback_releases_the_lock() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let explode = |_: &migrate::Applied| panic!("progress bar");
        V1.runner().on_progress(&explode).run_pending(&mut conn)
    }));
    assert!(outcome.is_err(), "the panic did not reach the caller");
    assert!(conn.is_autocommit());
    assert_eq!(history_versions(&conn, HISTORY), [1]);
    let report = V1
        .runner()
        .lock_timeout(Duration::from_secs(2))
        .run_pending(&mut open(&path))
        .unwrap();
    assert_eq!(report.applied.len(), 2);
}

/// Adversarial review: a `.dump` file run as a no-transaction migration
/// left `PRAGMA foreign_keys` off on the application's connection.
#[test]
fn a_migration_turning_foreign_keys_off_does_not_leave_them_off() {
    let (_dir, path) = db();
    let mut conn = open(&path);
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    SQLITE_DUMP_FK.run_pending(&mut conn).unwrap();
    assert!(table_exists(&conn, "d"));
    assert!(foreign_keys_on(&conn));
}

/// Adversarial review of `verify_reversible` on SQLite: what only a
/// table's text holds (a CHECK constraint) was not compared; a correct
/// rename round trip under a view was called a difference (SQLite quotes
/// the names it rewrites); a table named like the history table's own
/// objects was hidden; and a history with a hole made it revert the wrong
/// migration.
#[test]
fn verify_reversible_sees_table_text_and_not_quotes() {
    use crate::sets::with_downs;
    let (_dir, path) = db();
    let check_lost = with_downs(&[
        (
            "0001_t.sql",
            "CREATE TABLE t (a INTEGER CHECK (a > 0));",
            Some("DROP TABLE t;"),
        ),
        (
            "0002_b.sql",
            "ALTER TABLE t ADD COLUMN b TEXT;",
            Some(
                "CREATE TABLE t_new (a INTEGER);\nINSERT INTO t_new SELECT a FROM t;\n\
                 DROP TABLE t;\nALTER TABLE t_new RENAME TO t;",
            ),
        ),
    ]);
    let err = check_lost.verify_reversible(&mut open(&path)).unwrap_err();
    assert!(
        matches!(err, Error::NotReversible { version: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("~ table t was"), "{err}");

    let (_dir, path) = db();
    let renamed = with_downs(&[
        (
            "0001_t.sql",
            "CREATE TABLE t (a INTEGER);\nCREATE VIEW v AS SELECT a FROM t;",
            Some("DROP VIEW v;\nDROP TABLE t;"),
        ),
        (
            "0002_rename.sql",
            "ALTER TABLE t RENAME TO u;",
            Some("ALTER TABLE u RENAME TO t;"),
        ),
        (
            "0003_dotted.sql",
            "CREATE TABLE \"migrate_schema_history.archive\" (x INTEGER);",
            Some("SELECT 1;"),
        ),
    ]);
    let err = renamed.verify_reversible(&mut open(&path)).unwrap_err();
    assert!(
        matches!(err, Error::NotReversible { version: 3, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("+ table migrate_schema_history.archive was left behind"),
        "{err}"
    );

    let (_dir, path) = db();
    let mut conn = open(&path);
    let holed = with_downs(&[
        (
            "0001_a.sql",
            "CREATE TABLE a (x INTEGER);",
            Some("DROP TABLE a;"),
        ),
        (
            "0002_b.sql",
            "CREATE TABLE b (x INTEGER);",
            Some("DROP TABLE b;"),
        ),
        (
            "0003_c.sql",
            "CREATE TABLE c (x INTEGER);",
            Some("DROP TABLE c;"),
        ),
    ]);
    holed.run_pending(&mut conn).unwrap();
    // As if version 3 had been applied before version 2 existed.
    conn.execute_batch(
        "DROP TABLE b; DELETE FROM migrate_schema_history WHERE version = 2; \
         UPDATE migrate_schema_history SET chained_checksum = 'other' WHERE version = 3;",
    )
    .unwrap();
    let err = holed
        .runner()
        .allow_out_of_order(true)
        .verify_reversible(&mut conn)
        .unwrap_err();
    assert!(err.to_string().contains("pending below version 3"), "{err}");
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM migrate_schema_history ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(versions, [1, 3]);
}
