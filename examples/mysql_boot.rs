//! An application booting against MySQL or MariaDB: connects to
//! `DATABASE_URL`, brings the database up to date with the migrations
//! embedded from `examples/mysql/`, and reports what it did. Replicas may
//! run this at once: they take turns on `GET_LOCK`, and each migration is
//! applied exactly once.
//!
//! MySQL commits schema changes on the spot, so each of these migrations
//! holds one: a migration that fails halfway is recorded as dirty, and the
//! error lists what of it had committed.
//!
//! Run: `DATABASE_URL=mysql://user:password@localhost/app cargo run --example mysql_boot`
//! or, with a throwaway server:
//! `./scripts/with-mariadb bash -c 'DATABASE_URL=$MIGRATE_TEST_MYSQL_URL cargo run --example mysql_boot'`

use migrate::mysql::Conn;

static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("examples/mysql");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL, e.g. mysql://user:password@localhost/app")?;
    let mut conn = Conn::new(url.as_str())?;

    let report = MIGRATIONS.run_pending(&mut conn)?;
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
