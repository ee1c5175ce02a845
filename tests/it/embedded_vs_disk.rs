//! The set the macro embeds at compile time is exactly the set the scanner
//! reads from disk at run time: versions, names, texts and checksums.

use migrate::MigrationKind;
use migrate_core::source::scan_dir;

static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");
static FLYWAY: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/flyway");
static RUST: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/rust");

fn assert_same(embedded: &migrate::Migrations, dir: &str) {
    let on_disk = scan_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
        .unwrap_or_else(|problems| panic!("{dir}: {problems}"));
    assert_eq!(embedded.len(), on_disk.migrations.len(), "{dir}");
    for (m, disk) in embedded.iter().zip(&on_disk.migrations) {
        assert_eq!(m.version(), disk.version);
        assert_eq!(m.name(), disk.name);
        assert_eq!(m.kind(), disk.kind);
        assert_eq!(m.file_name(), disk.up.file_name);
        assert_eq!(m.checksum(), disk.checksum);
        assert_eq!(m.loose_checksum(), disk.loose_checksum);
        assert_eq!(m.chained_checksum(), disk.chained_checksum);
        assert_eq!(m.up().mode(), disk.mode);
        match m.kind() {
            MigrationKind::Sql => {
                assert_eq!(m.up_sql(), Some(disk.up.text.as_str()));
                assert_eq!(m.down_sql(), disk.down.as_ref().map(|d| d.text.as_str()));
                assert_eq!(
                    m.down_file_name(),
                    disk.down.as_ref().map(|d| d.file_name.as_str())
                );
            }
            MigrationKind::Rust => assert!(m.up_sql().is_none()),
        }
    }
}

#[test]
fn the_example_set_matches_the_directory() {
    assert_same(&MIGRATIONS, "migrations");
    assert_same(&FLYWAY, "tests/fixtures/flyway");
    assert_same(&RUST, "tests/fixtures/rust");
}

#[test]
fn registry_accessors() {
    assert_eq!(MIGRATIONS.latest().map(|m| m.version()), Some(4));
    assert!(MIGRATIONS.get(0).is_none());
    assert!(MIGRATIONS.get(u64::MAX).is_none());
    assert_eq!(MIGRATIONS.as_slice().len(), MIGRATIONS.len());
    assert!(!MIGRATIONS.is_empty());
    let rust = MIGRATIONS.get(3).unwrap();
    assert_eq!(rust.kind(), MigrationKind::Rust);
    assert!(rust.has_down());
    assert_eq!(rust.down_file_name(), None);
    // The embedding directory is known in debug builds only.
    assert_eq!(MIGRATIONS.source_dir().is_some(), cfg!(debug_assertions));
    // Debug output identifies migrations without dumping their SQL.
    let debug = format!("{:?}", MIGRATIONS.get(1).unwrap());
    assert!(debug.contains("0001_create_users.sql"), "{debug}");
    assert!(!debug.contains("CREATE TABLE"), "{debug}");
}

#[test]
fn chained_checksums_differ_from_version_to_version() {
    let chains: std::collections::HashSet<&str> =
        MIGRATIONS.iter().map(|m| m.chained_checksum()).collect();
    assert_eq!(chains.len(), MIGRATIONS.len());
}

/// The macro records the embedding crate's name and version.
#[test]
fn the_embedding_crate_is_named() {
    assert_eq!(
        crate::sets::V1.application(),
        Some((env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")))
    );
}
