static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/rust-type-error");

fn main() {
    let _ = MIGRATIONS.len();
}
