//! Access keys on the HTTP API of a real 2-node cluster on 127.0.0.1 (`auth = "on"`): no key
//! is `401`, a read-only key writing is `403`, an admin key changes properties and makes
//! keys; a key made on one node works on the other (gossip), and a revocation on either
//! reaches both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use dynamo_client::{Client, ClientError, PutOptions};
use dynamo_server::auth::{digest, hex, new_token};
use dynamo_server::{Listeners, Server, ServerConfig};
use reqwest::StatusCode;

const DEADLINE: Duration = Duration::from_secs(20);

async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two founders with auth on and one bootstrap admin key; returns them and its token.
async fn start(root: &std::path::Path) -> (Vec<Server>, String) {
    let (id, secret, token) = new_token().unwrap();
    let admin_key = format!("{id}:{}", hex(&digest(&secret)));
    let mut listeners = Vec::new();
    for _ in 0..2 {
        let c = ServerConfig {
            http_addr: "127.0.0.1:0".into(),
            peer_addr: "127.0.0.1:0".into(),
            ..ServerConfig::default()
        };
        listeners.push(Listeners::bind(&c).await.unwrap());
    }
    let members: Vec<String> = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| format!("n{}@{}", i + 1, l.peer.local_addr().unwrap()))
        .collect();
    let mut servers = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let config = ServerConfig {
            node_id: format!("n{}", i + 1),
            data_dir: Some(root.join(format!("n{}", i + 1))),
            engine: Some("mem".into()),
            members: members.clone(),
            auth: "on".into(),
            admin_keys: vec![admin_key.clone()],
            gossip_interval_ms: Some(100),
            seed: Some(i as u64),
            ..ServerConfig::default()
        };
        servers.push(Server::start_with(config, l).await.unwrap());
    }
    (servers, token)
}

fn url(server: &Server, path: &str) -> String {
    format!("http://{}{path}", server.http_addr())
}

