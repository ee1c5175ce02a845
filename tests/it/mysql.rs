//! The runtime on a real MariaDB server (the MySQL driver): the shared
//! scenarios that mean the same on a database whose schema changes commit
//! themselves (see `scenarios.rs`), then what only MySQL has — DDL recorded
//! in progress and run statement by statement, `GET_LOCK`, stored
//! programs, `sql_mode`. Each test creates its own database, so they run
//! in parallel.
//!
//! The server comes from `MIGRATE_TEST_MYSQL_URL`, which `scripts/test`
//! (through `scripts/with-mariadb`) sets. With `CI=true` a missing server
//! fails these tests; elsewhere they say they were skipped.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use migrate::mysql::prelude::Queryable;
use migrate::mysql::{Conn, Opts};
use migrate::{Cleanup, Database, Driver, Error, Repair, Tx, Value};

use crate::scenarios::{scenario_tests, Backend};
use crate::sets::*;

const HISTORY: &str = "migrate_schema_history";

/// A fresh database on the test server, or `None` (with a notice) when there
/// is no server outside CI.
pub fn fresh_database() -> Option<String> {
    let Ok(server) = std::env::var("MIGRATE_TEST_MYSQL_URL") else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "MariaDB is required in CI but MIGRATE_TEST_MYSQL_URL is not set; \
                 run the suite through ./scripts/test"
            );
        }
        eprintln!("skipped: no MySQL server (run through ./scripts/test or scripts/with-mariadb)");
        return None;
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "migrate_test_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = connect(&server);
    admin.query_drop(format!("CREATE DATABASE {name}")).unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

pub fn connect(url: &str) -> Conn {
    Conn::new(Opts::from_url(url).unwrap()).unwrap()
}

pub fn versions(conn: &mut Conn, table: &str) -> Vec<u64> {
    conn.query(format!("SELECT version FROM {table} ORDER BY version"))
        .unwrap()
}

pub fn table_exists(conn: &mut Conn, name: &str) -> bool {
    let found: Option<u32> = conn
        .exec_first(
            "SELECT 1 FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?",
            (name,),
        )
        .unwrap();
    found.is_some()
}

/// Takes, on `holder`, the lock a migrator of the default history table in
/// the database at `url` takes — `GET_LOCK` on SHA-256 of
/// `<database>.<table>`, 20 bytes in hex — and returns its name.
fn take_the_lock(holder: &mut Conn, url: &str) -> String {
    let database = url.rsplit('/').next().unwrap();
    let name: String = holder
        .exec_first(
            "SELECT CONCAT('migrate:', LEFT(SHA2(?, 256), 40))",
            (format!("{database}.{HISTORY}"),),
        )
        .unwrap()
        .unwrap();
    let taken: Option<u32> = holder
        .exec_first("SELECT GET_LOCK(?, 0)", (&name,))
        .unwrap();
    assert_eq!(taken, Some(1));
    name
}

fn in_transaction(conn: &mut Conn) -> bool {
    let open: Option<u32> = conn.query_first("SELECT @@in_transaction").unwrap();
    open == Some(1)
}

/// A fresh database on the test server.
pub struct Mysql {
    url: String,
    conn: Conn,
}

impl Backend for Mysql {
    type Conn = Conn;
    const MISSING_TABLE: &'static str = "ERROR 1146 (42S02): Table";

    fn fresh() -> Option<Self> {
        let url = fresh_database()?;
        let conn = connect(&url);
        Some(Mysql { url, conn })
    }
    fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }
    fn reconnect(&mut self) {
        self.conn = connect(&self.url);
    }
    fn versions(&mut self, table: &str) -> Vec<u64> {
        versions(&mut self.conn, table)
    }
    fn table_exists(&mut self, name: &str) -> bool {
        table_exists(&mut self.conn, name)
    }
    fn exec(&mut self, sql: &str) {
        self.conn.query_drop(sql).unwrap();
    }
    fn other(&self) -> Conn {
        connect(&self.url)
    }
    fn read_only(&self) -> Conn {
        let mut conn = connect(&self.url);
        conn.query_drop("SET SESSION TRANSACTION READ ONLY")
            .unwrap();
        conn
    }
    fn location(&self) -> String {
        self.url.clone()
    }
    fn connect(location: &str) -> Conn {
        connect(location)
    }
    fn exec_on(conn: &mut Conn, sql: &str) {
        conn.query_drop(sql).unwrap();
        assert!(
            !in_transaction(conn),
            "the connection was left in a transaction"
        );
    }
    fn item_names(&mut self) -> Vec<String> {
        self.conn
            .query("SELECT name FROM items ORDER BY id")
            .unwrap()
    }
}

