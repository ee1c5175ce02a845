//! The commands: one implementation for the standalone tool and the
//! embedded CLI, generic over the database.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use migrate_core::TableName;
use migrate_core::{Applied, Database, MigrationKind, Migrations, Repair, State};

use crate::args::{
    DatabaseCommand, Embedded, Format, Resolution, RunOptions, Standalone, StandaloneCommand,
};
use crate::database::{self, with_db};
use crate::{check, new, output, Failure};

/// The standalone tool's binary: `cargo-migrate`, run as `cargo migrate`.
const BIN: &str = "cargo-migrate";

pub fn standalone(cli: Standalone) -> Result<(), Failure> {
    match cli.command {
        StandaloneCommand::New { name, rust, down } => {
            for path in new::run(&cli.dir, &name, rust, down)? {
                println!("{}", path.display());
            }
            Ok(())
        }
        StandaloneCommand::Check => check::run(&cli.dir),
        StandaloneCommand::Completions { shell } => {
            use clap::CommandFactory;
            let mut command = Standalone::command();
            clap_complete::generate(shell, &mut command, BIN, &mut std::io::stdout());
            Ok(())
        }
        StandaloneCommand::Database(command) => {
            TableName::parse(&cli.table).map_err(Failure::usage)?;
            let checked = check::validated(&cli.dir).map_err(|p| check::failure(&cli.dir, &p))?;
            let migrations = checked
                .leak_registry(&cli.table)
                .ok_or_else(|| Failure::problem("the migration directory did not validate"))?;
            if let DatabaseCommand::List { format } = command {
                output::list(migrations, format);
                return Ok(());
            }
            let mut conn = database::open(cli.database.as_deref(), writes(&command))?;
            let options = cli.options;
            with_db!(&mut conn, |db| execute(
                &command, migrations, db, true, options
            ))
        }
    }
}

pub fn embedded(migrations: &'static Migrations, cli: Embedded) -> Result<(), Failure> {
    if let DatabaseCommand::List { format } = cli.command {
        output::list(migrations, format);
        return Ok(());
    }
    let mut conn = database::open(cli.database.as_deref(), writes(&cli.command))?;
    let options = cli.options;
    with_db!(&mut conn, |db| execute(
        &cli.command,
        migrations,
        db,
        false,
        options
    ))
}

fn writes(command: &DatabaseCommand) -> bool {
    !matches!(
        command,
        DatabaseCommand::Status { .. } | DatabaseCommand::Plan { .. } | DatabaseCommand::Log { .. }
    )
}

/// The standalone tool reads SQL from the directory; a Rust migration only
/// runs inside the application that compiled it. `first` is the Rust
/// migration the run would reach first; `instead` says how far to go here.
fn refuse_rust(first: Option<&migrate_core::Migration>, instead: &str) -> Result<(), Failure> {
    let Some(m) = first else {
        return Ok(());
    };
    Err(Failure::problem(format!(
        "migration {} (`{}`) is a Rust migration, which only the application embedding it can \
         run; run it from the application (on boot, or its `migrate::cli::run` commands), or \
         stop before it here with `{instead}`",
        m.version(),
        m.file_name(),
    )))
}

/// `down` cannot revert versions these migrations do not include. The
/// library's advice for them ("deploy that release, or allow future
/// versions") names nothing these commands offer, and allowing them would
/// not let a rollback pass them anyway: say what to run instead.
fn down_failure(error: migrate_core::Error, standalone: bool) -> Failure {
    let migrate_core::Error::FutureVersions {
        versions,
        latest_known,
    } = &error
    else {
        return error.into();
    };
    let versions: Vec<String> = versions.iter().map(u64::to_string).collect();
    let newer = if standalone {
        "the migration directory that includes them (`--dir`)"
    } else {
        "the newer release of this application"
    };
    Failure::problem(format!(
        "the database has version(s) {} that these migrations do not include (they go up to \
         {latest_known}), so `down` cannot revert them and nothing was changed; revert them \
         first with {newer}: `down --to {latest_known}`, then run this again",
        versions.join(", ")
    ))
}

/// `--strict` refused versions the migrations do not include. The
/// library's advice ("allow future versions") is, here, to drop the flag.
fn strict_failure(error: migrate_core::Error) -> Failure {
    let migrate_core::Error::FutureVersions {
        versions,
        latest_known,
    } = &error
    else {
        return error.into();
    };
    let versions: Vec<String> = versions.iter().map(u64::to_string).collect();
    Failure::problem(format!(
        "the database has version(s) {} that these migrations do not include (they go up to \
         {latest_known}), which `--strict` refuses, so nothing was changed; run the release \
         that includes them, or run without `--strict` to tolerate them",
        versions.join(", ")
    ))
}

