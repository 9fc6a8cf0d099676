//! The chat over plain HTTP: a stream of events (`GET /http/stream`) and `POST`s
//! (`/http/send`), read and written by hand over TCP as a browser's `EventSource` and
//! `fetch` would, beside real WebSocket clients.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use backend::Config;

use crate::helpers::{WAIT, spawn_app, spawn_with, test_config};

/// One open stream, as its client sees it (the cluster's tests use it too).
pub struct Stream {
    pub addr: SocketAddr,
    pub body: BufReader<TcpStream>,
    /// Event text decoded from the chunks, not yet parsed into events.
    text: String,
    pub id: String,
    pub resume: String,
    pub nick: String,
    /// The protocol version its `welcome` named.
    pub protocol: u64,
    /// The `seq` of the next post.
    pub seq: u64,
}

/// An answer: the status, the head and the body.
pub type Answer = (u16, String, String);

/// Opens a stream with `query` and `headers`; an answer that is not a stream is returned
/// as it came.
pub async fn open(addr: SocketAddr, query: &str, headers: &[(&str, &str)]) -> Result<Stream, Answer> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut req =
        format!("GET /http/stream{query} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut body = BufReader::new(tcp);
    let head = read_head(&mut body).await;
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    if status != 200 {
        let mut rest = String::new();
        let _ = tokio::time::timeout(WAIT, body.read_to_string(&mut rest)).await;
        return Err((status, head, rest));
    }
    let lower = head.to_lowercase();
    assert!(lower.contains("content-type: text/event-stream"), "{head}");
    assert!(lower.contains("cache-control: no-cache"), "{head}");
    // nginx takes this header as meant for itself and does not pass it on.
    assert!(lower.contains("x-accel-buffering: no") || lower.contains("server: nginx"), "{head}");
    let mut stream = Stream {
        addr,
        body,
        text: String::new(),
        id: String::new(),
        resume: String::new(),
        nick: String::new(),
        protocol: 0,
        seq: 1,
    };
    let (event, data) = stream.event().await.expect("a first event");
    assert_eq!(event, "stream", "{data}");
    stream.id = data["stream"].as_str().unwrap().to_owned();
    let welcome = stream.next().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    stream.resume = welcome["resume"].as_str().unwrap().to_owned();
    stream.nick = welcome["nick"].as_str().unwrap().to_owned();
    stream.protocol = welcome["protocol"].as_u64().unwrap();
    Ok(stream)
}

/// An answer's head: its status line and headers, up to the empty line.
async fn read_head(body: &mut BufReader<TcpStream>) -> String {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        tokio::time::timeout(WAIT, body.read_line(&mut line)).await.unwrap().unwrap();
        if line == "\r\n" || line.is_empty() {
            return head;
        }
        head.push_str(&line);
    }
}

pub async fn open_ok(addr: SocketAddr, query: &str) -> Stream {
    open(addr, query, &[]).await.unwrap_or_else(|a| panic!("no stream: {a:?}"))
}

impl Stream {
    /// The next event (its name, `message` when unnamed, and its data), or `None` once the
    /// answer ended.
    pub async fn event(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let mut name = "message".to_owned();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = n.to_owned();
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                return Some((name, serde_json::from_str(&data).expect("JSON data")));
            }
            // One chunk of the chunked answer.
            let mut size = String::new();
            tokio::time::timeout(WAIT, self.body.read_line(&mut size))
                .await
                .expect("an event in time")
                .unwrap();
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            if size == 0 {
                return None;
            }
            let mut chunk = vec![0u8; size + 2];
            tokio::time::timeout(WAIT, self.body.read_exact(&mut chunk)).await.unwrap().unwrap();
            self.text.push_str(std::str::from_utf8(&chunk[..size]).unwrap());
        }
    }

    /// The next frame, past heartbeats and directory pushes.
    pub async fn next(&mut self) -> Value {
        loop {
            let (name, data) = self.event().await.expect("the stream is open");
            if name == "message" && data["type"] != "rooms" && data["type"] != "rooms_delta" {
                return data;
            }
        }
    }

    /// Posts `frames` with the next `seq` and this stream's token.
    pub async fn post(&mut self, frames: Value) -> Answer {
        self.post_via(self.addr, frames).await
    }

    /// Posts `frames` with the next `seq` and this stream's token to the node at `addr`
    /// (in a cluster, any node).
    pub async fn post_via(&mut self, addr: SocketAddr, frames: Value) -> Answer {
        let seq = self.seq;
        self.seq += 1;
        let auth = format!("Bearer {}", self.resume);
        post(
            addr,
            &format!("?stream={}&seq={seq}", self.id),
            frames.to_string().as_bytes(),
            &[("Authorization", &auth)],
        )
        .await
    }

    /// Posts and expects it taken.
    pub async fn send(&mut self, frames: Value) {
        let (status, _, body) = self.post(frames).await;
        assert_eq!(status, 200, "{body}");
    }
}

