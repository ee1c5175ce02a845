static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/rust-wrong-trait");

fn main() {
    let _ = MIGRATIONS.len();
}
