//! The runtime on MySQL (MariaDB), side by side with refinery and
//! hand-written floors, on the same 1000 generated one-table migrations,
//! against a local server.
//!
//! - **boot**: connect, check migrations, run the app's first query. migrate
//!   sends one text query (one round trip) when nothing is pending. The
//!   floor reads the whole history in one query, as a hand-written check
//!   would. Target: at most 1.1x that floor.
//! - **apply**: 1000 migrations into a fresh database. Each is a schema
//!   change, which MySQL commits on the spot: the floor runs it and inserts
//!   its history row, as the obvious hand-written loop does; migrate also
//!   records it in progress first (so a failure is never unrecorded) and
//!   takes `GET_LOCK`. Target: at most 1.1x.
//!
//! Run: `./scripts/with-mariadb cargo bench -p migrate-benches --bench mysql_runtime`
//! (any server: set `MIGRATE_TEST_MYSQL_URL`; `MIGRATIONS`, `BOOT_RUNS`, `APPLY_RUNS`).

mod support;

use std::time::Duration;

use migrate::mysql::prelude::Queryable;
use migrate::mysql::Conn;
use support::{
    env_usize, median, migrate_registry, print_apply, print_boot, refinery_runner, sql, time_runs,
};

const FLOOR_HISTORY: &str = "CREATE TABLE floor_history (version BIGINT PRIMARY KEY, \
     name TEXT NOT NULL, checksum TEXT NOT NULL, \
     applied_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, execution_ms BIGINT NOT NULL) \
     ENGINE=InnoDB";
const FLOOR_CHECKSUM: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

fn connect(url: &str) -> Conn {
    Conn::new(url).expect("connect")
}

fn floor_apply(conn: &mut Conn, texts: &[String]) {
    conn.query_drop(FLOOR_HISTORY).expect("history table");
    let insert = conn
        .prep(
            "INSERT INTO floor_history (version, name, checksum, execution_ms) VALUES (?, ?, ?, 0)",
        )
        .expect("prepare");
    for (i, text) in texts.iter().enumerate() {
        conn.query_drop(text).expect("migration");
        conn.exec_drop(&insert, (i as i64 + 1, "create_table", FLOOR_CHECKSUM))
            .expect("history row");
    }
}

/// The floor with migrate's safety by hand: each schema change recorded in
/// progress first (so a failure is never unrecorded), then finished.
fn floor_recorded_apply(conn: &mut Conn, texts: &[String]) {
    conn.query_drop(
        "CREATE TABLE floor_history (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         checksum TEXT NOT NULL, state VARCHAR(16) NOT NULL, \
         applied_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, execution_ms BIGINT NOT NULL, \
         INDEX floor_unfinished (state)) ENGINE=InnoDB",
    )
    .expect("history table");
    let finish = conn
        .prep("UPDATE floor_history SET state = 'applied', execution_ms = ? WHERE version = ?")
        .expect("prepare");
    for (i, text) in texts.iter().enumerate() {
        conn.query_drop(format!(
            "INSERT INTO floor_history (version, name, checksum, state, execution_ms) \
             VALUES ({}, 'create_table', '{FLOOR_CHECKSUM}', 'in_progress', 0);\n{text}",
            i + 1
        ))
        .expect("record and migration");
        conn.exec_drop(&finish, (1, i as i64 + 1)).expect("finish");
    }
}

fn first_query(conn: &mut Conn) {
    let n: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM t1")
        .expect("first query");
    std::hint::black_box(n);
}

struct Server {
    base: String,
    admin: Conn,
    next: u32,
}

impl Server {
    fn fresh(&mut self) -> String {
        self.next += 1;
        let name = format!("bench_{}_{}", std::process::id(), self.next);
        self.admin
            .query_drop(format!("CREATE DATABASE {name}"))
            .expect("create database");
        format!("{}/{name}", self.base)
    }
}

fn main() {
    let Ok(url) = std::env::var("MIGRATE_TEST_MYSQL_URL") else {
        println!(
            "no MySQL server: run through ./scripts/with-mariadb (or set MIGRATE_TEST_MYSQL_URL)"
        );
        return;
    };
    let count = env_usize("MIGRATIONS", 1000);
    let boot_runs = env_usize("BOOT_RUNS", 200);
    let apply_runs = env_usize("APPLY_RUNS", 3);
    let texts: Vec<String> = (1..=count).map(sql).collect();
    let registry = migrate_registry(count);
    let (base, _) = url.rsplit_once('/').expect("a database URL");
    let mut server = Server {
        base: base.to_owned(),
        admin: connect(&url),
        next: 0,
    };

    // ---- apply: interleaved rounds, rotating who goes first ----
    let mut samples: [Vec<Duration>; 4] = Default::default();
    for round in 0..apply_runs {
        for k in 0..4 {
            let which = (k + round) % 4;
            let db = server.fresh();
            let mut conn = connect(&db);
            samples[which].extend(time_runs(1, || match which {
                0 => floor_apply(&mut conn, &texts),
                1 => {
                    registry.run_pending(&mut conn).expect("apply");
                }
                2 => {
                    refinery_runner(&texts).run(&mut conn).expect("apply");
                }
                _ => floor_recorded_apply(&mut conn, &texts),
            }));
        }
    }
    let [floor, migrate, refinery, recorded] = samples.map(median);
    print_apply(
        &format!("apply {count} schema changes (median of {apply_runs}, interleaved)"),
        [floor, migrate, refinery],
        1.10,
    );
    println!(
        "  floor, recorded in progress first (migrate's safety, by hand) {:>10}  {:.2}x floor; migrate {:.2}x it",
        support::ms(recorded),
        support::ratio(recorded, floor),
        support::ratio(migrate, recorded)
    );

    // ---- boot ----
    let floor_db = server.fresh();
    floor_apply(&mut connect(&floor_db), &texts);
    let migrate_db = server.fresh();
    registry
        .run_pending(&mut connect(&migrate_db))
        .expect("apply");
    let refinery_db = server.fresh();
    refinery_runner(&texts)
        .run(&mut connect(&refinery_db))
        .expect("apply");

    let mut boot: [Vec<Duration>; 4] = Default::default();
    for _ in 0..boot_runs {
        boot[0].extend(time_runs(1, || first_query(&mut connect(&floor_db))));
        boot[1].extend(time_runs(1, || {
            let mut conn = connect(&floor_db);
            let rows: Vec<(i64, String, String)> = conn
                .query("SELECT version, name, checksum FROM floor_history ORDER BY version")
                .expect("history");
            std::hint::black_box(rows.len());
            first_query(&mut conn);
        }));
        boot[2].extend(time_runs(1, || {
            let mut conn = connect(&migrate_db);
            assert!(registry
                .run_pending(&mut conn)
                .expect("boot")
                .applied
                .is_empty());
            first_query(&mut conn);
        }));
        boot[3].extend(time_runs(1, || {
            let mut conn = connect(&refinery_db);
            refinery_runner(&texts).run(&mut conn).expect("boot");
            first_query(&mut conn);
        }));
    }
    print_boot(
        &format!(
            "boot with {count} applied: connect + check + first query (median of {boot_runs})"
        ),
        boot.map(median),
        1.10,
    );
}
