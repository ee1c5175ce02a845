static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/down-name-mismatch");

fn main() {
    let _ = MIGRATIONS.len();
}
