//! A refinery/Flyway directory works unchanged.
static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/flyway");

fn main() {
    assert_eq!(MIGRATIONS.len(), 2);
    let first = MIGRATIONS.get(1).unwrap();
    assert_eq!(first.name(), "create_invoices");
    assert_eq!(first.file_name(), "V1__create_invoices.sql");
    assert_eq!(first.down_file_name(), Some("U1__create_invoices.sql"));
    assert!(!MIGRATIONS.get(2).unwrap().has_down());
}
