static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations", table = "a", table = "b");

fn main() {
    let _ = MIGRATIONS.len();
}
