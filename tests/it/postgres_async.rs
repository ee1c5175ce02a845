//! The async PostgreSQL client (`tokio_postgres::Client`): every shared
//! scenario through the `_async` calls on a current-thread runtime, then
//! what only async has — cancellation, tasks racing processes, Send
//! futures on a multi-thread runtime, pools.

use std::sync::Arc;
use std::time::{Duration, Instant};

use migrate::tokio_postgres::{self, NoTls, SimpleQueryMessage};
use migrate::{Error, Migration, MigrationStatus, Repair, Report, Result, Runner, DEFAULT_TABLE};
use tokio::runtime::Runtime;

use crate::postgres::{fresh_database, Postgres};
use crate::scenarios::{scenario_tests, Backend, Calls};
use crate::sets::*;

/// An async client and the runtime it lives on; the scenarios' calls are
/// the `_async` ones, awaited.
pub struct AsyncClient {
    runtime: Arc<Runtime>,
    client: tokio_postgres::Client,
}

/// A current-thread runtime: the async calls must not need a second thread
/// of the caller's.
fn current_thread() -> Arc<Runtime> {
    Arc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    )
}

pub async fn connect_async(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

impl AsyncClient {
    fn connect(url: &str) -> Self {
        let runtime = current_thread();
        let client = runtime.block_on(connect_async(url));
        AsyncClient { runtime, client }
    }

    fn block_on<T>(&mut self, call: impl AsyncFnOnce(&mut tokio_postgres::Client) -> T) -> T {
        let runtime = self.runtime.clone();
        runtime.block_on(call(&mut self.client))
    }
}

impl Calls for AsyncClient {
    fn run_pending(&mut self, runner: Runner<'_>) -> Result<Report> {
        self.block_on(async |c| runner.run_pending_async(c).await)
    }
    fn run_to(&mut self, runner: Runner<'_>, version: u64) -> Result<Report> {
        self.block_on(async |c| runner.run_to_async(c, version).await)
    }
    fn rollback_to(&mut self, runner: Runner<'_>, version: u64) -> Result<Report> {
        self.block_on(async |c| runner.rollback_to_async(c, version).await)
    }
    fn rollback_steps(&mut self, runner: Runner<'_>, steps: u64) -> Result<Report> {
        self.block_on(async |c| runner.rollback_steps_async(c, steps).await)
    }
    fn status(&mut self, runner: Runner<'_>) -> Result<Vec<MigrationStatus>> {
        self.block_on(async |c| runner.status_async(c).await)
    }
    fn plan(&mut self, runner: Runner<'_>) -> Result<Vec<&'static Migration>> {
        self.block_on(async |c| runner.plan_async(c).await)
    }
    fn plan_to(&mut self, runner: Runner<'_>, version: u64) -> Result<Vec<&'static Migration>> {
        self.block_on(async |c| runner.plan_to_async(c, version).await)
    }
    fn plan_rollback(
        &mut self,
        runner: Runner<'_>,
        version: u64,
    ) -> Result<Vec<&'static Migration>> {
        self.block_on(async |c| runner.plan_rollback_async(c, version).await)
    }
    fn baseline(&mut self, runner: Runner<'_>, version: u64) -> Result<Report> {
        self.block_on(async |c| runner.baseline_async(c, version).await)
    }
    fn repair(&mut self, runner: Runner<'_>, version: u64, how: Repair) -> Result<Report> {
        self.block_on(async |c| runner.repair_async(c, version, how).await)
    }
    fn log(&mut self, runner: Runner<'_>) -> Result<Vec<migrate::LogEntry>> {
        self.block_on(async |c| runner.log_async(c).await)
    }
}

/// A fresh database, migrated through the async client; checked through
/// the sync one.
pub struct AsyncPostgres {
    sync: Postgres,
    conn: AsyncClient,
}

impl Backend for AsyncPostgres {
    type Conn = AsyncClient;
    const MISSING_TABLE: &'static str = Postgres::MISSING_TABLE;

    fn fresh() -> Option<Self> {
        let sync = Postgres::fresh()?;
        let conn = AsyncClient::connect(&sync.location());
        Some(AsyncPostgres { sync, conn })
    }
    fn conn(&mut self) -> &mut AsyncClient {
        &mut self.conn
    }
    fn reconnect(&mut self) {
        self.conn = AsyncClient::connect(&self.sync.location());
    }
    fn versions(&mut self, table: &str) -> Vec<u64> {
        self.sync.versions(table)
    }
    fn table_exists(&mut self, name: &str) -> bool {
        self.sync.table_exists(name)
    }
    fn exec(&mut self, sql: &str) {
        self.sync.exec(sql);
    }
    fn item_names(&mut self) -> Vec<String> {
        self.sync.item_names()
    }
    fn other(&self) -> AsyncClient {
        AsyncClient::connect(&self.sync.location())
    }
    fn read_only(&self) -> AsyncClient {
        let mut conn = self.other();
        conn.block_on(async |c| {
            c.batch_execute("SET default_transaction_read_only = on")
                .await
                .unwrap()
        });
        conn
    }
    fn exec_on(conn: &mut AsyncClient, sql: &str) {
        conn.block_on(async |c| c.batch_execute(sql).await.unwrap());
        assert!(
            !in_transaction(conn),
            "the connection was left in a transaction"
        );
    }
    fn location(&self) -> String {
        self.sync.location()
    }
    fn connect(location: &str) -> AsyncClient {
        AsyncClient::connect(location)
    }
}

scenario_tests!(async AsyncPostgres);

/// Whether `conn`'s session is inside a transaction: outside one, a
/// simple-protocol statement is its own transaction.
fn in_transaction(conn: &mut AsyncClient) -> bool {
    conn.block_on(async |c| first_text(c, "SELECT now() = statement_timestamp()").await) != "t"
}

async fn first_text(client: &tokio_postgres::Client, sql: &str) -> String {
    client
        .simple_query(sql)
        .await
        .unwrap()
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap()
}

/// Advisory locks `client`'s own session holds.
async fn advisory_locks_held(client: &tokio_postgres::Client) -> String {
    first_text(
        client,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
    )
    .await
}

/// Two migrations, the second sleeping inside its transaction.
fn slow_set() -> &'static migrate::Migrations {
    unchecked(&[
        ("0001_create.sql", "CREATE TABLE before_slow (x INTEGER);"),
        (
            "0002_slow.sql",
            "CREATE TABLE slow (x INTEGER);\nSELECT pg_sleep(1.5);",
        ),
    ])
}

/// A client whose run of [`slow_set`] was dropped (a timeout) while
/// migration 2 slept.
async fn dropped_inside_the_slow_migration(url: &str) -> tokio_postgres::Client {
    let mut client = connect_async(url).await;
    let cut = tokio::time::timeout(
        Duration::from_millis(500),
        slow_set().run_pending_async(&mut client),
    )
    .await;
    assert!(cut.is_err(), "the run should still be sleeping: {cut:?}");
    client
}

#[test]
fn a_run_dropped_inside_a_slow_migration_leaves_nothing_half_applied_and_no_lock() {
    let Some(url) = fresh_database() else { return };
    let set = slow_set();
    let runtime = current_thread();
    runtime.block_on(async {
        let mut client = dropped_inside_the_slow_migration(&url).await;

        // The migration under way went to the server whole, with its
        // history row and COMMIT: once the server is done with it, it is
        // applied and recorded, or not at all — never half.
        let watcher = connect_async(&url).await;
        let waited = Instant::now();
        while first_text(
            &watcher,
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
             AND query LIKE '%pg_sleep(1.5)%' AND pid <> pg_backend_pid()",
        )
        .await
            != "0"
        {
            assert!(waited.elapsed() < Duration::from_secs(20));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let recorded = first_text(
            &watcher,
            "SELECT count(*) FROM migrate_schema_history WHERE version = 2",
        )
        .await;
        let created = first_text(&watcher, "SELECT to_regclass('slow') IS NOT NULL").await;
        assert_eq!(
            recorded == "1",
            created == "t",
            "migration 2 half-applied: {recorded} history row(s), table created: {created}"
        );

        // Another process gets the lock as soon as that migration ended,
        // and applies what is left.
        let started = Instant::now();
        let mut other = connect_async(&url).await;
        let report = set
            .runner()
            .lock_timeout(Duration::from_secs(20))
            .run_pending_async(&mut other)
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(report.applied.iter().all(|a| a.version == 2), "{report:?}");
        assert_eq!(
            first_text(&other, "SELECT to_regclass('slow') IS NOT NULL").await,
            "t"
        );

        // The dropped run's client works, outside any transaction, holding nothing.
        assert!(set
            .run_pending_async(&mut client)
            .await
            .unwrap()
            .applied
            .is_empty());
        assert_eq!(
            first_text(&client, "SELECT now() = statement_timestamp()").await,
            "t"
        );
        assert_eq!(advisory_locks_held(&client).await, "0");
        assert_eq!(
            first_text(&client, "SELECT count(*) FROM migrate_schema_history").await,
            "2"
        );
    });
}

#[test]
fn the_same_client_finishes_the_job_after_its_run_was_dropped() {
    let Some(url) = fresh_database() else { return };
    let set = slow_set();
    let runtime = current_thread();
    runtime.block_on(async {
        let mut client = dropped_inside_the_slow_migration(&url).await;
        let report = set.run_pending_async(&mut client).await.unwrap();
        // Whatever the dropped run had not sent, this one applies.
        assert!(report.applied.iter().all(|a| a.version == 2), "{report:?}");
        assert_eq!(
            first_text(&client, "SELECT string_agg(version::text, ',' ORDER BY version) FROM migrate_schema_history").await,
            "1,2"
        );
        assert_eq!(
            first_text(&client, "SELECT to_regclass('slow') IS NOT NULL").await,
            "t"
        );
        assert_eq!(advisory_locks_held(&client).await, "0");
    });
}

#[test]
fn the_futures_are_send_and_run_on_a_multi_thread_runtime() {
    let Some(url) = fresh_database() else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let applied = runtime.block_on(async move {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let task_seen = seen.clone();
        // `tokio::spawn` takes only Send futures.
        let task = tokio::spawn(async move {
            let mut client = connect_async(&url).await;
            let record = |a: &migrate::Applied| task_seen.lock().unwrap().push(a.version);
            V2.runner()
                .on_progress(&record)
                .run_pending_async(&mut client)
                .await
                .map(|r| r.applied.len())
        });
        let applied = task.await.unwrap().unwrap();
        assert_eq!(*seen.lock().unwrap(), [1, 2, 3, 4, 5]);
        applied
    });
    assert_eq!(applied, 5);
}

#[test]
fn sixteen_tasks_and_sixteen_processes_sync_and_async_apply_each_migration_once() {
    let Some(url) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let children = crate::processes::spawn_many(
        &["pg-boot-v2", "pg-async-boot-v2"],
        16,
        &url,
        dir.path(),
        &go,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let by_tasks: usize = runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (url, go) = (url.clone(), go.clone());
            tasks.push(tokio::spawn(async move {
                let mut client = connect_async(&url).await;
                while !go.exists() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                V2.run_pending_async(&mut client)
                    .await
                    .unwrap()
                    .applied
                    .len()
            }));
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        std::fs::write(&go, "go").unwrap();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        total
    });
    let by_processes = crate::processes::applied_by(children);
    assert_eq!(by_tasks + by_processes, 5);
    let mut client = crate::postgres::connect(&url);
    assert_eq!(
        crate::postgres::versions(&mut client, DEFAULT_TABLE),
        [1, 2, 3, 4, 5]
    );
}

#[test]
fn a_client_inside_a_transaction_or_closed_is_refused_with_what_to_do() {
    let Some(url) = fresh_database() else { return };
    let runtime = current_thread();
    runtime.block_on(async {
        let mut client = connect_async(&url).await;
        client.batch_execute("BEGIN; CREATE TABLE mine (x INTEGER)").await.unwrap();
        let err = V2.run_pending_async(&mut client).await.unwrap_err();
        assert!(matches!(err, Error::InsideTransaction), "{err}");
        // The caller's transaction is the caller's to end: nothing of ours
        // committed it.
        client.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(
            first_text(&client, "SELECT to_regclass('mine') IS NULL AND to_regclass('migrate_schema_history') IS NULL").await,
            "t"
        );

        // A connection the server ended (as a pool's dead object).
        let pid = first_text(&client, "SELECT pg_backend_pid()").await;
        let admin = connect_async(&url).await;
        admin
            .batch_execute(&format!("SELECT pg_terminate_backend({pid})"))
            .await
            .unwrap();
        let start = Instant::now();
        while !client.is_closed() && start.elapsed() < Duration::from_secs(10) {
            let _ = client.simple_query("SELECT 1").await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let err = V2.run_pending_async(&mut client).await.unwrap_err();
        assert!(
            err.to_string().contains("connection is closed")
                && err.to_string().contains("connect again"),
            "{err}"
        );
        // Nothing was applied.
        assert_eq!(
            first_text(&admin, "SELECT to_regclass('migrate_schema_history') IS NULL").await,
            "t"
        );
    });
}

#[test]
fn a_sync_and_an_async_migrator_share_one_history() {
    let Some(mut db) = AsyncPostgres::fresh() else {
        return;
    };
    V1.run_pending(&mut crate::postgres::connect(&db.location()))
        .unwrap();
    let report = db.conn().run_pending(V2.runner()).unwrap();
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [4, 5]
    );
    // And back: the sync client finds the async client's rows its own.
    let mut sync = crate::postgres::connect(&db.location());
    assert!(V2.run_pending(&mut sync).unwrap().applied.is_empty());
    V2.rollback_to(&mut sync, 3).unwrap();
    assert_eq!(db.conn().run_pending(V2.runner()).unwrap().applied.len(), 2);
}

#[test]
fn a_lock_held_by_a_sync_migrator_makes_the_async_one_wait_then_time_out_naming_it() {
    let Some(url) = fresh_database() else { return };
    let set = slow_set();
    let sync_url = url.clone();
    let sync_run =
        std::thread::spawn(move || set.run_pending(&mut crate::postgres::connect(&sync_url)));
    // Wait until the sync run sleeps inside migration 2, holding the lock.
    wait_until_running(&url, "pg_sleep(1.5)");
    let runtime = current_thread();
    let err = runtime.block_on(async {
        let mut client = connect_async(&url).await;
        set.runner()
            .lock_timeout(Duration::from_millis(300))
            .run_pending_async(&mut client)
            .await
            .unwrap_err()
    });
    assert!(
        matches!(&err, Error::LockTimeout { holder: Some(h), .. } if h.starts_with("backend pid ")),
        "{err}"
    );
    assert_eq!(sync_run.join().unwrap().unwrap().applied.len(), 2);
}

/// Waits until another session runs a statement containing `needle`.
fn wait_until_running(url: &str, needle: &str) {
    let mut watcher = crate::postgres::connect(url);
    let start = Instant::now();
    while watcher
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' \
             AND pid <> pg_backend_pid()",
            &[&needle],
        )
        .unwrap()
        .get::<_, i64>(0)
        == 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{needle} never ran"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn others_wait_for_a_no_transaction_migration_instead_of_calling_it_dirty() {
    let Some(url) = fresh_database() else { return };
    let set = unchecked(&[
        ("0001_a.sql", "CREATE TABLE a (x INTEGER);"),
        (
            "0002_concurrently.sql",
            "-- migrate:no-transaction\nCREATE TABLE b (x INTEGER);\nSELECT pg_sleep(1.2);",
        ),
    ]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let first_url = url.clone();
    let first = runtime.spawn(async move {
        let mut client = connect_async(&first_url).await;
        set.run_pending_async(&mut client).await
    });
    wait_until_running(&url, "pg_sleep(1.2)");
    // An async and a sync migrator arrive while it runs: both wait, neither
    // reports the row in progress as dirty.
    let second = runtime.block_on(async {
        let mut client = connect_async(&url).await;
        set.runner()
            .lock_timeout(Duration::from_secs(20))
            .run_pending_async(&mut client)
            .await
    });
    let third = set
        .runner()
        .lock_timeout(Duration::from_secs(20))
        .run_pending(&mut crate::postgres::connect(&url));
    let first = runtime.block_on(first).unwrap().unwrap();
    assert_eq!(first.applied.len(), 2);
    assert!(second.unwrap().applied.is_empty());
    assert!(third.unwrap().applied.is_empty());
}

/// Polls a future until its `n`-th `Pending`, then drops it: a cut at
/// every await point in turn, as a timeout would make at random.
struct CancelAfter<F> {
    inner: std::pin::Pin<Box<F>>,
    left: usize,
}

impl<F: std::future::Future> std::future::Future for CancelAfter<F> {
    type Output = Option<F::Output>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.inner.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
            std::task::Poll::Pending if self.left == 0 => std::task::Poll::Ready(None),
            std::task::Poll::Pending => {
                self.left -= 1;
                std::task::Poll::Pending
            }
        }
    }
}

