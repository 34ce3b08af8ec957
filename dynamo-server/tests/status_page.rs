//! The status page (`/ui`) in a real browser: headless Chromium loads it from a real 3-node
//! cluster (`dynamo node` processes on 127.0.0.1) and the test reads the DOM the page built.
//!
//! - Every member appears, up, with its load read from its own `/ui/history` (the page on n1
//!   shows n2's and n3's operations per second, not only n1's), and its transfers and hints
//!   read from its own `/ui/status` (across origins: the page on n1 reads n2's and n3's).
//! - The ring is drawn as a grid of one cell per partition, each coloured by the first node of
//!   the preference list its tooltip names.
//! - A screenshot is taken (`$CARGO_TARGET_TMPDIR/status-page.png`). With
//!   `DYNAMO_UI_SCREENSHOT=<path>` the test first waits for a minute of load history in the
//!   charts and copies the screenshot there: that is how `docs/status-page.png` is made
//!   (`DYNAMO_UI_SCREENSHOT=$PWD/docs/status-page.png cargo test -p dynamo-server --test
//!   status_page`).
//! - n3 is killed while writers keep writing through n1 and n2: the page on n1 must show n3
//!   down, and its load and status unreachable, within the failure detector's time (n3 is down for n1
//!   after `failure_threshold` requests left unanswered for `request_timeout_ms` each) plus
//!   the page's refresh and a margin for starting Chromium on a loaded machine.
//!
//! Waiting is polling: Chromium is run again (`--dump-dom`) until the condition holds or the
//! deadline passes. Without Chromium the test fails and says how to install it: it does not
//! pass silently. Chromium runs with `--no-sandbox` because CI runs the tests as root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cluster_support::{Cluster, DEADLINE, Writers};

/// The failure detector's time with the defaults: `failure_threshold` (2) unanswered
/// requests, each given `request_timeout_ms` (1 s).
const DETECTOR_TIME: Duration = Duration::from_secs(2);
/// The page reads the nodes again every 2 s (`REFRESH_MS` in index.html).
const PAGE_REFRESH: Duration = Duration::from_secs(2);
/// Room for Chromium starting and loading the page (a few seconds each time on two busy
/// cores) and for the first timed-out request to be sent at all.
const MARGIN: Duration = Duration::from_secs(20);
/// One Chromium run may take this long before the test gives up on it.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// Where Chromium is: `$CHROMIUM`, else the first of the usual names on the `PATH`.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "this test needs Chromium to load the status page, and none was found (looked for \
         $CHROMIUM, then chromium, chromium-browser, google-chrome on the PATH). Install it: \
         `apt-get install -y chromium` (.ci/run does this in CI)"
    );
}

/// Headless Chromium with a profile directory of its own.
struct Browser {
    exe: PathBuf,
    profile: tempfile::TempDir,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            exe: chromium(),
            profile: tempfile::tempdir().unwrap(),
        }
    }

    /// Runs Chromium on `url` with `extra` arguments and returns its standard output.
    async fn run(&self, url: &str, extra: &[String]) -> String {
        let mut command = std::process::Command::new(&self.exe);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                "--window-size=1400,1100",
                // Lets the page's first refresh and the next (2 s later, in virtual time)
                // finish before the DOM is dumped: the network pauses virtual time.
                "--virtual-time-budget=3000",
            ])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(extra)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.exe.display()));
        let pid = child.id();
        let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
        let output = match tokio::time::timeout(BROWSER_TIMEOUT, waiting).await {
            Ok(output) => output.unwrap().unwrap(),
            Err(_) => {
                // Our own child, by its id.
                let _ = std::process::Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status();
                panic!("chromium did not finish within {BROWSER_TIMEOUT:?}");
            }
        };
        assert!(
            output.status.success(),
            "chromium failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The DOM the page built, as HTML.
    async fn dom(&self, url: &str) -> String {
        self.run(url, &["--dump-dom".to_owned()]).await
    }

    /// Saves a PNG screenshot of the page at `path`.
    async fn screenshot(&self, url: &str, path: &Path) {
        self.run(url, &[format!("--screenshot={}", path.display())])
            .await;
    }
}

/// The attributes of the members table's row for `node`, if the page shows one.
fn row(dom: &str, node: &str) -> Option<String> {
    let start = dom.find(&format!("<tr data-node=\"{node}\""))?;
    let end = dom[start..].find('>')? + start;
    Some(dom[start..end].to_owned())
}

/// The opening tags of every element with attribute `name` (`<tag ... name="...">`).
fn tags_with<'a>(dom: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!(" {name}=\"");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = dom[from..].find(&needle) {
        let at = from + at;
        let start = dom[..at].rfind('<').unwrap_or(at);
        let end = dom[at..].find('>').map_or(dom.len(), |e| at + e);
        out.push(&dom[start..end]);
        from = end;
    }
    out
}

/// Whether the page shows `node`'s own `/ui/status` (`answered`) or says it is unreachable,
/// in both the transfers and the hints lists.
fn status_from(dom: &str, node: &str, answered: bool) -> bool {
    let want = if answered { "ok" } else { "unreachable" };
    ["data-transfers-from", "data-hints-from"]
        .iter()
        .all(|kind| {
            tags_with(dom, kind)
                .iter()
                .any(|t| attr(t, kind) == Some(node) && attr(t, "data-status") == Some(want))
        })
}