scenario_tests!(without_transactional_ddl Mysql);

fn state_of(conn: &mut Conn, version: u64) -> Option<String> {
    conn.exec_first(
        format!("SELECT state FROM {HISTORY} WHERE version = ?"),
        (version,),
    )
    .unwrap()
}

fn columns_of(conn: &mut Conn, table: &str) -> Vec<String> {
    conn.exec(
        "SELECT column_name FROM information_schema.columns \
         WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
        (table,),
    )
    .unwrap()
}

/// A schema change that fails halfway: MySQL committed the statements
/// before it, so the migration is left dirty, and the error says exactly
/// which statements of the file stay applied.
#[test]
fn a_failing_schema_change_names_what_had_already_committed() {
    let Some(mut db) = Mysql::fresh() else { return };
    let err = MYSQL_DDL_FAILS.run_pending(db.conn()).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Failed {
                version: 2,
                cleanup: Cleanup::LeftDirty,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    let database = db.url.rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        message,
        format!(
            "migration 2 (`0002_add_price.sql`) failed outside a transaction, so the database \
             may be partly changed and is marked dirty: statement 3 of 3 (line 8) failed: \
             ERROR 1146 (42S02): Table '{database}.itemz' doesn't exist; MySQL had already \
             committed statements 1 to 2 of this file, which stay applied:\n  \
             1. line 3: ALTER TABLE items ADD COLUMN price INT NOT NULL DEFAULT 0\n  \
             2. line 5: CREATE INDEX items_by_price ON items (price)\n; check the schema, \
             finish or undo the change by hand, then mark it repaired (`migrate repair 2 \
             completed` or `undone`)"
        )
    );
    assert_eq!(columns_of(db.conn(), "items"), ["id", "name", "price"]);
    assert_eq!(state_of(db.conn(), 2).as_deref(), Some("in_progress"));
    // Until repaired, every run refuses, naming the file.
    db.reconnect();
    let dirty = MYSQL_DDL_FIXED.run_pending(db.conn()).unwrap_err();
    assert!(
        matches!(&dirty, Error::Dirty { version: 2, file, .. } if file == "0002_add_price.sql"),
        "{dirty}"
    );
    // Finished by hand: recorded as applied.
    db.exec("ALTER TABLE items ADD COLUMN stock INT");
    MYSQL_DDL_FIXED
        .repair(db.conn(), 2, Repair::Completed)
        .unwrap();
    assert_eq!(db.versions(HISTORY), [1, 2]);
    assert_eq!(state_of(db.conn(), 2).as_deref(), Some("applied"));
}

#[test]
fn a_schema_change_undone_by_hand_runs_again_once_fixed() {
    let Some(mut db) = Mysql::fresh() else { return };
    MYSQL_DDL_FAILS.run_pending(db.conn()).unwrap_err();
    db.exec("DROP INDEX items_by_price ON items; ALTER TABLE items DROP COLUMN price");
    MYSQL_DDL_FAILS
        .repair(db.conn(), 2, Repair::Undone)
        .unwrap();
    assert_eq!(db.versions(HISTORY), [1]);
    let report = MYSQL_DDL_FIXED.run_pending(db.conn()).unwrap();
    assert_eq!(report.applied.len(), 1);
    assert_eq!(
        columns_of(db.conn(), "items"),
        ["id", "name", "price", "stock"]
    );
}

