//! The runtime on PostgreSQL, side by side with refinery and hand-written
//! floors, on the same 1000 generated one-table migrations, against a local
//! server.
//!
//! - **boot**: connect, check migrations, run the app's first query. migrate
//!   sends one simple query (one round trip) when nothing is pending. The
//!   floor reads the whole history in one query, as a hand-written check
//!   would. Target: at most 1.2x that floor.
//! - **apply**: 1000 migrations into a fresh database, one transaction per
//!   migration with its history row, against the same by hand. Target: at
//!   most 1.1x.
//!
//! Run: `./scripts/with-postgres cargo bench -p migrate-benches --bench postgres_runtime`
//! (any server: set `MIGRATE_TEST_POSTGRES_URL`; `MIGRATIONS`, `BOOT_RUNS`, `APPLY_RUNS`).

mod support;

use std::time::Duration;

use migrate::postgres::{Client, NoTls};
use support::{
    env_usize, median, migrate_registry, print_apply, print_boot, refinery_runner, sql, time_runs,
};

const FLOOR_HISTORY: &str = "CREATE TABLE floor_history (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
     checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), execution_ms BIGINT NOT NULL)";
const FLOOR_CHECKSUM: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

fn floor_apply(client: &mut Client, texts: &[String]) {
    client.batch_execute(FLOOR_HISTORY).expect("history table");
    let insert = client
        .prepare("INSERT INTO floor_history (version, name, checksum, execution_ms) VALUES ($1, $2, $3, 0)")
        .expect("prepare");
    for (i, text) in texts.iter().enumerate() {
        client.batch_execute("BEGIN").expect("begin");
        client.batch_execute(text).expect("migration");
        client
            .execute(
                &insert,
                &[&(i as i64 + 1), &"create_table", &FLOOR_CHECKSUM],
            )
            .expect("history row");
        client.batch_execute("COMMIT").expect("commit");
    }
}

fn first_query(client: &mut Client) {
    let n: i64 = client
        .query_one("SELECT count(*) FROM t1", &[])
        .expect("first query")
        .get(0);
    std::hint::black_box(n);
}

struct Server {
    base: String,
    admin: Client,
    next: u32,
}

impl Server {
    fn fresh(&mut self) -> String {
        self.next += 1;
        let name = format!("bench_{}_{}", std::process::id(), self.next);
        self.admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        format!("{}/{name}", self.base)
    }
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
    let mut server = Server {
        base: base.to_owned(),
        admin: Client::connect(&url, NoTls).expect("connect"),
        next: 0,
    };

    // ---- apply: interleaved rounds, rotating who goes first ----
    let mut samples: [Vec<Duration>; 3] = Default::default();
    for round in 0..apply_runs {
        for k in 0..3 {
            let which = (k + round) % 3;
            let db = server.fresh();
            let mut client = Client::connect(&db, NoTls).expect("connect");
            samples[which].extend(time_runs(1, || match which {
                0 => floor_apply(&mut client, &texts),
                1 => {
                    registry.run_pending(&mut client).expect("apply");
                }
                _ => {
                    refinery_runner(&texts).run(&mut client).expect("apply");
                }
            }));
        }
    }
    print_apply(
        &format!(
            "apply {count} migrations, one transaction each (median of {apply_runs}, interleaved)"
        ),
        samples.map(median),
        1.10,
    );

    // ---- boot ----
    let floor_db = server.fresh();
    floor_apply(
        &mut Client::connect(&floor_db, NoTls).expect("connect"),
        &texts,
    );
    let migrate_db = server.fresh();
    registry
        .run_pending(&mut Client::connect(&migrate_db, NoTls).expect("connect"))
        .expect("apply");
    let refinery_db = server.fresh();
    refinery_runner(&texts)
        .run(&mut Client::connect(&refinery_db, NoTls).expect("connect"))
        .expect("apply");

    let mut boot: [Vec<Duration>; 4] = Default::default();
    for _ in 0..boot_runs {
        boot[0].extend(time_runs(1, || {
            first_query(&mut Client::connect(&floor_db, NoTls).expect("connect"))
        }));
        boot[1].extend(time_runs(1, || {
            let mut client = Client::connect(&floor_db, NoTls).expect("connect");
            let rows = client
                .simple_query("SELECT version, name, checksum FROM floor_history ORDER BY version")
                .expect("history");
            std::hint::black_box(rows.len());
            first_query(&mut client);
        }));
        boot[2].extend(time_runs(1, || {
            let mut client = Client::connect(&migrate_db, NoTls).expect("connect");
            assert!(registry
                .run_pending(&mut client)
                .expect("boot")
                .applied
                .is_empty());
            first_query(&mut client);
        }));
        boot[3].extend(time_runs(1, || {
            let mut client = Client::connect(&refinery_db, NoTls).expect("connect");
            refinery_runner(&texts).run(&mut client).expect("boot");
            first_query(&mut client);
        }));
    }
    print_boot(
        &format!(
            "boot with {count} applied: connect + check + first query (median of {boot_runs})"
        ),
        boot.map(median),
        1.20,
    );
}
