//! `migrate`: create, check and apply migrations from a directory.
//! See the `migrate_cli` library for the commands and exit codes.

fn main() -> std::process::ExitCode {
    migrate_cli::run_standalone(std::env::args_os())
}