/// Data statements only: one transaction with the history row, rolled
/// back whole.
#[test]
fn a_data_only_migration_is_rolled_back_atomically() {
    let Some(mut db) = Mysql::fresh() else { return };
    let err = MYSQL_DATA_ONLY.run_pending(db.conn()).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Failed {
                version: 2,
                cleanup: Cleanup::RolledBack,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("statement 3 (line 4): ERROR 1062 (23000): Duplicate entry '1'"),
        "{message}"
    );
    let count: Option<u64> = db.conn.query_first("SELECT COUNT(*) FROM items").unwrap();
    assert_eq!(count, Some(0), "the first two inserts were rolled back");
    assert_eq!(db.versions(HISTORY), [1]);
    assert!(!in_transaction(db.conn()));
}

/// Stored programs split where MySQL ends them, not at their inner `;`.
#[test]
fn triggers_and_procedures_with_begin_end_bodies_run() {
    let Some(mut db) = Mysql::fresh() else { return };
    let report = MYSQL_PROGRAMS.run_pending(db.conn()).unwrap();
    assert_eq!(report.applied.len(), 3);
    let audit: Vec<(u32, String)> = db
        .conn
        .query("SELECT item_id, note FROM audit ORDER BY item_id")
        .unwrap();
    assert_eq!(
        audit,
        [
            (1, "added widget".to_owned()),
            (2, "named end; odd".to_owned())
        ]
    );
}

/// A migration file with `DELIMITER` does not compile (see
/// `tests/ui/fail_mysql_delimiter.rs`); SQL a Rust migration passes to
/// `Tx` is refused at run time, before anything of it runs.
#[test]
fn a_delimiter_line_is_refused_before_anything_runs() {
    let Some(mut db) = Mysql::fresh() else { return };
    let mut driver = db.conn().driver();
    let err = driver
        .batch("CREATE TABLE audit (id INT);\nDELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END$$")
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(
            "line 2: `DELIMITER` is a command of the `mysql` client, not SQL, and no server runs \
             it; nothing was run."
        ),
        "{message}"
    );
    assert!(!db.table_exists("audit"), "the first statement did not run");
}

#[test]
fn rollback_runs_mysql_down_steps_newest_first() {
    let Some(mut db) = Mysql::fresh() else { return };
    MYSQL_ROLLBACK.run_pending(db.conn()).unwrap();
    let report = MYSQL_ROLLBACK.rollback_to(db.conn(), 1).unwrap();
    let reverted: Vec<u64> = report.reverted.iter().map(|r| r.version).collect();
    assert_eq!(reverted, [3, 2]);
    assert_eq!(db.versions(HISTORY), [1]);
    MYSQL_ROLLBACK.rollback_to(db.conn(), 0).unwrap();
    assert!(!db.table_exists("items"));
    assert_eq!(
        MYSQL_ROLLBACK.run_pending(db.conn()).unwrap().applied.len(),
        3
    );
}

/// A Rust migration runs in a transaction; a schema change through `Tx`
/// would commit it halfway, so it is refused before it reaches MySQL.
#[test]
fn a_rust_migration_may_not_change_the_schema() {
    let Some(mut db) = Mysql::fresh() else { return };
    let err = RUST_FAILS.run_pending(db.conn()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "migration 2 (`0002_check_items.rs`) failed and was rolled back: `CREATE` (line 1 of \
         the SQL passed to `Tx`) commits implicitly on MySQL, which would end this migration's \
         transaction halfway; nothing of this migration was applied. Move the schema change \
         into a SQL migration, which migrate records in progress first and runs statement by \
         statement; fix the migration and run again (earlier migrations stay applied)"
    );
    assert!(!db.table_exists("audit"));
    assert_eq!(db.versions(HISTORY), [1]);
}

#[test]
fn a_grouped_run_refuses_schema_changes() {
    let Some(mut db) = Mysql::fresh() else { return };
    let err = V1
        .runner()
        .grouped(true)
        .run_pending(db.conn())
        .unwrap_err();
    assert!(
        matches!(&err, Error::NoTransactionInGroup { version: 1, .. }),
        "{err}"
    );
    assert!(!db.table_exists("items"));
}

