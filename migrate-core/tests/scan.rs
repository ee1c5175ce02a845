//! The scanner's rules, one test per rule, plus "every problem at once".

use migrate_core::checksum;
use migrate_core::source::{scan_dir, scan_files, MigrationSource, Problem, Problems};
use migrate_core::MigrationKind;

fn scan(files: &[(&str, &str)]) -> Result<MigrationSource, Problems> {
    scan_files(
        "migrations",
        files
            .iter()
            .map(|(n, t)| (n.to_string(), t.as_bytes().to_vec())),
    )
}

fn problems(files: &[(&str, &str)]) -> Vec<Problem> {
    match scan(files) {
        Ok(source) => panic!("expected problems, got {source:#?}"),
        Err(problems) => problems.0,
    }
}

fn messages(files: &[(&str, &str)]) -> Vec<String> {
    problems(files).iter().map(ToString::to_string).collect()
}

const T: &str = "CREATE TABLE t (id INTEGER);";

#[test]
fn a_valid_set_in_version_order_with_everything_filled_in() {
    let source = scan(&[
        (
            "0002_b.sql",
            "-- migrate:no-transaction\nCREATE INDEX i ON t (id);",
        ),
        ("README.md", "not a migration"),
        ("0001_a.sql", T),
        ("0001_a.down.sql", "DROP TABLE t;"),
        (
            "3_c.rs",
            "pub fn up(tx: &mut dyn migrate::Tx) -> migrate::Result<()> { Ok(()) }",
        ),
        ("V4__d.sql", "SELECT 1;"),
        ("U4__d.sql", "SELECT 2;"),
        ("0005_e.up.sql", "SELECT 3;"),
    ])
    .unwrap();
    let got: Vec<(u64, &str, MigrationKind)> = source
        .migrations
        .iter()
        .map(|m| (m.version, m.name.as_str(), m.kind))
        .collect();
    assert_eq!(
        got,
        [
            (1, "a", MigrationKind::Sql),
            (2, "b", MigrationKind::Sql),
            (3, "c", MigrationKind::Rust),
            (4, "d", MigrationKind::Sql),
            (5, "e", MigrationKind::Sql),
        ]
    );
    let first = &source.migrations[0];
    assert_eq!(first.up.file_name, "0001_a.sql");
    assert_eq!(first.down.as_ref().unwrap().text, "DROP TABLE t;");
    assert_eq!(first.mode, migrate_core::SqlMode::Transaction);
    assert_eq!(
        source.migrations[1].mode,
        migrate_core::SqlMode::NoTransaction
    );
    assert_eq!(
        source.migrations[3].down.as_ref().unwrap().file_name,
        "U4__d.sql"
    );
    assert_eq!(first.checksum, checksum::checksum(T));

    // The chain covers every version up to each one.
    let mut chained = String::new();
    for m in &source.migrations {
        chained = checksum::chain(&chained, m.version, &m.checksum);
        assert_eq!(m.chained_checksum, chained);
    }
    assert_eq!(
        source.file_names(),
        [
            "0001_a.down.sql",
            "0001_a.sql",
            "0002_b.sql",
            "0005_e.up.sql",
            "3_c.rs",
            "U4__d.sql",
            "V4__d.sql"
        ]
    );
}

#[test]
fn an_empty_directory_is_an_empty_set() {
    assert!(scan(&[("README.md", "# migrations")])
        .unwrap()
        .migrations
        .is_empty());
}

#[test]
fn crlf_and_bom_give_the_same_checksum_and_text_as_lf() {
    let lf = scan(&[("0001_a.sql", "CREATE TABLE t (\n  id INTEGER\n);\n")]).unwrap();
    let crlf = scan(&[(
        "0001_a.sql",
        "\u{feff}CREATE TABLE t (\r\n  id INTEGER\r\n);\r\n",
    )])
    .unwrap();
    assert_eq!(lf.migrations[0].checksum, crlf.migrations[0].checksum);
    assert_eq!(
        lf.migrations[0].chained_checksum,
        crlf.migrations[0].chained_checksum
    );
    assert_eq!(lf.migrations[0].up.text, crlf.migrations[0].up.text);
}

