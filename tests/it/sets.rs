//! The migration sets the runtime tests embed, shared by the SQLite and
//! PostgreSQL tests: one fixture directory per scenario.

pub static V1: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/rt-v1");
pub static V2: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/rt-v2");
pub static EDITED: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/rt-edited");
pub static WHITESPACE: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-whitespace");
pub static FAILING: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/rt-failing");
pub static FIXED: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/rt-fixed");
pub static RUST_FAILS: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-rust-fails");
pub static NO_TX: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/rt-no-tx");
pub static NO_TX_FAILS: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-no-tx-fails");
pub static IRREVERSIBLE: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-irreversible");
pub static EXAMPLE: migrate::Migrations = migrate::embed_migrations!("migrations");
pub static CUSTOM_TABLE: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-v1", table = "app_schema_history");

pub static SLOW: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/rt-slow");
pub static NO_TX_SLOW: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-no-tx-slow");
pub static DDL_LOCK: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/ddl-lock");
pub static PG_CONCURRENTLY: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/pg-concurrently");
pub static PG_SCHEMA_TABLE: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-v1", table = "app.schema_history");
pub static PLUGIN: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/flyway", table = "billing_schema_history");
pub static SQLITE_SCHEMA_TABLE: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-v1", table = "main.app_history");
pub static NO_TX_DOWN_FAILS: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-no-tx-down-fails");
pub static RUST_PANICS: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-rust-panics");
pub static RUST_COMMITS: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-rust-commits");
pub static NO_TX_OWN_TX_FAILS: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-no-tx-own-tx-fails");
pub static PG_DUMP: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/pg-dump");
pub static PG_NO_TX_BODIES: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/pg-no-tx-bodies");
pub static PG_NO_TX_ERROR_LINE: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/pg-no-tx-error-line");
pub static SQLITE_REBUILD: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/sqlite-rebuild");
pub static SQLITE_REBUILD_BAD: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/sqlite-rebuild-bad");
pub static RUST_OR_ROLLBACK: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-rust-or-rollback");
pub static PG_SWALLOWED_ERROR: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/pg-swallowed-error");
pub static PG_SETS_SEARCH_PATH: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/pg-sets-search-path");
pub static NO_TX_LEFT_OPEN: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-no-tx-left-open");
pub static PG_DEALLOCATE: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/pg-deallocate");

/// The mode a file's first-line directive asks for.
fn mode_of(sql: &str) -> migrate::SqlMode {
    if sql.starts_with("-- migrate:no-transaction") {
        migrate::SqlMode::NoTransaction
    } else {
        migrate::SqlMode::Transaction
    }
}

/// A registry built by hand from `(file name, SQL)` pairs, versions from 1,
/// with placeholder checksums: SQL no `embed_migrations!` has checked, for
/// the run-time checks. A first line `-- migrate:no-transaction` is obeyed.
pub fn unchecked(steps: &[(&'static str, &'static str)]) -> &'static migrate::Migrations {
    let with_none: Vec<_> = steps.iter().map(|&(file, sql)| (file, sql, None)).collect();
    with_downs(&with_none)
}

/// Placeholder checksums for a registry built by hand.
pub fn placeholder_sums() -> migrate::__private::Checksums {
    const SUM: &str = "0000000000000000000000000000000000000000000000000000000000000000";
    migrate::__private::Checksums {
        exact: SUM,
        loose: SUM,
        chained: SUM,
    }
}

/// `list` as a registry with the default history table, for the test's life.
pub fn leaked(list: Vec<migrate::__private::Migration>) -> &'static migrate::Migrations {
    Box::leak(Box::new(migrate::__private::Migrations::__new(
        Box::leak(list.into_boxed_slice()),
        migrate::DEFAULT_TABLE,
        None,
    )))
}

pub static SQLITE_DUMP_FK: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/sqlite-dump-fk");

pub static MYSQL_DDL_FAILS: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-ddl-fails");
pub static MYSQL_DDL_FIXED: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-ddl-fixed");
pub static MYSQL_DATA_ONLY: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-data-only");
pub static MYSQL_PROGRAMS: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-programs");
pub static MYSQL_ROLLBACK: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-rollback");
pub static MYSQL_SLOW: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-slow");
pub static MYSQL_EXAMPLE: migrate::Migrations = migrate::embed_migrations!("examples/mysql");
pub static MYSQL_LEFT_OPEN: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-left-open");
pub static MYSQL_CALL_DDL: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-call-ddl");
pub static MYSQL_CALL_DATA: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-call-data");
pub static MYSQL_EVENT_BEGIN_COLUMN: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-event-begin-column");
pub static MYSQL_SETS_SQL_MODE: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-sets-sql-mode");
pub static MYSQL_RUST_SET_STATEMENT: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-rust-set-statement");
pub static MYSQL_SET_STATEMENT_MODE: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-set-statement-mode");
pub static MYSQL_SET_STATEMENT_CALL: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-set-statement-call");
pub static MYSQL_PREPARE_DDL: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-prepare-ddl");
pub static MYSQL_OWN_AUTOCOMMIT: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-own-autocommit");
pub static MYSQL_AUTOCOMMIT_LEFT_OPEN: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-autocommit-left-open");
pub static MYSQL_DDL_SLOW: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/mysql-ddl-slow");

/// A registry built by hand from `(file name, up SQL, down SQL)`, versions
/// from 1, as [`unchecked`] builds one: for sets whose down steps are under
/// test.
pub fn with_downs(
    steps: &[(&'static str, &'static str, Option<&'static str>)],
) -> &'static migrate::Migrations {
    use migrate::__private::Migration;
    let list: Vec<Migration> = steps
        .iter()
        .zip(1..)
        .map(|(&(file, up, down), version)| {
            let name = file
                .trim_end_matches(".sql")
                .split_once('_')
                .map_or(file, |(_, name)| name);
            let migration = Migration::__new(
                version,
                name,
                file,
                Migration::__sql(up, mode_of(up)),
                placeholder_sums(),
            );
            match down {
                Some(down) => {
                    let down_file: &'static str =
                        Box::leak(file.replace(".sql", ".down.sql").into_boxed_str());
                    migration.__with_down(Some(down_file), Migration::__sql(down, mode_of(down)))
                }
                None => migration,
            }
        })
        .collect();
    leaked(list)
}

pub use migrate::DEFAULT_LOCK_TIMEOUT;
