//! `dynamo top`: the status page's view in the terminal, redrawn every second: each member
//! with its status and health, operations per second, p99 latency, the hints it keeps and
//! its outgoing partition transfers.
//!
//! Each frame reads `/ui/status` from the first `--node` that answers (membership and health
//! as that node's failure detector sees them), then, from every member at the HTTP URL it
//! announces, `/ui/history` (its load) and `/ui/status` (its hints and transfers). A member
//! that does not answer within a second is shown as such; the frame still draws. The access
//! key and the CA are those of the other client commands (`--token`/DYNAMO_TOKEN,
//! `--ca`/DYNAMO_CA). `--once` prints one frame, without screen control codes, and exits.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use dynamo_server::history::Sample;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::client::NodeArg;

/// How long one node may take to answer before the frame shows it as not answering.
const NODE_TIMEOUT: Duration = Duration::from_secs(1);
/// Samples in the load sparkline (one a second).
const SPARK_SAMPLES: usize = 60;

/// `dynamo top`.
#[derive(Debug, Clone, Args)]
pub struct TopArgs {
    /// Print one frame and exit.
    #[arg(long)]
    pub once: bool,
    /// Seconds between frames.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub interval: f64,
    /// The nodes to ask (the first that answers gives membership and health).
    #[command(flatten)]
    pub node: NodeArg,
}