#[test]
fn the_lock_times_out_naming_the_holders_connection() {
    let Some(url) = fresh_database() else { return };
    let mut holder = connect(&url);
    V1.run_pending(&mut holder).unwrap();
    let name = take_the_lock(&mut holder, &url);
    let mut other = connect(&url);
    let started = std::time::Instant::now();
    let err = V2
        .runner()
        .lock_timeout(Duration::from_millis(1500))
        .run_pending(&mut other)
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let id = holder.connection_id();
    assert!(
        err.to_string().contains(&format!(
            "(held by MySQL connection id {id}; `KILL {id}` ends it)"
        )),
        "{err}"
    );
    // Released, the run goes ahead.
    holder
        .exec_drop("SELECT RELEASE_LOCK(?)", (&name,))
        .unwrap();
    assert_eq!(V2.run_pending(&mut other).unwrap().applied.len(), 2);
}

#[test]
fn sixteen_threads_booting_at_once() {
    let Some(url) = fresh_database() else { return };
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut conn = connect(&url);
                barrier.wait();
                V2.run_pending(&mut conn).map(|r| r.applied.len())
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

/// A pooled connection is migrated as it is, and goes back to the pool
/// outside any transaction and without the lock.
#[test]
fn a_pooled_connection() {
    let Some(url) = fresh_database() else { return };
    let pool = migrate::mysql::Pool::new(url.as_str()).unwrap();
    let mut conn = pool.get_conn().unwrap();
    assert_eq!(V2.run_pending(&mut conn).unwrap().applied.len(), 5);
    assert!(!in_transaction(conn.as_mut()));
    drop(conn);
    let mut again = pool.get_conn().unwrap();
    assert!(V2.run_pending(&mut again).unwrap().applied.is_empty());
}

/// `sql_mode` changes how MySQL reads quotes: migrate's own statements
/// quote with backticks, and the run-time checks read as the session does.
#[test]
fn ansi_quotes_and_no_backslash_escapes_sessions() {
    let Some(mut db) = Mysql::fresh() else { return };
    db.exec("SET SESSION sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES'");
    assert_eq!(V2.run_pending(db.conn()).unwrap().applied.len(), 5);
    assert!(V2.run_pending(db.conn()).unwrap().applied.is_empty());
    let mut driver = db.conn().driver();
    driver.default_schema().unwrap();
    assert_eq!(
        driver.sql_rules(),
        migrate::LexicalRules::Mysql {
            ansi_quotes: true,
            backslash_escapes: false
        }
    );
    // `$1` inside a string stays text; the placeholder outside binds.
    driver
        .execute(
            "INSERT INTO items (id, name) VALUES ($1, CONCAT('$1\\', \"x\"))",
            &[Value::Integer(9)],
        )
        .unwrap_err();
    let rows = driver
        .query("SELECT '$1\\' AS t, $1 AS n", &[Value::Integer(5)])
        .unwrap();
    assert_eq!(rows, [vec![Value::Text("$1\\".into()), Value::Integer(5)]]);
}

/// MySQL has no partial index: the history's `state` index keeps the
/// unfinished half of the boot check an empty range, however long the
/// history.
#[test]
fn boot_finds_unfinished_rows_through_an_index() {
    let Some(mut db) = Mysql::fresh() else { return };
    V2.run_pending(db.conn()).unwrap();
    db.exec(&format!(
        "INSERT INTO {HISTORY} SELECT seq, 'x', 'sql', 'c', 'c', 'c', 'applied', 'now', 0 \
         FROM seq_1000_to_2999; ANALYZE TABLE {HISTORY}"
    ));
    let plan: Vec<migrate::mysql::Row> = db
        .conn
        .query(format!(
            "EXPLAIN SELECT version, chained_checksum, state FROM {HISTORY} \
             WHERE state <> 'applied'"
        ))
        .unwrap();
    let key: Option<String> = plan[0].get("key").unwrap();
    assert_eq!(key.as_deref(), Some("migrate_schema_history_unfinished"));
}

#[test]
fn the_mysql_example_set_runs_and_rolls_back() {
    let Some(mut db) = Mysql::fresh() else { return };
    assert_eq!(
        MYSQL_EXAMPLE.run_pending(db.conn()).unwrap().applied.len(),
        5
    );
    db.exec("INSERT INTO users (id, email) VALUES (1, 'ada@example.com')");
    let notes: Vec<String> = db.conn.query("SELECT note FROM user_audit").unwrap();
    assert_eq!(notes, ["joined as ada@example.com"]);
    MYSQL_EXAMPLE.rollback_to(db.conn(), 0).unwrap();
    assert!(!db.table_exists("users"));
    assert!(db.versions(HISTORY).is_empty());
}

/// A user who may read but not create: the history's own statement fails,
/// and the error names the privilege to grant, not the migration.
#[test]
fn a_user_without_create_privilege_is_told_what_to_grant() {
    let Some(mut db) = Mysql::fresh() else { return };
    let database = db.url.rsplit('/').next().unwrap().to_owned();
    let user = format!("reader_{}", database.rsplit('_').next().unwrap());
    db.exec(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON {database}.* TO '{user}'@'%'"
    ));
    let (scheme_and_credentials, host) = db.url.split_once('@').unwrap();
    let (scheme, _) = scheme_and_credentials.split_once("://").unwrap();
    let mut reader = connect(&format!("{scheme}://{user}:pw@{host}"));
    let err = V1.run_pending(&mut reader).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "could not create the history table `{database}.migrate_schema_history`: \
             ERROR 1142 (42000): CREATE command denied to user '{user}'@"
        )),
        "{message}"
    );
    assert!(
        message.contains("the database user needs CREATE on the schema"),
        "{message}"
    );
    db.exec(&format!("DROP USER '{user}'@'%'"));
}

