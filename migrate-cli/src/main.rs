//! `cargo migrate`: create, check and apply migrations from a directory.
//! See the `migrate_cli` library for the commands and exit codes.

fn main() -> std::process::ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Run as `cargo migrate ...`, cargo passes the subcommand's name first.
    if args.get(1).is_some_and(|arg| arg == "migrate") {
        args.remove(1);
    }
    migrate_cli::run_standalone(args)
}
