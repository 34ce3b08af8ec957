//! The whole-cluster comparison behind the `cluster-compare` binary: our cluster (each engine,
//! each durability mode) beside its peers — a 3-rack Dynomite cluster over redis, and a single
//! redis-server — under the same `loadgen` workload, in alternating rounds.
//!
//! The pieces, each usable alone:
//!
//! * [`plan`]: what to run — the systems, their variants (engine × durability), and the order
//!   of a round (reversed every other round, so that no system always runs first);
//! * [`cluster`]: starting and stopping the systems under test (`dynamo up`, the scripts in
//!   `bench/peers/`), finding their node processes and measuring their data directories;
//! * [`http`]: the few HTTP requests it sends itself (`/ping`, `PUT /props`);
//! * [`run`]: the `loadgen` command line of one run, running it, and reading its JSON report;
//! * [`record`]: one run's labels and figures, read from the report leniently (a field the
//!   report lacks is shown as "-");
//! * [`table`], [`csv`]: the printed table and the CSV lines appended to a file;
//! * [`plot`]: latency quantiles against achieved throughput, for a sweep of open-loop rates,
//!   drawn as an SVG;
//! * [`scaling`]: throughput and node CPU against the shards per node (issue "Many cores"),
//!   its CSV file and its SVG, the peers as reference lines;
//! * [`signals`]: Ctrl-C and SIGTERM turned into a flag, so that runs stop and clusters are
//!   shut down cleanly.

pub mod cluster;
pub mod csv;
pub mod http;
pub mod plan;
pub mod plot;
pub mod record;
pub mod run;
pub mod scaling;
pub mod signals;
pub mod table;

use std::path::PathBuf;

/// Why a step of the comparison failed.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A system under test did not start.
    #[error("{system} did not start: {reason}")]
    Start {
        /// The system.
        system: String,
        /// Why, with the end of its log where there is one.
        reason: String,
    },
    /// A node answered an HTTP request with an unexpected status.
    #[error("{request} answered {status}: {body}")]
    Http {
        /// The request, e.g. `PUT http://127.0.0.1:8001/props`.
        request: String,
        /// The status code.
        status: u16,
        /// The body of the answer.
        body: String,
    },
    /// `loadgen` failed without a report.
    #[error("loadgen failed ({status}) without a report{}", stderr_hint(.output))]
    Loadgen {
        /// Its exit status.
        status: String,
        /// What it printed on standard output, if anything.
        output: String,
    },
    /// Stopped by Ctrl-C or SIGTERM.
    #[error("interrupted")]
    Interrupted,
    /// The CSV file exists with other columns than the ones this version writes.
    #[error(
        "{} has other columns than this version writes; pass another --csv (or move it away)",
        .0.display()
    )]
    CsvColumns(PathBuf),
    /// No free block of ports was found.
    #[error("no {0} free consecutive ports on 127.0.0.1 from the start port on")]
    NoPorts(u16),
    /// The chart could not be drawn.
    #[error("cannot draw {}: {message}", .path.display())]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// What plotters said.
        message: String,
    },
}

fn stderr_hint(output: &str) -> String {
    let output = output.trim();
    if output.is_empty() {
        String::new()
    } else {
        format!("; it printed: {}", last_chars(output, 500))
    }
}

/// The last `n` characters of `text` (all of it when shorter).
pub(crate) fn last_chars(text: &str, n: usize) -> &str {
    let count = text.chars().count();
    match text.char_indices().nth(count.saturating_sub(n)) {
        Some((at, _)) if count > n => &text[at..],
        _ => text,
    }
}

impl CompareError {
    /// An [`CompareError::Io`] saying what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CompareError {
        let what = what.into();
        move |source| CompareError::Io { what, source }
    }
}

/// Results of the comparison's steps.
pub type CompareResult<T> = Result<T, CompareError>;
