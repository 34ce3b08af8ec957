//! The `dynamo` command: parses the command line and runs the subcommand (see [`cli`]).

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dynamo: {e:#}");
            ExitCode::FAILURE
        }
    }
}
