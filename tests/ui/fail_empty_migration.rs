static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/empty");

fn main() {
    let _ = MIGRATIONS.len();
}
