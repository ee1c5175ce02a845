static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations", tabel = "history");

fn main() {
    let _ = MIGRATIONS.len();
}