/// Rows of `sql` as text.
async fn text_rows(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<String>> {
    client
        .simple_query(sql)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or_default().to_owned())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

fn seed_rows(tx: &mut dyn migrate::Tx) -> Result<()> {
    tx.batch("CREATE TABLE seeded (id INTEGER PRIMARY KEY)")?;
    for i in 0..3i64 {
        tx.execute("INSERT INTO seeded (id) VALUES ($1)", &[i.into()])?;
    }
    Ok(())
}

/// SQL, Rust, no-transaction, SQL; each with its table, so a history row
/// and its table can be compared.
fn mixed_set() -> &'static migrate::Migrations {
    use migrate::__private::Migration;
    let sums = crate::sets::placeholder_sums;
    let sql = |text| Migration::__sql(text, migrate::SqlMode::Transaction);
    crate::sets::leaked(vec![
        Migration::__new(1, "a", "0001_a.sql", sql("CREATE TABLE first_t (x INTEGER);"), sums()),
        Migration::__new(2, "seed", "0002_seed.rs", Migration::__rust(seed_rows), sums()),
        Migration::__new(
            3,
            "index",
            "0003_index.sql",
            Migration::__sql(
                "-- migrate:no-transaction\nCREATE TABLE third_t (x INTEGER);\nCREATE INDEX CONCURRENTLY third_x ON third_t (x);",
                migrate::SqlMode::NoTransaction,
            ),
            sums(),
        ),
        Migration::__new(4, "d", "0004_d.sql", sql("CREATE TABLE fourth_t (x INTEGER);"), sums()),
    ])
}

