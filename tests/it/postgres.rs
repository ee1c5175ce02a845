//! The runtime on a real PostgreSQL server: the shared scenarios (see
//! `scenarios.rs`), then what only PostgreSQL has — server error positions,
//! `CREATE INDEX CONCURRENTLY`, schemas, the advisory lock. Each test
//! creates its own database, so they run in parallel.
//!
//! The server comes from `MIGRATE_TEST_POSTGRES_URL`, which `scripts/test`
//! (through `scripts/with-postgres`) sets. With `CI=true` a missing server
//! fails these tests; elsewhere they say they were skipped.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use migrate::postgres::{Client, NoTls};
use migrate::{Database, Driver, Error, LockStrategy, Tx, Value};

use crate::scenarios::{assert_failed, scenario_tests, Backend};
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
    // Process ids are reused within one run (the fault tests start hundreds
    // of processes): the clock keeps names unique.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "migrate_test_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = Client::connect(&server, NoTls).unwrap();
    // Concurrent CREATE DATABASE may find template1 "being accessed by other
    // users" (another CREATE copying it): the fault-injection tests create
    // hundreds of databases beside the others, so try again briefly.
    let mut attempt = 0;
    while let Err(e) = admin.batch_execute(&format!("CREATE DATABASE {name}")) {
        attempt += 1;
        let busy = e
            .as_db_error()
            .is_some_and(|d| d.message().contains("being accessed by other users"));
        assert!(busy && attempt < 50, "cannot create a test database: {e:?}");
        std::thread::sleep(Duration::from_millis(20 * attempt));
    }
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

/// A fresh database on the test server.
pub struct Postgres {
    url: String,
    client: Client,
}

impl Backend for Postgres {
    type Conn = Client;
    const MISSING_TABLE: &'static str = "ERROR: relation \"no_such_table\" does not exist";

    fn fresh() -> Option<Self> {
        let url = fresh_database()?;
        let client = connect(&url);
        Some(Postgres { url, client })
    }
    fn conn(&mut self) -> &mut Client {
        &mut self.client
    }
    fn reconnect(&mut self) {
        self.client = connect(&self.url);
    }
    fn versions(&mut self, table: &str) -> Vec<u64> {
        versions(&mut self.client, table)
    }
    fn table_exists(&mut self, name: &str) -> bool {
        table_exists(&mut self.client, name)
    }
    fn exec(&mut self, sql: &str) {
        self.client.batch_execute(sql).unwrap();
    }
    fn other(&self) -> Client {
        connect(&self.url)
    }
    fn read_only(&self) -> Client {
        let mut client = connect(&self.url);
        client
            .batch_execute("SET default_transaction_read_only = on")
            .unwrap();
        client
    }
    fn location(&self) -> String {
        self.url.clone()
    }
    fn connect(location: &str) -> Client {
        connect(location)
    }
    fn exec_on(conn: &mut Client, sql: &str) {
        conn.batch_execute(sql).unwrap();
        // Outside a transaction, a (simple-protocol) statement is its own:
        // the transaction started when the statement did.
        assert_eq!(
            first_text(conn, "SELECT now() = statement_timestamp()").as_deref(),
            Some("t"),
            "the connection was left in a transaction"
        );
    }
    fn item_names(&mut self) -> Vec<String> {
        self.client
            .query("SELECT name FROM items ORDER BY id", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
}

scenario_tests!(Postgres);

/// The first value `sql` answers, as text, over the simple-query protocol.
pub fn first_text(conn: &mut Client, sql: &str) -> Option<String> {
    conn.simple_query(sql)
        .unwrap()
        .into_iter()
        .find_map(|m| match m {
            migrate::postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
}

const HISTORY: &str = "migrate_schema_history";

#[test]
fn errors_carry_the_line_and_column_in_the_migration() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let err = FAILING.run_pending(db.conn()).unwrap_err();
    assert!(
        err.to_string()
            .contains("ERROR: relation \"no_such_table\" does not exist (line 2, column 13)"),
        "{err}"
    );
}

#[test]
fn the_example_set_runs_on_postgres() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    assert_eq!(EXAMPLE.run_pending(db.conn()).unwrap().applied.len(), 4);
    EXAMPLE.rollback_to(db.conn(), 0).unwrap();
    assert!(!db.table_exists("users"));
}

#[test]
fn create_index_concurrently_runs_outside_a_transaction() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    assert_eq!(
        PG_CONCURRENTLY
            .run_pending(db.conn())
            .unwrap()
            .applied
            .len(),
        2
    );
    assert!(db.table_exists("items_by_name"));
    PG_CONCURRENTLY.rollback_to(db.conn(), 1).unwrap();
    assert!(!db.table_exists("items_by_name"));
}

#[test]
fn a_schema_qualified_history_table() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    PG_SCHEMA_TABLE.run_pending(db.conn()).unwrap();
    assert_eq!(db.versions("app.schema_history"), [1, 2, 3]);
    assert!(!db.table_exists(HISTORY));
    assert!(PG_SCHEMA_TABLE
        .run_pending(db.conn())
        .unwrap()
        .applied
        .is_empty());
}

