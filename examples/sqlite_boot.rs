//! An application booting against an SQLite file: opens (or creates) the
//! database, brings it up to date with the migrations embedded from
//! `migrations/`, and reports what it did. Run it twice: the second boot
//! applies nothing.
//!
//! Run: `cargo run --example sqlite_boot [path/to/app.db]` (default `app.db`)

use migrate::rusqlite::Connection;

static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "app.db".to_owned());
    let mut conn = Connection::open(&path)?;

    let report = MIGRATIONS.run_pending(&mut conn)?;
    if report.applied.is_empty() {
        println!("{path}: up to date");
    }
    for applied in &report.applied {
        println!(
            "{path}: applied {:>4} {:<28} in {} ms",
            applied.version,
            applied.file_name,
            applied.duration.as_millis()
        );
    }
    let user_version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    println!(
        "{path}: schema version {} of {} (PRAGMA user_version = {user_version})",
        report.version,
        MIGRATIONS.len()
    );
    Ok(())
}
