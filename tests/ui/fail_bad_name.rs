static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/bad-name");

fn main() {
    let _ = MIGRATIONS.len();
}
