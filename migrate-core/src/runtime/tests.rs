//! The runtime's choreography against a recording driver: which
//! statements and locks each path takes.

use super::*;
use crate::plan::tests::SET;
use crate::registry::{SqlMode, Step};
use crate::testing::Recorder;
use crate::tx::Value;

fn head(version: &str, chain: &str) -> Vec<Vec<Option<String>>> {
    vec![vec![
        Some(version.into()),
        Some(chain.into()),
        Some("applied".into()),
    ]]
}

#[test]
fn boot_with_nothing_pending_is_one_statement_and_no_lock() {
    let mut db = Recorder {
        head: head("3", "h3"),
        ..Recorder::default()
    };
    let report = SET.run_pending(&mut db).unwrap();
    assert!(report.applied.is_empty());
    assert_eq!(report.version, 3);
    assert_eq!(db.calls, ["query_text"]);
}

#[test]
fn a_different_chain_or_version_takes_the_slow_path_under_the_lock() {
    for (version, chain) in [("3", "edited"), ("2", "h2")] {
        let mut db = Recorder {
            head: head(version, chain),
            ..Recorder::default()
        };
        // The recorder's history reads back empty, so all three apply.
        let report = SET.run_pending(&mut db).unwrap();
        assert_eq!(report.applied.len(), 3);
        // Boot's read, the lock, the whole history (it exists: no create),
        // the audit log (created if missing, once there is work to do).
        let slow_path = ["query_text", "lock", "query", "batch CREATE log"];
        assert_eq!(db.calls[..4], slow_path, "{:?}", db.calls);
        assert_eq!(db.calls.last().map(String::as_str), Some("unlock"));
        // Each migration's log row goes in its transaction, before its history row.
        let per_migration = [
            "begin",
            "batch SELECT",
            "execute INSERT log",
            "execute INSERT",
            "commit",
        ];
        assert_eq!(db.calls[4..9], per_migration, "{:?}", db.calls);
    }
}

#[test]
fn progress_is_reported_once_per_migration_in_both_modes() {
    for grouped in [false, true] {
        let mut db = Recorder::default();
        let seen = std::sync::Mutex::new(Vec::new());
        let record = |a: &Applied| seen.lock().unwrap().push(a.version);
        SET.runner()
            .grouped(grouped)
            .on_progress(&record)
            .run_pending(&mut db)
            .unwrap();
        assert_eq!(*seen.lock().unwrap(), [1, 2, 3], "grouped: {grouped}");
    }
}

#[test]
fn an_unfinished_row_is_never_current() {
    let mut rows = head("3", "h3");
    rows.push(vec![
        Some("2".into()),
        Some("h2".into()),
        Some("in_progress".into()),
    ]);
    let mut db = Recorder {
        head: rows,
        ..Recorder::default()
    };
    SET.run_pending(&mut db).unwrap();
    assert!(db.calls.contains(&"lock".to_owned()));
}

/// A third dialect runs every operation: nothing in the core writes
/// SQLite's or PostgreSQL's SQL, and every history statement uses the
/// driver's words (here backtick quoting and its own clock).
/// A set with real-looking checksums, for choreographies that read back
/// what they wrote.
static HEX: Migrations = {
    use crate::registry::Checksums;
    const fn sums(c: &'static str) -> Checksums {
        Checksums {
            exact: c,
            loose: c,
            chained: c,
        }
    }
    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
    const fn sql(text: &'static str) -> Step {
        Migration::__sql(text, SqlMode::Transaction)
    }
    static LIST: &[Migration] = &[
        Migration::__new(
            1,
            "a",
            "0001_a.sql",
            sql("CREATE TABLE a (x INT);"),
            sums(A),
        )
        .__with_down(Some("0001_a.down.sql"), sql("DROP TABLE a;")),
        Migration::__new(
            2,
            "b",
            "0002_b.sql",
            sql("CREATE TABLE b (x INT);"),
            sums(B),
        ),
        Migration::__new(
            3,
            "c",
            "0003_c.sql",
            sql("CREATE TABLE c (x INT);"),
            sums(C),
        )
        .__with_down(Some("0003_c.down.sql"), sql("DROP TABLE c;")),
    ];
    Migrations::__new(LIST, "third_history", None)
};

#[test]
fn a_third_dialect_runs_the_whole_choreography() {
    const SET: &Migrations = &HEX;
    let mut db = Recorder {
        table_missing: true,
        ..Recorder::default()
    };
    assert_eq!(SET.run_to(&mut db, 2).unwrap().applied.len(), 2);
    assert_eq!(
        SET.runner()
            .grouped(true)
            .run_pending(&mut db)
            .unwrap()
            .applied
            .len(),
        1
    );
    assert_eq!(SET.rollback_to(&mut db, 2).unwrap().reverted.len(), 1);
    assert_eq!(SET.status(&mut db).unwrap().len(), 3);
    assert_eq!(db.rows.keys().copied().collect::<Vec<_>>(), [1, 2]);
    // A dirty row, repaired.
    if let Some(row) = db.rows.get_mut(&2) {
        row[6] = Value::Text("in_progress".into());
    }
    SET.repair(&mut db, 2, Repair::Completed).unwrap();
    let mut fresh = Recorder {
        table_missing: true,
        ..Recorder::default()
    };
    SET.baseline(&mut fresh, 3).unwrap();
    assert_eq!(fresh.rows.len(), 3);

    let all: Vec<&String> = db.sql.iter().chain(&fresh.sql).collect();
    for word in [
        "THIRD_CLOCK_UTC()",
        "THIRD_KEY64",
        "THIRD_INT64",
        "THIRD MAKE INDEX",
    ] {
        assert!(all.iter().any(|s| s.contains(word)), "{word} never sent");
    }
    for sql in all {
        for foreign in [
            "strftime",
            "to_char",
            "PRAGMA",
            "BIGINT",
            "\"third_history\"",
        ] {
            assert!(!sql.contains(foreign), "{foreign} in {sql}");
        }
        // The history table, or its audit log, as the dialect quotes it.
        if sql.contains("third_history") {
            assert!(
                sql.contains("`third_history`") || sql.contains("`third_history_log`"),
                "{sql}"
            );
        }
    }
}

