static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/does-not-exist");

fn main() {
    let _ = MIGRATIONS.len();
}
