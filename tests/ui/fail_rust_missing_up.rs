static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/rust-missing-up");

fn main() {
    let _ = MIGRATIONS.len();
}