/// A no-transaction migration that opens a transaction and leaves it: the
/// runtime sees it, although it knows without asking after its own
/// statements, and the connection is not left holding it.
#[test]
fn a_no_transaction_migration_that_leaves_its_transaction_open_fails() {
    let Some(mut db) = Mysql::fresh() else { return };
    let err = MYSQL_LEFT_OPEN.run_pending(db.conn()).unwrap_err();
    assert!(
        err.to_string()
            .contains("left a transaction of its own open"),
        "{err}"
    );
    assert!(!in_transaction(db.conn()));
    let count: Option<u64> = db.conn.query_first("SELECT COUNT(*) FROM items").unwrap();
    assert_eq!(count, Some(0), "its uncommitted insert was rolled back");
    assert_eq!(state_of(db.conn(), 2).as_deref(), Some("in_progress"));
}

/// A session with `autocommit` off (a pool's init command): migrate's own
/// writes between steps still commit, and the setting is put back.
#[test]
fn a_session_with_autocommit_off_still_records_every_migration() {
    let Some(mut db) = Mysql::fresh() else { return };
    db.exec("SET autocommit = 0");
    let report = MYSQL_DDL_FIXED.run_pending(db.conn()).unwrap();
    assert_eq!(report.applied.len(), 2);
    assert!(!in_transaction(db.conn()), "nothing left uncommitted");
    let autocommit: Option<u32> = db.conn.query_first("SELECT @@autocommit").unwrap();
    assert_eq!(autocommit, Some(0), "the session's setting is put back");
    db.reconnect();
    assert_eq!(state_of(db.conn(), 1).as_deref(), Some("applied"));
    assert_eq!(state_of(db.conn(), 2).as_deref(), Some("applied"));
    assert!(MYSQL_DDL_FIXED
        .run_pending(db.conn())
        .unwrap()
        .applied
        .is_empty());

    // Put back when the run gives up waiting for the lock, too.
    let Some(mut db) = Mysql::fresh() else { return };
    let mut holder = db.other();
    take_the_lock(&mut holder, &db.url);
    db.exec("SET autocommit = 0");
    MYSQL_DDL_FIXED
        .runner()
        .lock_timeout(Duration::from_millis(100))
        .run_pending(db.conn())
        .unwrap_err();
    let autocommit: Option<u32> = db.conn.query_first("SELECT @@autocommit").unwrap();
    assert_eq!(autocommit, Some(0), "put back after a lock timeout");
}

