static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");

fn main() {
    assert_eq!(MIGRATIONS.len(), 4);
    assert_eq!(MIGRATIONS.table(), "migrate_schema_history");
    let versions: Vec<u64> = MIGRATIONS.iter().map(|m| m.version()).collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    assert_eq!(MIGRATIONS.get(3).unwrap().kind(), migrate::MigrationKind::Rust);
    assert!(MIGRATIONS.get(5).is_none());
    assert!(MIGRATIONS.get(0).is_none());
}