#[test]
fn sixteen_threads_booting_at_once() {
    let Some(url) = fresh_database() else { return };
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
    let Some(url) = fresh_database() else { return };
    let mut holder = connect(&url);
    V1.run_pending(&mut holder).unwrap();
    // Hold the history table's lock as a running migrator would: the key is
    // the first 8 bytes of SHA-256 over `migrate:<schema>.<table>`.
    holder
        .batch_execute(
            "SELECT pg_advisory_lock(('x' || substr(encode(sha256(\
             'migrate:public.migrate_schema_history'::bytea), 'hex'), 1, 16))::bit(64)::bigint)",
        )
        .unwrap();
    let mut other = connect(&url);
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
            // Named as an operator finds it: the backend and the client's address.
            let holder = holder.as_deref().unwrap_or_default();
            assert!(
                holder.starts_with(&format!("backend pid {holder_pid}, ")),
                "{holder}"
            );
            assert!(holder.contains("client 127.0.0.1:"), "{holder}");
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

#[test]
fn values_fit_whatever_type_the_server_infers() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let mut tx = db.conn().driver();
    tx.batch(
        "CREATE TABLE typed (i2 SMALLINT, i4 INTEGER, flag BOOLEAN, f4 REAL, doc JSONB, \
         price NUMERIC)",
    )
    .unwrap();
    tx.execute(
        "INSERT INTO typed (i2, i4, flag, f4, doc) VALUES ($1, $2, $3, $4, $5)",
        &[
            3.into(),
            40_000.into(),
            true.into(),
            1.5.into(),
            r#"{"a": 1}"#.into(),
        ],
    )
    .unwrap();
    let rows = tx
        .query("SELECT i2, i4, flag, f4, doc::text FROM typed", &[])
        .unwrap();
    assert_eq!(
        rows,
        [vec![
            Value::Integer(3),
            Value::Integer(40_000),
            Value::Integer(1),
            Value::Real(1.5),
            Value::Text(r#"{"a": 1}"#.into()),
        ]]
    );
    // Out of range for the inferred type, or a type a Value cannot hold: clear errors.
    let err = tx
        .execute("UPDATE typed SET i2 = $1", &[100_000.into()])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot bind Integer(100000) to a parameter of type int2"),
        "{err}"
    );
    let err = tx.query("SELECT price FROM typed", &[]).unwrap_err();
    assert!(
        err.to_string()
            .contains("cast it in the query (e.g. `price::text`)"),
        "{err}"
    );
}

/// Issue: with `public` migrated and `search_path = tenant1, public`, boot
/// read public's history and never migrated the new tenant. An unqualified
/// history table lives in `current_schema()` for every operation.
#[test]
fn every_tenant_schema_is_migrated_on_its_own() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    V1.run_pending(db.conn()).unwrap();
    db.exec("CREATE SCHEMA tenant1; CREATE SCHEMA tenant2;");
    for tenant in ["tenant1", "tenant2"] {
        let mut conn = db.other();
        conn.batch_execute(&format!("SET search_path = {tenant}, public"))
            .unwrap();
        let status = V1.status(&mut conn).unwrap();
        assert!(
            status.iter().all(|s| s.state == migrate::State::Pending),
            "{tenant} read another schema's history: {status:?}"
        );
        let report = V1.run_pending(&mut conn).unwrap();
        assert_eq!(report.applied.len(), 3, "{tenant} was not migrated");
        assert_eq!(
            db.versions(&format!("{tenant}.migrate_schema_history")),
            [1, 2, 3]
        );
        assert!(db
            .conn()
            .query_one(
                "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'items'",
                &[&tenant]
            )
            .is_ok());
        // And its next boot is the one-read hot path.
        assert!(V1.run_pending(&mut conn).unwrap().applied.is_empty());
    }
    assert_eq!(db.versions("public.migrate_schema_history"), [1, 2, 3]);
}

/// Issue: a `pg_dump` file as the first migration empties `search_path`
/// for the session, which hid the history table from the runtime's own
/// statements.
#[test]
fn a_pg_dump_file_as_the_first_migration() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let report = PG_DUMP.run_pending(db.conn()).unwrap();
    assert_eq!(report.applied.len(), 2);
    assert_eq!(db.versions("public.migrate_schema_history"), [1, 2]);
    db.reconnect();
    assert!(PG_DUMP.run_pending(db.conn()).unwrap().applied.is_empty());
}

/// Issue: the no-transaction splitter cut `BEGIN ATOMIC ... END` bodies at
/// their inner `;`, read `ELSE'C:\'` as an escape string, and placed errors
/// on the statement's lines rather than the file's.
#[test]
fn no_transaction_statements_are_split_where_postgres_splits_them() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    PG_NO_TX_BODIES.run_pending(db.conn()).unwrap();
    // The whole body arrived: the function returns its last statement's value.
    let three: i32 = db.conn().query_one("SELECT f(1)", &[]).unwrap().get(0);
    assert_eq!(three, 3);
    assert!(db.table_exists("t_x2"));

    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let err = PG_NO_TX_ERROR_LINE.run_pending(db.conn()).unwrap_err();
    assert!(
        err.to_string().contains("(line 7, column 8)"),
        "the error is not placed on the file's line: {err}"
    );
}

/// Issue: the runtime's own statements failing for lack of privileges were
/// blamed on the migration ("fix the migration"). A role that may not
/// create in the schema gets the history table's error, naming the grant.
#[test]
fn a_role_without_privileges_is_told_what_to_grant() {
    let Some(url) = fresh_database() else { return };
    let mut admin = connect(&url);
    let role = format!("app_{}", std::process::id());
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN; REVOKE CREATE ON SCHEMA public FROM PUBLIC;"
        ))
        .unwrap();
    let (scheme_and_user, rest) = url.split_once('@').unwrap();
    let (scheme, _) = scheme_and_user.rsplit_once('/').unwrap();
    let mut app = connect(&format!("{scheme}/{role}@{rest}"));
    let err = V1.run_pending(&mut app).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::History { .. }), "{message}");
    assert!(
        message.starts_with("could not create the history table `public.migrate_schema_history`"),
        "{message}"
    );
    assert!(message.contains("permission denied"), "{message}");
    assert!(
        message.contains("the database user needs CREATE on the schema"),
        "{message}"
    );
    assert!(!message.contains("fix the migration"), "{message}");
    admin
        .batch_execute(&format!("DROP OWNED BY {role}"))
        .unwrap();
}