/// A `CALL` returns a result per `SELECT` in its procedure: the failing
/// statement is still named by its place in the file.
#[test]
fn a_call_returning_rows_does_not_shift_the_failing_statement() {
    let Some(mut db) = Mysql::fresh() else { return };
    let message = MYSQL_CALL_DDL
        .run_pending(db.conn())
        .unwrap_err()
        .to_string();
    assert!(!db.table_exists("after_it"));
    assert!(
        message.contains("statement 3 of 4 (line 3) failed: ERROR 1146"),
        "{message}"
    );
    assert!(
        message.contains("committed statements 1 to 2 of this file"),
        "{message}"
    );

    let Some(mut db) = Mysql::fresh() else { return };
    let message = MYSQL_CALL_DATA
        .run_pending(db.conn())
        .unwrap_err()
        .to_string();
    // Which statement cannot be told from the results: none is named wrongly.
    assert!(message.contains("ERROR 1062"), "{message}");
    assert!(!message.contains("statement 4"), "{message}");
}

/// An unquoted column named `begin` in an event's one-statement body.
#[test]
fn a_begin_column_in_a_one_statement_event_body() {
    let Some(mut db) = Mysql::fresh() else { return };
    let message = MYSQL_EVENT_BEGIN_COLUMN
        .run_pending(db.conn())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("statement 2 of 3 (line 2) failed"),
        "{message}"
    );
    assert!(
        message.contains("1. line 1: CREATE EVENT tidy_sessions"),
        "{message}"
    );
}

/// A migration that sets `NO_BACKSLASH_ESCAPES` itself is read with it
/// after that statement: its `CREATE` is seen, it runs recorded, and the
/// session's `sql_mode` is put back after the run.
#[test]
fn a_migration_that_sets_sql_mode_is_read_with_it() {
    let Some(mut db) = Mysql::fresh() else { return };
    let mode_before: Option<String> = db.conn.query_first("SELECT @@sql_mode").unwrap();
    MYSQL_SETS_SQL_MODE.run_pending(db.conn()).unwrap();
    let mode_after: Option<String> = db.conn.query_first("SELECT @@sql_mode").unwrap();
    assert_eq!(mode_after, mode_before);
    let paths: Vec<(u32, String)> = db.conn.query("SELECT id, p FROM paths").unwrap();
    assert_eq!(paths, [(1, "C:\\".to_owned())]);
    assert!(db.table_exists("more_paths"));
    assert_eq!(state_of(db.conn(), 2).as_deref(), Some("applied"));
}

/// MariaDB's `SET STATEMENT ... FOR CREATE ...` is a schema change too.
#[test]
fn a_rust_migration_may_not_hide_a_schema_change_in_set_statement() {
    let Some(mut db) = Mysql::fresh() else { return };
    let message = MYSQL_RUST_SET_STATEMENT
        .run_pending(db.conn())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("`CREATE` (line 1 of the SQL passed to `Tx`) commits implicitly"),
        "{message}"
    );
    assert!(!db.table_exists("audit"));
    let items: Vec<u32> = db.conn.query("SELECT id FROM items").unwrap();
    assert!(items.is_empty(), "{items:?}");
}

fn autocommit_of(conn: &mut Conn) -> Option<u32> {
    conn.query_first("SELECT @@autocommit").unwrap()
}

