static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/version-gap");

fn main() {
    let _ = MIGRATIONS.len();
}
