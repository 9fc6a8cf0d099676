//! The log as a collector reads it: with `--log-format json`, every line the real binary
//! writes to stderr is one JSON object, and each connect and disconnect carries the node,
//! the client's address and the nick as fields of their own; so does every moderation
//! action, the room's owner's and the operator's, with the room.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Reads the log until a line has `message` and every field of `fields`; returns it.
async fn logged(log: &std::path::Path, message: &str, fields: &Value) -> Value {
    let started = Instant::now();
    loop {
        let all = lines(log);
        let found = all
            .iter()
            .find(|l| l["message"] == message && fields.as_object().unwrap().iter().all(|(k, v)| &l[k] == v));
        if let Some(line) = found {
            return line.clone();
        }
        assert!(started.elapsed() < WAIT, "no {message} line with {fields} in {all:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_moderation_action_is_logged_with_the_node_the_room_and_the_nicks() {
    const TOKEN: &str = "operator-secret-0123456789";
    let db = fresh_db();
    let server = Process::start_with(&db, 0, &["--log-format", "json", "--admin-token", TOKEN], None).await;
    let node = format!("127.0.0.1:{}", server.port);
    let mut ann = Client::connect(&server.url()).await;
    ann.set_nick("ann").await;
    ann.join("den").await; // ann creates den: she owns it
    let mut carl = Client::connect(&server.url()).await;
    carl.set_nick("carl").await;
    carl.join("den").await;
    ann.next().await; // carl's join
    let spam = carl.say("den", "spam", "c-1").await;
    ann.next().await;
    ann.send(json!({"type": "delete", "room": "den", "id": spam["id"]})).await;
    ann.next().await; // deleted
    ann.send(json!({"type": "kick", "room": "den", "nick": "carl"})).await;
    carl.next_any().await; // deleted
    assert_eq!(carl.next().await["type"], "kicked");
    ann.next().await; // carl leaves
    carl.join("den").await;
    ann.next().await; // carl's join
    ann.send(json!({"type": "ban", "room": "den", "nick": "carl", "minutes": 5})).await;
    assert_eq!(carl.next().await["type"], "kicked");
    // The operator takes ann out of her room.
    let body = r#"{"nick":"ann","room":"den"}"#;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    let req = format!(
        "POST /api/admin/kick HTTP/1.1\r\nHost: {node}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let span = json!({"node": node, "name": "session"});
    let on = |fields: Value| {
        let mut fields = fields;
        fields["span"] = span.clone();
        fields
    };
    logged(
        &server.log,
        "moderation",
        &on(json!({"action": "delete", "room": "den", "by": "ann", "id": spam["id"]})),
    )
    .await;
    logged(
        &server.log,
        "moderation",
        &on(json!({"action": "room_kick", "room": "den", "nick": "carl", "by": "ann"})),
    )
    .await;
    let ban = json!({"action": "room_ban", "room": "den", "nick": "carl", "by": "ann", "minutes": 5});
    logged(&server.log, "moderation", &on(ban)).await;
    logged(&server.log, "kicked", &on(json!({"room": "den", "nick": "carl", "by": "ann"}))).await;
    let operator = json!({"node": node, "action": "kick", "room": "den", "nick": "ann", "who": "operator"});
    logged(&server.log, "admin action", &operator).await;
}