/// A connection with autocommit off and a history to read: boot's own
/// read opens a transaction there, which cannot be told from the caller's
/// work in progress, so the run is refused with what to do, and nothing
/// of the caller's is committed.
#[test]
fn autocommit_off_with_a_history_is_told_to_turn_it_on() {
    let Some(mut db) = Mysql::fresh() else { return };
    db.exec("SET autocommit = 0");
    V1.run_pending(db.conn()).unwrap();
    assert_eq!(autocommit_of(db.conn()), Some(0));
    db.reconnect();
    db.exec("SET autocommit = 0");
    let err = V2.run_pending(db.conn()).unwrap_err();
    assert!(matches!(err, Error::InsideTransaction), "{err}");
    assert!(
        err.to_string()
            .contains("migrate on a connection with autocommit on"),
        "{err}"
    );
    assert_eq!(autocommit_of(db.conn()), Some(0));
    db.exec("ROLLBACK; SET autocommit = 1");
    assert_eq!(V2.run_pending(db.conn()).unwrap().applied.len(), 2);
}

/// `status` changes nothing of the caller's: its open transaction and its
/// autocommit setting stay.
#[test]
fn status_leaves_the_callers_transaction_alone() {
    let Some(mut db) = Mysql::fresh() else { return };
    V1.run_pending(db.conn()).unwrap();
    db.exec("CREATE TABLE mine (x INT) ENGINE=InnoDB");
    db.exec("SET autocommit = 0");
    db.exec("INSERT INTO mine VALUES (1)");
    assert_eq!(V1.status(db.conn()).unwrap().len(), 3);
    assert_eq!(autocommit_of(db.conn()), Some(0));
    db.exec("ROLLBACK");
    let kept: Option<i64> = db.conn.query_first("SELECT COUNT(*) FROM mine").unwrap();
    assert_eq!(kept, Some(0), "the caller's rolled-back row is gone");
    // And a run on it is refused: the insert is the caller's work in progress.
    db.exec("INSERT INTO mine VALUES (2)");
    let err = V2.run_pending(db.conn()).unwrap_err();
    assert!(matches!(err, Error::InsideTransaction), "{err}");
}

/// A no-transaction migration's own `SET autocommit = 0 ... COMMIT`
/// transaction is left whole: its failure commits none of it.
#[test]
fn a_migrations_own_autocommit_transaction_stays_whole() {
    let Some(mut db) = Mysql::fresh() else { return };
    MYSQL_OWN_AUTOCOMMIT.run_pending(db.conn()).unwrap_err();
    let rows: Option<i64> = db.other().query_first("SELECT COUNT(*) FROM acct").unwrap();
    assert_eq!(rows, Some(0), "nothing of its transaction was committed");
    assert_eq!(
        autocommit_of(db.conn()),
        Some(1),
        "the session is as it was"
    );
}

/// `SET STATEMENT sql_mode = ... FOR` lasts one statement; `SET STATEMENT
/// ... FOR CALL` returns several results; `PREPARE ... FROM '<ALTER>'` is
/// a schema change.
#[test]
fn set_statement_and_prepared_statements() {
    let Some(mut db) = Mysql::fresh() else { return };
    MYSQL_SET_STATEMENT_MODE.run_pending(db.conn()).unwrap();
    let notes: Vec<String> = db.conn.query("SELECT a FROM notes ORDER BY a").unwrap();
    assert_eq!(notes, ["it's; here"]);

    let Some(mut db) = Mysql::fresh() else { return };
    let message = MYSQL_SET_STATEMENT_CALL
        .run_pending(db.conn())
        .unwrap_err()
        .to_string();
    assert!(message.contains("statement 3 of 5 (line 3)"), "{message}");
    assert!(!message.contains("CREATE TABLE b"), "{message}");
    assert!(!db.table_exists("b"));

    let Some(mut db) = Mysql::fresh() else { return };
    MYSQL_PREPARE_DDL.run_pending(db.conn()).unwrap();
    let price: Option<i64> = db
        .conn
        .query_first("SELECT price FROM items WHERE id = 1")
        .unwrap();
    assert_eq!(price, Some(5));
    assert_eq!(state_of(db.conn(), 2).as_deref(), Some("applied"));
}

