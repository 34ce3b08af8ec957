//! The `dynamo` command: parses the command line and runs the subcommand (see [`cli`]).

use std::process::ExitCode;

use clap::Parser;

mod cli;

/// The allocator: a node allocates and frees for every message and record, and glibc's malloc
/// took a quarter of a node's samples under load (issue "The fast path").
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// See above.
#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
