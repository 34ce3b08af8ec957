//! CPU time of processes, read from Linux's `/proc/PID/stat`: the nodes under load (their pids
//! given by the user) and the load generator itself, sampled at the start and the end of the
//! measured phase, so that a report can say how much CPU one operation cost.
//!
//! A process's `/proc/PID/stat` counts the CPU time of all its threads, live and exited, in
//! clock ticks: field 14 `utime` (user) and field 15 `stime` (system). The tick length is
//! asked of `getconf CLK_TCK` once (the portable way without `unsafe` code for `sysconf`);
//! when that fails, 100 ticks per second is assumed (Linux's value on every common
//! architecture) and the report says so. With 100 ticks per second a sample is exact to
//! 10 ms of CPU time: measure for seconds, not milliseconds.

use std::sync::OnceLock;

/// Why a process's CPU time could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpuError {
    /// `/proc/PID/stat` could not be read: the process is gone (or this is not Linux).
    #[error("cannot read /proc/{pid}/stat: {reason}")]
    Unreadable {
        /// The process (`self` for this one).
        pid: String,
        /// The system's message.
        reason: String,
    },
    /// The file does not have the expected fields.
    #[error("malformed /proc stat line: {0}")]
    Malformed(&'static str),
}

/// The clock tick rate the CPU times are counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickRate {
    /// Ticks per second.
    pub per_second: u64,
    /// True when `getconf CLK_TCK` failed and 100 was assumed.
    pub assumed: bool,
}

/// The clock tick rate, asked of `getconf CLK_TCK` on the first call.
pub fn tick_rate() -> TickRate {
    static RATE: OnceLock<TickRate> = OnceLock::new();
    *RATE.get_or_init(|| {
        let asked = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse::<u64>().ok())
            .filter(|&ticks| ticks > 0);
        match asked {
            Some(per_second) => TickRate {
                per_second,
                assumed: false,
            },
            None => TickRate {
                per_second: 100,
                assumed: true,
            },
        }
    })
}

/// User plus system CPU time, in clock ticks, from the text of a `/proc/PID/stat` file.
///
/// Field 2 is the command name in parentheses, and the name itself may hold spaces and
/// parentheses (`(my (odd) name)`): the fields after it are counted from the *last* `)`.
///
/// # Errors
/// [`CpuError::Malformed`] when there is no `)` or too few fields, or they are not numbers.
pub fn parse_stat(text: &str) -> Result<u64, CpuError> {
    let (_, after_name) = text
        .rsplit_once(')')
        .ok_or(CpuError::Malformed("no ')' closing the command name"))?;
    // After the name: field 3 (state) is the first, so field n is at index n - 3.
    let mut fields = after_name.split_ascii_whitespace().skip(14 - 3);
    let mut tick_field = || -> Result<u64, CpuError> {
        fields
            .next()
            .ok_or(CpuError::Malformed("fewer than 15 fields"))?
            .parse()
            .map_err(|_| CpuError::Malformed("utime or stime is not a number"))
    };
    let user = tick_field()?;
    let system = tick_field()?;
    Ok(user.saturating_add(system))
}

/// The CPU time of process `pid` (`None`: this process), in clock ticks.
///
/// # Errors
/// [`CpuError`]: the process is gone, or its file is malformed.
pub fn process_ticks(pid: Option<u32>) -> Result<u64, CpuError> {
    let name = pid.map_or_else(|| "self".to_owned(), |p| p.to_string());
    let text = std::fs::read_to_string(format!("/proc/{name}/stat")).map_err(|e| {
        CpuError::Unreadable {
            pid: name.clone(),
            reason: e.to_string(),
        }
    })?;
    parse_stat(&text)
}

/// Process ids, one a line (blank lines and lines starting with `#` skipped), as a file given
/// to `--cpu-pids-file` holds them.
///
/// # Errors
/// The first line that is not a process id.
pub fn parse_pid_lines(text: &str) -> Result<Vec<u32>, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            line.parse::<u32>()
                .map_err(|_| format!("{line:?} is not a process id"))
        })
        .collect()
}

/// CPU times taken at one moment: each watched process's (an error when it could not be
/// read), and this process's.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    nodes: Vec<(u32, Result<u64, CpuError>)>,
    own: Result<u64, CpuError>,
}

impl Sample {
    /// Reads the CPU times of `pids` and of this process now.
    pub(crate) fn take(pids: &[u32]) -> Sample {
        Sample {
            nodes: pids.iter().map(|&p| (p, process_ticks(Some(p)))).collect(),
            own: process_ticks(None),
        }
    }
}

