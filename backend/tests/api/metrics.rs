//! `GET /metrics`: open to loopback clients and to the admin token, `403` for others; its
//! figures move with what the clients do (connections, messages, frames, refusals, closes).

use std::time::{Duration, Instant};

use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use backend::Config;

use crate::cluster::{nodes, redis};
use crate::helpers::*;

pub const ADMIN_TOKEN: &str = "operator-secret-0123456789";

/// A sample's value in a metrics text: `series` is its name with its labels as written
/// (`chat_connections{transport="websocket"}`); 0 when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The metrics from loopback.
pub async fn metrics(app: &TestApp) -> String {
    let (status, _, body) = app.get("/metrics").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Reads the metrics until `series` has `want`; panics after a generous wait.
pub async fn until(app: &TestApp, series: &str, want: f64) -> String {
    let started = Instant::now();
    loop {
        let text = metrics(app).await;
        if sample(&text, series) == want {
            return text;
        }
        assert!(started.elapsed() < WAIT, "{series} is not {want} in:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_figures_move_with_what_happens() {
    let app = spawn_with(Config { store: backend::config::StoreKind::Memory, ..test_config() }).await;
    let text = metrics(&app).await;
    assert!(text.contains("# TYPE chat_connections gauge"), "{text}");
    assert_eq!(sample(&text, "chat_connections{transport=\"websocket\"}"), 0.0);
    let mut alice = app.member("alice", "lobby").await;
    let mut bob = app.member("bob", "lobby").await;
    alice.next().await; // bob's presence
    let text = until(&app, "chat_connections{transport=\"websocket\"}", 2.0).await;
    assert_eq!(sample(&text, "chat_connects_total{transport=\"websocket\"}"), 2.0);
    assert_eq!(sample(&text, "chat_messages_total"), 0.0);
    let delivered = sample(&text, "chat_deliveries_total");
    assert_eq!(sample(&text, "chat_frames_out_total{type=\"welcome\"}"), 2.0, "{text}");
    assert_eq!(sample(&text, "chat_frames_out_total{type=\"joined\"}"), 2.0, "{text}");
    assert_eq!(sample(&text, "chat_frames_out_total{type=\"message\"}"), 0.0, "{text}");
    alice.say("lobby", "hi", "a-1").await;
    bob.next().await;
    let text = metrics(&app).await;
    assert_eq!(sample(&text, "chat_messages_total"), 1.0, "{text}");
    assert_eq!(sample(&text, "chat_frames_in_total{type=\"say\"}"), 1.0, "{text}");
    assert_eq!(sample(&text, "chat_frames_in_total{type=\"join\"}"), 2.0, "{text}");
    // One message to two members: two deliveries, counted once for the broadcast.
    assert_eq!(sample(&text, "chat_deliveries_total") - delivered, 2.0, "{text}");
    // The frame made for them is counted once, by its type, not once per receiver.
    assert_eq!(sample(&text, "chat_frames_out_total{type=\"message\"}"), 1.0, "{text}");
    assert!(sample(&text, "chat_store_write_seconds_count") >= 1.0, "{text}");
    // Refusals by code.
    alice.send_raw(Message::text("not json")).await;
    alice.expect_error("bad_request").await;
    alice.send(json!({"type": "say", "room": "nowhere", "text": "x", "cid": "a-2"})).await;
    alice.expect_error("not_in_room").await;
    let text = metrics(&app).await;
    assert_eq!(sample(&text, "chat_errors_total{code=\"bad_request\"}"), 1.0, "{text}");
    assert_eq!(sample(&text, "chat_frames_out_total{type=\"error\"}"), 2.0, "{text}");
    assert_eq!(sample(&text, "chat_errors_total{code=\"not_in_room\"}"), 1.0, "{text}");
    assert_eq!(sample(&text, "chat_frames_in_total{type=\"bad\"}"), 1.0, "{text}");
    // A close, by its code.
    bob.ws.close(None).await.unwrap();
    let text = until(&app, "chat_connections{transport=\"websocket\"}", 1.0).await;
    assert_eq!(
        sample(&text, "chat_closes_total{code=\"1005\"}") + sample(&text, "chat_closes_total{code=\"1000\"}"),
        1.0,
        "{text}"
    );
}

#[tokio::test]
async fn only_loopback_and_the_admin_token_may_read_them() {
    let config = Config {
        admin_token: Some(ADMIN_TOKEN.into()),
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..test_config()
    };
    let app = spawn_with(config).await;
    let remote = ("x-forwarded-for", "203.0.113.5");
    assert_eq!(app.fetch("/metrics", &[]).await.status, 200);
    assert_eq!(app.fetch("/metrics", &[remote]).await.status, 403);
    let wrong = format!("Bearer {ADMIN_TOKEN}x");
    assert_eq!(app.fetch("/metrics", &[remote, ("authorization", &wrong)]).await.status, 403);
    let right = format!("Bearer {ADMIN_TOKEN}");
    let ok = app.fetch("/metrics", &[remote, ("authorization", &right)]).await;
    assert_eq!(ok.status, 200);
    assert!(String::from_utf8_lossy(&ok.body).contains("chat_messages_total 0"));
}

/// The metrics of a node started as its own process, from loopback.
async fn metrics_at(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// Reads node `port`'s metrics until `ok` holds for them; panics after `within`.
async fn until_at(port: u16, within: Duration, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let text = metrics_at(port).await;
        if ok(&text) {
            return text;
        }
        assert!(started.elapsed() < within, "{what} never held in:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_cluster_node_counts_the_live_nodes_and_measures_its_publish_lag() {
    let (redis, db) = redis();
    let mut nodes = nodes(&redis, &db, 2).await;
    let lag = "chat_redis_publish_lag_seconds_count";
    for node in &nodes {
        // Probes go out once a second: a few have come back within seconds.
        let text = until_at(node.port, WAIT * 3, "two live nodes and three probes", |t| {
            sample(t, "chat_live_nodes") == 2.0 && sample(t, lag) >= 3.0
        })
        .await;
        // Through a Redis on the same machine, well under the histogram's top bucket.
        let mean = sample(&text, "chat_redis_publish_lag_seconds_sum") / sample(&text, lag);
        assert!(mean > 0.0 && mean < 1.0, "{mean} in:\n{text}");
    }
    // A message said on one node crosses to the other: both count their frame.
    let mut alice = Client::connect(&nodes[0].url()).await;
    alice.set_nick("alice").await;
    alice.join("r").await;
    let mut bob = Client::connect(&nodes[1].url()).await;
    bob.set_nick("bob").await;
    bob.join("r").await;
    assert_eq!(alice.next().await["nick"], "bob", "bob's join, across the cluster");
    alice.say("r", "across", "a-1").await;
    crate::cluster::next_message(&mut bob).await;
    for node in &nodes {
        until_at(node.port, WAIT, "the message counted", |t| {
            sample(t, "chat_frames_out_total{type=\"message\"}") == 1.0
        })
        .await;
    }
    // A node that stops is no longer counted by the other.
    nodes.pop().unwrap().sigterm().await;
    let text = metrics_at(nodes[0].port).await;
    let probes = sample(&text, lag);
    until_at(nodes[0].port, WAIT * 4, "one live node, probes still coming back", |t| {
        sample(t, "chat_live_nodes") == 1.0 && sample(t, lag) > probes
    })
    .await;
}

#[tokio::test]
async fn a_flood_shows_as_rate_limited_refusals() {
    let app = spawn_with(Config { rate_limit: 5, ..test_config() }).await;
    let mut c = app.client().await;
    c.join("r").await;
    for i in 0..20 {
        c.send(json!({"type": "say", "room": "r", "text": "spam", "cid": format!("f{i}")})).await;
    }
    let mut limited = 0.0;
    for _ in 0..20 {
        if c.next().await["code"] == "rate_limited" {
            limited += 1.0;
        }
    }
    assert!(limited > 0.0, "the flood was refused");
    let text = until(&app, "chat_errors_total{code=\"rate_limited\"}", limited).await;
    assert_eq!(sample(&text, "chat_frames_in_total{type=\"say\"}"), 20.0, "{text}");
    assert_eq!(sample(&text, "chat_messages_total"), 20.0 - limited, "{text}");
}