#[test]
fn with_a_lock_per_transaction_each_one_checks_the_history_and_a_change_re_plans() {
    // Another process applies version 2 while this run applies 1.
    let two = HEX.get(2).unwrap();
    let row = vec![
        Value::Integer(2),
        two.name().into(),
        "sql".into(),
        two.checksum().into(),
        two.loose_checksum().into(),
        two.chained_checksum().into(),
        "applied".into(),
        "then".into(),
        Value::Integer(0),
    ];
    let mut db = Recorder {
        transaction_locks: true,
        // Begins: 1 reads the history, 2 creates the audit log, 3 applies
        // 1, 4 is where 2 would go.
        intruder: Some((4, row)),
        ..Recorder::default()
    };
    let report = HEX.run_pending(&mut db).unwrap();
    let applied: Vec<u64> = report.applied.iter().map(|a| a.version).collect();
    assert_eq!(applied, [1, 3], "{:?}", db.calls);
    assert_eq!(db.rows.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    // The history is read in a transaction of its own, each migration's
    // transaction checks it first, and the changed one is rolled back
    // before anything of it ran.
    assert_eq!(
        db.calls[..6],
        ["query_text", "lock", "begin", "query", "commit", "begin"]
    );
    let verify = db.calls.iter().filter(|c| *c == "query_text").count();
    assert_eq!(
        verify,
        1 + 3,
        "boot's check and one per migration transaction: {:?}",
        db.calls
    );
    let rolled_back = db.calls.iter().position(|c| c == "rollback").unwrap();
    assert_eq!(
        db.calls[rolled_back - 2..=rolled_back],
        ["begin", "query_text", "rollback"]
    );
}

#[test]
fn with_a_lock_per_transaction_a_no_transaction_step_holds_it_throughout() {
    static STEPS: [crate::registry::Migration; 1] = [crate::registry::Migration::__new(
        1,
        "concurrently",
        "0001_concurrently.sql",
        crate::registry::Migration::__sql(
            "CREATE INDEX CONCURRENTLY i ON t (x);",
            SqlMode::NoTransaction,
        ),
        crate::registry::Checksums {
            exact: "",
            loose: "",
            chained: "",
        },
    )];
    let unit = script::Unit {
        migration: &STEPS[0],
        step: Some(STEPS[0].up()),
        change: Change::Apply,
        mode: SqlMode::NoTransaction,
    };
    let ops = Script::step(unit, 1, LockScope::Transaction).ops;
    use script::{Op, Write};
    assert_eq!(
        ops,
        [
            Op::Begin,
            Op::Verify,
            Op::Write(Write::InProgress(0)),
            Op::CommitHolding,
            Op::Run(0),
            Op::Begin,
            Op::Write(Write::Finish(1, Some(0))),
            Op::SchemaVersion(1),
            Op::CommitReleasing,
        ]
    );
}

#[test]
fn where_schema_changes_commit_on_the_spot_they_are_recorded_in_progress_first() {
    // HEX's migrations are `CREATE TABLE`s.
    let mut db = Recorder {
        ddl_commits: true,
        ..Recorder::default()
    };
    HEX.run_to(&mut db, 1).unwrap();
    // The marker, the step outside any transaction, then the finish: as a
    // `-- migrate:no-transaction` file, so a failure halfway is left dirty.
    let calls: Vec<&str> = db.calls.iter().map(String::as_str).collect();
    let marker = calls.iter().position(|c| *c == "execute INSERT").unwrap();
    let step = calls.iter().position(|c| *c == "batch CREATE").unwrap();
    let finish = calls.iter().position(|c| *c == "execute UPDATE").unwrap();
    assert!(marker < step && step < finish, "{calls:?}");
    assert!(!calls[marker..finish].contains(&"begin"), "{calls:?}");
    // Data-only SQL keeps its transaction.
    assert_eq!(
        script::effective_mode(
            &Migration::__sql("INSERT INTO t VALUES (1);", SqlMode::Transaction),
            false,
            crate::source::sql::LexicalRules::Postgres,
        ),
        SqlMode::Transaction
    );
    // And a grouped run refuses what cannot be all-or-nothing.
    let mut grouped = Recorder {
        ddl_commits: true,
        ..Recorder::default()
    };
    let err = HEX
        .runner()
        .grouped(true)
        .run_pending(&mut grouped)
        .unwrap_err();
    assert!(
        matches!(err, Error::NoTransactionInGroup { version: 1, .. }),
        "{err}"
    );
}
