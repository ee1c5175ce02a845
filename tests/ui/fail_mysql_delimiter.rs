static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/mysql-delimiter");

fn main() {
    let _ = MIGRATIONS.len();
}
