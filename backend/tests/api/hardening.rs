//! The server's edges under hostile or unlucky conditions: other sites' pages, one address
//! holding many sockets, a client that asks for big answers and never reads them, a store
//! that fails, a low open-files limit, logs written to a file.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::durability::Process;
use crate::helpers::*;

/// Sends a WebSocket upgrade with these extra header lines and returns the status and the
/// stream (still open on a 101).
async fn upgrade(addr: std::net::SocketAddr, host: &str, extra: &str) -> (u16, TcpStream) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, tcp.read(&mut byte)).await.expect("an answer").unwrap();
        assert_eq!(n, 1, "closed before the end of the head: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, tcp)
}

/// Upgrades until the server takes the socket: a place given back (a socket closed) comes
/// back once the server has seen the socket go.
async fn upgraded_again(addr: std::net::SocketAddr, host: &str, extra: &str) -> TcpStream {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, tcp) = upgrade(addr, host, extra).await;
        if status == 101 {
            return tcp;
        }
        assert!(Instant::now() < deadline, "the place never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn pages_of_other_sites_cannot_open_a_socket() {
    let app = spawn_with(backend::Config {
        allowed_origins: vec!["https://chat.example".into(), "http://127.0.0.1:8080".into()],
        // The address a phone on the LAN would name (this machine's may be any).
        allowed_hosts: vec!["192.168.1.20".into()],
        ..test_config()
    })
    .await;
    let own = app.addr.to_string();
    for (host, origin, want) in [
        // Not a browser: nothing to hijack.
        (own.as_str(), None, 101),
        // The page this server served, as a phone on the LAN opens it.
        (own.as_str(), Some(format!("http://{own}")), 101),
        ("192.168.1.20:3000", Some("http://192.168.1.20:3000".into()), 101),
        // Listed: the reverse proxy's public origin, and `cargo xtask dev`'s trunk page.
        (own.as_str(), Some("https://chat.example".into()), 101),
        (own.as_str(), Some("http://127.0.0.1:8080".into()), 101),
        // Everyone else.
        (own.as_str(), Some("https://evil.example".into()), 403),
        (own.as_str(), Some("null".into()), 403),
        (own.as_str(), Some("http://127.0.0.1:8081".into()), 403),
        ("192.168.1.20:3000", Some("http://192.168.1.20:3001".into()), 403),
        (own.as_str(), Some("https://chat.example.evil.example".into()), 403),
    ] {
        let extra = origin.as_ref().map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
        let (status, _tcp) = upgrade(app.addr, host, &extra).await;
        assert_eq!(status, want, "Host {host}, Origin {origin:?}");
    }
}

#[tokio::test]
async fn one_address_holds_at_most_max_per_ip_sockets() {
    // Every socket of a test comes from loopback, so the addresses are a trusted proxy's.
    let app = spawn_with(backend::Config {
        max_per_ip: 3,
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..test_config()
    })
    .await;
    let host = app.addr.to_string();
    let from = "X-Forwarded-For: 203.0.113.9\r\n";
    let mut held = Vec::new();
    for _ in 0..3 {
        let (status, tcp) = upgrade(app.addr, &host, from).await;
        assert_eq!(status, 101);
        held.push(tcp);
    }
    assert_eq!(upgrade(app.addr, &host, from).await.0, 429);
    drop(held.pop());
    held.push(upgraded_again(app.addr, &host, from).await);
}

#[tokio::test]
async fn this_machine_is_not_limited_per_address_and_an_undeclared_proxy_is_named_in_the_log() {
    // Loopback is this machine: a local load test, or a proxy not declared with
    // --trusted-proxy, whose clients would otherwise lock each other out past the limit.
    let db = fresh_db();
    let server = Process::start_with(&db, 0, &["--max-per-ip", "2"], None).await;
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], server.port).into();
    let host = addr.to_string();
    let mut held = Vec::new();
    for client in ["203.0.113.1", "203.0.113.1", "203.0.113.1", "203.0.113.2", "203.0.113.2"] {
        // Not trusted: the header names no one, and the peer is loopback.
        let (status, tcp) = upgrade(addr, &host, &format!("X-Forwarded-For: {client}\r\n")).await;
        assert_eq!(status, 101, "{client}");
        held.push(tcp);
    }
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert_eq!(log.matches("declare it with --trusted-proxy 127.0.0.1").count(), 1, "{log}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_count() {
    let app = spawn_with(backend::Config {
        max_per_ip: 2,
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..test_config()
    })
    .await;
    let host = app.addr.to_string();
    let mut held = Vec::new();
    for client in ["203.0.113.1", "203.0.113.1", "203.0.113.2", "203.0.113.2"] {
        let (status, tcp) = upgrade(app.addr, &host, &format!("X-Forwarded-For: {client}\r\n")).await;
        assert_eq!(status, 101, "{client}");
        held.push(tcp);
    }
    // What the client wrote itself, left of the proxy's entry, proves nothing.
    let spoofed = "X-Forwarded-For: 198.51.100.7, 203.0.113.1\r\n";
    assert_eq!(upgrade(app.addr, &host, spoofed).await.0, 429);
}

