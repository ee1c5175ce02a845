//! An application booting against PostgreSQL: connects to `DATABASE_URL`,
//! brings the database up to date with the migrations embedded from
//! `migrations/`, and reports what it did. Any number of replicas may run
//! this at once: they take turns on an advisory lock, and each migration is
//! applied exactly once.
//!
//! Run: `DATABASE_URL=postgres://user@localhost/app cargo run --example postgres_boot`
//! or, with a throwaway server: `./scripts/with-postgres cargo run --example postgres_boot`

use migrate::postgres::{Client, NoTls};

static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL, e.g. postgres://user@localhost/app")?;
    let mut client = Client::connect(&url, NoTls)?;

    let report = MIGRATIONS.run_pending(&mut client)?;
    if report.applied.is_empty() {
        println!("up to date");
    }
    for applied in &report.applied {
        println!(
            "applied {:>4} {:<32} in {} ms",
            applied.version,
            applied.file_name,
            applied.duration.as_millis()
        );
    }
    if !report.future_versions.is_empty() {
        println!(
            "the database also has newer versions {:?}",
            report.future_versions
        );
    }
    println!("schema version {} of {}", report.version, MIGRATIONS.len());
    Ok(())
}