/// The value of attribute `name` in the tag text `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// Runs Chromium on `url` until `check` holds for the DOM, or fails the test after
/// `deadline`; returns the DOM and how long it took.
async fn until(
    browser: &Browser,
    url: &str,
    what: &str,
    deadline: Duration,
    check: impl Fn(&str) -> bool,
) -> (String, Duration) {
    let start = Instant::now();
    loop {
        let dom = browser.dom(url).await;
        if check(&dom) {
            return (dom, start.elapsed());
        }
        assert!(
            start.elapsed() < deadline,
            "the page at {url} did not show {what} within {deadline:?}; its last DOM:\n{}",
            dom.chars().take(6_000).collect::<String>()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_every_member_and_a_killed_node_down() {
    let browser = Browser::new();
    let mut cluster = Cluster::start(3, "mem", &[]).await;
    let url = format!("{}/ui", cluster.node("n1").url());
    let writers = Writers::start(3, cluster.clients(), "load", 2, 64);
    let test_start = Instant::now();

    // Every member, up, with its own load figures (read by the page from each member).
    let (dom, took) = until(
        &browser,
        &url,
        "n1, n2 and n3 up, each with operations per second above 0 and its own status read",
        DEADLINE,
        |dom| {
            dom.contains("data-state=\"ok\"")
                && ["n1", "n2", "n3"].iter().all(|n| {
                    row(dom, n).is_some_and(|r| {
                        attr(&r, "data-health") == Some("up")
                            && attr(&r, "data-load") == Some("ok")
                            && attr(&r, "data-ops")
                                .and_then(|o| o.parse::<f64>().ok())
                                .is_some_and(|o| o > 0.0)
                    }) && status_from(dom, n, true)
                })
        },
    )
    .await;
    eprintln!("every member up with its load and status: {took:?}");
    // The ring picture: one cell per partition, in order, each coloured by the first node of
    // the preference list it names (N = 3 of the 3 nodes).
    let cells: Vec<&str> = tags_with(&dom, "data-partition")
        .into_iter()
        .filter(|t| t.starts_with("<rect") && attr(t, "class") == Some("cell"))
        .collect();
    assert_eq!(
        cells.len(),
        256,
        "one grid cell per partition of the default ring"
    );
    for (i, cell) in cells.iter().enumerate() {
        assert_eq!(attr(cell, "data-partition"), Some(i.to_string().as_str()));
        let owner = attr(cell, "data-owner").unwrap();
        let prefs: Vec<&str> = attr(cell, "data-preference").unwrap().split(' ').collect();
        assert_eq!(prefs.len(), 3, "{cell}");
        assert_eq!(prefs[0], owner, "{cell}");
        assert!(["n1", "n2", "n3"].contains(&owner), "{cell}");
        let fill = attr(cell, "fill").unwrap();
        assert!(fill.starts_with('#'), "{cell}");
    }
    let owners: std::collections::BTreeSet<&str> =
        cells.iter().filter_map(|c| attr(c, "data-owner")).collect();
    assert_eq!(owners.len(), 3, "every node owns partitions");

    let docs_copy = std::env::var_os("DYNAMO_UI_SCREENSHOT");
    if docs_copy.is_some() {
        // For the documentation's picture: a minute of load in the charts first.
        until(
            &browser,
            &url,
            "a minute of history from every member",
            Duration::from_secs(180),
            |dom| {
                ["n1", "n2", "n3"].iter().all(|n| {
                    row(dom, n).is_some_and(|r| {
                        attr(&r, "data-samples")
                            .and_then(|s| s.parse::<usize>().ok())
                            .is_some_and(|s| s >= 60)
                    })
                })
            },
        )
        .await;
    }
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    browser.screenshot(&url, &shot).await;
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "the screenshot is not a PNG of a drawn page ({} bytes)",
        png.len()
    );
    if let Some(copy) = docs_copy {
        std::fs::copy(&shot, &copy).unwrap();
    }

    // n3 dies; writes through n1 and n2 keep asking it for its replica.
    writers.pause(2, true);
    cluster.node_mut("n3").kill();
    let killed = Instant::now();
    let deadline = DETECTOR_TIME + PAGE_REFRESH + MARGIN;
    let (_, took) = until(&browser, &url, "n3 down", deadline, |dom| {
        row(dom, "n3").is_some_and(|r| {
            attr(&r, "data-health") == Some("down") && attr(&r, "data-load") == Some("unreachable")
        }) && status_from(dom, "n3", false)
            && ["n1", "n2"].iter().all(|n| {
                row(dom, n).is_some_and(|r| attr(&r, "data-health") == Some("up"))
                    && status_from(dom, n, true)
            })
    })
    .await;
    eprintln!(
        "n3 shown down {:?} after the kill (deadline {deadline:?}); whole test {:?}",
        killed.elapsed().max(took),
        test_start.elapsed()
    );
    let written = writers.stop().await;
    assert!(!written.acked.is_empty(), "the writers wrote nothing");
}

#[test]
fn rows_and_attributes_are_found() {
    let dom = r#"<tbody><tr data-node="n1" data-health="up" data-load="ok" data-ops="12.5"><td>"#;
    let r = row(dom, "n1").unwrap();
    assert_eq!(attr(&r, "data-health"), Some("up"));
    assert_eq!(attr(&r, "data-ops"), Some("12.5"));
    assert_eq!(attr(&r, "data-missing"), None);
    assert!(row(dom, "n2").is_none());
    let dom = r#"<div class="from" data-transfers-from="n1" data-status="ok"><h3>x</h3></div><div data-hints-from="n1" data-status="ok"></div><div data-hints-from="n2" data-status="unreachable">"#;
    assert_eq!(tags_with(dom, "data-hints-from").len(), 2);
    assert!(status_from(dom, "n1", true));
    assert!(!status_from(dom, "n1", false));
    assert!(!status_from(dom, "n2", true));
}