/// A raw `POST /http/send` with `query`, `body` and `headers`.
pub async fn post(addr: SocketAddr, query: &str, body: &[u8], headers: &[(&str, &str)]) -> Answer {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "POST /http/send{query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    // A refused body may not be read: the answer comes all the same.
    let _ = tcp.write_all(body).await;
    let mut raw = Vec::new();
    // Longer than a relayed post may wait for its holder (5 s), so that its `504` is read.
    let _ = tokio::time::timeout(WAIT * 2, tcp.read_to_end(&mut raw)).await.expect("an answer");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).unwrap_or("0").parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

#[tokio::test]
async fn a_websocket_and_a_stream_chat_both_ways_in_one_room() {
    let app = spawn_app().await;
    let mut ws = app.member("alice", "mixed").await;
    let mut st = open_ok(app.addr, "?v=2").await;
    st.send(json!([{"type": "nick", "nick": "bob"}, {"type": "join", "room": "mixed"}])).await;
    assert_eq!(st.next().await, json!({"type": "you", "nick": "bob"}));
    let joined = st.next().await;
    assert_eq!(joined["type"], "joined", "{joined}");
    let presence = ws.next().await;
    assert_eq!(
        (presence["type"].as_str(), presence["nick"].as_str()),
        (Some("presence"), Some("bob")),
        "{presence}"
    );
    for i in 0..3 {
        ws.say("mixed", &format!("from ws {i}"), &format!("w{i}")).await;
    }
    // Three frames in one post, and one post after it.
    let says: Vec<Value> =
        (0..3).map(|i| json!({"type": "say", "room": "mixed", "text": format!("from http {i}"), "cid": format!("h{i}")})).collect();
    st.send(Value::Array(says)).await;
    st.send(json!([{"type": "say", "room": "mixed", "text": "from http 3", "cid": "h3"}])).await;
    let mut got = Vec::new();
    while got.len() < 7 {
        let m = st.next().await;
        assert_eq!(m["type"], "message", "{m}");
        got.push(m["text"].as_str().unwrap().to_owned());
    }
    let want: Vec<String> =
        (0..3).map(|i| format!("from ws {i}")).chain((0..4).map(|i| format!("from http {i}"))).collect();
    assert_eq!(got, want);
    for i in 0..4 {
        let m = ws.next().await;
        assert_eq!(
            (m["nick"].as_str(), m["text"].as_str()),
            (Some("bob"), Some(format!("from http {i}").as_str()))
        );
    }
    ws.expect_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn bad_posts_get_a_clear_answer_and_harm_nobody() {
    let app = spawn_app().await;
    let mut st = open_ok(app.addr, "?v=2").await;
    let (id, auth) = (st.id.clone(), format!("Bearer {}", st.resume));
    let q = |seq: u64| format!("?stream={id}&seq={seq}");
    let with_auth = [("Authorization", auth.as_str())];
    for body in [&b"not json"[..], b"{\"type\":\"ping\"}", b"[1, 2]", b"[{\"type\":"] {
        let (status, _, text) = post(app.addr, &q(1), body, &with_auth).await;
        assert_eq!(status, 400, "{}: {text}", String::from_utf8_lossy(body));
        assert!(text.contains("JSON"), "{text}");
    }
    let big = format!("[{{\"type\":\"say\",\"room\":\"lobby\",\"text\":\"{}\"}}]", "x".repeat(40_000));
    assert_eq!(post(app.addr, &q(1), big.as_bytes(), &with_auth).await.0, 413);
    // One frame past a WebSocket frame's 16 KiB, in a body within its 32 KiB.
    let long = format!("[{{\"type\":\"say\",\"room\":\"lobby\",\"text\":\"{}\"}}]", "x".repeat(20_000));
    let (status, _, text) = post(app.addr, &q(1), long.as_bytes(), &with_auth).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("16 KiB"), "{text}");
    let many = format!("[{}]", vec![r#"{"type":"ping"}"#; 33].join(","));
    assert_eq!(post(app.addr, &q(1), many.as_bytes(), &with_auth).await.0, 413);
    let ping = br#"[{"type":"ping"}]"#;
    assert_eq!(post(app.addr, &q(1), ping, &[]).await.0, 401);
    let other = app.client().await;
    let wrong = format!("Bearer {}", other.resume);
    assert_eq!(post(app.addr, &q(1), ping, &[("Authorization", &wrong)]).await.0, 401);
    let unknown = format!("?stream={}&seq=1", "0".repeat(32));
    assert_eq!(post(app.addr, &unknown, ping, &with_auth).await.0, 404);
    let evil = [("Authorization", auth.as_str()), ("Origin", "https://evil.example")];
    assert_eq!(post(app.addr, &q(1), ping, &evil).await.0, 403);
    let refused = open(app.addr, "?v=2", &[("Origin", "https://evil.example")]).await.err().expect("refused");
    assert_eq!(refused.0, 403);
    // None of it was applied, and the stream still works: the next post is still seq 1.
    st.send(json!([{"type": "ping"}])).await;
    assert_eq!(st.next().await["type"], "pong");
    let mut after = app.member("carol", "lobby").await;
    after.say("lobby", "still here", "c1").await;
}

#[tokio::test]
async fn a_retried_post_is_applied_once_and_posts_keep_their_order() {
    let app = spawn_app().await;
    let mut ws = app.member("alice", "room").await;
    let mut st = open_ok(app.addr, "").await;
    st.send(json!([{"type": "join", "room": "room"}])).await;
    assert_eq!(st.next().await["type"], "joined");
    assert_eq!(ws.next().await["type"], "presence");
    let say = json!([{"type": "say", "room": "room", "text": "once", "cid": "a"}]);
    st.send(say.clone()).await;
    // The same post again (its answer was lost, say): answered, not applied again.
    st.seq -= 1;
    let (status, _, body) = st.post(say).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("duplicate"), "{body}");
    // A post that comes before the one before it.
    st.seq += 1;
    let (status, _, _) = st.post(json!([{"type": "ping"}])).await;
    assert_eq!(status, 409);
    st.seq -= 2;
    st.send(json!([{"type": "say", "room": "room", "text": "twice?", "cid": "b"}])).await;
    assert_eq!(ws.next().await["text"], "once");
    assert_eq!(ws.next().await["text"], "twice?");
    ws.expect_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_stream_reopened_with_its_token_gets_what_it_missed() {
    let app = spawn_app().await;
    let mut ws = app.member("alice", "room").await;
    let mut st = open_ok(app.addr, "?v=2").await;
    st.send(json!([{"type": "nick", "nick": "bob"}, {"type": "join", "room": "room"}])).await;
    st.next().await;
    st.next().await;
    assert_eq!(ws.next().await["type"], "presence");
    let first = ws.say("room", "before", "1").await;
    assert_eq!(st.next().await["text"], "before");
    let (token, old) = (st.resume.clone(), st.id.clone());
    drop(st);
    for (text, cid) in [("while away 1", "2"), ("while away 2", "3")] {
        ws.send(json!({"type": "say", "room": "room", "text": text, "cid": cid})).await;
        // Past bob's leaving, whenever the server notices it.
        while ws.next().await["type"] != "message" {}
    }
    let mut st = open_ok(app.addr, &format!("?v=2&resume={token}")).await;
    assert_eq!((st.resume.as_str(), st.nick.as_str()), (token.as_str(), "bob"));
    st.send(json!([{"type": "join", "room": "room", "after": first["id"]}])).await;
    let joined = st.next().await;
    let texts: Vec<&str> =
        joined["history"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["while away 1", "while away 2"], "{joined}");
    // The old stream is gone: a post to it says so.
    let auth = format!("Bearer {token}");
    let (status, _, _) =
        post(app.addr, &format!("?stream={old}&seq=1"), b"[]", &[("Authorization", &auth)]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_replaced_stream_ends_and_the_server_closes_its_socket() {
    let app = spawn_app().await;
    let mut old = open_ok(app.addr, "").await;
    let token = old.resume.clone();
    let _new = open_ok(app.addr, &format!("?resume={token}")).await;
    // The old stream says why it ends and ends its answer...
    let mut told = false;
    while let Some((name, _)) = old.event().await {
        told |= name == "close";
    }
    assert!(told, "a close event before the end");
    // ...and its socket is closed, not kept alive (no cap counts an idle keep-alive once
    // the stream's places are given back); the header timeout alone would take 5 s.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), old.body.read_to_end(&mut rest))
        .await
        .expect("the server closes the socket with the stream")
        .unwrap();
    // Only the chunked answer's last line was left to read.
    assert!(rest.is_empty() || rest == b"\r\n", "{rest:?}");
}

#[tokio::test]
async fn a_stream_that_does_not_read_ends_too_slow() {
    let app = spawn_with(Config { queue: 16, queue_bytes: 64 * 1024, ..test_config() }).await;
    let mut ws = app.member("alice", "room").await;
    let mut st = open_ok(app.addr, "").await;
    st.send(json!([{"type": "join", "room": "room"}])).await;
    assert_eq!(st.next().await["type"], "joined");
    ws.next().await;
    // The stream's client reads nothing while megabytes are said.
    let text = "y".repeat(3000);
    for i in 0..4000 {
        ws.send(json!({"type": "say", "room": "room", "text": text, "cid": i.to_string()})).await;
    }
    let mut last = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(20), st.event()).await.expect("the stream ends") {
            Some((name, data)) => {
                if name == "close" {
                    assert_eq!(data["code"], 1013, "{data}");
                    break;
                }
                last = Some(data);
            }
            None => panic!("ended without a close event"),
        }
    }
    let last = last.unwrap();
    assert_eq!((last["type"].as_str(), last["code"].as_str()), (Some("error"), Some("too_slow")), "{last}");
}

#[tokio::test]
async fn a_stream_read_late_gets_every_event_whole_and_in_order() {
    // A small send buffer, so that most of what is said waits in the link's queue and the
    // server writes events in parts, resuming each where the socket stopped taking it.
    let config = Config { queue: 1000, queue_bytes: 16 << 20, send_buffer: 16 * 1024, ..test_config() };
    let app = spawn_with(config).await;
    let mut ws = app.member("alice", "room").await;
    let mut st = open_ok(app.addr, "").await;
    st.send(json!([{"type": "join", "room": "room"}])).await;
    assert_eq!(st.next().await["type"], "joined");
    ws.next().await;
    // Said while the stream's client reads nothing: far more than the sockets hold. The
    // lengths vary, so that chunks' size lines differ in length too.
    let count = 300;
    let text = |i: usize| format!("{i} {}", "z".repeat(1000 + 37 * i % 2900));
    for i in 0..count {
        ws.send(json!({"type": "say", "room": "room", "text": text(i), "cid": i.to_string()})).await;
        // The sender reads its own as it goes: only the stream's client reads nothing.
        while ws.next().await["type"] != "message" {}
    }
    for i in 0..count {
        let msg = loop {
            let frame = st.next().await;
            if frame["type"] == "message" {
                break frame;
            }
        };
        assert_eq!(msg["text"].as_str(), Some(text(i).as_str()), "message {i} whole and in its place");
    }
    // Still open, and live: the next message comes at once.
    ws.send(json!({"type": "say", "room": "room", "text": "after", "cid": "x"})).await;
    loop {
        let frame = st.next().await;
        if frame["type"] == "message" {
            assert_eq!(frame["text"], "after");
            break;
        }
    }
}

#[tokio::test]
async fn an_http_1_0_stream_has_no_chunks_and_ends_with_its_connection() {
    let app = spawn_app().await;
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    let req = format!("GET /http/stream HTTP/1.0\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n", app.addr);
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut body = BufReader::new(tcp);
    let head = read_head(&mut body).await;
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(!head.to_lowercase().contains("transfer-encoding"), "{head}");
    // Events as they are, no chunk size lines between them.
    let mut events = String::new();
    while !events.contains("\"type\":\"welcome\"") {
        let mut line = String::new();
        tokio::time::timeout(WAIT, body.read_line(&mut line)).await.unwrap().unwrap();
        events.push_str(&line);
    }
    assert!(events.starts_with("event: stream\ndata: {\"stream\":\""), "{events:?}");
    let stream = events.split('"').nth(3).unwrap().to_owned();
    let welcome = events.lines().find(|l| l.contains("welcome")).unwrap();
    let welcome: Value = serde_json::from_str(welcome.strip_prefix("data: ").unwrap()).unwrap();
    let token = welcome["resume"].as_str().unwrap();
    // It chats: a join posted is answered on the stream.
    let frames = json!([{"type": "join", "room": "old"}]).to_string();
    let auth = format!("Bearer {token}");
    let (status, _, answer) =
        post(app.addr, &format!("?stream={stream}&seq=1"), frames.as_bytes(), &[("Authorization", &auth)])
            .await;
    assert_eq!(status, 200, "{answer}");
    let mut line = String::new();
    while !line.contains("\"type\":\"joined\"") {
        line.clear();
        tokio::time::timeout(WAIT, body.read_line(&mut line)).await.unwrap().unwrap();
        assert!(!line.is_empty(), "still open");
        assert!(line == "\n" || line.starts_with("data: ") || line.starts_with("event: "), "{line:?}");
    }
    // A shutdown ends it with its close event, then the connection.
    let stopping = tokio::spawn(app.stop());
    let mut rest = String::new();
    tokio::time::timeout(WAIT, body.read_to_string(&mut rest)).await.unwrap().unwrap();
    assert!(
        rest.ends_with("event: close\ndata: {\"code\":1001,\"reason\":\"server shutting down\"}\n\n"),
        "{rest:?}"
    );
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_head_request_opens_no_stream_and_takes_over_no_session() {
    let app = spawn_app().await;
    let mut st = open_ok(app.addr, "").await;
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    let req = format!("HEAD /http/stream?resume={} HTTP/1.1\r\nHost: {}\r\n\r\n", st.resume, app.addr);
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = vec![0u8; 12];
    tokio::time::timeout(WAIT, tcp.read_exact(&mut head)).await.unwrap().unwrap();
    assert_eq!(&head, b"HTTP/1.1 405");
    // The stream its token names is still open and served.
    st.send(json!([{"type": "join", "room": "still"}])).await;
    assert_eq!(st.next().await["type"], "joined");
}

#[tokio::test]
async fn streams_count_against_the_per_address_and_the_server_caps() {
    // Loopback is not counted per address: the client's address comes from a trusted
    // proxy here, as behind nginx.
    let trusted = vec!["127.0.0.1".parse().unwrap()];
    let app = spawn_with(Config { max_per_ip: 1, trusted_proxies: trusted, ..test_config() }).await;
    let from = [("X-Forwarded-For", "203.0.113.7")];
    let _first = open(app.addr, "", &from).await.expect("the first stream");
    let refused = open(app.addr, "", &from).await.err().expect("one per address");
    assert_eq!(refused.0, 429);
    let other = open(app.addr, "", &[("X-Forwarded-For", "203.0.113.8")]).await;
    assert!(other.is_ok(), "another address is not refused");
    let app = spawn_with(Config { max_connections: 1, ..test_config() }).await;
    let _st = open_ok(app.addr, "").await;
    let refused = open(app.addr, "", &[]).await.err().expect("the server is full");
    assert_eq!(refused.0, 503);
}

#[tokio::test]
async fn a_stream_has_heartbeats_and_ends_cleanly_on_shutdown() {
    let app = spawn_with(Config { ping_secs: 1, ..test_config() }).await;
    let mut st = open_ok(app.addr, "").await;
    loop {
        let (name, _) = st.event().await.expect("open");
        if name == "heartbeat" {
            break;
        }
    }
    let stopping = tokio::spawn(app.stop());
    loop {
        match st.event().await {
            Some((name, data)) if name == "close" => {
                assert_eq!(data["code"], 1001, "{data}");
                break;
            }
            Some(_) => {}
            None => panic!("ended without a close event"),
        }
    }
    assert!(st.event().await.is_none(), "the answer ends after its close event");
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_stream_has_the_websockets_rate_limit() {
    let app = spawn_with(Config { rate_limit: 5, ..test_config() }).await;
    let mut st = open_ok(app.addr, "").await;
    let pings = vec![json!({"type": "ping"}); 20];
    st.send(Value::Array(pings)).await;
    let (mut pongs, mut refused) = (0, 0);
    for _ in 0..20 {
        let v = st.next().await;
        match (v["type"].as_str(), v["code"].as_str()) {
            (Some("pong"), _) => pongs += 1,
            (Some("error"), Some("rate_limited")) => refused += 1,
            _ => panic!("{v}"),
        }
    }
    assert!(pongs >= 5 && refused > 0, "{pongs} pongs, {refused} refused");
    // Refused, not dropped: the stream goes on once the bucket refills.
    tokio::time::sleep(Duration::from_secs(1)).await;
    st.send(json!([{"type": "ping"}])).await;
    assert_eq!(st.next().await["type"], "pong");
}

#[tokio::test]
async fn a_stream_whose_client_goes_away_is_noticed_before_its_next_heartbeat() {
    let app = spawn_app().await;
    let mut ws = app.member("alice", "room").await;
    let mut st = open_ok(app.addr, "?v=2").await;
    st.send(json!([{"type": "nick", "nick": "bob"}, {"type": "join", "room": "room"}])).await;
    assert_eq!(ws.next().await["type"], "presence");
    // Its socket closes (the tab closed, the network changed): the room sees bob leave
    // within seconds, in a room where nothing is said, well before a heartbeat is due.
    drop(st);
    let gone = tokio::time::timeout(Duration::from_secs(4), async {
        loop {
            let v = ws.next_any().await;
            if v["type"] == "presence" && v["event"] == "leave" {
                return v;
            }
        }
    })
    .await
    .expect("bob's leave within 4 s");
    assert_eq!(gone["nick"], "bob", "{gone}");
}

#[tokio::test]
async fn a_stream_speaks_the_version_its_query_names_and_refuses_bad_frames_as_a_websocket_does() {
    let app = spawn_app().await;
    assert_eq!(open_ok(app.addr, "").await.protocol, 1);
    assert_eq!(open_ok(app.addr, "?v=1").await.protocol, 1);
    let mut st = open_ok(app.addr, "?v=2").await;
    assert_eq!(st.protocol, 2);
    // A list of JSON objects is taken (200); what each frame says is the session's to
    // judge, one `error` frame per bad frame, as over `/ws`, and the next frames still count.
    st.send(json!([
        {"type": "no_such_type"},
        {"type": "join", "room": ""},
        {"type": "say", "room": "lobby", "text": "   ", "cid": "k1"},
        {"type": "ping"}
    ]))
    .await;
    let mut codes = Vec::new();
    loop {
        let v = st.next().await;
        if v["type"] == "pong" {
            break;
        }
        assert_eq!(v["type"], "error", "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "a message for people: {v}");
        codes.push(v["code"].as_str().unwrap().to_owned());
    }
    assert_eq!(codes.len(), 3, "{codes:?}");
    assert!(codes[1..].iter().all(|c| c == "invalid"), "{codes:?}");
}

#[tokio::test]
async fn changes_of_messages_travel_over_the_stream_as_over_a_websocket() {
    let app = spawn_app().await;
    let mut ws = app.member("alice", "mixed").await;
    let mut st = open_ok(app.addr, "?v=2").await;
    st.send(json!([{"type": "nick", "nick": "bob"}, {"type": "join", "room": "mixed"}])).await;
    assert_eq!(st.next().await["type"], "you");
    assert_eq!(st.next().await["type"], "joined");
    assert_eq!(ws.next().await["type"], "presence");
    st.send(json!([{"type": "say", "room": "mixed", "text": "tpyo", "cid": "h1"}])).await;
    let id = st.next().await["id"].clone();
    assert_eq!(ws.next().await["id"], id);
    // The stream's sender edits its message; the socket's member reacts and tries to edit it.
    st.send(json!([{"type": "edit", "room": "mixed", "id": id, "text": "typo"}])).await;
    ws.send(json!({"type": "react", "room": "mixed", "id": id, "emoji": "👍", "on": true})).await;
    ws.send(json!({"type": "edit", "room": "mixed", "id": id, "text": "mine"})).await;
    let edited = st.next().await;
    assert_eq!(
        (edited["type"].as_str(), edited["text"].as_str()),
        (Some("edited"), Some("typo")),
        "{edited}"
    );
    let reacted = st.next().await;
    assert_eq!((reacted["type"].as_str(), reacted["nick"].as_str()), (Some("reacted"), Some("alice")));
    assert_eq!(ws.next().await["type"], "edited");
    assert_eq!(ws.next().await["type"], "reacted");
    ws.expect_error("forbidden").await;
    st.send(json!([{"type": "delete", "room": "mixed", "id": id}])).await;
    assert_eq!(st.next().await["type"], "deleted");
    assert_eq!(ws.next().await["type"], "deleted");
    app.stop().await;
}