fn execute<D: Database>(
    command: &DatabaseCommand,
    migrations: &'static Migrations,
    db: &mut D,
    standalone: bool,
    options: RunOptions,
) -> Result<(), Failure> {
    let total = migrations.len();
    let mut runner = options.apply(migrations.runner());
    // A directory read by the standalone tool names no application: the
    // audit log names the tool.
    if migrations.application().is_none() {
        runner = runner.application("cargo-migrate", env!("CARGO_PKG_VERSION"));
    }
    match command {
        // Answered before a database is opened.
        DatabaseCommand::List { format } => output::list(migrations, *format),
        DatabaseCommand::Status { format, exit_code } => {
            let rows = runner.status(db)?;
            match format {
                Format::Text => output::status(&rows),
                Format::Json => output::status_json(&rows),
            }
            if *exit_code {
                if let Some(why) = output::not_current(&rows) {
                    return Err(Failure::not_current(why));
                }
            }
        }
        DatabaseCommand::Log { format } => {
            let entries = runner.log(db)?;
            match format {
                Format::Text => output::log(&entries),
                Format::Json => output::log_json(&entries),
            }
        }
        DatabaseCommand::Plan { format } => {
            let pending = runner.plan(db).map_err(strict_failure)?;
            match format {
                Format::Text => output::plan(&pending),
                Format::Json => output::plan_json(&pending),
            }
        }
        DatabaseCommand::Up { to, grouped } => {
            let pending = match to {
                Some(to) => runner.plan_to(db, *to).map_err(strict_failure)?,
                None => runner.plan(db).map_err(strict_failure)?,
            };
            if standalone {
                // Applied in version order: the lowest Rust one is reached first.
                let first = pending
                    .iter()
                    .copied()
                    .find(|m| m.kind() == MigrationKind::Rust);
                let stop = first.map_or(0, |m| m.version().saturating_sub(1));
                refuse_rust(first, &format!("up --to {stop}"))?;
            }
            let bar = progress_bar(pending.len());
            let tick = |_: &Applied| bar.inc(1);
            let runner = runner.grouped(*grouped).on_progress(&tick);
            let start = Instant::now();
            let report = match to {
                Some(to) => runner.run_to(db, *to),
                None => runner.run_pending(db),
            };
            bar.finish_and_clear();
            output::summary(&report.map_err(strict_failure)?, total, start.elapsed());
        }
        DatabaseCommand::Down { to, steps } => {
            if standalone {
                // Reverted newest first: the highest Rust one is reached first.
                let plan = match (to, steps) {
                    (Some(to), _) => runner.plan_rollback(db, *to),
                    (None, steps) => runner.plan_rollback_steps(db, steps.unwrap_or(0)),
                };
                let first = plan
                    .map_err(|e| down_failure(e, standalone))?
                    .into_iter()
                    .find(|m| m.kind() == MigrationKind::Rust);
                let stop = first.map_or(0, migrate_core::Migration::version);
                refuse_rust(first, &format!("down --to {stop}"))?;
            }
            let start = Instant::now();
            // clap requires one of the two.
            let report = match (to, steps) {
                (Some(to), _) => runner.rollback_to(db, *to),
                (None, steps) => runner.rollback_steps(db, steps.unwrap_or(0)),
            };
            let report = report.map_err(|e| down_failure(e, standalone))?;
            output::summary(&report, total, start.elapsed());
        }
        DatabaseCommand::Verify => {
            if standalone {
                let first = runner
                    .plan(db)
                    .map_err(strict_failure)?
                    .into_iter()
                    .find(|m| m.kind() == MigrationKind::Rust);
                refuse_rust(first, "the application's own `migrate verify`")?;
            }
            let start = Instant::now();
            let found = runner.verify_reversible(db)?;
            output::verified(&found, start.elapsed());
        }
        DatabaseCommand::Baseline { version } => {
            let report = runner.baseline(db, *version)?;
            println!("baselined at version {} of {total}", report.version);
        }
        DatabaseCommand::Repair {
            version,
            resolution,
        } => {
            let how = match resolution {
                Resolution::Completed => Repair::Completed,
                Resolution::Undone => Repair::Undone,
            };
            let report = runner.repair(db, *version, how)?;
            // For a down step, completing it forgets the row: say what became of it.
            let applied = runner
                .status(db)?
                .iter()
                .any(|s| s.version == *version && s.state == State::Applied);
            println!(
                "version {version} marked {}; at version {} of {total}",
                if applied { "applied" } else { "not applied" },
                report.version
            );
        }
    }
    Ok(())
}

/// A bar on stderr when there is enough to watch; hidden otherwise (and
/// whenever stderr is not a terminal).
fn progress_bar(len: usize) -> ProgressBar {
    if len < 10 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} migrations {elapsed}") {
        bar.set_style(style);
    }
    bar
}
