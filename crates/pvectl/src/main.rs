//! `pvectl`'s entry point: parse the command line, start the runtime, run the command, and turn
//! the result into the process exit code (see `pvectl::exit`). Everything else is the library.

use clap::FromArgMatches;
use pvectl::cli::{self, Cli, Command};
use pvectl::exit;

fn main() {
    // Die of SIGPIPE like other Unix tools when stdout is closed, instead of panicking.
    sigpipe::reset();
    let cli = match cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(exit::FAILED);
        }
    };
    pvectl::verbose::init(cli.verbose);
    let is_diff = matches!(cli.command, Command::Diff(_));
    let result = runtime.block_on(cli::run(cli));
    // Closing the journal folds its write-ahead log into the database, so the next pvectl
    // opens a small file (`std::process::exit` runs no destructors).
    pvectl::journal::close();
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}");
            if !msg.is_empty() {
                eprintln!("error: {msg}");
            }
            let code = exit::code_of(&e);
            if is_diff { code.max(exit::USAGE) } else { code }
        }
    };
    if let Some(e) = pvectl::out::failure() {
        eprintln!("error: cannot write to stdout: {e}");
        let least = if is_diff { exit::USAGE } else { exit::FAILED };
        std::process::exit(code.max(least));
    }
    std::process::exit(code);
}