fn status_of(e: &ClientError) -> Option<u16> {
    match e {
        ClientError::Api { status, .. } => Some(*status),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_gate_every_route_and_travel_with_the_cluster_state() {
    let dir = tempfile::tempdir().unwrap();
    let (servers, admin) = start(dir.path()).await;
    // Built with the client crate's TLS settings: its reqwest has no crypto provider of its own.
    let http = dynamo_client::http_builder(None).unwrap().build().unwrap();

    // Open routes, and no key elsewhere: 401 with the API's JSON.
    let ping = http.get(url(&servers[0], "/ping")).send().await.unwrap();
    assert_eq!(ping.status(), StatusCode::OK);
    let r = http
        .get(url(&servers[0], "/buckets/cart/keys/k"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "unauthorized");
    let anonymous = Client::new(&format!("http://{}", servers[0].http_addr())).unwrap();
    let e = anonymous
        .put("cart", "k", "v", &PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(401));

    // The admin key changes the cluster's properties and makes a read-only key.
    let admin_client =
        Client::with_token(&format!("http://{}", servers[0].http_addr()), &admin).unwrap();
    admin_client
        .put("cart", "k", "v", &PutOptions::default())
        .await
        .unwrap();
    let r = http
        .put(url(&servers[0], "/props"))
        .bearer_auth(&admin)
        .body(serde_json::json!({"n": 2, "r": 1, "w": 1}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    let made: serde_json::Value = http
        .post(url(&servers[0], "/admin/keys"))
        .bearer_auth(&admin)
        .body(serde_json::json!({"read": ["cart"]}).to_string())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    let reader = made["token"].as_str().unwrap().to_owned();
    let reader_id = made["id"].as_str().unwrap().to_owned();

    // The reader reads cart, on the node that made it and (once gossiped) on the other.
    for server in &servers {
        let client =
            Client::with_token(&format!("http://{}", server.http_addr()), &reader).unwrap();
        eventually("the reader's key on every node", || async {
            client.get("cart", "k").await.ok()
        })
        .await;
        // But may not write cart, read another bucket, or change properties: 403.
        let e = client
            .put("cart", "k", "w", &PutOptions::default())
            .await
            .unwrap_err();
        assert_eq!(status_of(&e), Some(403), "{e}");
        let e = client.get("other", "k").await.unwrap_err();
        assert_eq!(status_of(&e), Some(403), "{e}");
        let r = http
            .put(url(server, "/buckets/cart/props"))
            .bearer_auth(&reader)
            .body(serde_json::json!({"n": 1}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // The list shows the key without its secret.
    let listed: serde_json::Value = http
        .get(url(&servers[1], "/admin/keys"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    let listed = listed.to_string();
    assert!(listed.contains(&reader_id) && !listed.contains(reader.split('.').nth(1).unwrap()));

    // Revoked on node 2: refused on node 1 too, once gossiped.
    let r = http
        .delete(url(&servers[1], &format!("/admin/keys/{reader_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let client =
        Client::with_token(&format!("http://{}", servers[0].http_addr()), &reader).unwrap();
    eventually("the revocation on node 1", || async {
        let e = client.get("cart", "k").await.err()?;
        (status_of(&e) == Some(401)).then_some(())
    })
    .await;
    let m = servers[0].metrics();
    assert!(m.auth_unauthorized.get() >= 3);
    assert!(m.auth_forbidden.get() >= 3);
    for s in servers {
        s.shutdown().await;
    }
}

#[test]
fn auth_off_is_refused_beyond_loopback() {
    let config = ServerConfig {
        http_addr: "0.0.0.0:8001".into(),
        cluster_secret: Some("ab".repeat(32)),
        advertise_addr: Some("10.0.0.1:9001".into()),
        auth: "off".into(),
        ..ServerConfig::default()
    };
    assert!(config.validate().is_err());
    let on = ServerConfig {
        auth: "on".into(),
        ..config.clone()
    };
    on.validate().unwrap();
    // The default, auto: on beyond loopback, off on loopback.
    let auto = ServerConfig {
        auth: ServerConfig::default().auth,
        ..config
    };
    assert!(auto.auth_on().unwrap());
    assert!(!ServerConfig::default().auth_on().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_protocol_checks_the_same_keys() {
    use dynamo_client::{BinaryClient, BinaryOptions};
    let dir = tempfile::tempdir().unwrap();
    let (id, secret, admin) = new_token().unwrap();
    let config = ServerConfig {
        http_addr: "127.0.0.1:0".into(),
        peer_addr: "127.0.0.1:0".into(),
        binary_addr: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.path().to_path_buf()),
        engine: Some("mem".into()),
        auth: "on".into(),
        admin_keys: vec![format!("{id}:{}", hex(&digest(&secret)))],
        ..ServerConfig::default()
    };
    let server = Server::start(config).await.unwrap();
    let addr = server.binary_addr().unwrap().to_string();
    let with = |token: Option<&str>| BinaryOptions {
        token: token.map(str::to_owned),
        ..BinaryOptions::default()
    };
    // No key: every data request is 401 (a ping is not).
    let anonymous = BinaryClient::connect(&addr).await.unwrap();
    anonymous.ping().await.unwrap();
    let e = anonymous.get("cart", "k").await.unwrap_err();
    assert_eq!(status_of(&e), Some(401), "{e}");
    // A wrong key is refused when the connection presents it.
    let (_, _, stranger) = new_token().unwrap();
    let e = BinaryClient::connect_with(&addr, with(Some(&stranger)))
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(401), "{e}");
    // The admin key writes; a read-only key made over HTTP reads but may not write.
    let admin_client = BinaryClient::connect_with(&addr, with(Some(&admin)))
        .await
        .unwrap();
    admin_client
        .put("cart", "k", "v", &PutOptions::default())
        .await
        .unwrap();
    let http = Client::with_token(&format!("http://{}", server.http_addr()), &admin).unwrap();
    let reader = http
        .create_key(false, &["cart".to_owned()], &[])
        .await
        .unwrap();
    let reading = BinaryClient::connect_with(&addr, with(Some(&reader.token)))
        .await
        .unwrap();
    assert_eq!(
        reading
            .get("cart", "k")
            .await
            .unwrap()
            .values()
            .collect::<Vec<_>>(),
        vec![&b"v"[..]]
    );
    let e = reading
        .put("cart", "k", "w", &PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(status_of(&e), Some(403), "{e}");
    server.shutdown().await;
}