/// Fills `room` with `n` messages of 4000 characters, from a member that then stays.
async fn fill_big(app: &TestApp, room: &str, n: usize) -> Client {
    let mut alice = app.member("alice", room).await;
    let text = "x".repeat(4000);
    for i in 0..n {
        alice.send(json!({"type": "say", "room": room, "text": text, "cid": format!("c{i}")})).await;
    }
    for _ in 0..n {
        assert_eq!(alice.next().await["type"], "message");
    }
    alice
}

/// A WebSocket client on a socket with a small receive window, that reads only when told:
/// what it does not read stays in the server (or the kernel's buffers between them).
struct NonReader {
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl NonReader {
    async fn connect(app: &TestApp) -> NonReader {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(16 * 1024).unwrap();
        let mut tcp = socket.connect(app.addr).await.unwrap();
        let req = "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut me = NonReader { tcp, buf: Vec::new() };
        loop {
            if let Some(end) = me.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                assert!(me.buf.starts_with(b"HTTP/1.1 101"));
                me.buf.drain(..end + 4);
                break;
            }
            me.fill().await;
        }
        assert_eq!(me.json().await["type"], "welcome");
        me
    }

    async fn fill(&mut self) {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = tokio::time::timeout(WAIT, self.tcp.read(&mut chunk)).await.expect("read timed out").unwrap();
        assert!(n > 0, "the server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Sends these requests in one write, as masked text frames.
    async fn send(&mut self, requests: &[serde_json::Value]) {
        let mut out = Vec::new();
        for r in requests {
            let payload = r.to_string().into_bytes();
            assert!(payload.len() < 126);
            out.extend_from_slice(&[0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0]);
            out.extend_from_slice(&payload);
        }
        self.tcp.write_all(&out).await.unwrap();
    }

    /// The next text frame's JSON (pings and directory pushes skipped), of any length.
    async fn json(&mut self) -> serde_json::Value {
        loop {
            if self.buf.len() >= 2 {
                let (len, at) = match self.buf[1] & 0x7F {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => {
                        (u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize, 10)
                    }
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let op = self.buf[0] & 0x0F;
                    let frame: Vec<u8> = self.buf.drain(..at + len).skip(at).collect();
                    if op == 0x1 {
                        let v: serde_json::Value = serde_json::from_slice(&frame).unwrap();
                        if v["type"] != "rooms" {
                            return v;
                        }
                    }
                    continue;
                }
            }
            self.fill().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_asks_for_big_answers_and_never_reads_is_refused_cheaply() {
    // Room for as many frames and bytes as it likes: only the refusal can stop it.
    let app = spawn_with(backend::Config {
        store: backend::config::StoreKind::Memory,
        queue: 1_000_000,
        queue_bytes: 1 << 30,
        ..test_config()
    })
    .await;
    let mut alice = fill_big(&app, "big", 200).await;
    let mut greedy = NonReader::connect(&app).await;
    // 100 pages of 200 messages of 4 KB, 80 MB of answers, asked for at once; the
    // client reads nothing for a while.
    let ask = json!({"type": "history", "room": "big", "before": 201, "limit": 200});
    greedy.send(&vec![ask.clone(); 100]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The room is unaffected meanwhile.
    assert_eq!(alice.say("big", "still fine", "after").await["id"], 201);
    // Reading at last: a few pages (what the kernel's buffers took before the socket
    // backed up, and one queued), and a `rate_limited` for every other request. Each
    // request has its answer: the server kept the client, and encoded no more pages
    // than it could hand to the socket.
    let (mut pages, mut refused) = (0, 0);
    for _ in 0..100 {
        let f = greedy.json().await;
        match (f["type"].as_str(), f["code"].as_str()) {
            (Some("history"), _) => pages += 1,
            (Some("error"), Some("rate_limited")) => {
                assert!(f["message"].as_str().unwrap().contains("big"), "{f}");
                refused += 1;
            }
            _ => panic!("unexpected {f}"),
        }
    }
    println!("{pages} pages sent, {refused} refused");
    assert!((1..=2).contains(&pages), "{pages} pages encoded for a client that did not read them");
    // Once it has read them, it is served again.
    greedy.send(&[ask]).await;
    assert_eq!(greedy.json().await["type"], "history");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_big_answers_holds_little_and_never_stalls_the_room() {
    // The bound in bytes as a server runs with it, and frames without limit.
    let app = spawn_with(backend::Config {
        store: backend::config::StoreKind::Memory,
        queue: 1_000_000,
        queue_bytes: 1024 * 1024,
        ..test_config()
    })
    .await;
    let mut alice = fill_big(&app, "big", 200).await;
    // A member that never reads, and asks for big pages all along, refused or dropped.
    let mut greedy = NonReader::connect(&app).await;
    greedy.send(&[json!({"type": "join", "room": "big"})]).await;
    alice.next().await; // greedy's join
    let ask = json!({"type": "history", "room": "big", "before": 201, "limit": 200});
    let started = Instant::now();
    for round in 0..20 {
        greedy.send(&vec![ask.clone(); 5]).await;
        // The room's messages reach the others at once whatever greedy does.
        let sent = Instant::now();
        alice.send(json!({"type": "say", "room": "big", "text": "hi", "cid": format!("r{round}")})).await;
        // (Greedy's leave, if it was dropped, may come first.)
        let echo = loop {
            let f = alice.next().await;
            if f["type"] != "presence" {
                break f;
            }
        };
        assert_eq!(echo["text"], "hi", "{echo}");
        assert!(sent.elapsed() < Duration::from_millis(500), "round {round}: {:?}", sent.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    // Long enough for the server to have handled every request (a page is encoded in
    // about 20 ms by a debug build).
    tokio::time::sleep(Duration::from_millis(500)).await;
    // What the server sent greedy, read at last: a few pages at most (a page over the
    // bound still goes to an empty queue), then refusals, or the `too_slow` that dropped
    // it when the room's messages went over the bound behind a page.
    let mut pages = 0;
    loop {
        let f = greedy.json().await;
        match (f["type"].as_str(), f["code"].as_str()) {
            (Some("history"), _) => pages += 1,
            (Some("error"), Some("too_slow")) => break,
            (Some("error"), Some("rate_limited")) | (Some("joined" | "message" | "presence"), _) => {}
            _ => panic!("unexpected {f}"),
        }
        if greedy.buf.is_empty() && pages > 0 {
            // Everything it was sent is read: it was refused, not dropped.
            match tokio::time::timeout(Duration::from_millis(300), greedy.fill()).await {
                Ok(()) => continue,
                Err(_) => break,
            }
        }
    }
    assert!((1..=2).contains(&pages), "{pages} pages of 800 KB held for a client that never read");
}

/// A client that reads each page before asking for the next, as the app does, is never
/// refused, however fast it pages, while the room is busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_paging_quickly_through_history_is_never_refused() {
    let app = spawn_app().await;
    let mut alice = app.member("alice", "r").await;
    for i in 0..400 {
        alice.send(json!({"type": "say", "room": "r", "text": format!("message {i} {}", "y".repeat(300)), "cid": format!("c{i}")})).await;
    }
    for _ in 0..400 {
        assert_eq!(alice.next().await["type"], "message");
    }
    let mut reader = app.member("reader", "r").await;
    alice.next().await; // the reader's join
    // Alice keeps the room busy meanwhile: the reader's queue holds her messages too.
    let chatter = tokio::spawn(async move {
        for i in 0..300 {
            alice.send(json!({"type": "say", "room": "r", "text": "busy", "cid": format!("b{i}")})).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        alice
    });
    for round in 0..10 {
        let mut before = 401;
        let mut got = 0;
        loop {
            reader.send(json!({"type": "history", "room": "r", "before": before, "limit": 40})).await;
            let page = loop {
                let f = reader.next().await;
                assert_ne!(f["type"], "error", "round {round}, before {before}: {f}");
                if f["type"] == "history" {
                    break f;
                }
            };
            let messages = page["messages"].as_array().unwrap();
            got += messages.len();
            if page["complete"] == true {
                break;
            }
            before = messages[0]["id"].as_u64().unwrap();
        }
        assert_eq!(got, 400);
    }
    chatter.await.unwrap();
}

#[tokio::test]
async fn a_failing_store_is_an_error_to_the_sender_and_a_retry_works_after() {
    let config = test_config();
    let db = config.db.clone();
    let app = spawn_with(config).await;
    let mut alice = app.member("alice", "r").await;
    let mut bob = app.member("bob", "r").await;
    alice.next().await; // bob's join
    assert_eq!(alice.say("r", "before", "c1").await["id"], 1);
    bob.next().await;
    // Another connection takes the table away: every write and read now fails for real.
    let admin = rusqlite::Connection::open(&db).unwrap();
    admin.execute_batch("ALTER TABLE messages RENAME TO away").unwrap();

    alice.send(json!({"type": "say", "room": "r", "text": "lost?", "cid": "c2"})).await;
    // Meanwhile the server answers everyone at once: no room is stalled by the disk.
    let started = Instant::now();
    bob.send(json!({"type": "ping"})).await;
    assert_eq!(bob.next().await["type"], "pong");
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    let e = alice.expect_error("unavailable").await;
    assert_eq!(e["cid"], "c2", "the sender knows which message to retry");
    alice.send(json!({"type": "history", "room": "r", "before": 10})).await;
    alice.expect_error("unavailable").await;
    bob.send(json!({"type": "join", "room": "elsewhere"})).await;
    bob.expect_error("unavailable").await;

    admin.execute_batch("ALTER TABLE away RENAME TO messages").unwrap();
    // The retry is stored and delivered to the room, once.
    let echo = alice.say("r", "lost?", "c2").await;
    assert_eq!((echo["text"].as_str(), echo["cid"].as_str()), (Some("lost?"), Some("c2")));
    let seen = bob.next().await;
    assert_eq!(seen["id"], echo["id"]);
    alice.send(json!({"type": "history", "room": "r", "before": 100})).await;
    let h = alice.next().await;
    let texts: Vec<&str> =
        h["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["before", "lost?"]);
    // Bob's failed join left nothing behind: he can join now.
    assert_eq!(bob.join("elsewhere").await["members"], json!(["bob"]));
}

#[tokio::test]
async fn a_low_open_files_limit_is_raised_and_logs_carry_no_colour() {
    let db = fresh_db();
    // A desktop's soft limit, far below what 300 sockets need with room to spare.
    let server = Process::start_with(&db, 0, &[], Some("-Sn 128")).await;
    let mut clients = Vec::new();
    for _ in 0..300 {
        clients.push(Client::connect(&server.url()).await);
    }
    let last = clients.last_mut().unwrap();
    last.join("lobby").await;
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("open-files limit allows"), "{log}");
    assert!(!log.contains('\x1b'), "terminal colour codes in a log file: {log:?}");
}

#[tokio::test]
async fn a_hard_limit_below_max_connections_is_warned_about() {
    let db = fresh_db();
    let server = Process::start_with(&db, 0, &["--max-connections", "10000"], Some("-n 512")).await;
    let _c = Client::connect(&server.url()).await;
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("--max-connections is 10000"), "{log}");
    assert!(log.contains("WARN"), "{log}");
}

#[tokio::test]
async fn by_default_the_cap_on_connections_is_what_the_open_files_limit_allows() {
    let db = fresh_db();
    // 256 files: 64 kept for the server's own (the listener, SQLite, the runtime), 192 sockets.
    let server = Process::start_with(&db, 0, &[], Some("-n 256")).await;
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], server.port).into();
    let host = addr.to_string();
    let mut held = Vec::new();
    let refused = loop {
        let (status, tcp) = upgrade(addr, &host, "").await;
        if status != 101 || held.len() > 300 {
            break status;
        }
        held.push(tcp);
    };
    // Past it the client is told the server is full, rather than never answered.
    assert_eq!((held.len(), refused), (192, 503));
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("open-files limit allows 192 connections"), "{log}");
    assert!(!log.contains("--max-connections is"), "nothing to warn about: {log}");
    drop(held.pop());
    upgraded_again(addr, &host, "").await;
}

#[tokio::test]
async fn pages_of_big_messages_cost_more_of_the_rate_limit_than_short_ones() {
    let app = spawn_with(backend::Config {
        store: backend::config::StoreKind::Memory,
        rate_limit: 20,
        ..test_config()
    })
    .await;
    let (big, short) = ("x".repeat(4000), "hi".to_owned());
    for (room, text) in [("big", &big), ("short", &short)] {
        // Ten writers of twenty messages each: every one within its own rate limit.
        for w in 0..10 {
            let mut writer = app.member(&format!("{room}-writer-{w}"), room).await;
            for i in 0..20 {
                writer
                    .send(json!({"type": "say", "room": room, "text": text, "cid": format!("{w}-{i}")}))
                    .await;
            }
            let mut messages = 0;
            while messages < 20 {
                let f = writer.next().await;
                match f["type"].as_str() {
                    Some("message") => messages += 1,
                    // The writer before this one may be seen leaving now: it was dropped,
                    // and the server notices its socket close whenever it does.
                    Some("presence") if f["event"] == "leave" => {}
                    _ => panic!("unexpected {f}"),
                }
            }
        }
    }
    let answers = |room: &'static str| {
        let app = &app;
        async move {
            let mut c = app.client().await;
            for _ in 0..20 {
                c.send(json!({"type": "history", "room": room, "before": 201, "limit": 200})).await;
            }
            let (mut pages, mut limited) = (0, 0);
            for _ in 0..20 {
                let f = c.next().await;
                match (f["type"].as_str(), f["code"].as_str()) {
                    (Some("history"), _) => pages += 1,
                    (Some("error"), Some("rate_limited")) => limited += 1,
                    _ => panic!("unexpected {f}"),
                }
            }
            (pages, limited)
        }
    };
    // 20 pages of short messages: the burst allows them all.
    assert_eq!(answers("short").await, (20, 0));
    // 20 pages of 800 KB each: each costs 25 more, so the burst runs out after a few.
    let (pages, limited) = answers("big").await;
    assert!((1..=16).contains(&pages), "{pages} pages");
    assert_eq!(pages + limited, 20);
}

/// A store that hangs (here a Redis stopped with SIGSTOP: each read waits for its
/// timeout) holds up the clients that read from it, never the others: reads run on the
/// blocking pool, not on the threads that serve every session. On one runtime thread, as
/// here, a read there would stall the whole server for seconds.
#[tokio::test]
async fn a_hung_store_stalls_only_the_reads_waiting_for_it() {
    let db = fresh_db();
    let mut redis =
        backend::redis_server::RedisServer::start(&db.with_file_name("redis")).expect("a redis-server");
    let app = spawn_with(backend::Config { redis: Some(redis.url()), ..test_config() }).await;
    let mut alice = app.member("alice", "r").await;
    let mut bob = app.member("bob", "r").await;
    alice.next().await; // bob's join
    assert_eq!(alice.say("r", "before", "c1").await["id"], 1);
    bob.next().await;
    let pid = redis.pid().unwrap().to_string();
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    let stopped = Instant::now();
    let mut readers = Vec::new();
    for _ in 0..3 {
        let mut c = app.client().await;
        c.send(json!({"type": "history", "room": "r", "before": 10})).await;
        readers.push(c);
    }
    // Bob is answered at once while the reads wait (each waits 2 s for Redis, twice).
    for _ in 0..5 {
        let started = Instant::now();
        bob.send(json!({"type": "ping"})).await;
        assert_eq!(bob.next().await["type"], "pong");
        assert!(started.elapsed() < Duration::from_millis(300), "{:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stopped.elapsed() < Duration::from_millis(1500), "{:?}", stopped.elapsed());
    signal("-CONT");
    // The readers get their answer or `unavailable`, never nothing.
    for c in &mut readers {
        let f = tokio::time::timeout(Duration::from_secs(15), c.next()).await.expect("an answer");
        assert!(f["type"] == "history" || f["code"] == "unavailable", "{f}");
    }
    drop(app);
    redis.kill();
}