/// Issue: a history table whose `applied_at` has another type (made by
/// hand, or by an older tool) failed inside the migration's transaction
/// and was blamed on the migration.
#[test]
fn a_history_table_with_other_column_types_is_named_as_such() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    db.exec(
        "CREATE TABLE migrate_schema_history (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         kind TEXT NOT NULL, checksum TEXT NOT NULL, loose_checksum TEXT NOT NULL, \
         chained_checksum TEXT NOT NULL, state TEXT NOT NULL, \
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), execution_ms BIGINT NOT NULL)",
    );
    let err = V1.run_pending(db.conn()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::History { .. }), "{message}");
    assert!(message.contains("applied_at"), "{message}");
    assert!(
        message.contains("exists but was not created by migrate"),
        "{message}"
    );
    assert!(!db.table_exists("items"), "the migration was applied");
}

/// Adversarial review: a Rust migration that ignored one of its own errors
/// left PostgreSQL's transaction aborted, and the history write that
/// followed was reported as the history table's fault.
#[test]
fn an_ignored_error_is_blamed_on_the_migration_not_the_history() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let err = PG_SWALLOWED_ERROR.run_pending(db.conn()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Failed { version: 2, .. }), "{message}");
    assert!(
        message.contains("aborted by an error it ignored"),
        "{message}"
    );
    assert_eq!(db.versions(HISTORY), [1]);
}

/// Adversarial review: a migration's session-level `SET search_path` (an old
/// pg_dump) leaked into the next set run on the same client, whose history
/// then landed in the wrong schema and was re-applied on the next boot.
#[test]
fn a_migrations_search_path_does_not_leak_into_the_next_set() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    PG_SETS_SEARCH_PATH.run_pending(db.conn()).unwrap();
    PLUGIN.run_pending(db.conn()).unwrap();
    assert_eq!(
        db.versions("public.billing_schema_history").len(),
        PLUGIN.len()
    );
    let path: String = db
        .conn()
        .query_one("SELECT current_setting('search_path')", &[])
        .unwrap()
        .get(0);
    assert_eq!(path, "\"$user\", public");
    db.reconnect();
    assert!(PLUGIN.run_pending(db.conn()).unwrap().applied.is_empty());
    assert!(PG_SETS_SEARCH_PATH
        .run_pending(db.conn())
        .unwrap()
        .applied
        .is_empty());
}

/// Adversarial review: another tool's table of the same name in a schema
/// later on `search_path` broke boot for a new tenant.
#[test]
fn another_schemas_table_on_the_search_path_does_not_block_a_new_tenant() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    db.exec(
        "CREATE TABLE public.migrate_schema_history (version int, applied_on text); \
         CREATE SCHEMA tenant_new; CREATE SCHEMA \"Tenant\"\"1\";",
    );
    for schema in ["tenant_new", "\"Tenant\"\"1\""] {
        let mut conn = db.other();
        conn.batch_execute(&format!("SET search_path = {schema}, public"))
            .unwrap();
        let report = V1.run_pending(&mut conn).unwrap();
        assert_eq!(report.applied.len(), 3, "{schema}");
        assert!(V1.run_pending(&mut conn).unwrap().applied.is_empty());
    }
}

/// Adversarial review: on a read-only connection the slow path created the
/// history table first, so strict mode and a dirty history reported "could
/// not create" instead of what was wrong.
#[test]
fn a_read_only_connection_reports_dirty_and_future_versions() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    V2.run_pending(db.conn()).unwrap();
    let mut replica = db.read_only();
    let err = V1
        .runner()
        .strict(true)
        .run_pending(&mut replica)
        .unwrap_err();
    assert!(matches!(err, Error::FutureVersions { .. }), "{err}");
    db.exec("UPDATE migrate_schema_history SET state = 'in_progress' WHERE version = 5");
    let err = V2.run_pending(&mut replica).unwrap_err();
    assert!(matches!(err, Error::Dirty { version: 5, .. }), "{err}");
}

fn deallocate(tx: &mut dyn migrate::Tx) -> migrate::Result<()> {
    tx.batch("DEALLOCATE ALL")
}

/// Adversarial review: `DEALLOCATE ALL` in a migration dropped the driver's
/// prepared history statements and was reported as the history table's
/// fault. SQL migrations sent whole use none, alone or grouped; a group
/// holding a Rust migration goes statement by statement, and still does.
#[test]
fn a_migration_dropping_prepared_statements_is_named_as_the_cause() {
    use migrate::__private::Migration;
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let report = PG_DEALLOCATE
        .runner()
        .grouped(true)
        .run_pending(db.conn())
        .unwrap();
    assert_eq!(report.applied.len(), 2);

    let sql = Migration::__sql("CREATE TABLE t (x INT);", migrate::SqlMode::Transaction);
    let set = leaked(vec![
        Migration::__new(1, "t", "0001_t.sql", sql, placeholder_sums()),
        Migration::__new(
            2,
            "drop",
            "0002_drop.rs",
            Migration::__rust(deallocate),
            placeholder_sums(),
        ),
    ]);
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let err = set
        .runner()
        .grouped(true)
        .run_pending(db.conn())
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Failed { version: 2, .. }), "{message}");
    assert!(
        message.contains("dropped this connection's prepared statements"),
        "{message}"
    );
    assert_eq!(db.versions(HISTORY), Vec::<u64>::new());
}

/// Adversarial review: with `standard_conforming_strings = off` a backslash
/// escapes in every string, so a COMMIT that standard rules read inside a
/// string runs. The run-time check reads with the server's setting.
#[test]
fn the_run_time_check_follows_standard_conforming_strings() {
    let escaped = unchecked(&[(
        "0001_escaped.sql",
        "CREATE TABLE t (x text);\nINSERT INTO t VALUES ('C:\\' || ');\nCOMMIT;\nINSERT INTO t VALUES ('x');",
    )]);
    let Some(url) = fresh_database() else { return };
    let database = url.rsplit('/').next().unwrap().to_owned();
    connect(&url)
        .batch_execute(&format!(
            "ALTER DATABASE {database} SET standard_conforming_strings = off"
        ))
        .unwrap();
    let mut client = connect(&url);
    let err = escaped.run_pending(&mut client).unwrap_err();
    assert!(
        err.to_string()
            .contains("`COMMIT` (line 3 of the migration) is transaction control"),
        "{err}"
    );
    assert!(!table_exists(&mut client, "t"));
}

