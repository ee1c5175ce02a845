//! The runtime on SQLite files, side by side with refinery,
//! rusqlite_migration and hand-written floors, on the same 1000 generated
//! one-table migrations.
//!
//! - **boot**: what an application feels on start with everything applied:
//!   open the connection, check migrations, run the app's first query
//!   (`SELECT count(*) FROM t1`). The floor opens and runs that query with
//!   no migration library. Target: migrate adds at most 0.15 ms to the floor
//!   and is at or below rusqlite_migration's total.
//! - **apply**: 1000 migrations on a fresh file, one transaction (and one
//!   commit) per migration with its history row, against the same SQL plus
//!   history inserts by hand (target at most 1.1x); and grouped, in one
//!   transaction (target at most 1.05x).
//!
//! Run: `cargo bench -p migrate-benches --bench sqlite_runtime`
//! (`MIGRATIONS=1000`, `BOOT_RUNS=300`, `APPLY_RUNS=9`).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use migrate::rusqlite::Connection;
use support::{env_usize, median, migrate_registry, ms, refinery_runner, sql, time_runs};

fn rusqlite_migrations(texts: &'static [String]) -> rusqlite_migration::Migrations<'static> {
    rusqlite_migration::Migrations::new(
        texts.iter().map(|t| rusqlite_migration::M::up(t)).collect(),
    )
}

/// The floor records what any migration history must to detect edits: the
/// version, the name, a SHA-256 (hex), when, and how long.
const FLOOR_HISTORY: &str = "CREATE TABLE IF NOT EXISTS floor_history (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL, execution_ms INTEGER NOT NULL)";
const FLOOR_CHECKSUM: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

/// The hand-written floor: the same SQL, plus a history row, in one
/// transaction per migration (or one in all).
fn floor_apply(conn: &mut Connection, texts: &[String], grouped: bool) {
    conn.execute_batch(FLOOR_HISTORY).expect("history table");
    let insert =
        "INSERT INTO floor_history VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0)";
    if grouped {
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
    }
    for (i, text) in texts.iter().enumerate() {
        if !grouped {
            conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        }
        conn.execute_batch(text).expect("migration");
        conn.prepare_cached(insert)
            .expect("prepare")
            .execute((i as i64 + 1, "create_table", FLOOR_CHECKSUM))
            .expect("history row");
        if !grouped {
            conn.execute_batch("COMMIT").expect("commit");
        }
    }
    if grouped {
        conn.execute_batch("COMMIT").expect("commit");
    }
}

fn first_query(conn: &Connection) {
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t1", [], |r| r.get(0))
        .expect("the app's first query");
    std::hint::black_box(n);
}

/// One way of applying the whole set to a fresh connection.
type Contender<'a> = Box<dyn Fn(&mut Connection) + 'a>;

struct Dbs {
    _dir: tempfile::TempDir,
    floor: PathBuf,
    migrate: PathBuf,
    refinery: PathBuf,
    rusqlite_migration: PathBuf,
}

fn fresh(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(dir.join(format!("{name}-migrate-lock")));
    path
}

fn main() {
    let count = env_usize("MIGRATIONS", 1000);
    let boot_runs = env_usize("BOOT_RUNS", 300);
    let apply_runs = env_usize("APPLY_RUNS", 9);
    let texts: &'static [String] =
        Box::leak((1..=count).map(sql).collect::<Vec<_>>().into_boxed_slice());
    let registry = migrate_registry(count);

    let dir = tempfile::tempdir().expect("temporary directory");
    let dbs = Dbs {
        floor: fresh(dir.path(), "floor.db"),
        migrate: fresh(dir.path(), "migrate.db"),
        refinery: fresh(dir.path(), "refinery.db"),
        rusqlite_migration: fresh(dir.path(), "rusqlite_migration.db"),
        _dir: dir,
    };

    // ---- apply ----
    // Interleaved rounds: each round runs every contender once, starting with
    // a different one each time, so drift on a shared machine hits them alike.
    println!(
        "apply {count} migrations to a fresh SQLite file (median of {apply_runs}, interleaved)"
    );
    let apply_dir = dbs._dir.path().to_path_buf();
    let mut contenders: Vec<(&str, Contender<'_>)> = vec![
        ("floor each", Box::new(|c| floor_apply(c, texts, false))),
        (
            "migrate each",
            Box::new(|c| {
                registry.run_pending(c).expect("apply");
            }),
        ),
        (
            "refinery each",
            Box::new(|c| {
                refinery_runner(texts).run(c).expect("apply");
            }),
        ),
        ("floor grouped", Box::new(|c| floor_apply(c, texts, true))),
        (
            "migrate grouped",
            Box::new(|c| {
                registry
                    .runner()
                    .grouped(true)
                    .run_pending(c)
                    .expect("apply");
            }),
        ),
        (
            "rusqlite_migration",
            Box::new(|c| {
                rusqlite_migrations(texts).to_latest(c).expect("apply");
            }),
        ),
    ];
    let mut apply_samples: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
    let n = contenders.len();
    for round in 0..apply_runs {
        // Rotate who goes first: whoever follows a long fsync-heavy run pays for it.
        for i in (0..n).map(|k| (k + round) % n) {
            let run = &mut contenders[i].1;
            let path = fresh(&apply_dir, "apply.db");
            let mut conn = Connection::open(&path).expect("open");
            apply_samples[i].extend(time_runs(1, || run(&mut conn)));
        }
    }
    let m: Vec<Duration> = apply_samples.into_iter().map(median).collect();
    let (floor_each, migrate_each, refinery_each) = (m[0], m[1], m[2]);
    let (floor_grouped, migrate_grouped, rusqlite_migration_all) = (m[3], m[4], m[5]);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!("  one transaction per migration:");
    println!("    floor (by hand)        {:>12}", ms(floor_each));
    println!(
        "    migrate                {:>12}  {:.2}x floor (target <= 1.10x)",
        ms(migrate_each),
        ratio(migrate_each, floor_each)
    );
    println!(
        "    refinery               {:>12}  {:.2}x floor",
        ms(refinery_each),
        ratio(refinery_each, floor_each)
    );
    println!("  one transaction in all:");
    println!("    floor (by hand)        {:>12}", ms(floor_grouped));
    println!(
        "    migrate grouped        {:>12}  {:.2}x floor (target <= 1.05x)",
        ms(migrate_grouped),
        ratio(migrate_grouped, floor_grouped)
    );
    println!(
        "    rusqlite_migration     {:>12}  {:.2}x floor",
        ms(rusqlite_migration_all),
        ratio(rusqlite_migration_all, floor_grouped)
    );

    // ---- boot ----
    floor_apply(
        &mut Connection::open(&dbs.floor).expect("open"),
        texts,
        true,
    );
    registry
        .runner()
        .grouped(true)
        .run_pending(&mut Connection::open(&dbs.migrate).expect("open"))
        .expect("apply");
    refinery_runner(texts)
        .set_grouped(true)
        .run(&mut Connection::open(&dbs.refinery).expect("open"))
        .expect("apply");
    rusqlite_migrations(texts)
        .to_latest(&mut Connection::open(&dbs.rusqlite_migration).expect("open"))
        .expect("apply");

    let mut samples: [Vec<Duration>; 5] = Default::default();
    // Interleaved, so drift on a shared machine hits every contender alike.
    for _ in 0..boot_runs {
        samples[0].extend(time_runs(1, || {
            first_query(&Connection::open(&dbs.floor).expect("open"))
        }));
        samples[1].extend(time_runs(1, || {
            let conn = Connection::open(&dbs.floor).expect("open");
            let mut stmt = conn
                .prepare("SELECT version, name, checksum FROM floor_history ORDER BY version")
                .expect("prepare");
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .expect("query")
                .count();
            std::hint::black_box(rows);
            drop(stmt);
            first_query(&conn);
        }));
        samples[2].extend(time_runs(1, || {
            let mut conn = Connection::open(&dbs.migrate).expect("open");
            let report = registry.run_pending(&mut conn).expect("boot");
            assert!(report.applied.is_empty());
            first_query(&conn);
        }));
        samples[3].extend(time_runs(1, || {
            let mut conn = Connection::open(&dbs.refinery).expect("open");
            refinery_runner(texts).run(&mut conn).expect("boot");
            first_query(&conn);
        }));
        samples[4].extend(time_runs(1, || {
            let mut conn = Connection::open(&dbs.rusqlite_migration).expect("open");
            rusqlite_migrations(texts)
                .to_latest(&mut conn)
                .expect("boot");
            first_query(&conn);
        }));
    }
    let [floor, floor_history, migrate, refinery, rusqlite_migration] = samples.map(median);
    let added = |d: Duration| (d.as_secs_f64() - floor.as_secs_f64()) * 1000.0;
    println!("boot with {count} applied: open + check + first query (median of {boot_runs})");
    println!("  floor: no library         {:>10}", ms(floor));
    println!(
        "  floor: read all history   {:>10}  +{:.3} ms",
        ms(floor_history),
        added(floor_history)
    );
    println!("  migrate                   {:>10}  +{:.3} ms (target <= +0.150), {:.2}x rusqlite_migration", ms(migrate), added(migrate), ratio(migrate, rusqlite_migration));
    println!(
        "  refinery                  {:>10}  +{:.3} ms, {:.2}x migrate",
        ms(refinery),
        added(refinery),
        ratio(refinery, migrate)
    );
    println!(
        "  rusqlite_migration        {:>10}  +{:.3} ms (verifies nothing)",
        ms(rusqlite_migration),
        added(rusqlite_migration)
    );
}
