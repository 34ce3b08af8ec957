//! Prints the markdown table of the engine benchmarks from criterion's output.
//!
//! `bench-report [CRITERION_DIR]`; the directory defaults to `$CARGO_TARGET_DIR/criterion`,
//! else `target/criterion`. See `BENCHMARKS.engines.md` for the commands that fill it.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("target"))
                .join("criterion")
        });
    match bench::report::collect(&dir) {
        Ok(results) if results.is_empty() => {
            eprintln!(
                "bench-report: no engine benchmark results under {}",
                dir.display()
            );
            ExitCode::FAILURE
        }
        Ok(results) => {
            print!("{}", bench::report::render(&results));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-report: {e}");
            ExitCode::FAILURE
        }
    }
}
