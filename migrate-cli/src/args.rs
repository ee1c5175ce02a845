//! The command line, as clap parses it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The runner's options, as flags of every database command.
#[derive(Debug, Clone, Copy, Args)]
pub struct RunOptions {
    /// How long to wait for another process's migration lock, in seconds
    /// (default 60).
    #[arg(long, global = true, value_name = "SECONDS", value_parser = seconds)]
    pub lock_timeout: Option<Duration>,
    /// Treat versions in the database that these migrations do not
    /// include as an error.
    #[arg(long, global = true)]
    pub strict: bool,
    /// Allow applying a pending migration older than the newest applied one.
    #[arg(long, global = true)]
    pub allow_out_of_order: bool,
    /// How the migration lock is held on PostgreSQL: `session` (a direct
    /// connection or a session pooler), `transaction`, or `pooler` (behind
    /// a pooler in transaction mode, e.g. PgBouncer's `pool_mode =
    /// transaction`).
    #[arg(long, global = true, value_enum, value_name = "STRATEGY")]
    pub lock_strategy: Option<LockStrategyArg>,
    /// Give up a migration's table lock wait after this many seconds
    /// (PostgreSQL `lock_timeout`, MySQL `lock_wait_timeout`), so that
    /// application queries are not stalled behind it.
    #[arg(long, global = true, value_name = "SECONDS", value_parser = seconds)]
    pub ddl_lock_timeout: Option<Duration>,
    /// How many times to try a migration again after it gave up on a
    /// table lock (with `--ddl-lock-timeout`).
    #[arg(long, global = true, value_name = "N", requires = "ddl_lock_timeout")]
    pub ddl_lock_retries: Option<u32>,
}

/// `--lock-strategy`: [`migrate_core::LockStrategy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LockStrategyArg {
    /// A session lock for the whole run.
    Session,
    /// A lock in each transaction.
    Transaction,
    /// For a pooler in transaction mode: nothing kept between transactions.
    Pooler,
}

impl RunOptions {
    /// `runner` with these options.
    pub fn apply<'m>(&self, mut runner: migrate_core::Runner<'m>) -> migrate_core::Runner<'m> {
        if let Some(timeout) = self.lock_timeout {
            runner = runner.lock_timeout(timeout);
        }
        if let Some(strategy) = self.lock_strategy {
            runner = runner.lock_strategy(match strategy {
                LockStrategyArg::Session => migrate_core::LockStrategy::Session,
                LockStrategyArg::Transaction => migrate_core::LockStrategy::Transaction,
                LockStrategyArg::Pooler => migrate_core::LockStrategy::TransactionPooler,
            });
        }
        if let Some(timeout) = self.ddl_lock_timeout {
            runner = runner.ddl_lock_timeout(timeout);
        }
        if let Some(retries) = self.ddl_lock_retries {
            runner = runner.ddl_lock_retries(retries);
        }
        runner
            .strict(self.strict)
            .allow_out_of_order(self.allow_out_of_order)
    }
}

/// A number of seconds (fractions allowed): `--lock-timeout 2.5`.
fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("`{text}` is not a number of seconds (e.g. 30 or 2.5)"))
}

/// `migrate`: create, check and apply database migrations.
#[derive(Debug, Parser)]
#[command(
    name = "migrate",
    bin_name = "cargo migrate",
    version,
    about,
    propagate_version = true
)]
pub struct Standalone {
    #[command(subcommand)]
    pub command: StandaloneCommand,
    /// The migration directory.
    #[arg(long, global = true, default_value = "migrations")]
    pub dir: PathBuf,
    /// The database: sqlite://path.db (sqlite:///abs/path.db, sqlite::memory:,
    /// ?mode=ro|rw|rwc), postgres://user:password@host/db, 'host=... dbname=...' or
    /// mysql://user:password@host/db (also mariadb://).
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    /// The history table (or schema.table).
    #[arg(long, global = true, default_value = migrate_core::DEFAULT_TABLE)]
    pub table: String,
    /// Show the causes of an error.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(flatten)]
    pub options: RunOptions,
}