#[test]
fn duplicate_versions_name_every_file_and_the_next_free_version() {
    let found = messages(&[
        ("0001_a.sql", T),
        ("1_b.sql", T),
        ("V1__c.sql", T),
        ("0002_d.sql", T),
    ]);
    assert_eq!(
        found,
        [
            "version 1 is used by `0001_a.sql`, `1_b.sql` and `V1__c.sql`; keep one and \
          renumber the others (the next free version is 3)"
        ]
    );
    // SQL and Rust files, `.sql` and `.up.sql`, two downs: all duplicates.
    assert!(matches!(
        problems(&[("0001_a.sql", T), ("0001_a.rs", "fn up() {}")]).as_slice(),
        [Problem::DuplicateVersion { version: 1, .. }]
    ));
    assert!(matches!(
        problems(&[("0001_a.sql", T), ("0001_a.up.sql", T)]).as_slice(),
        [Problem::DuplicateVersion { version: 1, .. }]
    ));
    assert!(matches!(
        problems(&[("0001_a.sql", T), ("0001_a.down.sql", T), ("U1__a.sql", T)]).as_slice(),
        [Problem::DuplicateVersion { version: 1, .. }]
    ));
}

#[test]
fn gaps_name_the_missing_versions_and_their_neighbours() {
    assert_eq!(
        messages(&[("0001_a.sql", T), ("0003_c.sql", T)]),
        [
            "version 2 is missing between `0001_a.sql` and `0003_c.sql`; versions must be \
          contiguous: add the missing migration or renumber `0003_c.sql` and the ones after it"
        ]
    );
    assert!(messages(&[("0001_a.sql", T), ("0005_c.sql", T)])[0]
        .starts_with("versions 2 to 4 are missing between `0001_a.sql` and `0005_c.sql`"));
}

#[test]
fn versions_start_at_one() {
    assert_eq!(
        messages(&[("0002_b.sql", T), ("0003_c.sql", T)]),
        [
            "versions start at 1, but the first migration is `0002_b.sql` (version 2); \
          renumber the migrations from 1"
        ]
    );
    assert!(matches!(
        problems(&[("0000_zero.sql", T), ("0001_a.sql", T)]).as_slice(),
        [Problem::DoesNotStartAtOne { first: 0, .. }]
    ));
}

#[test]
fn bad_names_are_errors_not_skipped() {
    assert_eq!(
        messages(&[("0001_a.sql", T), ("0002 add users.sql", T)]),
        [
            "`0002 add users.sql`: separate the version from the name with `_`; \
          rename it to `0002_add_users.sql`"
        ]
    );
    // The version a bad name carries still counts, so it is not also a gap.
    assert_eq!(
        problems(&[("0001_a.sql", T), ("0002-b.sql", T), ("0003_c.sql", T)]).len(),
        1
    );
}

#[test]
fn down_migrations_need_a_matching_up() {
    assert_eq!(
        messages(&[("0001_a.sql", T), ("0002_b.down.sql", T)]),
        ["`0002_b.down.sql` is a down migration with no up migration; add `0002_b.sql` or delete it"]
    );
    assert_eq!(
        messages(&[("0001_a.sql", T), ("0001_b.down.sql", T)]),
        [
            "`0001_b.down.sql` does not match the name of its up migration `0001_a.sql`; \
          rename it to `0001_a.down.sql`"
        ]
    );
    assert_eq!(
        messages(&[("V1__a.sql", T), ("U1__b.sql", T)]),
        ["`U1__b.sql` does not match the name of its up migration `V1__a.sql`; rename it to `U1__a.sql`"]
    );
    assert_eq!(
        messages(&[("0001_a.rs", "pub fn up() {}"), ("0001_a.down.sql", T)]),
        [
            "`0001_a.down.sql` reverts a Rust migration; write the down step as `pub fn down` \
          in `0001_a.rs` and delete `0001_a.down.sql`"
        ]
    );
}

#[test]
fn empty_migrations_are_errors() {
    for text in ["", "  \n\t", "-- TODO\n", "/* later */"] {
        assert_eq!(
            messages(&[("0001_a.sql", text)]),
            ["`0001_a.sql` is empty (only whitespace or comments); write the migration or delete the file"],
            "{text:?}"
        );
    }
    assert!(matches!(
        problems(&[("0001_a.sql", T), ("0001_a.down.sql", "\n")]).as_slice(),
        [Problem::Empty { file }] if file == "0001_a.down.sql"
    ));
    assert!(matches!(
        problems(&[("0001_a.rs", "// nothing\n")]).as_slice(),
        [Problem::Empty { .. }]
    ));
}

