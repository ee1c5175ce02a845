static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations", table = "db.app.history");

fn main() {
    let _ = MIGRATIONS.len();
}
