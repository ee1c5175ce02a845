//! An application and its plugin, each with its own migrations and its own
//! history table, applied to the same database. The sets keep independent
//! histories and lock independently: a long plugin migration never blocks
//! the application's boot, and neither sees the other's versions.
//!
//! Run: `cargo run --example multiple_sets [app.db]` (SQLite), or against
//! PostgreSQL with `./scripts/with-postgres cargo run --example multiple_sets -- --postgres`.

static APP: migrate::Migrations = migrate::embed_migrations!("migrations");
static BILLING: migrate::Migrations =
    migrate::embed_migrations!("examples/plugins/billing", table = "billing_schema_history");

fn boot<D: migrate::Database + ?Sized>(db: &mut D) -> migrate::Result<()> {
    for (name, set) in [("app", &APP), ("billing", &BILLING)] {
        let report = set.run_pending(db)?;
        println!(
            "{name:<8} history `{}`: applied {}, now at version {} of {}",
            set.table(),
            report.applied.len(),
            report.version,
            set.len()
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("--postgres") {
        let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
        let mut client = migrate::postgres::Client::connect(&url, migrate::postgres::NoTls)?;
        boot(&mut client)?;
    } else {
        let path = arg.unwrap_or_else(|| "app.db".to_owned());
        let mut conn = migrate::rusqlite::Connection::open(&path)?;
        boot(&mut conn)?;
    }
    Ok(())
}