/// What `/ui/status` answers (the fields `top` uses).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Status {
    node: String,
    status: Option<String>,
    claimant: Option<String>,
    members: Vec<Member>,
    ring: Ring,
    hints_pending: Option<BTreeMap<String, u64>>,
    transfers: Transfers,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Member {
    node: String,
    status: String,
    up: bool,
    http: Option<String>,
    partitions: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Ring {
    version: u64,
    digest: Option<String>,
    partition_count: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Transfers {
    list: Vec<Transfer>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Transfer {
    keys_sent: u64,
    done: bool,
}

/// What `/ui/history` answers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct History {
    samples: Vec<Sample>,
}

/// One member's own figures, or why they are missing.
#[derive(Debug, Clone)]
struct Own {
    history: Result<History, String>,
    status: Result<Status, String>,
}

/// Everything one frame shows.
#[derive(Debug, Clone)]
struct Frame {
    status: Status,
    own: BTreeMap<String, Own>,
}

/// Fetches JSON, with the key when there is one.
async fn fetch<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> Result<T, String> {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| {
        if e.is_timeout() {
            "no answer".to_owned()
        } else if e.is_connect() {
            "unreachable".to_owned()
        } else {
            e.to_string()
        }
    })?;
    let code = response.status();
    if !code.is_success() {
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or(body);
        return Err(format!("HTTP {}: {message}", code.as_u16()));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("answer cut short: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("bad JSON: {e}"))
}

fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// Reads one frame's figures.
async fn gather(http: &reqwest::Client, args: &NodeArg) -> anyhow::Result<Frame> {
    let token = args.token.as_deref();
    let mut errors = Vec::new();
    let mut found = None;
    for node in &args.node {
        match fetch::<Status>(http, &format!("{}/ui/status", base(node)), token).await {
            Ok(status) => {
                found = Some((node.clone(), status));
                break;
            }
            Err(e) => errors.push(format!("{node}: {e}")),
        }
    }
    let Some((asked, status)) = found else {
        bail!("no node answered: {}", errors.join("; "));
    };
    let mut tasks = tokio::task::JoinSet::new();
    for m in &status.members {
        // The node asked, at the URL that reached it; the others where they said.
        let url = if m.node == status.node {
            Some(asked.clone())
        } else {
            m.http.clone()
        };
        let (http, token, node) = (http.clone(), args.token.clone(), m.node.clone());
        tasks.spawn(async move {
            let Some(url) = url else {
                let why = "announced no HTTP URL";
                return (
                    node,
                    Own {
                        history: Err(why.to_owned()),
                        status: Err(why.to_owned()),
                    },
                );
            };
            let (history_url, status_url) = (
                format!("{}/ui/history", base(&url)),
                format!("{}/ui/status", base(&url)),
            );
            let history = fetch::<History>(&http, &history_url, None);
            let status = fetch::<Status>(&http, &status_url, token.as_deref());
            let (history, status) = tokio::join!(history, status);
            (node, Own { history, status })
        });
    }
    let mut own = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (node, figures) = done.context("a member's fetch task failed")?;
        own.insert(node, figures);
    }
    Ok(Frame { status, own })
}

/// A sparkline of operations per second, one character a sample.
fn sparkline(samples: &[Sample]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &samples[samples.len().saturating_sub(SPARK_SAMPLES)..];
    let max = tail.iter().map(|s| s.ops_per_sec).fold(0.0, f64::max);
    tail.iter()
        .map(|s| {
            if max <= 0.0 {
                BARS[0]
            } else {
                let i = (s.ops_per_sec / max * (BARS.len() - 1) as f64).round();
                BARS[(i as usize).min(BARS.len() - 1)]
            }
        })
        .collect()
}

fn rate(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn millis(x: Option<f64>) -> String {
    match x {
        None => "-".to_owned(),
        Some(ms) if ms >= 100.0 => format!("{ms:.0} ms"),
        Some(ms) => format!("{ms:.2} ms"),
    }
}

/// The frame as text; `color` marks down members in red (ANSI).
fn render(frame: &Frame, now: &str, color: bool) -> String {
    let st = &frame.status;
    let up = st.members.iter().filter(|m| m.up).count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "dynamo top  {}  as {} ({}) sees it: {} members, {} up  ring v{} {} ({} partitions)  claimant {}",
        now,
        st.node,
        st.status.as_deref().unwrap_or("not a member"),
        st.members.len(),
        up,
        st.ring.version,
        st.ring
            .digest
            .as_deref()
            .map_or("-", |d| d.get(..8).unwrap_or(d)),
        st.ring.partition_count,
        st.claimant.as_deref().unwrap_or("-"),
    );
    out.push('\n');
    let header = [
        "NODE",
        "STATUS",
        "HEALTH",
        "PARTS",
        "OPS/S",
        "P99",
        "HINTS",
        "TRANSFERS",
        "LOAD (60 s)",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for m in &st.members {
        let own = frame.own.get(&m.node);
        let mut row = vec![
            m.node.clone(),
            m.status.clone(),
            if m.up { "up" } else { "DOWN" }.to_owned(),
            m.partitions.to_string(),
        ];
        match own.map(|o| &o.history) {
            Some(Ok(h)) => {
                let last = h.samples.last();
                row.push(last.map_or_else(|| "-".to_owned(), |s| rate(s.ops_per_sec)));
                row.push(millis(last.and_then(|s| s.p99_ms)));
            }
            Some(Err(e)) => {
                row.push(e.clone());
                row.push("-".to_owned());
            }
            None => {
                row.push("-".to_owned());
                row.push("-".to_owned());
            }
        }
        match own.map(|o| &o.status) {
            Some(Ok(s)) => {
                row.push(
                    s.hints_pending
                        .as_ref()
                        .map_or_else(|| "?".to_owned(), |h| h.values().sum::<u64>().to_string()),
                );
                let list = &s.transfers.list;
                let running = list.iter().filter(|t| !t.done).count();
                row.push(if running == 0 {
                    "-".to_owned()
                } else {
                    let keys: u64 = list.iter().map(|t| t.keys_sent).sum();
                    format!("{}/{} done, {keys} keys", list.len() - running, list.len())
                });
            }
            _ => {
                row.push("-".to_owned());
                row.push("-".to_owned());
            }
        }
        row.push(match own.map(|o| &o.history) {
            Some(Ok(h)) => sparkline(&h.samples),
            _ => String::new(),
        });
        rows.push(row);
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            // Numbers right-aligned.
            if (3..=6).contains(&i) {
                let _ = write!(l, "{cell:>w$}  ");
            } else {
                let _ = write!(l, "{cell:<w$}  ");
            }
        }
        l.trim_end().to_owned()
    };
    let head: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let _ = writeln!(out, "{}", line(&head));
    for (row, m) in rows.iter().zip(&st.members) {
        let text = line(row);
        if color && !m.up {
            let _ = writeln!(out, "\x1b[31m{text}\x1b[0m");
        } else {
            let _ = writeln!(out, "{text}");
        }
    }
    if let Some(hints) = &st.hints_pending {
        let held: Vec<String> = hints
            .iter()
            .filter(|(_, c)| **c > 0)
            .map(|(n, c)| format!("{c} for {n}"))
            .collect();
        if !held.is_empty() {
            let _ = writeln!(out, "\nhints on {}: {}", st.node, held.join(", "));
        }
    }
    out
}

fn clock() -> String {
    let secs = dynamo_server::history::unix_ms() / 1000;
    format!(
        "{:02}:{:02}:{:02} UTC",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Runs `dynamo top`.
///
/// # Errors
/// With `--once`, when no node answers; always, for a bad CA file or a terminal that cannot
/// be written.
pub async fn run(args: TopArgs) -> anyhow::Result<()> {
    let tls = args
        .node
        .ca
        .as_deref()
        .map(dynamo_client::TlsConfig::from_ca_file)
        .transpose()?;
    let http = dynamo_client::http_builder(tls.as_ref())?
        .timeout(NODE_TIMEOUT)
        .connect_timeout(NODE_TIMEOUT)
        .build()
        .context("cannot make an HTTP client")?;
    if args.once {
        let frame = gather(&http, &args.node).await?;
        print!("{}", render(&frame, &clock(), false));
        return Ok(());
    }
    let interval = Duration::try_from_secs_f64(args.interval)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--interval must be a positive number of seconds")?;
    let color = std::io::stdout().is_terminal();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let text = match gather(&http, &args.node).await {
            Ok(frame) => render(&frame, &clock(), color),
            Err(e) => format!("dynamo top  {}\n\n{e:#}\n", clock()),
        };
        let mut out = std::io::stdout().lock();
        // Home, clear the screen, draw.
        write!(out, "\x1b[H\x1b[2J{text}")?;
        out.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ops: f64, p99: Option<f64>) -> Sample {
        Sample {
            at_ms: 0,
            interval_ms: 1000,
            gets: 0,
            puts: 0,
            deletes: 0,
            ops_per_sec: ops,
            p99_ms: p99,
        }
    }

    #[test]
    fn a_frame_lists_every_member() {
        let member = |n: &str, up| Member {
            node: n.into(),
            status: "valid".into(),
            up,
            http: Some(format!("http://{n}")),
            partitions: 128,
        };
        let status = Status {
            node: "n1".into(),
            status: Some("valid".into()),
            claimant: Some("n1".into()),
            members: vec![member("n1", true), member("n2", false)],
            ring: Ring {
                version: 2,
                digest: Some("00112233445566778".into()),
                partition_count: 256,
            },
            hints_pending: Some([("n2".to_owned(), 7)].into_iter().collect()),
            transfers: Transfers::default(),
        };
        let mut own = BTreeMap::new();
        own.insert(
            "n1".to_owned(),
            Own {
                history: Ok(History {
                    samples: vec![sample(0.0, None), sample(250.0, Some(3.25))],
                }),
                status: Ok(Status {
                    hints_pending: Some([("n2".to_owned(), 7)].into_iter().collect()),
                    transfers: Transfers {
                        list: vec![
                            Transfer {
                                keys_sent: 10,
                                done: true,
                            },
                            Transfer {
                                keys_sent: 5,
                                done: false,
                            },
                        ],
                    },
                    ..Status::default()
                }),
            },
        );
        own.insert(
            "n2".to_owned(),
            Own {
                history: Err("unreachable".into()),
                status: Err("unreachable".into()),
            },
        );
        let text = render(&Frame { status, own }, "12:00:00 UTC", false);
        let expected = "\
dynamo top  12:00:00 UTC  as n1 (valid) sees it: 2 members, 1 up  ring v2 00112233 (256 partitions)  claimant n1

NODE  STATUS  HEALTH  PARTS        OPS/S      P99  HINTS  TRANSFERS          LOAD (60 s)
n1    valid   up        128          250  3.25 ms      7  1/2 done, 15 keys  ▁█
n2    valid   DOWN      128  unreachable        -      -  -

hints on n1: 7 for n2
";
        assert_eq!(text, expected);
        let red = render(
            &Frame {
                status: Status {
                    members: vec![member("n2", false)],
                    ..Status::default()
                },
                own: BTreeMap::new(),
            },
            "",
            true,
        );
        assert!(red.contains("\x1b[31mn2"), "{red}");
    }

    #[test]
    fn sparklines_scale_to_their_maximum() {
        let s: Vec<Sample> = [0.0, 50.0, 100.0]
            .iter()
            .map(|o| sample(*o, None))
            .collect();
        assert_eq!(sparkline(&s), "▁▅█");
        assert_eq!(sparkline(&[sample(0.0, None)]), "▁");
        let many: Vec<Sample> = (0..100).map(|i| sample(f64::from(i), None)).collect();
        assert_eq!(sparkline(&many).chars().count(), SPARK_SAMPLES);
    }
}