#[test]
fn invalid_utf8_names_the_line() {
    let files = vec![
        ("0001_a.sql".to_owned(), T.as_bytes().to_vec()),
        (
            "0002_b.sql".to_owned(),
            b"SELECT 1;\nSELECT '\xff';\n".to_vec(),
        ),
    ];
    let err = scan_files("migrations", files).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`0002_b.sql` is not valid UTF-8 (first bad byte on line 2); save it as UTF-8"
    );
}

#[test]
fn unknown_directives_are_errors() {
    assert_eq!(
        messages(&[("0001_a.sql", "-- migrate:no-transactions\nVACUUM;")]),
        [
            "`0001_a.sql`: unknown directive `-- migrate:no-transactions` on the first line; \
          the directives are `-- migrate:no-transaction` and `-- migrate:foreign-keys-off`"
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    // A bad merge: a duplicate, a gap, an empty file and a bad name together.
    let found = problems(&[
        ("0001_a.sql", T),
        ("0002_b.sql", T),
        ("0002_c.sql", T),
        ("0005_e.sql", ""),
        ("0006 f.sql", T),
    ]);
    assert!(found
        .iter()
        .any(|p| matches!(p, Problem::DuplicateVersion { version: 2, .. })));
    assert!(found
        .iter()
        .any(|p| matches!(p, Problem::MissingVersions { from: 3, to: 4, .. })));
    assert!(found.iter().any(|p| matches!(p, Problem::Empty { .. })));
    assert!(found.iter().any(|p| matches!(p, Problem::BadFileName(_))));
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn scan_dir_reads_a_real_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0001_a.sql"), T).unwrap();
    std::fs::write(dir.path().join("0002_b.sql"), T).unwrap();
    std::fs::write(dir.path().join(".gitkeep"), "").unwrap();
    std::fs::create_dir(dir.path().join("notes")).unwrap();
    let source = scan_dir(dir.path()).unwrap();
    assert_eq!(source.migrations.len(), 2);
    assert_eq!(source.migrations[0].up.path, dir.path().join("0001_a.sql"));
}

#[test]
fn diesel_style_directories_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0001_a.sql"), T).unwrap();
    std::fs::create_dir(dir.path().join("2024-01-01-000000_create_posts")).unwrap();
    let err = scan_dir(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`2024-01-01-000000_create_posts/` is a directory, but migrations are flat files; \
         move its up and down SQL into `2024-01-01-000000_create_posts.sql` and \
         `2024-01-01-000000_create_posts.down.sql`"
    );
}

#[test]
fn a_missing_directory_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = scan_dir(&missing).unwrap_err();
    assert!(matches!(
        err.0.as_slice(),
        [Problem::DirectoryUnreadable { .. }]
    ));
    assert!(err.to_string().starts_with(&format!(
        "cannot read the migration directory `{}`: ",
        missing.display()
    )));
}

#[test]
fn problem_files_point_at_the_culprits() {
    let found = problems(&[("0001_a.sql", T), ("0001_b.sql", T)]);
    assert_eq!(found[0].files(), ["0001_a.sql", "0001_b.sql"]);
}

#[test]
fn a_thousand_files_come_back_in_version_order() {
    // Unpadded names: as text "10_..." sorts before "9_...", so the order
    // must come from the versions. (Speed is benches/scan.rs's business.)
    let files: Vec<(String, Vec<u8>)> = (1..=1000)
        .rev()
        .map(|v| {
            (
                format!("{v}_create_table_{v}.sql"),
                format!("CREATE TABLE t{v} (id INTEGER PRIMARY KEY, name TEXT);\n").into_bytes(),
            )
        })
        .collect();
    let source = scan_files("migrations", files).unwrap();
    let versions: Vec<u64> = source.migrations.iter().map(|m| m.version).collect();
    assert_eq!(versions, (1..=1000).collect::<Vec<u64>>());
    assert_eq!(source.migrations[8].up.file_name, "9_create_table_9.sql");
    assert_eq!(source.migrations[9].up.file_name, "10_create_table_10.sql");
}

#[test]
fn a_nul_byte_is_an_error_not_a_silent_end_of_file() {
    assert_eq!(
        messages(&[(
            "0001_a.sql",
            "CREATE TABLE b (x INTEGER);\n\0\nCREATE TABLE c (x INTEGER);"
        )]),
        ["`0001_a.sql` line 2 holds a NUL byte, where SQLite stops reading (everything after it \
          would be skipped silently); remove it"]
    );
}