/// Adversarial review: a migration may turn `standard_conforming_strings`
/// off for the session, after which a backslash escapes in every string; the
/// next migration's hidden ROLLBACK then ran and its history row claimed it
/// applied. The run-time check reads PostgreSQL SQL both ways.
#[test]
fn a_migration_turning_standard_strings_off_does_not_hide_the_next_ones_rollback() {
    let sets_it_off = unchecked(&[
        (
            "0001_legacy_dump_header.sql",
            "SET standard_conforming_strings = off;",
        ),
        (
            "0002_accounts.sql",
            "CREATE TABLE accounts (id int);\nCOMMENT ON TABLE accounts IS 'Customer\\''; ROLLBACK; --';",
        ),
    ]);
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let err = sets_it_off.run_pending(db.conn()).unwrap_err();
    assert!(
        err.to_string()
            .contains("`ROLLBACK` (line 2 of the migration) is transaction control"),
        "{err}"
    );
    assert_eq!(db.versions(HISTORY), [1]);
    assert!(!db.table_exists("accounts"));
}

/// The savepoint `begin` sets tells a transaction a step ended and began
/// again from the runtime's own; an aborted one is still the runtime's.
#[test]
fn a_transaction_ended_and_begun_again_is_not_intact() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let mut driver = db.conn().driver();
    driver.begin().unwrap();
    assert_eq!(driver.transaction_intact().unwrap(), Some(true));
    assert_eq!(driver.in_transaction(), Some(true));
    driver.batch("ROLLBACK; BEGIN").unwrap();
    assert_eq!(driver.transaction_intact().unwrap(), Some(false));
    driver.rollback().unwrap();
    assert_eq!(driver.in_transaction(), Some(false));
    driver.begin().unwrap();
    assert!(driver.batch("SELECT 1/0").is_err());
    assert_eq!(driver.transaction_intact().unwrap(), Some(true));
    driver.rollback().unwrap();
}

/// After a step's own COMMIT the connection is outside any transaction:
/// not intact either.
#[test]
fn a_transaction_a_step_committed_is_not_intact() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let mut driver = db.conn().driver();
    driver.begin().unwrap();
    driver.batch("COMMIT").unwrap();
    assert_eq!(driver.transaction_intact().unwrap(), Some(false));
    assert_eq!(driver.in_transaction(), Some(false));
}

/// A transactional SQL migration goes to the server whole — BEGIN, the
/// step, its history row, COMMIT — in one message; what stopped it is
/// still told apart, and only that migration is rolled back.
#[test]
fn a_migration_sent_whole_fails_where_it_failed_and_alone() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    // A deferred constraint the migration violates is checked with it.
    let deferred = unchecked(&[
        (
            "0001_parent.sql",
            "CREATE TABLE parent (id INT PRIMARY KEY);\n\
             CREATE TABLE child (p INT REFERENCES parent DEFERRABLE INITIALLY DEFERRED);",
        ),
        ("0002_orphan.sql", "INSERT INTO child VALUES (7);"),
        ("0003_after.sql", "CREATE TABLE after_orphan (x INT);"),
    ]);
    let err = deferred.run_pending(db.conn()).unwrap_err();
    assert_failed(&err, 2, migrate::Cleanup::RolledBack);
    assert!(err.to_string().contains("foreign key"), "{err}");
    assert_eq!(db.versions(HISTORY), [1]);
    assert!(!db.table_exists("after_orphan"));
    let orphans: i64 = db
        .conn()
        .query_one("SELECT count(*) FROM child", &[])
        .unwrap()
        .get(0);
    assert_eq!(orphans, 0);

    // A syntax error: the server parses the message whole, so nothing of
    // it ran; the position is the file's.
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let typo = unchecked(&[
        ("0001_ok.sql", "CREATE TABLE ok_t (x INT);"),
        (
            "0002_typo.sql",
            "CREATE TABLE fine (x INT);\n  CREAT TABLE typo (x INT);",
        ),
    ]);
    let err = typo.run_pending(db.conn()).unwrap_err();
    let message = err.to_string();
    assert_failed(&err, 2, migrate::Cleanup::RolledBack);
    assert!(message.contains("(line 2, column 3)"), "{message}");
    assert!(!db.table_exists("fine"));
    assert_eq!(db.versions(HISTORY), [1]);
    // The connection is left outside any transaction.
    Postgres::exec_on(db.conn(), "SELECT 1");
}

/// The history row written inside the message holds the step's time, and
/// values inline are quoted whatever `standard_conforming_strings` says.
#[test]
fn the_history_row_of_a_migration_sent_whole_holds_its_time_and_its_name() {
    let Some(url) = fresh_database() else { return };
    let database = url.rsplit('/').next().unwrap().to_owned();
    connect(&url)
        .batch_execute(&format!(
            "ALTER DATABASE {database} SET standard_conforming_strings = off"
        ))
        .unwrap();
    let set = unchecked(&[(
        "0001_o'brien\\n.sql",
        "CREATE TABLE slept (x INT);\nSELECT pg_sleep(0.25);",
    )]);
    let mut client = connect(&url);
    set.run_pending(&mut client).unwrap();
    let row = client
        .query_one(
            "SELECT name, execution_ms FROM migrate_schema_history WHERE version = 1",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "o'brien\\n");
    let ms: i64 = row.get(1);
    assert!((250..5000).contains(&ms), "execution_ms {ms}");
}

