static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations", table = "users; DROP TABLE users");

fn main() {
    let _ = MIGRATIONS.len();
}