#[derive(Debug, Subcommand)]
pub enum StandaloneCommand {
    /// Create the next numbered migration file(s), in the directory's style.
    New {
        /// The migration's name: letters, digits and `_`.
        name: String,
        /// A Rust migration (`NNNN_name.rs`) instead of SQL.
        #[arg(long)]
        rust: bool,
        /// Also a down migration.
        #[arg(long)]
        down: bool,
    },
    /// Validate the directory with the rules `embed_migrations!` applies.
    Check,
    /// Print a completion script for a shell:
    /// `migrate completions bash > /etc/bash_completion.d/migrate`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    #[command(flatten)]
    Database(DatabaseCommand),
}

/// The application's migrations, as `migrate::cli::run` sees its arguments.
#[derive(Debug, Parser)]
#[command(
    name = "migrate",
    about = "Inspect and apply this application's embedded migrations."
)]
pub struct Embedded {
    #[command(subcommand)]
    pub command: DatabaseCommand,
    /// The database: sqlite://path.db (sqlite:///abs/path.db, sqlite::memory:,
    /// ?mode=ro|rw|rwc), postgres://user:password@host/db, 'host=... dbname=...' or
    /// mysql://user:password@host/db (also mariadb://).
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    /// Show the causes of an error.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(flatten)]
    pub options: RunOptions,
}

/// How `status` and `plan` print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: a table, the SQL.
    #[default]
    Text,
    /// For programs: one JSON document (fields in the README).
    Json,
}

#[derive(Debug, Clone, Subcommand)]
pub enum DatabaseCommand {
    /// The migrations themselves, without a database: version, file, kind.
    List {
        /// Text for people, or JSON for programs.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// One row per version: applied, pending, future, changed or dirty.
    Status {
        /// Text for people, or JSON for programs.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Exit with 3 unless the database is exactly at these migrations
        /// (nothing pending, changed, dirty or unknown): a gate for CI.
        #[arg(long)]
        exit_code: bool,
    },
    /// The audit log: every apply, revert, baseline and repair, failures
    /// included, oldest first (who, where, when, how it ended).
    Log {
        /// Text for people, or JSON for programs.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Print the SQL `up` would run, running nothing.
    Plan {
        /// Text for people, or JSON for programs.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Apply pending migrations.
    Up {
        /// Stop after this version.
        #[arg(long)]
        to: Option<u64>,
        /// All in one transaction: all or nothing.
        #[arg(long)]
        grouped: bool,
    },
    /// Revert applied migrations, newest first: those above a version
    /// (`--to`), or a number of the newest (`--steps`).
    Down {
        /// The version to go back to (0: revert everything).
        #[arg(long, required_unless_present = "steps", conflicts_with = "steps")]
        to: Option<u64>,
        /// How many of the newest applied migrations to revert (1: the last one).
        #[arg(long)]
        steps: Option<u64>,
    },
    /// Prove the down steps on a scratch database: apply each pending
    /// migration, revert it, compare the schema, apply it again.
    Verify,
    /// Adopt an existing database: record 1..=VERSION as applied without running them.
    Baseline {
        /// The version the database's schema is at.
        #[arg(id = "at", value_name = "VERSION")]
        version: u64,
    },
    /// Resolve a migration that ran outside a transaction and did not finish.
    Repair {
        /// The unfinished version.
        #[arg(id = "unfinished", value_name = "VERSION")]
        version: u64,
        /// What you did by hand: `completed` the change, or `undone` it.
        #[arg(value_enum)]
        resolution: Resolution,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Resolution {
    /// The change was finished by hand: record it as applied.
    Completed,
    /// The change was undone by hand: forget it, so it runs again.
    Undone,
}