/// Adversarial review: errors of PostgreSQL's parser other than syntax
/// errors (an invalid byte, a feature not implemented) stop the message
/// before anything runs; they were taken for a step that ended its own
/// transaction and left it dirty. And an unterminated comment quoted the
/// runtime's own statements after the migration.
#[test]
fn a_migration_the_parser_refuses_never_ran_and_is_not_dirty() {
    for (file, sql, says) in [
        (
            "0002_bytes.sql",
            "CREATE TABLE fine (x TEXT);\nINSERT INTO fine VALUES (E'\\xff');",
            "invalid byte sequence",
        ),
        (
            "0002_assertion.sql",
            "CREATE TABLE fine (x INT);\nCREATE ASSERTION a CHECK (true);",
            "not yet implemented",
        ),
        (
            "0002_comment.sql",
            "CREATE TABLE fine (x INT); /* unterminated",
            "unterminated /* comment",
        ),
    ] {
        let Some(mut db) = Postgres::fresh() else {
            return;
        };
        let set = unchecked(&[("0001_ok.sql", "CREATE TABLE ok_t (x INT);"), (file, sql)]);
        let err = set.run_pending(db.conn()).unwrap_err();
        let message = err.to_string();
        assert_failed(&err, 2, migrate::Cleanup::RolledBack);
        assert!(message.contains(says), "{file}: {message}");
        assert!(!message.contains("SET CONSTRAINTS"), "{file}: {message}");
        assert!(
            !message.contains("migrate_schema_history"),
            "{file}: {message}"
        );
        assert_eq!(db.versions(HISTORY), [1], "{file}");
        assert!(!db.table_exists("fine"), "{file}");
    }
}

/// A grouped run goes to the server whole too: one message for all its
/// migrations. A failure still names the migration that failed, with its
/// line, and rolls back the whole group; each migration's row holds its
/// own time.
#[test]
fn a_group_sent_whole_names_the_migration_that_failed_and_times_each() {
    use migrate::Cleanup::GroupRolledBack;
    let failing = |n: &'static str, sql: &'static str| {
        unchecked(&[
            (
                "0001_first.sql",
                "CREATE TABLE first_t (x INT PRIMARY KEY);\n\
                 CREATE TABLE parent (id INT PRIMARY KEY);\n\
                 CREATE TABLE child (p INT REFERENCES parent DEFERRABLE INITIALLY DEFERRED);",
            ),
            (n, sql),
            ("0003_third.sql", "CREATE TABLE third_t (x INT);"),
        ])
    };
    for (file, sql, version, says) in [
        // An error with a position: line and column in the file.
        (
            "0002_missing.sql",
            "CREATE TABLE second_t (x INT);\nSELECT nosuch FROM second_t;",
            2,
            "(line 2, column 8)",
        ),
        // Without one: found by the mark each migration sets.
        (
            "0002_duplicate.sql",
            "INSERT INTO first_t VALUES (1);\nINSERT INTO first_t VALUES (1);",
            2,
            "duplicate key",
        ),
        // Refused by the parser: nothing ran.
        (
            "0002_bytes.sql",
            "CREATE TABLE second_t (x TEXT);\nINSERT INTO second_t VALUES (E'\\xff');",
            2,
            "invalid byte sequence",
        ),
        // A deferred constraint: checked at the end, the last one named.
        (
            "0002_orphan.sql",
            "INSERT INTO child VALUES (7);",
            3,
            "foreign key",
        ),
    ] {
        let Some(mut db) = Postgres::fresh() else {
            return;
        };
        let err = failing(file, sql)
            .runner()
            .grouped(true)
            .run_pending(db.conn())
            .unwrap_err();
        let message = err.to_string();
        assert_failed(&err, version, GroupRolledBack);
        assert!(message.contains(says), "{file}: {message}");
        assert!(!db.table_exists("first_t"), "{file}");
        assert!(db.versions(HISTORY).is_empty(), "{file}");
    }

    // A history write refused inside the group (a trigger the first
    // migration installs) is the history's error, and rolls back the group.
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let trap = unchecked(&[
        (
            "0001_trap.sql",
            "CREATE FUNCTION trap() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.version = 2 THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;\n\
             CREATE TRIGGER trap BEFORE INSERT ON migrate_schema_history \
             FOR EACH ROW EXECUTE FUNCTION trap();",
        ),
        ("0002_victim.sql", "CREATE TABLE victim (x INT);"),
        ("0003_after.sql", "CREATE TABLE after_victim (x INT);"),
    ]);
    let err = trap
        .runner()
        .grouped(true)
        .run_pending(db.conn())
        .unwrap_err();
    assert!(matches!(err, Error::History { .. }), "{err}");
    assert!(err.to_string().contains("refused"), "{err}");
    assert!(!db.table_exists("victim"));
    assert!(db.versions(HISTORY).is_empty());

    // A clean group: every row, each with its own time.
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let timed = unchecked(&[
        ("0001_quick.sql", "CREATE TABLE quick (x INT);"),
        (
            "0002_slow.sql",
            "CREATE TABLE slow (x INT);\nSELECT pg_sleep(0.3);",
        ),
        ("0003_quick_again.sql", "CREATE TABLE quick_again (x INT);"),
    ]);
    let report = timed.runner().grouped(true).run_pending(db.conn()).unwrap();
    assert_eq!(report.applied.len(), 3);
    assert!(
        report.applied[1].duration >= Duration::from_millis(290),
        "{report:?}"
    );
    assert!(
        report.applied[0].duration < Duration::from_millis(250),
        "{report:?}"
    );
    let rows: Vec<i64> = db
        .conn()
        .query(
            "SELECT execution_ms FROM migrate_schema_history ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(rows[0] < 250 && rows[2] < 250, "{rows:?}");
    assert!((290..5000).contains(&rows[1]), "{rows:?}");
    // Nothing of the marks stays with the session.
    let left = first_text(
        db.conn(),
        "SELECT coalesce(current_setting('migrate.step', true), '')",
    );
    assert_eq!(left.as_deref(), Some(""));
}

/// Adversarial review of groups sent whole:
/// - a statement a migration leaves unfinished fails at the runtime's text
///   after it, outside every migration: it was pinned on migration 1;
/// - on a `SQL_ASCII` database the server counts positions in bytes, and
///   non-ASCII text before an error moved it into another migration;
/// - a migration casting a text that looked like the runtime's busy-lock
///   signal made the run wait for a lock nobody held;
/// - a migration turning `standard_conforming_strings` off changed how the
///   next one in the group was read (the server reads a message whole).
#[test]
fn a_group_sent_whole_blames_the_right_migration_whatever_its_text() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let unfinished = unchecked(&[
        ("0001_first.sql", "CREATE TABLE first_t (x INT);"),
        (
            "0002_second.sql",
            "CREATE TABLE second_t (x INT);\nCREATE TABLE broken (x INT",
        ),
        ("0003_third.sql", "CREATE TABLE third_t (x INT);"),
    ]);
    let err = unfinished
        .runner()
        .grouped(true)
        .run_pending(db.conn())
        .unwrap_err();
    assert_failed(&err, 2, migrate::Cleanup::GroupRolledBack);
    assert!(err.to_string().contains("(line 2, column 27)"), "{err}");

    let server = std::env::var("MIGRATE_TEST_POSTGRES_URL").unwrap();
    let name = format!("migrate_test_ascii_{}", std::process::id());
    connect(&server)
        .batch_execute(&format!(
            "CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' \
             TEMPLATE template0"
        ))
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    let mut ascii = connect(&format!("{base}/{name}"));
    let accents: &'static str = Box::leak(
        format!("-- {}\nCREATE TABLE first_t (x INT);", "é".repeat(1000)).into_boxed_str(),
    );
    let set = unchecked(&[
        ("0001_first.sql", accents),
        (
            "0002_second.sql",
            "CREATE TABLE second_t (x INT);\nSELECT nosuch FROM second_t;",
        ),
        ("0003_third.sql", "CREATE TABLE third_t (x INT);"),
    ]);
    let err = set
        .runner()
        .grouped(true)
        .run_pending(&mut ascii)
        .unwrap_err();
    assert_failed(&err, 2, migrate::Cleanup::GroupRolledBack);
    assert!(err.to_string().contains("(line 2, column 8)"), "{err}");

    for grouped in [false, true] {
        let Some(mut db) = Postgres::fresh() else {
            return;
        };
        let forged = unchecked(&[
            ("0001_a.sql", "CREATE TABLE a (x INT);"),
            (
                "0002_forged.sql",
                "SELECT (SELECT 'migrate: the migration lock is busy: imported row 17')::int;",
            ),
        ]);
        let started = std::time::Instant::now();
        let err = forged
            .runner()
            .grouped(grouped)
            .lock_timeout(Duration::from_secs(5))
            .run_pending(db.conn())
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "{err}");
        assert!(matches!(err, Error::Failed { version: 2, .. }), "{err}");
        assert!(err.to_string().contains("invalid input syntax"), "{err}");
    }

    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    let legacy = unchecked(&[
        ("0001_legacy.sql", "SET standard_conforming_strings = off;"),
        (
            "0002_data.sql",
            "CREATE TABLE t (x text);\nINSERT INTO t VALUES ('a\\\\b');",
        ),
    ]);
    legacy
        .runner()
        .grouped(true)
        .run_pending(db.conn())
        .unwrap();
    let stored: String = db.conn().query_one("SELECT x FROM t", &[]).unwrap().get(0);
    assert_eq!(stored, "a\\b", "read as after migration 1, as alone");
}

