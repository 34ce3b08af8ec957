//! The CSV file the comparison appends to: one line per run, with the date, the commit, the
//! workload and every figure, so that runs of different days can be put side by side. A new
//! (or empty) file gets the header first; a file with another header is refused rather than
//! mixed, except the header of the versions before the shard count ([`LEGACY_COLUMNS`]
//! columns): such a file takes the lines of runs without a shard count, written without the
//! columns added since.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::record::Record;
use super::run::Workload;
use super::{CompareError, CompareResult};

/// How many of the [`COLUMNS`] the files of the versions before the shard count have: the
/// first ones, the same up to there.
pub const LEGACY_COLUMNS: usize = 28;

/// The columns, in order. The last two (after [`LEGACY_COLUMNS`]) are plain numbers or empty,
/// never quoted.
pub const COLUMNS: [&str; 30] = [
    "date",
    "commit",
    "system",
    "engine",
    "durability",
    "protocol",
    "read_ratio",
    "round",
    "clients",
    "value_size",
    "keys",
    "duration_s",
    "intended_rate",
    "achieved_rate",
    "late_starts",
    "ops_per_sec",
    "errors",
    "verify",
    "get_p50_ms",
    "get_p99_ms",
    "get_p999_ms",
    "put_p50_ms",
    "put_p99_ms",
    "put_p999_ms",
    "node_cpu_us_per_op",
    "node_cores",
    "loadgen_cpu_us_per_op",
    "disk_mb",
    "shards",
    "node_cpu_s",
];

/// The header line (without its newline).
pub fn header() -> String {
    COLUMNS.join(",")
}

/// The header line of the versions before the shard count.
fn legacy_header() -> String {
    COLUMNS[..LEGACY_COLUMNS].join(",")
}

/// `line` (of [`COLUMNS`]) cut to the [`LEGACY_COLUMNS`] of an older file; `None` when it has a
/// shard count, which such a file has no column for.
fn legacy_line(line: &str) -> Option<&str> {
    let mut rest = line;
    let mut added = Vec::new();
    for _ in LEGACY_COLUMNS..COLUMNS.len() {
        let (head, last) = rest.rsplit_once(',')?;
        added.push(last);
        rest = head;
    }
    // `added` holds the added columns last first: the shard count is the first added one.
    let shards = added[added.len() - 1];
    shards.is_empty().then_some(rest)
}

/// What every line of one session shares.
#[derive(Debug, Clone)]
pub struct Session<'a> {
    /// When the session started, e.g. `2026-12-04T19:20:00Z`.
    pub date: String,
    /// The commit the binaries were built from (`-dirty` when the tree had changes).
    pub commit: String,
    /// The workload.
    pub workload: &'a Workload,
}

/// `text` as one CSV field: quoted when it holds a comma, a quote or a line break.
pub(crate) fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// A number, or an empty field when absent.
pub(crate) fn number(value: Option<f64>) -> String {
    value.map_or_else(String::new, |v| {
        // Up to three decimals, without trailing zeros: 4679.5, 0.042, 12.
        let text = format!("{v:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    })
}

/// The CSV line of `record` (without its newline).
pub fn line(session: &Session<'_>, record: &Record) -> String {
    let f = &record.figures;
    let ms = |us: Option<f64>| number(us.map(|us| us / 1000.0));
    let workload = session.workload;
    let cells: [String; COLUMNS.len()] = [
        field(&session.date),
        field(&session.commit),
        field(&record.system),
        field(record.engine.as_deref().unwrap_or("")),
        field(record.durability.as_deref().unwrap_or("")),
        field(f.protocol.as_deref().unwrap_or("")),
        record.read_ratio.to_string(),
        record.round.to_string(),
        workload.clients.to_string(),
        workload.value_size.to_string(),
        workload.keys.to_string(),
        number(Some(workload.duration.as_secs_f64())),
        number(record.rate.or(f.intended_rate)),
        number(f.achieved_rate),
        number(f.late_starts),
        number(f.ops_per_sec),
        number(f.errors),
        match f.verify_passed {
            Some(true) => "passed".into(),
            Some(false) => "failed".into(),
            None => String::new(),
        },
        ms(f.get_us[0]),
        ms(f.get_us[1]),
        ms(f.get_us[2]),
        ms(f.put_us[0]),
        ms(f.put_us[1]),
        ms(f.put_us[2]),
        number(f.node_cpu_us_per_op),
        number(f.node_cores),
        number(f.loadgen_cpu_us_per_op),
        number(record.disk_bytes.map(|b| b as f64 / 1e6)),
        record.shards.map(|n| n.to_string()).unwrap_or_default(),
        number(f.node_cpu_s),
    ];
    cells.join(",")
}

/// Appends `lines` (of [`line`]) to the CSV file at `path`, creating it (and its directory)
/// with the header when it does not exist or is empty. A file with the header of the versions
/// before the shard count gets the lines cut to its columns.
///
/// # Errors
/// [`CompareError::CsvColumns`] when the file starts with another header, or with the older
/// header while a line has a shard count; [`CompareError::Io`] when it cannot be read or
/// written.
pub fn append(path: &Path, lines: &[String]) -> CompareResult<()> {
    append_to(
        path,
        &header(),
        Some((&legacy_header(), legacy_line)),
        lines,
    )
}

/// A cut of a line to the columns of an older header (`None`: the line does not fit it).
pub(crate) type Cut = fn(&str) -> Option<&str>;

/// Appends `lines` to the CSV file at `path`, creating it (and its directory) with `header`
/// when it does not exist or is empty; a file with the `older` header gets each line cut to
/// its columns by the function beside it.
///
/// # Errors
/// [`CompareError::CsvColumns`] when the file starts with another header, or a line does not
/// fit the older one; [`CompareError::Io`] when it cannot be read or written.
pub(crate) fn append_to(
    path: &Path,
    header: &str,
    older: Option<(&str, Cut)>,
    lines: &[String],
) -> CompareResult<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(CompareError::io(format!("create {}", dir.display())))?;
    }
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(CompareError::io(format!("read {}", path.display()))(e)),
    };
    let mut text = String::new();
    let mut cut: Option<Cut> = None;
    match existing.lines().next() {
        None => {
            text.push_str(header);
            text.push('\n');
        }
        Some(first) if first.trim_end() == header => {}
        Some(first) => match older {
            Some((older, f)) if first.trim_end() == older => cut = Some(f),
            _ => return Err(CompareError::CsvColumns(path.to_owned())),
        },
    }
    if !existing.is_empty() && !existing.ends_with('\n') {
        text.insert(0, '\n');
    }
    for line in lines {
        let line = match cut {
            Some(cut) => cut(line).ok_or_else(|| CompareError::CsvColumns(path.to_owned()))?,
            None => line,
        };
        text.push_str(line);
        text.push('\n');
    }
    let write = CompareError::io(format!("append to {}", path.display()));
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(CompareError::io(format!("open {}", path.display())))?;
    file.write_all(text.as_bytes()).map_err(write)
}

