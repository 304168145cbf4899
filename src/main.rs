//! cargo-isolate: every test in a fresh Linux sandbox, measured, reported.

mod archive;
mod budget;
mod build;
mod cgroup;
mod cli;
mod config;
mod confinement;
mod discover;
mod error;
mod execute;
mod failpoint;
mod filterset;
mod host;
mod hunt;
mod listing;
mod model;
mod netfaults;
mod outcome;
mod owned;
mod partition;
mod plan;
#[cfg(test)]
mod reference;
mod replay;
mod report;
mod report_command;
mod run;
mod run_command;
mod sandbox;
mod sandboxes;
mod scratch;
mod settings;
mod show_config;
mod signals;
mod test_command;
mod testenv;
mod user_scope;

use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == sandbox::ZYGOTE_ARG) {
        sandbox::zygote_main();
    }
    // `cargo isolate ...` runs us as `cargo-isolate isolate ...`.
    if args.get(1).map(|a| a == "isolate").unwrap_or(false) {
        args.remove(1);
    }
    // The matches as well as the parsed flags: the configuration file fills
    // only what the command line did not give.
    let parsed = cli::Cli::command()
        .try_get_matches_from(&args)
        .and_then(|m| Ok((cli::Cli::from_arg_matches(&m)?, cli::Explicit::of(&m))));
    let (cli, explicit) = match parsed {
        Ok(p) => p,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { error::EXIT_USAGE } else { 0 });
        }
    };
    // An ordinary user on cgroup v2: the run goes on in a delegated scope
    // of their systemd, if it gives one (this execs; see user_scope).
    if matches!(
        cli.command,
        cli::Command::Test(_) | cli::Command::Run(_) | cli::Command::Hunt(_)
    ) {
        user_scope::enter(&args);
    }
    // A panic is a bug of the runner: exit 96 with a message that says
    // so, never 101, which CI reads as a failed build or failed tests.
    let ended = std::panic::catch_unwind(|| try_main(cli, &explicit));
    match ended {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
        Err(panic) => {
            let e = error::Error::Internal(format!(
                "cargo-isolate panicked: {}",
                failpoint::panic_message(&*panic)
            ));
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn try_main(cli: cli::Cli, explicit: &cli::Explicit) -> Result<u8, error::Error> {
    if matches!(
        cli.command,
        cli::Command::Run(_)
            | cli::Command::Test(_)
            | cli::Command::List(_)
            | cli::Command::Hunt(_)
    ) {
        // The zygote first, which clones every sandbox (see sandbox::zygote).
        sandbox::start_zygote()?;
        // Then the signal thread, before any phase: from here on SIGINT,
        // SIGTERM and SIGHUP stop the run, clean up and report (exit 130).
        signals::install()
            .map_err(|e| error::Error::setup(format!("cannot install the signal handlers: {e}")))?;
    }
    match cli.command {
        cli::Command::Run(args) => run_command::run(&args),
        cli::Command::Report(args) => report_command::run(&args.command),
        cli::Command::Archive(args) => archive::run(&args),
        cli::Command::Test(args) => test_command::run(&args, explicit),
        cli::Command::List(args) => test_command::list_command(&args, explicit),
        cli::Command::ShowConfig(args) => show_config::run(&args, explicit),
        cli::Command::Hunt(args) => hunt::run(&args, explicit),
    }
}