/// An application session that read `accounts` in a transaction it keeps
/// open: an `ALTER TABLE accounts` waits for it, and every query on
/// `accounts` arriving after the ALTER queues behind the ALTER.
/// With its backend's pid.
fn app_session_reading_accounts(url: &str) -> (Client, String) {
    let mut app = connect(url);
    let pid = first_text(&mut app, "SELECT pg_backend_pid()").unwrap();
    app.batch_execute("SET application_name = 'billing-app'; BEGIN; SELECT count(*) FROM accounts")
        .unwrap();
    (app, pid)
}

/// Issue: a migration's `ALTER TABLE` behind a long application
/// transaction stalled every query on the table. With a DDL lock timeout
/// it gives up after the timeout, rolled back; a query arriving meanwhile
/// waits no longer than that; the error names the session in the way.
#[test]
fn a_ddl_lock_timeout_gives_up_and_names_the_session_in_the_way() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    DDL_LOCK.runner().run_to(db.conn(), 1).unwrap();
    let (app, app_pid) = app_session_reading_accounts(&db.url);

    let timeout = Duration::from_millis(300);
    let url = db.url.clone();
    let migrator = std::thread::spawn(move || {
        DDL_LOCK
            .runner()
            .ddl_lock_timeout(timeout)
            .run_pending(&mut connect(&url))
    });
    // Another query on the table, once the ALTER waits: it queues behind
    // the ALTER until the ALTER gives up.
    let mut other = db.other();
    let start = std::time::Instant::now();
    while first_text(
        &mut other,
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND mode = 'AccessExclusiveLock'",
    )
    .as_deref()
        != Some("1")
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the ALTER never waited"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let queued = std::time::Instant::now();
    assert_eq!(
        first_text(&mut other, "SELECT count(*) FROM accounts").as_deref(),
        Some("2")
    );
    let waited = queued.elapsed();
    assert!(
        waited < timeout + Duration::from_millis(250),
        "an application query waited {waited:?} behind the migration"
    );

    let err = migrator.join().unwrap().unwrap_err();
    let Error::DdlLockTimeout {
        version,
        file,
        attempts,
        holders,
        ..
    } = &err
    else {
        panic!("expected DdlLockTimeout, got {err:?}");
    };
    assert_eq!(
        (*version, file.as_str(), *attempts),
        (2, "0002_add_note.sql", 1)
    );
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert!(
        holders[0].starts_with(&format!(
            "pid {app_pid}, application_name 'billing-app', idle in transaction since "
        )),
        "{holders:?}"
    );
    assert!(
        holders[0].contains("last query: ")
            && holders[0].ends_with("SELECT count(*) FROM accounts"),
        "{holders:?}"
    );
    let message = err.to_string();
    assert!(message.contains("`0002_add_note.sql`"), "{message}");
    assert!(message.contains("300 ms"), "{message}");
    assert!(message.contains("lock timeout"), "{message}");
    assert_eq!(db.versions(HISTORY), [1]);
    assert_eq!(
        first_text(
            db.conn(),
            "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"
        )
        .as_deref(),
        Some("0")
    );
    // The session's own lock_timeout is untouched.
    assert_eq!(
        first_text(db.conn(), "SHOW lock_timeout").as_deref(),
        Some("0")
    );
    drop(app);
}

