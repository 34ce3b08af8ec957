//! One `loadgen` run: its command line, running it, and reading the JSON report it prints.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use super::{CompareError, CompareResult};

/// The workload every run shares.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Concurrent clients.
    pub clients: usize,
    /// Length of the measured phase.
    pub duration: Duration,
    /// Unmeasured warm-up before it.
    pub warmup: Duration,
    /// Number of keys.
    pub keys: u32,
    /// Bytes per value.
    pub value_size: usize,
    /// Write every key once before the warm-up.
    pub preload: bool,
    /// Read every key back after the run and check it.
    pub verify: bool,
    /// Interval of `loadgen`'s progress lines.
    pub progress: Duration,
}

/// What differs from one run to the next.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec<'a> {
    /// The addresses of the nodes, as `loadgen --nodes` takes them.
    pub nodes: &'a [String],
    /// `http` or `resp`.
    pub protocol: &'a str,
    /// Fraction of reads.
    pub read_ratio: f64,
    /// Intended operations per second (open loop), or `None` for a closed loop.
    pub rate: Option<f64>,
    /// The bucket (a fresh one each run).
    pub bucket: &'a str,
    /// The processes serving the system, for CPU per operation.
    pub cpu_pids: &'a [u32],
}

/// `d` as `loadgen` takes a duration: whole milliseconds.
fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// `items` joined with commas.
fn joined<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The arguments of `loadgen` for one run (without the program name).
pub fn loadgen_args(workload: &Workload, run: &RunSpec<'_>) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--json".into(),
        "--protocol".into(),
        run.protocol.into(),
        "--nodes".into(),
        joined(run.nodes),
        "--clients".into(),
        workload.clients.to_string(),
        "--duration".into(),
        millis(workload.duration),
        "--warmup".into(),
        millis(workload.warmup),
        "--keys".into(),
        workload.keys.to_string(),
        "--value-size".into(),
        workload.value_size.to_string(),
        "--read-ratio".into(),
        run.read_ratio.to_string(),
        "--bucket".into(),
        run.bucket.into(),
        "--progress".into(),
        millis(workload.progress),
    ];
    if let Some(rate) = run.rate {
        args.extend(["--rate".into(), rate.to_string()]);
    }
    if !run.cpu_pids.is_empty() {
        args.extend(["--cpu-pids".into(), joined(run.cpu_pids)]);
    }
    if workload.preload {
        args.push("--preload".into());
    }
    if workload.verify {
        args.push("--verify".into());
    }
    args
}

/// What a run of `loadgen` gave.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Its JSON report.
    pub report: Value,
    /// A note when it exited with a failure despite printing a report (e.g. a failed
    /// `--verify`).
    pub failure: Option<String>,
}

/// Runs `loadgen` with `args`, its progress lines going to this process's standard error, and
/// reads the JSON report from its standard output. Checks `stop` every 100 ms and kills it
/// once `stop` is set.
///
/// # Errors
/// [`CompareError::Interrupted`] when stopped; [`CompareError::Loadgen`] when it printed no
/// report; [`CompareError::Io`] when it cannot be run.
pub fn run_loadgen(loadgen: &Path, args: &[String], stop: &AtomicBool) -> CompareResult<Outcome> {
    let mut child = Command::new(loadgen)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(CompareError::io(format!("run {}", loadgen.display())))?;
    // Read standard output on a thread, so a large report cannot fill the pipe and block it.
    let mut stdout = child.stdout.take();
    let reader = thread::spawn(move || {
        let mut text = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_string(&mut text);
        }
        text
    });
    let status = loop {
        if stop.load(Ordering::Relaxed) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CompareError::Interrupted);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(CompareError::io("wait for loadgen")(e)),
        }
    };
    let text = reader.join().unwrap_or_default();
    match parse_report(&text) {
        Some(report) => Ok(Outcome {
            report,
            failure: (!status.success()).then(|| format!("loadgen exited with {status}")),
        }),
        None => Err(CompareError::Loadgen {
            status: status.to_string(),
            output: text,
        }),
    }
}

/// The JSON object in `text`: all of it, or from its first `{` to its last `}` when other
/// lines surround it.
pub fn parse_report(text: &str) -> Option<Value> {
    if let Ok(value @ Value::Object(_)) = serde_json::from_str(text.trim()) {
        return Some(value);
    }
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    match serde_json::from_str(text.get(start..=end)?) {
        Ok(value @ Value::Object(_)) => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload() -> Workload {
        Workload {
            clients: 32,
            duration: Duration::from_secs(20),
            warmup: Duration::from_millis(2500),
            keys: 10_000,
            value_size: 1024,
            preload: true,
            verify: false,
            progress: Duration::from_secs(10),
        }
    }

    #[test]
    fn args_of_an_open_loop_resp_run() {
        let nodes = vec!["127.0.0.1:22110".to_owned(), "127.0.0.1:22111".to_owned()];
        let run = RunSpec {
            nodes: &nodes,
            protocol: "resp",
            read_ratio: 0.95,
            rate: Some(5000.0),
            bucket: "cc-1",
            cpu_pids: &[10, 11],
        };
        let args = loadgen_args(&workload(), &run).join(" ");
        assert_eq!(
            args,
            "--json --protocol resp --nodes 127.0.0.1:22110,127.0.0.1:22111 --clients 32 \
             --duration 20000ms --warmup 2500ms --keys 10000 --value-size 1024 \
             --read-ratio 0.95 --bucket cc-1 --progress 10000ms --rate 5000 \
             --cpu-pids 10,11 --preload"
        );
    }

    #[test]
    fn closed_loop_runs_have_no_rate() {
        let nodes = vec!["http://127.0.0.1:8001".to_owned()];
        let run = RunSpec {
            nodes: &nodes,
            protocol: "http",
            read_ratio: 0.5,
            rate: None,
            bucket: "b",
            cpu_pids: &[],
        };
        let args = loadgen_args(&workload(), &run);
        assert!(!args.iter().any(|a| a == "--rate" || a == "--cpu-pids"));
    }

    #[test]
    fn reports_are_found_among_other_lines() {
        assert!(parse_report("{\"ops\": 1}\n").is_some());
        assert!(parse_report("note\n{\"ops\": 1}\nbye").is_some());
        assert!(parse_report("no report").is_none());
        assert!(parse_report("[1, 2]").is_none());
    }
}