#[test]
fn a_run_cut_at_every_await_point_leaves_a_consistent_database_and_no_lock_behind() {
    let Some(url) = fresh_database() else { return };
    let set = mixed_set();
    let runtime = current_thread();
    runtime.block_on(async {
        let admin = connect_async(&url).await;
        let mut finished_at = None;
        for n in 0.. {
            admin
                .batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
                .await
                .unwrap();
            let mut client = connect_async(&url).await;
            let cut = CancelAfter {
                inner: Box::pin(set.run_pending_async(&mut client)),
                left: n,
            }
            .await;
            if cut.is_some() {
                let finished = *finished_at.get_or_insert(n);
                if n > finished + 3 {
                    break;
                }
            }
            // First on the cut connection: its answer comes after whatever
            // the dropped run had sent already (a COMMIT, a ROLLBACK).
            let outside = first_text(&client, "SELECT now() = statement_timestamp()").await == "t";
            let has_history = first_text(
                &admin,
                "SELECT to_regclass('migrate_schema_history') IS NOT NULL",
            )
            .await
                == "t";
            let history = if has_history {
                text_rows(
                    &admin,
                    "SELECT version::text, state FROM migrate_schema_history ORDER BY version",
                )
                .await
            } else {
                Vec::new()
            };
            let dirty = history.iter().any(|r| r[1] != "applied");
            let at = format!("cut after {n} polls, history {history:?}");
            assert!(outside, "left in a transaction: {at}");
            if !dirty {
                assert_eq!(advisory_locks_held(&client).await, "0", "lock kept: {at}");
            }
            // Each applied row has its table; each table its row.
            for (version, table) in [("1", "first_t"), ("2", "seeded"), ("4", "fourth_t")] {
                let row = history.iter().any(|r| r[0] == version && r[1] == "applied");
                let exists = first_text(
                    &admin,
                    &format!("SELECT to_regclass('{table}') IS NOT NULL"),
                )
                .await
                    == "t";
                assert_eq!(row, exists, "version {version}: {at}");
            }
            // Another connection finishes the job. Only a cut inside the
            // no-transaction migration stops it: that migration is dirty,
            // and the cut connection keeps the lock until its next run.
            let mut other = connect_async(&url).await;
            let next = set
                .runner()
                .lock_timeout(Duration::from_millis(300))
                .run_pending_async(&mut other)
                .await;
            match next {
                Ok(_) => {}
                Err(Error::Dirty { version: 3, .. } | Error::LockTimeout { .. }) if dirty => {}
                Err(e) => panic!("another connection: {e}; {at}"),
            }
            // The cut connection works, and lets go of anything it kept.
            let again = set.run_pending_async(&mut client).await;
            assert!(
                again.is_ok() || matches!(again, Err(Error::Dirty { version: 3, .. })),
                "the same connection: {again:?}; {at}"
            );
            assert_eq!(advisory_locks_held(&client).await, "0", "still kept: {at}");
            if dirty {
                // Then the others see the dirty migration at once.
                let err = set
                    .runner()
                    .lock_timeout(Duration::from_millis(300))
                    .run_pending_async(&mut other)
                    .await
                    .unwrap_err();
                assert!(
                    matches!(err, Error::Dirty { version: 3, .. }),
                    "{err}; {at}"
                );
            }
        }
        assert!(finished_at.is_some());
    });
}

