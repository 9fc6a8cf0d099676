//! The log as a collector reads it: with `--log-format json`, every line the real binary
//! writes to stderr is one JSON object, and each connect and disconnect carries the node,
//! the client's address and the nick as fields of their own.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::durability::Process;
use crate::helpers::*;

/// The log's lines, each parsed (a line that is not JSON fails the test).
fn lines(log: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(log).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}")))
        .collect()
}

#[tokio::test]
async fn json_lines_name_the_node_the_client_and_the_nick() {
    let db = fresh_db();
    let server = Process::start_with(&db, 0, &["--log-format", "json"], None).await;
    let mut alice = Client::connect(&server.url()).await;
    let guest = alice.nick.clone();
    alice.set_nick("alice").await;
    alice.ws.close(None).await.unwrap();
    // The disconnect is logged once the server has seen the close.
    let started = Instant::now();
    let (connected, disconnected) = loop {
        let all = lines(&server.log);
        let find = |message: &str| all.iter().find(|l| l["message"] == message).cloned();
        if let (Some(c), Some(d)) = (find("connected"), find("disconnected")) {
            assert!(all.iter().all(|l| l["level"].is_string() && l["timestamp"].is_string()), "{all:?}");
            break (c, d);
        }
        assert!(started.elapsed() < WAIT, "no connect and disconnect lines in {all:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let node = format!("127.0.0.1:{}", server.port);
    for (line, nick) in [(&connected, guest.as_str()), (&disconnected, "alice")] {
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["span"]["node"], node.as_str(), "{line}");
        assert_eq!(line["nick"], nick, "{line}");
        let client = line["client"].as_str().unwrap_or_default();
        assert!(client.starts_with("127.0.0.1:"), "the client's address and port: {line}");
        assert_eq!(line["conn"], connected["conn"], "one connection: {line}");
    }
    assert_eq!(disconnected["reason"], "client closed", "{disconnected}");
}
