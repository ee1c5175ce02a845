//! Lists the migrations baked into this binary from `migrations/`: what a
//! release would apply, known at compile time.
//!
//! Run: `cargo run --example list_migrations`

static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");

fn main() {
    println!(
        "{} migrations embedded (history table `{}`):",
        MIGRATIONS.len(),
        MIGRATIONS.table()
    );
    println!(
        "{:>7}  {:<26} {:<5} {:<5} checksum",
        "version", "name", "kind", "down"
    );
    for m in &MIGRATIONS {
        println!(
            "{:>7}  {:<26} {:<5} {:<5} {}…",
            m.version(),
            m.name(),
            m.kind(),
            if m.has_down() { "yes" } else { "no" },
            &m.checksum()[..12],
        );
    }
    if let Some(latest) = MIGRATIONS.latest() {
        println!("latest: {} ({})", latest.version(), latest.file_name());
    }
}
