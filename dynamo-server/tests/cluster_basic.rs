//! A 3-node cluster of real `dynamo node` processes on 127.0.0.1 (engine lsm): put, get and
//! update with the context through different nodes; concurrent writes without a context
//! make siblings (300, as multipart/mixed and as JSON) and a write with the merged context
//! resolves them; and the `dynamo put` / `dynamo get` commands against the cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cluster_support::{Cluster, parse_multipart, raw_http, read_with, request, run_cli, values};
use dynamo_client::PutOptions;

fn text(context: Option<dynamo_client::Context>) -> PutOptions {
    PutOptions {
        context,
        content_type: Some("text/plain".into()),
        ..PutOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_put_get_update_siblings_and_cli() {
    let cluster = Cluster::start(3, "lsm", &[]).await;
    let c = cluster.clients();

    // Put through n1, read through n2.
    let put = c[0]
        .put("cart", "alice", "apples", &text(None))
        .await
        .unwrap();
    assert!(put.context.is_some(), "a write returns its context");
    let read = c[1].get("cart", "alice").await.unwrap();
    assert_eq!(values(&read), ["apples"]);
    assert_eq!(read.siblings[0].content_type, "text/plain");
    assert!(!read.has_siblings());

    // Update through n3 with the context of that read: it replaces the value.
    c[2].put("cart", "alice", "apples,pears", &text(read.context.clone()))
        .await
        .unwrap();
    let read = read_with(&c[0], "cart", "alice", 3).await;
    assert_eq!(values(&read), ["apples,pears"], "{read:?}");
    assert!(read.value().is_some());

    // Two writes without a context, through two coordinators: concurrent, both kept.
    c[0].put("cart", "bob", "red", &text(None)).await.unwrap();
    c[1].put("cart", "bob", "blue", &text(None)).await.unwrap();
    let read = read_with(&c[2], "cart", "bob", 2).await;
    assert!(read.has_siblings(), "{read:?}");
    assert_eq!(values(&read), ["blue", "red"]);

    // The same read as raw HTTP: 300 with a multipart/mixed body, one text/plain part each.
    let n3 = cluster.nodes[2].http;
    let raw = raw_http(n3, &request("GET", "/buckets/cart/keys/bob", &[], b"")).await;
    assert_eq!(raw.status, 300, "{raw:?}");
    let content_type = raw.header("content-type").unwrap();
    assert!(
        content_type.starts_with("multipart/mixed"),
        "{content_type}"
    );
    let context = raw
        .header("x-dynamo-context")
        .expect("a context")
        .to_owned();
    let parts = parse_multipart(content_type, &raw.body);
    let mut bodies: Vec<String> = parts
        .iter()
        .map(|(headers, body)| {
            assert!(
                headers
                    .iter()
                    .any(|(n, v)| n == "content-type" && v == "text/plain"),
                "{headers:?}"
            );
            String::from_utf8(body.clone()).unwrap()
        })
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["blue", "red"]);

    // And as JSON: 300 too, the values in base64.
    let raw = raw_http(
        cluster.nodes[0].http,
        &request(
            "GET",
            "/buckets/cart/keys/bob",
            &[("Accept", "application/json")],
            b"",
        ),
    )
    .await;
    assert_eq!(raw.status, 300, "{raw:?}");
    let json = raw.json();
    let mut decoded: Vec<String> = json["siblings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["content_type"], "text/plain");
            assert_eq!(s["deleted"], false);
            String::from_utf8(STANDARD.decode(s["value"].as_str().unwrap()).unwrap()).unwrap()
        })
        .collect();
    decoded.sort();
    assert_eq!(decoded, ["blue", "red"]);
    assert!(json["context"].as_str().is_some_and(|c| !c.is_empty()));

    // A write with the context of the multipart read resolves the siblings, wherever it
    // goes: one value on every replica.
    let resolved = raw_http(
        cluster.nodes[1].http,
        &request(
            "PUT",
            "/buckets/cart/keys/bob",
            &[
                ("Content-Type", "text/plain"),
                ("X-Dynamo-Context", &context),
            ],
            b"purple",
        ),
    )
    .await;
    assert_eq!(resolved.status, 204, "{resolved:?}");
    assert!(resolved.header("x-dynamo-context").is_some());
    let read = read_with(&c[2], "cart", "bob", 3).await;
    assert_eq!(values(&read), ["purple"], "{read:?}");
    let raw = raw_http(n3, &request("GET", "/buckets/cart/keys/bob?r=3", &[], b"")).await;
    assert_eq!(raw.status, 200, "{raw:?}");
    assert_eq!(raw.body, b"purple");
    assert_eq!(raw.header("content-type"), Some("text/plain"));

    // The CLI, as separate processes: put through n1, get through n2.
    let n1 = cluster.nodes[0].url();
    let n2 = cluster.nodes[1].url();
    let out = run_cli(&[
        "put",
        "demo",
        "greeting",
        "hello from the cli",
        "--content-type",
        "text/plain",
        "--w",
        "3",
        "--node",
        &n1,
    ])
    .await;
    assert!(out.status.success(), "dynamo put: {out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("context: "), "{stdout}");
    let out = run_cli(&["get", "demo", "greeting", "--node", &n2]).await;
    assert!(out.status.success(), "dynamo get: {out:?}");
    assert_eq!(out.stdout, b"hello from the cli");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let cli_context = stderr
        .lines()
        .find_map(|l| l.strip_prefix("context: "))
        .unwrap_or_else(|| panic!("no context in {stderr:?}"))
        .to_owned();
    // Update with the context `get` printed: no sibling.
    let out = run_cli(&[
        "put",
        "demo",
        "greeting",
        "bye",
        "--context",
        &cli_context,
        "--node",
        &n2,
    ])
    .await;
    assert!(out.status.success(), "dynamo put --context: {out:?}");
    let read = read_with(&c[2], "demo", "greeting", 3).await;
    assert_eq!(values(&read), ["bye"], "{read:?}");
    // A key never written: `get` fails, saying so.
    let out = run_cli(&["get", "demo", "nobody", "--node", &n1]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found"),
        "{out:?}"
    );

    // Every node is still up and none saw a bad peer frame.
    for c in &c {
        let stats = c.stats().await.unwrap();
        assert_eq!(stats["metrics"]["peer_bad_frames"], 0, "{stats}");
        assert_eq!(stats["members_up"], 3, "{stats}");
    }
    let mut cluster = cluster;
    cluster.stop_all().await;
}
