static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/unknown-directive");

fn main() {
    let _ = MIGRATIONS.len();
}
