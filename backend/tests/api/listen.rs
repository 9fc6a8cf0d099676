//! Connect storms: the listening socket holds a burst of connects the server has not
//! accepted yet (`--backlog`, by default the system's maximum), so no client of a burst
//! waits a second for its SYN's retransmit.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::durability::Process;
use crate::helpers::*;

/// Within this, a connect the kernel completes on loopback is done; one it dropped for a
/// full backlog waits for its first retransmit, a second away.
const CONNECT_WAIT: Duration = Duration::from_millis(800);

/// Opens `n` TCP connections to `port` at once; returns those that completed within
/// [`CONNECT_WAIT`].
async fn burst(port: u16, n: usize) -> Vec<TcpStream> {
    let connects =
        (0..n).map(|_| tokio::time::timeout(CONNECT_WAIT, TcpStream::connect(("127.0.0.1", port))));
    futures_util::future::join_all(connects).await.into_iter().filter_map(|c| c.ok()?.ok()).collect()
}

#[tokio::test]
async fn a_burst_of_connects_while_the_server_is_busy_waits_in_the_backlog_and_is_all_welcomed() {
    // Stopped, the server stands for one too busy to accept: what the kernel keeps for it
    // meanwhile is the backlog. tokio's own bind asked for 128.
    let burst_size = 300.min(backend::server::max_backlog() as usize);
    let db = fresh_db();
    let server = Process::start(&db, 0).await;
    server.signal("STOP");
    let held = burst(server.port, burst_size).await;
    server.signal("CONT");
    assert_eq!(held.len(), burst_size, "connects dropped by a full backlog");
    // And each of them is served once the server runs again.
    let url = server.url();
    let welcomes = held.into_iter().map(|tcp| {
        let url = url.clone();
        async move {
            let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), tcp).await.expect("upgrade");
            let first = ws.next().await.expect("a frame").expect("a frame");
            let v: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
            v["type"] == "welcome"
        }
    });
    let welcomed =
        tokio::time::timeout(WAIT, futures_util::future::join_all(welcomes)).await.expect("welcomes");
    assert!(welcomed.iter().all(|&w| w), "every client of the burst is welcomed");
}

#[tokio::test]
async fn backlog_sets_how_many_connects_the_kernel_holds_for_the_server() {
    let db = fresh_db();
    let server = Process::start_with(&db, 0, &["--backlog", "16"], None).await;
    server.signal("STOP");
    let held = burst(server.port, 40).await;
    server.signal("CONT");
    // Linux holds one more than the backlog.
    assert!((16..=17).contains(&held.len()), "{} of 40 connects held with --backlog 16", held.len());
}
