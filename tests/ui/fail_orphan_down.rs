static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/orphan-down");

fn main() {
    let _ = MIGRATIONS.len();
}
