//! The operator's routes with access keys on (`auth = "on"`), on a real node on 127.0.0.1:
//!
//! - the status page (`/ui`) and its load history (`/ui/history`) are served without a key;
//! - `/ui/status` is `401` without a key and `200` with any valid key (a key that may only
//!   read one bucket), readable from any origin;
//! - the browser's CORS preflight of a cross-origin `GET /ui/status` with a key (`OPTIONS`,
//!   which never carries the key) is answered, not refused with `401`, and allows any origin to
//!   send `Authorization` with a `GET`, never credentials; other routes get no such exemption;
//! - `GET /buckets` lists only the buckets the caller's key may read, and
//!   `GET /buckets/{b}/keys` is `403` for a key without read on `b`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;

use cluster_support::eventually;
use dynamo_client::{Client, PutOptions};
use dynamo_server::auth::{digest, hex, new_token};
use dynamo_server::{Server, ServerConfig};
use reqwest::StatusCode;
use serde_json::Value;

/// One node with auth on and a bootstrap admin key; returns it and the key's token.
async fn start(dir: &std::path::Path) -> (Server, String) {
    let (id, secret, admin) = new_token().unwrap();
    let config = ServerConfig {
        http_addr: "127.0.0.1:0".into(),
        peer_addr: "127.0.0.1:0".into(),
        data_dir: Some(dir.to_path_buf()),
        engine: Some("mem".into()),
        auth: "on".into(),
        admin_keys: vec![format!("{id}:{}", hex(&digest(&secret)))],
        ..ServerConfig::default()
    };
    (Server::start(config).await.unwrap(), admin)
}

fn url(server: &Server, path: &str) -> String {
    format!("http://{}{path}", server.http_addr())
}

async fn json(r: reqwest::Response) -> Value {
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_routes_check_keys_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = start(dir.path()).await;
    let http = dynamo_client::http_builder(None).unwrap().build().unwrap();
    let base = format!("http://{}", server.http_addr());

    // Three buckets with keys, written with the admin key.
    let admin_client = Client::with_token(&base, &admin).unwrap();
    for bucket in ["cart", "logs", "secret"] {
        for k in ["a", "b"] {
            admin_client
                .put(bucket, k, "v", &PutOptions::default())
                .await
                .unwrap();
        }
    }
    // A key that may read `cart` only, and one that may read `cart` and `logs`.
    let mut tokens = Vec::new();
    for read in [&["cart"][..], &["cart", "logs"]] {
        let made = admin_client
            .create_key(
                false,
                &read.iter().map(|b| (*b).to_owned()).collect::<Vec<_>>(),
                &[],
            )
            .await
            .unwrap();
        tokens.push(made.token);
    }
    let (cart_reader, two_reader) = (tokens[0].clone(), tokens[1].clone());
    // Wait until the node checks requests against the new keys.
    eventually("the new keys in the node's key table", || {
        let (http, url, cart_reader, two_reader) = (
            http.clone(),
            url(&server, "/ping"),
            cart_reader.clone(),
            two_reader.clone(),
        );
        let stats = url.replace("/ping", "/stats");
        async move {
            for token in [&cart_reader, &two_reader] {
                let r = http.get(&stats).bearer_auth(token).send().await.ok()?;
                if r.status() != StatusCode::OK {
                    return None;
                }
            }
            Some(())
        }
    })
    .await;

    // The page and the history need no key.
    let r = http.get(url(&server, "/ui")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-type").unwrap().starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("/ui/status"));
    let r = http.get(url(&server, "/ui/history")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));

    // The status: 401 without a key or with a wrong one, 200 with a key that may only read
    // one bucket, readable from any origin.
    let r = http.get(url(&server, "/ui/status")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(r).await["error"], "unauthorized");
    let (_, _, stranger) = new_token().unwrap();
    let r = http
        .get(url(&server, "/ui/status"))
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http
        .get(url(&server, "/ui/status"))
        .bearer_auth(&cart_reader)
        .header("origin", "http://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&r, "access-control-allow-credentials"), None);
    let status = json(r).await;
    assert_eq!(status["members"][0]["node"], status["node"]);
    assert_eq!(status["ring"]["partition_count"], 256);
    assert_eq!(status["ring"]["preference"].as_array().unwrap().len(), 256);

    // The preflight: answered without a key, allowing a GET with Authorization from anywhere,
    // never credentials.
    let r = http
        .request(reqwest::Method::OPTIONS, url(&server, "/ui/status"))
        .header("origin", "http://elsewhere.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&r, "access-control-allow-methods"), Some("GET"));
    assert!(
        header(&r, "access-control-allow-headers")
            .unwrap()
            .to_ascii_lowercase()
            .split(',')
            .any(|h| h.trim() == "authorization")
    );
    assert_eq!(header(&r, "access-control-allow-credentials"), None);
    // No other route skips the key check on OPTIONS.
    for path in ["/stats", "/buckets", "/admin/keys"] {
        let r = http
            .request(reqwest::Method::OPTIONS, url(&server, path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "OPTIONS {path}");
    }

    // GET /buckets: only what the caller may read.
    let r = http.get(url(&server, "/buckets")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for (token, expected) in [
        (&admin, &["cart", "logs", "secret"][..]),
        (&cart_reader, &["cart"]),
        (&two_reader, &["cart", "logs"]),
    ] {
        let r = http
            .get(url(&server, "/buckets"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body = json(r).await;
        let names: Vec<&str> = body["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_str().unwrap())
            .collect();
        assert_eq!(names, expected);
        assert_eq!(body["truncated"], false);
    }

    // GET /buckets/{b}/keys: 403 without read on b, 401 without a key, the keys with read.
    for bucket in ["secret", "logs"] {
        let r = http
            .get(url(&server, &format!("/buckets/{bucket}/keys")))
            .bearer_auth(&cart_reader)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{bucket}");
        assert_eq!(json(r).await["error"], "forbidden");
    }
    let r = http
        .get(url(&server, "/buckets/cart/keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http
        .get(url(&server, "/buckets/cart/keys"))
        .bearer_auth(&cart_reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    assert_eq!(body["keys"], serde_json::json!(["a", "b"]));
    assert_eq!(body["continuation"], Value::Null);
    server.shutdown().await;
}
