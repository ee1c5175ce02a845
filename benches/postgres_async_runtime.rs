//! The async runtime (`tokio_postgres::Client`) on PostgreSQL, side by side
//! with refinery's `run_async` and hand-written tokio-postgres floors, on
//! the same 1000 generated one-table migrations, against a local server,
//! on a current-thread runtime.
//!
//! - **boot**: connect, check migrations, run the app's first query. With
//!   nothing pending migrate awaits one simple query (one round trip) on
//!   the caller's task. The floor reads the whole history in one query, as
//!   a hand-written check would. Target: at most 1.05x that floor.
//! - **apply**: 1000 migrations into a fresh database, one transaction per
//!   migration with its history row, against the same by hand. Target: at
//!   most 1.1x.
//!
//! Run: `./scripts/with-postgres cargo bench -p migrate-benches --bench postgres_async_runtime`
//! (any server: set `MIGRATE_TEST_POSTGRES_URL`; `MIGRATIONS`, `BOOT_RUNS`, `APPLY_RUNS`).

mod support;

use std::time::{Duration, Instant};

use migrate::tokio_postgres::{connect, Client, NoTls};
use support::{env_usize, median, migrate_registry, print_apply, print_boot, refinery_runner, sql};

const FLOOR_HISTORY: &str = "CREATE TABLE floor_history (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
     checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), execution_ms BIGINT NOT NULL)";
const FLOOR_CHECKSUM: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

async fn client(url: &str) -> Client {
    let (client, connection) = connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

async fn floor_apply(client: &mut Client, texts: &[String]) {
    client
        .batch_execute(FLOOR_HISTORY)
        .await
        .expect("history table");
    let insert = client
        .prepare("INSERT INTO floor_history (version, name, checksum, execution_ms) VALUES ($1, $2, $3, 0)")
        .await
        .expect("prepare");
    for (i, text) in texts.iter().enumerate() {
        let tx = client.transaction().await.expect("begin");
        tx.batch_execute(text).await.expect("migration");
        tx.execute(
            &insert,
            &[&(i as i64 + 1), &"create_table", &FLOOR_CHECKSUM],
        )
        .await
        .expect("history row");
        tx.commit().await.expect("commit");
    }
}

async fn first_query(client: &Client) {
    let n: i64 = client
        .query_one("SELECT count(*) FROM t1", &[])
        .await
        .expect("first query")
        .get(0);
    std::hint::black_box(n);
}

async fn timed(f: impl AsyncFnOnce()) -> Duration {
    let start = Instant::now();
    f().await;
    start.elapsed()
}

fn main() {
    let Ok(url) = std::env::var("MIGRATE_TEST_POSTGRES_URL") else {
        println!("no PostgreSQL server: run through ./scripts/with-postgres (or set MIGRATE_TEST_POSTGRES_URL)");
        return;
    };
    let count = env_usize("MIGRATIONS", 1000);
    let boot_runs = env_usize("BOOT_RUNS", 200);
    let apply_runs = env_usize("APPLY_RUNS", 5);
    let texts: Vec<String> = (1..=count).map(sql).collect();
    let registry = migrate_registry(count);
    let (base, _) = url.rsplit_once('/').expect("a database URL");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    runtime.block_on(async {
        let admin = client(&url).await;
        let mut next = 0;
        let mut fresh = async || {
            next += 1;
            let name = format!("bench_async_{}_{next}", std::process::id());
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create database");
            format!("{base}/{name}")
        };

        // ---- apply: interleaved rounds, rotating who goes first ----
        let mut samples: [Vec<Duration>; 3] = Default::default();
        for round in 0..apply_runs {
            for k in 0..3 {
                let which = (k + round) % 3;
                let mut c = client(&fresh().await).await;
                let took = match which {
                    0 => timed(async || floor_apply(&mut c, &texts).await).await,
                    1 => {
                        timed(async || {
                            registry.run_pending_async(&mut c).await.expect("apply");
                        })
                        .await
                    }
                    _ => {
                        timed(async || {
                            refinery_runner(&texts).run_async(&mut c).await.expect("apply");
                        })
                        .await
                    }
                };
                samples[which].push(took);
            }
        }
        print_apply(
            &format!("async apply {count} migrations, one transaction each (median of {apply_runs}, interleaved)"),
            samples.map(median),
            1.10,
        );

        // ---- boot ----
        let floor_db = fresh().await;
        floor_apply(&mut client(&floor_db).await, &texts).await;
        let migrate_db = fresh().await;
        registry
            .run_pending_async(&mut client(&migrate_db).await)
            .await
            .expect("apply");
        let refinery_db = fresh().await;
        refinery_runner(&texts)
            .run_async(&mut client(&refinery_db).await)
            .await
            .expect("apply");

        let mut boot: [Vec<Duration>; 4] = Default::default();
        for _ in 0..boot_runs {
            boot[0].push(timed(async || first_query(&client(&floor_db).await).await).await);
            boot[1].push(
                timed(async || {
                    let c = client(&floor_db).await;
                    let rows = c
                        .simple_query("SELECT version, name, checksum FROM floor_history ORDER BY version")
                        .await
                        .expect("history");
                    std::hint::black_box(rows.len());
                    first_query(&c).await;
                })
                .await,
            );
            boot[2].push(
                timed(async || {
                    let mut c = client(&migrate_db).await;
                    let report = registry.run_pending_async(&mut c).await.expect("boot");
                    assert!(report.applied.is_empty());
                    first_query(&c).await;
                })
                .await,
            );
            boot[3].push(
                timed(async || {
                    let mut c = client(&refinery_db).await;
                    refinery_runner(&texts).run_async(&mut c).await.expect("boot");
                    first_query(&c).await;
                })
                .await,
            );
        }
        print_boot(
            &format!("async boot with {count} applied: connect + check + first query (median of {boot_runs})"),
            boot.map(median),
            1.05,
        );
    });
}
