static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/duplicate-version");

fn main() {
    let _ = MIGRATIONS.len();
}
