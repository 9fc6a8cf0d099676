//! What a load balancer or an orchestrator sees of a node: `/readyz` answers 200 when the
//! node can take users, and 503 from the moment its shutdown begins (while it still
//! serves, for `--drain-secs`) and while its Redis does not answer; `/healthz` answers
//! 200 all along. The real binary, a real SIGTERM, a real `redis-server` stopped and
//! killed.

use std::time::{Duration, Instant};

use backend::redis_server::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::durability::Process;
use crate::helpers::*;

/// The status of `GET path` on 127.0.0.1:`port` (with another host's name, as a probe may
/// send), or `None` when nothing answers there.
async fn status(port: u16, path: &str) -> Option<u16> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let head = format!("GET {path} HTTP/1.1\r\nHost: pod-7.cluster.internal\r\nConnection: close\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut raw)).await.expect("an answer in time").ok()?;
    String::from_utf8_lossy(&raw).split_whitespace().nth(1)?.parse().ok()
}

/// Asks `GET path` every 50 ms until it answers `want`; panics after `within`.
async fn until(port: u16, path: &str, want: u16, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let got = status(port, path).await;
        if got == Some(want) {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{path} still answers {got:?}, not {want}, after {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn ready_for_any_host_with_each_store() {
    for store in ["sqlite", "memory"] {
        let db = fresh_db();
        let server = Process::start_with(&db, 0, &["--store", store], None).await;
        assert_eq!(status(server.port, "/readyz").await, Some(200), "{store}");
        assert_eq!(status(server.port, "/healthz").await, Some(200), "{store}");
    }
}

#[tokio::test]
async fn a_shutdown_is_not_ready_before_its_sockets_close() {
    let db = fresh_db();
    let server = Process::start_with(&db, 0, &["--drain-secs", "4"], None).await;
    let mut alice = Client::connect(&server.url()).await;
    alice.set_nick("alice").await;
    assert_eq!(status(server.port, "/readyz").await, Some(200));
    server.signal("TERM");
    until(server.port, "/readyz", 503, Duration::from_secs(3)).await;
    // Still serving while the balancer drains: the probe of life, new users, old ones.
    assert_eq!(status(server.port, "/healthz").await, Some(200));
    let mut late = Client::connect(&server.url()).await;
    late.set_nick("late").await;
    alice.set_nick("alice2").await;
    // Then the sockets close, as in any shutdown.
    assert_eq!(alice.ended().await, Ended::Close(1001));
    assert_eq!(late.ended().await, Ended::Close(1001));
}

#[tokio::test]
async fn a_node_whose_redis_does_not_answer_is_not_ready() {
    let db = fresh_db();
    let mut redis = RedisServer::start(&db.dir().join("redis")).expect("a redis-server for the test");
    let server = Process::start_with(&db, 0, &["--redis", &redis.url()], None).await;
    assert_eq!(status(server.port, "/readyz").await, Some(200));
    let pid = redis.pid().unwrap().to_string();
    let signal = |name: &str| {
        let sent = std::process::Command::new("kill").arg(format!("-{name}")).arg(&pid).status().unwrap();
        assert!(sent.success(), "kill -{name} {pid}");
    };

    // A hung Redis: the probe answers, in time, that the node is not ready.
    signal("STOP");
    let started = Instant::now();
    assert_eq!(status(server.port, "/readyz").await, Some(503));
    // The check gives up after 800 ms; the rest is room for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(2), "the probe waited {:?}", started.elapsed());
    assert_eq!(status(server.port, "/healthz").await, Some(200), "the process itself is fine");
    signal("CONT");
    until(server.port, "/readyz", 200, Duration::from_secs(5)).await;

    // A Redis that is gone, then back.
    redis.kill();
    until(server.port, "/readyz", 503, Duration::from_secs(5)).await;
    assert_eq!(status(server.port, "/healthz").await, Some(200));
    redis.restart().unwrap();
    until(server.port, "/readyz", 200, Duration::from_secs(5)).await;
}