/// With retries, the migration goes through once the application's
/// transaction ends; sync and async clients, alone and grouped.
#[test]
fn a_ddl_lock_retry_succeeds_once_the_application_transaction_ends() {
    for (asynchronous, grouped) in [(false, false), (true, false), (false, true)] {
        let Some(mut db) = Postgres::fresh() else {
            return;
        };
        DDL_LOCK.runner().run_to(db.conn(), 1).unwrap();
        let (mut app, _) = app_session_reading_accounts(&db.url);
        let url = db.url.clone();
        let migrator = std::thread::spawn(move || {
            let runner = DDL_LOCK
                .runner()
                .grouped(grouped)
                .ddl_lock_timeout(Duration::from_millis(100))
                .ddl_lock_retries(20);
            if asynchronous {
                let runtime = tokio::runtime::Runtime::new().unwrap();
                runtime.block_on(async {
                    let mut client = crate::postgres_async::connect_async(&url).await;
                    runner.run_pending_async(&mut client).await
                })
            } else {
                runner.run_pending(&mut connect(&url))
            }
        });
        std::thread::sleep(Duration::from_millis(400));
        app.batch_execute("COMMIT").unwrap();
        let report = migrator.join().unwrap().unwrap();
        assert_eq!(
            report.applied.len(),
            1,
            "async {asynchronous}, grouped {grouped}"
        );
        assert_eq!(db.versions(HISTORY), [1, 2]);
    }
}

/// `lock_timeout = 0` means no timeout to PostgreSQL: a zero DDL lock
/// timeout must still give up (at once), not wait forever.
#[test]
fn a_zero_ddl_lock_timeout_gives_up_at_once() {
    let Some(mut db) = Postgres::fresh() else {
        return;
    };
    DDL_LOCK.runner().run_to(db.conn(), 1).unwrap();
    let (_app, _) = app_session_reading_accounts(&db.url);
    let url = db.url.clone();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let outcome = DDL_LOCK
            .runner()
            .ddl_lock_timeout(Duration::ZERO)
            .run_pending(&mut connect(&url));
        let _ = sender.send(outcome);
    });
    let err = receiver
        .recv_timeout(Duration::from_secs(10))
        .expect("a zero DDL lock timeout waited without end")
        .unwrap_err();
    assert!(
        matches!(err, Error::DdlLockTimeout { version: 2, .. }),
        "{err}"
    );
    assert_eq!(db.versions(HISTORY), [1]);
}

// Adversarial review of the lock strategies, the DDL lock timeout and the server-side lock wait.

/// An application transaction that read `accounts` and stays open.
fn app_holding_accounts(url: &str) -> Client {
    let mut app = connect(url);
    app.batch_execute("BEGIN; SELECT count(*) FROM accounts")
        .unwrap();
    app
}

/// Runs DDL_LOCK's pending migration with `ddl_lock_timeout(timeout)` on
/// a thread while an application transaction blocks its ALTER; gives the
/// outcome if it came back within `within`, releasing the app afterwards.
fn ddl_run_blocked(
    timeout: Duration,
    within: Duration,
) -> (Option<migrate::Result<migrate::Report>>, Vec<u64>) {
    let url = fresh_database().expect("MIGRATE_TEST_POSTGRES_URL");
    DDL_LOCK.runner().run_to(&mut connect(&url), 1).unwrap();
    let mut app = app_holding_accounts(&url);
    let (tx, rx) = std::sync::mpsc::channel();
    let u = url.clone();
    let migrator = std::thread::spawn(move || {
        let r = DDL_LOCK
            .runner()
            .ddl_lock_timeout(timeout)
            .run_pending(&mut connect(&u));
        tx.send(r).unwrap();
    });
    let outcome = rx.recv_timeout(within).ok();
    app.batch_execute("COMMIT").unwrap();
    migrator.join().unwrap();
    let v = versions(&mut connect(&url), HISTORY);
    (outcome, v)
}

/// Adversarial review: the same for a sub-millisecond timeout (as_millis() == 0).
#[test]
fn a_sub_millisecond_ddl_lock_timeout_gives_up_at_once() {
    let (outcome, _) = ddl_run_blocked(Duration::from_micros(500), Duration::from_secs(3));
    let outcome = outcome.expect("ddl_lock_timeout(500us) waited > 3 s for the table lock");
    assert!(
        matches!(outcome, Err(Error::DdlLockTimeout { .. })),
        "{outcome:?}"
    );
}