/// CPU time used by one watched process during the measured phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessCpu {
    /// The process id.
    pub pid: u32,
    /// Microseconds of CPU time, user and system, all threads; `Err` with the reason when it
    /// could not be read at the start or the end (the process vanished).
    pub cpu_us: Result<u64, String>,
}

/// CPU time used during the measured phase, by the watched processes and by the load
/// generator.
#[derive(Debug, Clone, Default)]
pub struct CpuReport {
    /// Each watched process (empty: none was given).
    pub nodes: Vec<ProcessCpu>,
    /// The load generator's own CPU time in microseconds (`None`: not measured, e.g. the run
    /// was stopped before the measured phase, or `/proc` is missing).
    pub loadgen_us: Option<u64>,
    /// The clock tick rate the times were counted in (`None`: nothing was sampled).
    pub ticks: Option<TickRate>,
}

impl CpuReport {
    /// The difference between two samples of the same processes.
    pub(crate) fn between(start: &Sample, end: &Sample) -> CpuReport {
        let rate = tick_rate();
        let micros = |ticks: u64| ticks.saturating_mul(1_000_000) / rate.per_second;
        let used = |a: &Result<u64, CpuError>, b: &Result<u64, CpuError>| match (a, b) {
            (Ok(a), Ok(b)) => Ok(micros(b.saturating_sub(*a))),
            (Err(e), _) => Err(format!("at the start: {e}")),
            (_, Err(e)) => Err(format!("vanished during the run: {e}")),
        };
        CpuReport {
            nodes: start
                .nodes
                .iter()
                .zip(&end.nodes)
                .map(|((pid, a), (_, b))| ProcessCpu {
                    pid: *pid,
                    cpu_us: used(a, b),
                })
                .collect(),
            loadgen_us: used(&start.own, &end.own).ok(),
            ticks: Some(rate),
        }
    }

    /// CPU microseconds of the watched processes that could be read at both ends (`None`
    /// when none could, or none was given).
    pub fn node_us(&self) -> Option<u64> {
        let mut read = self.nodes.iter().filter_map(|p| p.cpu_us.as_ref().ok());
        let first = *read.next()?;
        Some(read.fold(first, |sum, us| sum.saturating_add(*us)))
    }

    /// The watched processes that could not be read at both ends.
    pub fn vanished(&self) -> impl Iterator<Item = &ProcessCpu> + '_ {
        self.nodes.iter().filter(|p| p.cpu_us.is_err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line of `/proc/PID/stat` for a process named `name`, with utime 1234 and stime 56.
    fn stat_line(name: &str) -> String {
        format!(
            "4242 ({name}) S 1 4242 4242 0 -1 4194560 1523 0 0 0 1234 56 0 0 20 0 7 0 \
             123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 4096 17 3 0 0 0 0 0\n"
        )
    }

    #[test]
    fn stat_lines_parse_whatever_the_name() {
        for name in [
            "redis-server",
            "dynomite",
            "tokio-runtime-w",
            "a b c",
            "x) S 1 2 3 4 5 6 7 8 9 10 11 12 (y",
            ")",
            "((",
            "",
        ] {
            assert_eq!(parse_stat(&stat_line(name)), Ok(1290), "name {name:?}");
        }
    }

    #[test]
    fn malformed_stat_lines_are_errors() {
        assert!(parse_stat("").is_err());
        assert!(parse_stat("4242 no-parenthesis S 1 2 3").is_err());
        assert!(parse_stat("4242 (short) S 1 2 3 4 5 6 7 8 9 10").is_err());
        assert!(parse_stat("4242 (x) S 1 2 3 4 5 6 7 8 9 10 u s 0").is_err());
    }

    #[test]
    fn this_process_has_a_cpu_time_and_a_vanished_one_is_reported() {
        // Linux only: /proc is where the times come from.
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        let start = Sample::take(&[u32::MAX]);
        // Burn a little CPU so that the end sample is not before the start one.
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let end = Sample::take(&[u32::MAX]);
        let report = CpuReport::between(&start, &end);
        assert!(report.loadgen_us.is_some());
        assert_eq!(report.node_us(), None);
        assert_eq!(report.vanished().count(), 1);
        assert!(report.ticks.is_some_and(|t| t.per_second > 0));
    }

    #[test]
    fn pid_files_parse() {
        assert_eq!(
            parse_pid_lines("12\n\n# dynomite\n 34 \n"),
            Ok(vec![12, 34])
        );
        assert!(parse_pid_lines("12\nabc\n").is_err());
    }
}
