static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/foreign-keys-pragma");

fn main() {
    let _ = MIGRATIONS.len();
}