/// Adversarial review: a long timeout (30 days > i32::MAX ms) is sent unclamped:
/// PostgreSQL refuses the SET and every migration fails.
#[test]
fn a_ddl_lock_timeout_beyond_what_postgres_holds_is_clamped() {
    let Some(url) = fresh_database() else { return };
    let report = V1
        .runner()
        .ddl_lock_timeout(Duration::from_secs(30 * 24 * 3600))
        .run_pending(&mut connect(&url));
    assert!(report.is_ok(), "{}", report.unwrap_err());
}

/// Adversarial review: a no-transaction migration that leaves a transaction open (or
/// aborts one it opened): the put-back of the session's `lock_timeout`
/// runs inside that transaction, which the runtime then rolls back, so
/// the caller's session keeps the DDL lock timeout.
#[test]
fn lock_timeout_is_put_back_after_a_no_transaction_step_that_left_a_transaction() {
    for set in [&NO_TX_OWN_TX_FAILS, &NO_TX_LEFT_OPEN] {
        let Some(url) = fresh_database() else { return };
        let mut client = connect(&url);
        let outcome = set
            .runner()
            .ddl_lock_timeout(Duration::from_millis(250))
            .run_pending(&mut client);
        assert!(outcome.is_err(), "{outcome:?}");
        assert_eq!(
            first_text(&mut client, "SHOW lock_timeout").as_deref(),
            Some("0"),
            "lock_timeout leaked into the caller's session after: {}",
            outcome.unwrap_err()
        );
    }
}

/// Adversarial review: a sync migrator killed while it waits for the session lock on the
/// server: its backend keeps waiting in `pg_advisory_lock` (PostgreSQL
/// does not notice the client is gone while it waits) for up to the
/// run's lock_timeout (60 s by default), holding a connection slot, and
/// takes the lock when it is freed. A crash-looping fleet piles them up.
#[test]
fn a_killed_lock_waiter_leaves_no_backend_waiting() {
    let Some(url) = fresh_database() else { return };
    let mut holder = connect(&url);
    let key = "('x' || substr(encode(sha256('migrate:public.migrate_schema_history'), 'hex'), 1, 16))::bit(64)::bigint";
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock({key})"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let result = dir.path().join("result");
    let mut child = crate::processes::spawn("pg-boot-v2", Path::new(&url), &result, &[]);
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                   AND wait_event_type = 'Lock' AND wait_event = 'advisory'";
    let start = Instant::now();
    while first_text(&mut holder, waiting).as_deref() != Some("1") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the child never waited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    while first_text(&mut holder, waiting).as_deref() != Some("0") {
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "the killed migrator's backend still waits for the migration lock {:?} after the kill",
            killed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The server-side session lock wait is not cut by a database-wide
/// statement_timeout shorter than the wait (held up).
#[test]
fn the_lock_wait_outlives_a_database_statement_timeout() {
    let Some(url) = fresh_database() else { return };
    let mut admin = connect(&url);
    admin
        .batch_execute(
            "DO $$BEGIN EXECUTE format('ALTER DATABASE %I SET statement_timeout = 200', current_database()); END$$",
        )
        .unwrap();
    let mut holder = connect(&url);
    assert_eq!(
        first_text(&mut holder, "SHOW statement_timeout").as_deref(),
        Some("200ms")
    );
    let key = "('x' || substr(encode(sha256('migrate:public.migrate_schema_history'), 'hex'), 1, 16))::bit(64)::bigint";
    holder
        .batch_execute(&format!("SELECT pg_advisory_lock({key})"))
        .unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        holder
            .batch_execute("SELECT pg_advisory_unlock_all()")
            .unwrap();
    });
    let start = Instant::now();
    let report = V1
        .runner()
        .lock_timeout(Duration::from_secs(10))
        .run_pending(&mut connect(&url));
    releaser.join().unwrap();
    assert!(report.is_ok(), "{}", report.unwrap_err());
    assert!(start.elapsed() >= Duration::from_millis(1400));
}

/// ReadOnly for operations other than run_pending / rollback: baseline
/// and repair on a read-only database.
#[test]
fn baseline_and_repair_on_a_read_only_connection_say_read_only() {
    let Some(url) = fresh_database() else { return };
    let mut primary = connect(&url);
    let mut ro0 = connect(&fresh_database().unwrap());
    ro0.batch_execute("SET default_transaction_read_only = on")
        .unwrap();
    let err = V1.baseline(&mut ro0, 2).unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "baseline: {err:?}");
    NO_TX_OWN_TX_FAILS.run_pending(&mut primary).unwrap_err();
    let mut ro = connect(&url);
    ro.batch_execute("SET default_transaction_read_only = on")
        .unwrap();
    let err = NO_TX_OWN_TX_FAILS
        .repair(&mut ro, 2, migrate::Repair::Undone)
        .unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "repair: {err:?}");
}

/// The rollback of a replica-like (read-only) database with
/// rollback_steps: ReadOnly naming the versions.
#[test]
fn rollback_steps_on_a_read_only_connection_says_read_only_under_every_strategy() {
    let Some(url) = fresh_database() else { return };
    let mut primary = connect(&url);
    V1.run_pending(&mut primary).unwrap();
    for strategy in [
        LockStrategy::Session,
        LockStrategy::Transaction,
        LockStrategy::TransactionPooler,
    ] {
        let mut ro = connect(&url);
        ro.batch_execute("SET default_transaction_read_only = on")
            .unwrap();
        let err = V1
            .runner()
            .lock_strategy(strategy)
            .rollback_steps(&mut ro, 2)
            .unwrap_err();
        let Error::ReadOnly { versions, .. } = &err else {
            panic!("{strategy:?}: {err:?}");
        };
        assert_eq!(versions, &[3, 2]);
    }
    assert_eq!(versions(&mut primary, HISTORY), [1, 2, 3]);
}
