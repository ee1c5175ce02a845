//! Migrating through the connection pool an application already has, one
//! expression per pool: `deadpool-postgres` and `bb8` objects pass to the
//! `_async` calls as `&mut object`; `r2d2` connections to the sync calls as
//! `&mut *pooled`. (For `tokio-rusqlite` and `deadpool-sqlite`, call the
//! sync API inside their closure: `conn.call(|c| MIGRATIONS.run_pending(c))`.)
//!
//! Run: `DATABASE_URL=postgres://user@localhost/app cargo run --example pools`
//! or: `./scripts/with-postgres cargo run --example pools`

use migrate::tokio_postgres::NoTls;

static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL, e.g. postgres://user@localhost/app")?;

    // deadpool-postgres
    let manager = deadpool_postgres::Manager::new(url.parse()?, NoTls);
    let pool = deadpool_postgres::Pool::builder(manager).build()?;
    let mut object = pool.get().await?;
    let report = MIGRATIONS.run_pending_async(&mut object).await?;
    println!("deadpool: applied {}", report.applied.len());

    // bb8
    let manager = bb8_postgres::PostgresConnectionManager::new_from_stringlike(&url, NoTls)?;
    let pool = bb8::Pool::builder().build(manager).await?;
    let mut conn = pool.get().await?;
    let report = MIGRATIONS.run_pending_async(&mut conn).await?;
    println!(
        "bb8: applied {} (the first pool did it)",
        report.applied.len()
    );

    // r2d2 (sync): on a blocking thread, as any sync database call in async code.
    let applied = tokio::task::spawn_blocking(move || {
        let manager = r2d2_postgres::PostgresConnectionManager::new(url.parse()?, NoTls);
        let pool = r2d2::Pool::builder().max_size(1).build(manager)?;
        let mut pooled = pool.get()?;
        let report = MIGRATIONS.run_pending(&mut *pooled)?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(report.applied.len())
    })
    .await?
    .map_err(|e| e.to_string())?;
    println!("r2d2: applied {applied}");
    Ok(())
}
