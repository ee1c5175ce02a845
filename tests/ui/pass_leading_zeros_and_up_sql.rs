//! `1_a.sql`, `02_b.sql` and `0003_c.up.sql` (+ `.down.sql`) are versions 1, 2, 3.
static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/leading-zeros");

fn main() {
    let files: Vec<&str> = MIGRATIONS.iter().map(|m| m.file_name()).collect();
    assert_eq!(files, ["1_a.sql", "02_b.sql", "0003_c.up.sql"]);
    let c = MIGRATIONS.get(3).unwrap();
    assert_eq!(c.name(), "c");
    assert_eq!(c.down_file_name(), Some("0003_c.down.sql"));
    assert_eq!(c.down_sql(), Some("DROP TABLE c;\n"));
    assert!(!MIGRATIONS.get(1).unwrap().has_down());
}
