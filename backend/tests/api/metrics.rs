//! `GET /metrics`: open to loopback clients and to the admin token, `403` for others; its
//! figures move with what the clients do (connections, messages, frames, refusals, closes).

use std::time::{Duration, Instant};

use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use backend::Config;

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
    alice.say("lobby", "hi", "a-1").await;
    bob.next().await;
    let text = metrics(&app).await;
    assert_eq!(sample(&text, "chat_messages_total"), 1.0, "{text}");
    assert_eq!(sample(&text, "chat_frames_in_total{type=\"say\"}"), 1.0, "{text}");
    assert_eq!(sample(&text, "chat_frames_in_total{type=\"join\"}"), 2.0, "{text}");
    // One message to two members: two deliveries, counted once for the broadcast.
    assert_eq!(sample(&text, "chat_deliveries_total") - delivered, 2.0, "{text}");
    assert!(sample(&text, "chat_store_write_seconds_count") >= 1.0, "{text}");
    // Refusals by code.
    alice.send_raw(Message::text("not json")).await;
    alice.expect_error("bad_request").await;
    alice.send(json!({"type": "say", "room": "nowhere", "text": "x", "cid": "a-2"})).await;
    alice.expect_error("not_in_room").await;
    let text = metrics(&app).await;
    assert_eq!(sample(&text, "chat_errors_total{code=\"bad_request\"}"), 1.0, "{text}");
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