#[test]
fn a_busy_lock_is_waited_for_without_a_timer_and_outside_a_transaction() {
    let Some(url) = fresh_database() else { return };
    let set = slow_set();
    let sync_url = url.clone();
    let holder =
        std::thread::spawn(move || set.run_pending(&mut crate::postgres::connect(&sync_url)));
    wait_until_running(&url, "pg_sleep(1.5)");
    // No timer in this runtime, and a server that ends sessions idle in a
    // transaction for 100 ms: the wait must need neither.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let report = runtime.block_on(async {
        let mut client = connect_async(&url).await;
        client
            .batch_execute("SET idle_in_transaction_session_timeout = '100ms'")
            .await
            .unwrap();
        set.runner()
            .lock_timeout(Duration::from_secs(20))
            .run_pending_async(&mut client)
            .await
    });
    assert!(report.unwrap().applied.is_empty());
    assert_eq!(holder.join().unwrap().unwrap().applied.len(), 2);
}

#[test]
fn a_history_write_refused_with_its_commit_already_sent_commits_nothing() {
    // Migration 1 makes the history refuse version 2's row: the async
    // client has sent COMMIT right behind that insert.
    let set = unchecked(&[
        (
            "0001_trap.sql",
            "CREATE FUNCTION trap() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.version = 2 THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;\n\
             CREATE TRIGGER trap BEFORE INSERT ON migrate_schema_history \
             FOR EACH ROW EXECUTE FUNCTION trap();",
        ),
        ("0002_victim.sql", "CREATE TABLE victim (x INTEGER);"),
    ]);
    let Some(mut db) = AsyncPostgres::fresh() else {
        return;
    };
    let err = db.conn().run_pending(set.runner()).unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    assert_eq!(db.versions(DEFAULT_TABLE), [1]);
    assert!(
        !db.table_exists("victim"),
        "the migration committed without its row"
    );
    assert!(!in_transaction(db.conn()));
    let locks = db.conn().block_on(async |c| advisory_locks_held(c).await);
    assert_eq!(locks, "0");
}

