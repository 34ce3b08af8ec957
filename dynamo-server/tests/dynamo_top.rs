//! `dynamo top --once` against a real 3-node cluster (`dynamo node` processes on 127.0.0.1):
//! one frame lists every member with its health and its own load; a killed member is shown
//! down and unreachable; a first `--node` that does not answer is skipped for the next.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;

use cluster_support::{Cluster, Writers, eventually, run_cli};

/// One `dynamo top --once` frame through `nodes` (comma-separated URLs); `None` if the
/// command failed.
async fn frame(nodes: &str) -> Option<String> {
    let out = run_cli(&["top", "--once", "--node", nodes]).await;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The cells of the row of `node` in a frame (split on runs of spaces).
fn cells<'a>(frame: &'a str, node: &str) -> Option<Vec<&'a str>> {
    frame
        .lines()
        .find(|l| l.split_whitespace().next() == Some(node))
        .map(|l| l.split_whitespace().collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_once_shows_members_load_and_a_killed_node() {
    let mut cluster = Cluster::start(3, "mem", &[]).await;
    let writers = Writers::start(3, cluster.clients(), "load", 2, 64);
    let n1 = cluster.node("n1").url();
    let n2 = cluster.node("n2").url();

    // Every member up, each with operations per second above 0 (read from itself).
    let text = eventually("a frame with n1, n2 and n3 up and busy", || {
        let n1 = n1.clone();
        async move {
            let text = frame(&n1).await?;
            ["n1", "n2", "n3"]
                .iter()
                .all(|n| {
                    cells(&text, n).is_some_and(|c| {
                        c[1] == "valid"
                            && c[2] == "up"
                            && c[4].parse::<f64>().is_ok_and(|ops| ops > 0.0)
                    })
                })
                .then_some(text)
        }
    })
    .await;
    assert!(text.starts_with("dynamo top "), "{text}");
    assert!(
        text.contains("as n1 (valid) sees it: 3 members, 3 up"),
        "{text}"
    );
    assert!(
        !text.contains('\x1b'),
        "--once prints no control codes: {text:?}"
    );

    // n3 dies; writes through n1 and n2 keep asking it for its replica. A first --node that
    // refuses connections is skipped.
    writers.pause(2, true);
    cluster.node_mut("n3").kill();
    let nodes = format!("http://127.0.0.1:1,{n2}");
    let text = eventually("a frame with n3 down", || {
        let nodes = nodes.clone();
        async move {
            let text = frame(&nodes).await?;
            let n3 = cells(&text, "n3")?;
            (n3[2] == "DOWN" && n3[4] == "unreachable").then_some(text)
        }
    })
    .await;
    assert!(text.contains("as n2 (valid) sees it"), "{text}");
    assert!(cells(&text, "n1").is_some_and(|c| c[2] == "up"), "{text}");
    writers.stop().await;

    // No node answers: --once fails and says so.
    let out = run_cli(&["top", "--once", "--node", "http://127.0.0.1:1"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no node answered"), "{err}");
}
