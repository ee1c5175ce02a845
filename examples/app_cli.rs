//! An application that carries its migrations *and* the commands to manage
//! them: `app_cli migrate <status|plan|up|down|baseline|repair> ...` works on
//! the migrations baked into the binary, so operators can inspect and repair
//! production with no migration directory on the host.
//!
//! Run: `cargo run --example app_cli -- migrate status --database sqlite://app.db`
//!      `cargo run --example app_cli -- migrate up --database sqlite://app.db`
//!      `cargo run --example app_cli` (the application itself: boots and serves)

use std::process::ExitCode;

static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("migrations");

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "migrate") {
        // Everything after `migrate`, with a program name first.
        return migrate::cli::run(&MIGRATIONS, args.into_iter().skip(1));
    }
    // The application: migrate on boot, then do its work.
    let mut conn = match migrate::rusqlite::Connection::open("app.db") {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("app: cannot open app.db: {e}");
            return ExitCode::FAILURE;
        }
    };
    match MIGRATIONS.run_pending(&mut conn) {
        Ok(report) => {
            println!("app: schema at version {}; serving", report.version);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("app: {e}");
            ExitCode::FAILURE
        }
    }
}