/// A set writing `marks` into `ledger`, one migration each (with a down
/// step), with checksums derived from the marks: two sets agree on a
/// version exactly when they agree on its mark.
fn ledger_set(marks: &[&'static str]) -> &'static migrate::Migrations {
    use migrate::__private::{Checksums, Migration};
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let list: Vec<Migration> = marks
        .iter()
        .zip(1u64..)
        .map(|(mark, version)| {
            let hex = |salt: &str| {
                let digits: String = format!("{salt}{mark}")
                    .bytes()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                leak(format!("{digits:0<64}")[..64].to_owned())
            };
            let up = if version == 1 {
                "CREATE TABLE ledger (mark TEXT NOT NULL);".to_owned()
            } else {
                format!("INSERT INTO ledger (mark) VALUES ('{mark}');")
            };
            let down = if version == 1 {
                "DROP TABLE ledger;".to_owned()
            } else {
                format!("DELETE FROM ledger WHERE mark = '{mark}';")
            };
            // The chain of version n covers versions 1 to n.
            let chain: String = marks[..version as usize].concat();
            Migration::__new(
                version,
                leak(format!("m{version}")),
                leak(format!("{version:04}_m{version}.sql")),
                Migration::__sql(leak(up), migrate::SqlMode::Transaction),
                Checksums {
                    exact: hex("e"),
                    loose: hex("l"),
                    chained: leak({
                        let digits: String = chain.bytes().map(|b| format!("{b:02x}")).collect();
                        format!("{digits:0<64}")[..64].to_owned()
                    }),
                },
            )
            .__with_down(
                Some(leak(format!("{version:04}_m{version}.down.sql"))),
                Migration::__sql(leak(down), migrate::SqlMode::Transaction),
            )
        })
        .collect();
    crate::sets::leaked(list)
}

#[test]
fn another_binary_reverting_and_reapplying_between_two_transactions_is_seen() {
    let Some(url) = fresh_database() else { return };
    let ours = ledger_set(&["a", "b", "c", "d", "e"]);
    let theirs = ledger_set(&["a", "b", "W"]);
    let runtime = current_thread();
    let other_url = url.clone();
    // Right after our version 3 commits, another binary reverts it and
    // applies its own version 3, before our next transaction begins.
    let interfere = move |applied: &migrate::Applied| {
        if applied.version == 3 {
            let url = other_url.clone();
            std::thread::spawn(move || {
                let mut client = crate::postgres::connect(&url);
                ours.rollback_to(&mut client, 2).unwrap();
                theirs.run_pending(&mut client).unwrap();
            })
            .join()
            .unwrap();
        }
    };
    let outcome = runtime.block_on(async {
        let mut client = connect_async(&url).await;
        ours.runner()
            .on_progress(&interfere)
            .run_pending_async(&mut client)
            .await
    });
    assert!(
        matches!(outcome, Err(Error::ChecksumMismatch { version: 3, .. })),
        "{outcome:?}"
    );
    let mut client = crate::postgres::connect(&url);
    assert_eq!(
        crate::postgres::versions(&mut client, DEFAULT_TABLE),
        [1, 2, 3]
    );
    let marks: Vec<String> = client
        .query("SELECT mark FROM ledger ORDER BY mark", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(marks, ["W", "b"], "nothing of ours went on top of theirs");
}

#[test]
fn a_commit_the_server_refuses_is_a_rollback_on_both_clients() {
    // A deferred foreign key fails only at COMMIT.
    let set = unchecked(&[
        (
            "0001_parent.sql",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n\
             CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) \
             DEFERRABLE INITIALLY DEFERRED);",
        ),
        (
            "0002_orphan.sql",
            "INSERT INTO child (parent_id) VALUES (42);",
        ),
    ]);
    let Some(mut db) = AsyncPostgres::fresh() else {
        return;
    };
    let mut sync = crate::postgres::connect(&db.location());
    for err in [
        set.run_pending(&mut sync).unwrap_err(),
        db.conn().run_pending(set.runner()).unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                Error::Failed {
                    version: 2,
                    cleanup: migrate::Cleanup::RolledBack,
                    ..
                }
            ),
            "{err}"
        );
    }
    assert_eq!(db.versions(DEFAULT_TABLE), [1]);
    assert!(!in_transaction(db.conn()));
}

