//! README.md, .gitkeep and other non-migration files are ignored.
static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/ignored-files");

fn main() {
    assert_eq!(MIGRATIONS.len(), 1);
    assert_eq!(MIGRATIONS.latest().unwrap().file_name(), "0001_a.sql");
}
