static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/bad-merge");

fn main() {
    let _ = MIGRATIONS.len();
}
