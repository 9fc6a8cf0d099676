//! Bans as a banned person meets them: kept by the store, so that a node that restarts,
//! or a node that joins the cluster afterwards, still turns them away; and turned away at
//! the door in a way a browser can read (upgraded or streamed, an `error` `forbidden`,
//! then the close 4001 with a ban's reason), over a WebSocket and over the HTTP stream.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use backend::Config;
use backend::redis_server::RedisServer;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::admin::{call, client_at, client_from, config};
use crate::durability::Process;
use crate::helpers::*;
use crate::metrics::ADMIN_TOKEN;

/// The operator bans `nick` off the server at `addr` for 5 minutes.
async fn ban(addr: SocketAddr, nick: &str) {
    let body = json!({"nick": nick, "minutes": 5}).to_string();
    let (status, answer) =
        call(addr, "POST", "/api/admin/ban", Some(ADMIN_TOKEN), Some(&body), "198.51.100.1").await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_ban_outlives_a_restart_of_the_node() {
    let db = fresh_db();
    let args = ["--admin-token", ADMIN_TOKEN, "--trusted-proxy", "127.0.0.1"];
    let server = Process::start_with(&db, 0, &args, None).await;
    let mut alice = client_at(&server.url(), "203.0.113.9", None).await.unwrap();
    alice.set_nick("alice").await;
    let token = alice.resume.clone();
    ban(([127, 0, 0, 1], server.port).into(), "alice").await;
    assert_eq!(alice.ended().await, Ended::Close(4001));
    // Written by a task of its own: give it a moment before the node dies.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.sigkill().await;

    let server = Process::start_with(&db, 0, &args, None).await;
    assert_eq!(client_at(&server.url(), "198.51.100.77", Some(&token)).await.err(), Some(4001));
    assert_eq!(client_at(&server.url(), "203.0.113.9", None).await.err(), Some(4001));
    assert!(client_at(&server.url(), "198.51.100.78", None).await.is_ok(), "others are not concerned");
}

#[tokio::test]
async fn a_node_that_joins_the_cluster_after_a_ban_knows_it() {
    let db = fresh_db();
    let redis = RedisServer::start(&db.dir().join("redis")).expect("a redis-server for the test");
    let node = || Config { redis: Some(redis.url()), ..config() };
    let a = spawn_with(node()).await;
    let mut alice = client_from(&a, "203.0.113.9", None).await.unwrap();
    alice.set_nick("alice").await;
    let token = alice.resume.clone();
    ban(a.addr, "alice").await;
    assert_eq!(alice.ended().await, Ended::Close(4001));
    // Node B starts after the ban was published: it reads the bans Redis keeps.
    let started = Instant::now();
    let b = loop {
        let b = spawn_with(node()).await;
        match client_from(&b, "198.51.100.77", Some(&token)).await {
            Err(4001) => break b,
            // The ban's write may still be on its way to Redis: a node started a moment
            // later must know it.
            _ if started.elapsed() < WAIT => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("node B let alice's token in: {:?}", other.map(|c| c.nick)),
        }
    };
    assert_eq!(client_from(&b, "203.0.113.9", None).await.err(), Some(4001));
    assert!(client_from(&b, "198.51.100.78", None).await.is_ok());
}

#[tokio::test]
async fn a_banned_stream_is_told_why_and_closed_with_4001() {
    let app = spawn_with(config()).await;
    let mut alice = client_from(&app, "203.0.113.9", None).await.unwrap();
    alice.set_nick("alice").await;
    ban(app.addr, "alice").await;
    assert_eq!(alice.ended().await, Ended::Close(4001));
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    let req = format!(
        "GET /http/stream?v=2&resume={} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        alice.resume, app.addr
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tokio::time::timeout(WAIT, tcp.read_to_string(&mut raw)).await.expect("the answer ends").unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_lowercase().contains("content-type: text/event-stream"), "{head}");
    // An `error` event, then the last `close` event, and the end of the answer.
    let error = body.find(r#""code":"forbidden""#).unwrap_or_else(|| panic!("no error event: {body}"));
    let close = body
        .find("event: close\ndata: {\"code\":4001,\"reason\":\"banned by the operator\"}")
        .unwrap_or_else(|| panic!("no close event: {body}"));
    assert!(error < close, "{body}");
    assert!(!body.contains("welcome"), "no session for a banned client: {body}");
}