/// `time` in UTC, to the second: `2026-12-04T19:20:00Z`.
pub fn utc_date(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (mut days, rest) = (secs / 86_400, secs % 86_400);
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let mut year = 1970;
    loop {
        let length = if leap(year) { 366 } else { 365 };
        if days < length {
            break;
        }
        days -= length;
        year += 1;
    }
    let february = if leap(year) { 29 } else { 28 };
    let months = [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 0;
    while days >= months[month] {
        days -= months[month];
        month += 1;
    }
    format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        month + 1,
        days + 1,
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::record::Figures;
    use std::time::Duration;

    fn workload() -> Workload {
        Workload {
            clients: 32,
            duration: Duration::from_secs(20),
            warmup: Duration::from_secs(3),
            keys: 10_000,
            value_size: 1024,
            preload: true,
            verify: false,
            progress: Duration::from_secs(10),
        }
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc_date(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_661); // 2000-02-29 01:01:01
        assert_eq!(utc_date(t), "2000-02-29T01:01:01Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_796_411_662);
        assert_eq!(utc_date(t), "2026-12-04T19:14:22Z");
    }

    #[test]
    fn a_line_has_every_column_and_empty_fields_for_missing_figures() {
        let w = workload();
        let session = Session {
            date: "2026-12-04T19:20:00Z".into(),
            commit: "d2ea2c1-dirty".into(),
            workload: &w,
        };
        let record = Record {
            system: "ours".into(),
            engine: Some("lsm".into()),
            durability: Some("all".into()),
            shards: Some(4),
            read_ratio: 0.95,
            round: 2,
            rate: None,
            disk_bytes: Some(1_500_000),
            figures: Figures {
                protocol: Some("http".into()),
                ops_per_sec: Some(8847.25),
                errors: Some(0.0),
                get_us: [Some(3040.0), Some(10_500.0), None],
                verify_passed: Some(true),
                node_cpu_s: Some(25.5),
                ..Figures::default()
            },
        };
        let line = line(&session, &record);
        assert_eq!(line.split(',').count(), COLUMNS.len(), "{line}");
        assert_eq!(
            line,
            "2026-12-04T19:20:00Z,d2ea2c1-dirty,ours,lsm,all,http,0.95,2,32,1024,10000,20,,,,\
             8847.25,0,passed,3.04,10.5,,,,,,,,1.5,4,25.5"
        );
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"x\""), "\"say \"\"x\"\"\"");
    }

    #[test]
    fn the_header_is_written_once_and_a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results/compare.csv");
        append(&path, &["a".into()]).unwrap();
        append(&path, &["b".into()]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\na\nb\n", header()));
        let other = dir.path().join("other.csv");
        std::fs::write(&other, "x,y\n1,2\n").unwrap();
        assert!(matches!(
            append(&other, &["c".into()]),
            Err(CompareError::CsvColumns(_))
        ));
    }

    #[test]
    fn a_file_of_the_older_columns_takes_lines_without_a_shard_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.csv");
        std::fs::write(&path, format!("{}\nold\n", legacy_header())).unwrap();
        let fields = |shards: &str| {
            let mut cells = vec!["x"; LEGACY_COLUMNS];
            cells.extend([shards, "12.5"]);
            cells.join(",")
        };
        append(&path, &[fields("")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let last = text.lines().last().unwrap();
        assert_eq!(last.split(',').count(), LEGACY_COLUMNS, "{last}");
        assert!(matches!(
            append(&path, &[fields("4")]),
            Err(CompareError::CsvColumns(_))
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}
