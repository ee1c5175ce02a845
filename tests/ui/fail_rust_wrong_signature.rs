static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/rust-wrong-signature");

fn main() {
    let _ = MIGRATIONS.len();
}
