//! Every `migrate::Error` variant's message, pinned: wording changes are
//! deliberate, and every message names the file, the version and the fix.

use std::time::Duration;

use migrate::{Cleanup, Error};

fn io(message: &str) -> migrate::BoxError {
    message.to_owned().into()
}

#[test]
fn every_error_message() {
    let cases: Vec<(Error, &str)> =
        vec![
        (
            Error::Failed {
                version: 3,
                name: "broken".into(),
                file: "0003_broken.sql".into(),
                cleanup: Cleanup::RolledBack,
                source: io("no such table: t"),
            },
            "migration 3 (`0003_broken.sql`) failed and was rolled back: no such table: t; \
             fix the migration and run again (earlier migrations stay applied)",
        ),
        (
            Error::Failed {
                version: 3,
                name: "broken".into(),
                file: "0003_broken.sql".into(),
                cleanup: Cleanup::GroupRolledBack,
                source: io("no such table: t"),
            },
            "migration 3 (`0003_broken.sql`) failed, so the whole group was rolled back and \
             nothing was applied: no such table: t; fix the migration and run again",
        ),
        (
            Error::Failed {
                version: 4,
                name: "index".into(),
                file: "0004_index.sql".into(),
                cleanup: Cleanup::LeftDirty,
                source: io("deadlock detected"),
            },
            "migration 4 (`0004_index.sql`) failed outside a transaction, so the database may \
             be partly changed and is marked dirty: deadlock detected; check the schema, finish \
             or undo the change by hand, then mark it repaired (`migrate repair 4 completed` or `undone`)",
        ),
        (
            Error::Failed {
                version: 5,
                name: "seed".into(),
                file: "0005_seed.rs".into(),
                cleanup: Cleanup::Unconfirmed,
                source: io("connection closed"),
            },
            "migration 5 (`0005_seed.rs`) was sent for commit but the database did not confirm \
             it: connection closed; it was committed with its history row or not at all: run \
             again once the database is reachable, its history decides",
        ),
        (
            Error::Failed {
                version: 4,
                name: "orders".into(),
                file: "0004_orders.sql".into(),
                cleanup: Cleanup::RolledBack,
                source: io("attempt to write a readonly database"),
            },
            "migration 4 (`0004_orders.sql`) could not run and was rolled back: attempt to \
             write a readonly database; the connection is read-only: migrate through a writable \
             connection to the primary",
        ),
        (
            Error::History {
                table: "public.migrate_schema_history".into(),
                action: "create",
                source: io("ERROR: permission denied for schema public"),
            },
            "could not create the history table `public.migrate_schema_history`: ERROR: \
             permission denied for schema public; the database user needs CREATE on the schema \
             and SELECT, INSERT, UPDATE and DELETE on the table: grant them, or migrate as the \
             schema's owner",
        ),
        (
            Error::History {
                table: "migrate_schema_history".into(),
                action: "use",
                source: io("no such column: loose_checksum"),
            },
            "could not use the history table `migrate_schema_history`: no such column: \
             loose_checksum; a table of that name exists but was not created by migrate \
             (another tool's history, or a view): give migrate its own table with \
             `table = \"...\"`",
        ),
        (
            Error::UserVersionNotOwned {
                table: "billing_schema_history".into(),
            },
            "the set with history table `billing_schema_history` does not own `PRAGMA \
             user_version` (the set with the default table `migrate_schema_history` does), so \
             its version cannot come from there; adopt it with `baseline(N)` naming its version",
        ),
        (
            Error::Unconfirmed(io("connection reset")),
            "the database did not confirm a commit: connection reset; check `status` before \
             running again",
        ),
        (
            Error::HistoryOfAnotherSet {
                version: 1,
                file: "V1__create_invoices.sql".into(),
                recorded_name: "create_items".into(),
            },
            "the history records version 1 as `create_items`, but this binary's is \
             `V1__create_invoices.sql`, with another checksum: the table holds another \
             migration set's history; give each set its own `table = \"...\"` (SQLite \
             ignores case in table names, so `History` and `history` are one table)",
        ),
        (
            Error::MissingHistoryRow {
                version: 2,
                file: "0002_add_price.sql".into(),
                covered_by: 4,
            },
            "the history has no row for migration 2 (`0002_add_price.sql`), but the row of \
             version 4 records that it was applied before it, so the row was deleted by hand; \
             applying it again would apply it twice: restore the row from a backup (nothing \
             was changed)",
        ),
        (
            Error::ChecksumMismatch {
                version: 2,
                name: "add_price".into(),
                file: "0002_add_price.sql".into(),
                applied: "aaa".into(),
                embedded: "bbb".into(),
                whitespace_only: true,
            },
            "migration 2 (`0002_add_price.sql`) was changed after it was applied: the database \
             recorded checksum aaa, this binary embeds bbb (only whitespace differs); restore \
             the file as it was applied and put the change in a new migration, or rebuild if \
             this binary is stale",
        ),
        (
            Error::Dirty {
                version: 5,
                name: "vacuum".into(),
                file: "0005_vacuum.sql".into(),
            },
            "migration 5 (`0005_vacuum.sql`) runs outside a transaction and did not finish, so \
             the database may be partly changed; check the schema, finish or undo the change by \
             hand, then mark it repaired (`migrate repair 5 completed` or `undone`)",
        ),
        (
            Error::Irreversible {
                version: 2,
                name: "drop_name".into(),
                file: "0002_drop_name.sql".into(),
            },
            "migration 2 (`0002_drop_name.sql`) has no down step, so it cannot be rolled back; \
             add a down migration or roll back to version 2 or later (nothing was changed)",
        ),
        (
            Error::FutureVersions {
                versions: vec![4, 5],
                latest_known: 3,
            },
            "the database has version(s) 4, 5 that this binary does not know (it knows 1 to 3); \
             a newer release migrated it: deploy that release, or allow future versions",
        ),
        (
            Error::OutOfOrder {
                version: 2,
                file: "0002_add_price.sql".into(),
                highest_applied: 5,
            },
            "migration 2 (`0002_add_price.sql`) is pending but version 5 is already applied; \
             renumber it after 5, or allow out-of-order migrations if applying it late is safe",
        ),
        (
            Error::UnknownVersion {
                version: 9,
                latest_known: 5,
            },
            "version 9 is not one of this binary's migrations (it knows 1 to 5); pick a version \
             in that range",
        ),
        (
            Error::HistoryNotEmpty {
                table: "migrate_schema_history".into(),
                rows: 2,
            },
            "cannot baseline: the history table `migrate_schema_history` already holds 2 \
             row(s); baseline only adopts a database no migration has touched",
        ),
        (
            Error::NoTransactionInGroup {
                version: 2,
                file: "0002_vacuum.sql".into(),
            },
            "migration 2 (`0002_vacuum.sql`) runs outside a transaction (it says \
             `-- migrate:no-transaction`, or changes the schema on a database that commits schema \
             changes on the spot), so it cannot be part of a grouped run; run without grouping, \
             or apply up to version 1 grouped first",
        ),
        (
            Error::NothingToRepair { version: 1 },
            "version 1 is not unfinished, so there is nothing to repair; `repair` is for a \
             migration that ran outside a transaction and did not finish",
        ),
        (
            Error::LockTimeout {
                table: "migrate_schema_history".into(),
                waited: Duration::from_millis(60_000),
                holder: Some("pid 4242".into()),
            },
            "gave up after 60.0s waiting for the migration lock on `migrate_schema_history` \
             (held by pid 4242); another process is migrating: wait for it, or raise the lock \
             timeout",
        ),
        (
            Error::Driver(io("disk I/O error")),
            "database error: disk I/O error",
        ),
        (Error::other("settings row is missing"), "settings row is missing"),
        (
            Error::CorruptHistory {
                table: "migrate_schema_history".into(),
                column: "execution_ms",
                expected: "an integer",
                found: "'slow'".into(),
            },
            "history table `migrate_schema_history`: column `execution_ms` should hold an \
             integer but holds 'slow'; it was changed outside migrate: restore it from a \
             backup, or drop it and adopt the database again with `baseline`",
        ),
        (
            Error::InvalidTableName("`a b` is not a valid table name".into()),
            "`a b` is not a valid table name",
        ),
        (
            Error::Parameters(
                "the statement has 2 placeholder(s) but 1 parameter(s) were given".into(),
            ),
            "the statement has 2 placeholder(s) but 1 parameter(s) were given",
        ),
        (
            Error::Conversion("column `at` has type timestamptz, which a Value cannot hold".into()),
            "column `at` has type timestamptz, which a Value cannot hold",
        ),
        (
            Error::LockFile {
                path: "app.db-migrate_schema_history.migrate-lock".into(),
                source: std::io::Error::other("permission denied"),
            },
            "cannot use the migration lock file `app.db-migrate_schema_history.migrate-lock`: \
             permission denied; the directory holding the database must be writable",
        ),
        (
            Error::ForeignKeyViolations {
                count: 7,
                examples: vec!["`child` row 1 → `parent`".into()],
                before_migration: false,
            },
            "the migration left 7 foreign key violation(s) (`child` row 1 → `parent`, ...); \
             copy every referenced row into the rebuilt table before dropping the old one",
        ),
        (
            Error::NoSchemaSelected,
            "no schema is selected: `search_path` names no existing schema; set it, or \
             qualify the history table as `schema.table`",
        ),
    ];
    for (error, expected) in &cases {
        assert_eq!(error.to_string(), *expected);
    }
    // The cause is reachable for the variants that have one.
    // Each error shows its cause or returns it from `source()`, never both:
    // `{:#}` and the CLI's `-v` print every cause once.
    for (error, _) in &cases {
        if let Some(cause) = std::error::Error::source(error) {
            assert!(
                !error.to_string().contains(&cause.to_string()),
                "{error} also returns its cause {cause}"
            );
        }
    }
    let with_cause = Error::Failed {
        version: 1,
        name: "a".into(),
        file: "0001_a.sql".into(),
        cleanup: Cleanup::RolledBack,
        source: Box::new(Error::LockFile {
            path: "app.db-x.migrate-lock".into(),
            source: std::io::Error::other("disk full"),
        }),
    };
    let chain: Vec<String> =
        std::iter::successors(Some(&with_cause as &dyn std::error::Error), |e| e.source())
            .map(ToString::to_string)
            .collect();
    assert_eq!(chain.len(), 1, "{chain:#?}");
    assert_eq!(cases[0].0.version(), Some(3));
}

#[test]
fn the_library_never_prints() {
    // Progress goes through `log`; a library writing to stdout/stderr would
    // corrupt its users' output. Scan the runtime's source for printing.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrate-core/src");
    let mut stack = vec![src];
    let mut offenders = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                if ["print!(", "println!(", "eprint!(", "eprintln!(", "dbg!("]
                    .iter()
                    .any(|p| code.contains(p))
                {
                    offenders.push(format!("{}:{}", path.display(), i + 1));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "the library prints: {offenders:?}");
}

#[test]
fn the_error_stays_small_enough_for_users_results() {
    // clippy's `result_large_err` fires in every user function returning
    // `migrate::Result` once the error reaches 128 bytes.
    let size = std::mem::size_of::<Error>();
    assert!(size < 128, "migrate::Error is {size} bytes");
}