/// A no-transaction migration that turns autocommit off and ends with
/// uncommitted work: turning autocommit back on would commit it, so the
/// run reports the open transaction instead, and the work is rolled back.
#[test]
fn autocommit_off_left_by_a_migration_is_reported_not_committed() {
    let Some(mut db) = Mysql::fresh() else { return };
    let err = MYSQL_AUTOCOMMIT_LEFT_OPEN
        .run_pending(db.conn())
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "migration 2 (`0002_left_open.sql`) failed outside a transaction, so the database \
             may be partly changed and is marked dirty: the migration left a transaction of its \
             own open (a BEGIN, or on MySQL a SET autocommit = 0, without its COMMIT)"
        ),
        "{err}"
    );
    let rows: Option<i64> = db
        .other()
        .query_first("SELECT COUNT(*) FROM items")
        .unwrap();
    assert_eq!(rows, Some(0), "its uncommitted insert was not committed");
    assert_eq!(
        autocommit_of(db.conn()),
        Some(1),
        "the session is as it was"
    );
}

/// A history table in another database (`table = "app.schema_history"`):
/// migrate creates that database, keeps the history there for every
/// operation and locks on it, while the migrations run in the
/// connection's own database.
#[test]
fn a_history_table_in_another_database() {
    let Some(mut db) = Mysql::fresh() else { return };
    // The only test that uses the database `app`.
    db.exec("DROP DATABASE IF EXISTS app");
    assert_eq!(
        PG_SCHEMA_TABLE
            .run_pending(db.conn())
            .unwrap()
            .applied
            .len(),
        3
    );
    assert_eq!(db.versions("app.schema_history"), [1, 2, 3]);
    assert!(
        db.table_exists("items"),
        "the migrations ran in the connection's database"
    );
    assert!(!db.table_exists(HISTORY));
    assert!(PG_SCHEMA_TABLE
        .run_pending(db.conn())
        .unwrap()
        .applied
        .is_empty());
    db.exec("DROP DATABASE app");
}

/// MySQL's `lock_wait_timeout` bounds the ALTER's wait for the metadata
/// lock an application transaction holds; a schema change runs outside a
/// transaction there, so it is left dirty, and the error says that nothing
/// changed if the statement that waited was the first, and who was in the
/// way. The session's own timeouts are put back.
#[test]
fn a_ddl_lock_timeout_bounds_the_wait_for_a_metadata_lock() {
    let Some(mut db) = Mysql::fresh() else {
        return;
    };
    DDL_LOCK.runner().run_to(db.conn(), 1).unwrap();
    let timeouts = "SELECT @@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout";
    let before: (u64, u64) = db.conn().query_first(timeouts).unwrap().unwrap();
    let mut app = db.other();
    let app_id: u64 = app.query_first("SELECT CONNECTION_ID()").unwrap().unwrap();
    app.query_drop("START TRANSACTION").unwrap();
    app.query_drop("SELECT count(*) FROM accounts").unwrap();

    let start = std::time::Instant::now();
    let err = DDL_LOCK
        .runner()
        .ddl_lock_timeout(Duration::from_millis(500))
        .ddl_lock_retries(3)
        .run_pending(db.conn())
        .unwrap_err();
    let waited = start.elapsed();
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    let Error::DdlLockTimeout {
        version,
        attempts,
        cleanup,
        holders,
        ..
    } = &err
    else {
        panic!("expected DdlLockTimeout, got {err:?}");
    };
    // Not tried again: a dirty migration is not retried.
    assert_eq!(
        (*version, *attempts, *cleanup),
        (2, 1, migrate::Cleanup::LeftDirty)
    );
    assert!(
        holders
            .iter()
            .any(|h| h.starts_with(&format!("connection id {app_id}, "))),
        "{holders:?}"
    );
    let message = err.to_string();
    assert!(message.contains("`migrate repair 2 undone`"), "{message}");
    let after: (u64, u64) = db.conn().query_first(timeouts).unwrap().unwrap();
    assert_eq!(after, before);
    app.query_drop("COMMIT").unwrap();
    DDL_LOCK
        .runner()
        .repair(db.conn(), 2, migrate::Repair::Undone)
        .unwrap();
    assert_eq!(DDL_LOCK.run_pending(db.conn()).unwrap().applied.len(), 1);
}
