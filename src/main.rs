//! cargo-isolate: every test in a fresh Linux sandbox, measured, reported.

mod budget;
mod build;
mod cgroup;
mod cli;
mod discover;
mod error;
mod host;
mod outcome;
mod plan;
mod report;
mod run;
mod run_command;
mod sandbox;
mod scratch;
mod signals;
mod test_command;
mod testenv;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The init path first: nothing else should run between exec and setup.
    if args.get(1).map(|a| a == "__init").unwrap_or(false) {
        sandbox::init::main();
    }
    // `cargo isolate ...` runs us as `cargo-isolate isolate ...`.
    if args.get(1).map(|a| a == "isolate").unwrap_or(false) {
        args.remove(1);
    }
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { error::EXIT_USAGE } else { 0 });
        }
    };
    match try_main(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn try_main(cli: cli::Cli) -> Result<u8, error::Error> {
    match cli.command {
        cli::Command::Run(args) => run_command::run(&args),
        cli::Command::Test(args) => test_command::run(&args),
        cli::Command::Init { .. } => sandbox::init::main(),
    }
}
