static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/no-transaction");

fn main() {
    assert!(MIGRATIONS.get(1).unwrap().transactional());
    assert!(!MIGRATIONS.get(2).unwrap().transactional());
}