/// As `postgres::every_tenant_schema_is_migrated_on_its_own`, through the
/// async client, whose boot check is its own statement: each tenant's
/// `search_path` finds its own history, never `public`'s.
#[test]
fn every_tenant_schema_is_migrated_on_its_own_through_the_async_client() {
    let Some(mut db) = AsyncPostgres::fresh() else {
        return;
    };
    db.conn().run_pending(V1.runner()).unwrap();
    db.exec("CREATE SCHEMA tenant1; CREATE SCHEMA tenant2;");
    for tenant in ["tenant1", "tenant2"] {
        let mut conn = db.other();
        AsyncPostgres::exec_on(&mut conn, &format!("SET search_path = {tenant}, public"));
        let status = conn.status(V1.runner()).unwrap();
        assert!(
            status.iter().all(|s| s.state == migrate::State::Pending),
            "{tenant} read another schema's history: {status:?}"
        );
        assert_eq!(conn.run_pending(V1.runner()).unwrap().applied.len(), 3);
        assert_eq!(
            db.versions(&format!("{tenant}.migrate_schema_history")),
            [1, 2, 3]
        );
        // Its next boot is the one-statement check, and finds it current.
        assert!(conn.run_pending(V1.runner()).unwrap().applied.is_empty());
        // The run left the session's search_path as it found it.
        let path = conn.block_on(async |c| first_text(c, "SHOW search_path").await);
        assert_eq!(path, format!("{tenant}, public"));
    }
    assert_eq!(db.versions("public.migrate_schema_history"), [1, 2, 3]);
}

/// As `postgres::a_migrations_search_path_does_not_leak_into_the_next_set`:
/// the session settings a migration changes are put back through the
/// async client too.
#[test]
fn a_migrations_search_path_does_not_leak_through_the_async_client() {
    let Some(mut db) = AsyncPostgres::fresh() else {
        return;
    };
    db.conn().run_pending(PG_SETS_SEARCH_PATH.runner()).unwrap();
    db.conn().run_pending(PLUGIN.runner()).unwrap();
    assert_eq!(
        db.versions("public.billing_schema_history").len(),
        PLUGIN.len()
    );
    let path = db
        .conn()
        .block_on(async |c| first_text(c, "SHOW search_path").await);
    assert_eq!(path, "\"$user\", public");
    db.reconnect();
    assert!(db
        .conn()
        .run_pending(PLUGIN.runner())
        .unwrap()
        .applied
        .is_empty());
}
