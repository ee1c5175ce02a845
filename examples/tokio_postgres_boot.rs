//! An async service booting against PostgreSQL with `tokio-postgres`:
//! connects to `DATABASE_URL`, brings the database up to date with the
//! migrations embedded from `migrations/` without blocking the runtime, and
//! reports what it did. Replicas may boot at once: each migration is
//! applied exactly once, and one run dropped halfway (a timeout, a
//! shutdown) leaves nothing half-applied and no lock behind.
//!
//! Run: `DATABASE_URL=postgres://user@localhost/app cargo run --example tokio_postgres_boot`
//! or, with a throwaway server:
//! `./scripts/with-postgres cargo run --example tokio_postgres_boot`

use std::time::Duration;

use migrate::tokio_postgres::{connect, NoTls};

static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL, e.g. postgres://user@localhost/app")?;
    let (mut client, connection) = connect(&url, NoTls).await?;
    tokio::spawn(connection);

    // A boot that cannot finish within a minute gives up cleanly.
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        MIGRATIONS.run_pending_async(&mut client),
    )
    .await??;
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
    println!("schema version {} of {}", report.version, MIGRATIONS.len());
    Ok(())
}
