//! The server's edges under hostile or unlucky conditions: other sites' pages, one address
//! holding many sockets, a client that asks for big answers and never reads them, a store
//! that fails, a low open-files limit, logs written to a file.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

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

#[tokio::test]
async fn pages_of_other_sites_cannot_open_a_socket() {
    let app = spawn_with(backend::Config {
        allowed_origins: vec!["https://chat.example".into(), "http://127.0.0.1:8080".into()],
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
    let app = spawn_with(backend::Config { max_per_ip: 3, ..test_config() }).await;
    let host = app.addr.to_string();
    let mut held = Vec::new();
    for _ in 0..3 {
        let (status, tcp) = upgrade(app.addr, &host, "").await;
        assert_eq!(status, 101);
        held.push(tcp);
    }
    assert_eq!(upgrade(app.addr, &host, "").await.0, 429);
    // A forwarded address counts only from a trusted proxy: here it is ignored.
    assert_eq!(upgrade(app.addr, &host, "X-Forwarded-For: 203.0.113.9\r\n").await.0, 429);
    drop(held.pop());
    // The place comes back once the server has seen the socket go.
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, tcp) = upgrade(app.addr, &host, "").await;
        if status == 101 {
            held.push(tcp);
            break;
        }
        assert!(Instant::now() < deadline, "the place never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_asks_for_big_answers_and_never_reads_is_dropped() {
    // Room for as many frames as it likes: only the bytes bound can stop it.
    let app = spawn_with(backend::Config {
        store: backend::config::StoreKind::Memory,
        queue: 1_000_000,
        queue_bytes: 1024 * 1024,
        ..test_config()
    })
    .await;
    let mut alice = app.member("alice", "big").await;
    let text = "x".repeat(4000);
    for i in 0..200 {
        alice.send(json!({"type": "say", "room": "big", "text": text, "cid": format!("c{i}")})).await;
    }
    for _ in 0..200 {
        assert_eq!(alice.next().await["type"], "message");
    }
    let mut greedy = app.member("greedy", "big").await;
    alice.next().await; // greedy's join
    // 100 pages of 200 messages of 4 KB: 80 MB of answers, read by nobody.
    for _ in 0..100 {
        let ask = json!({"type": "history", "room": "big", "before": 201, "limit": 200});
        greedy.ws.feed(Message::text(ask.to_string())).await.unwrap();
    }
    greedy.ws.flush().await.unwrap();
    // Dropped as too slow well before the answers could pile up: the room sees it leave.
    let left = alice.next().await;
    assert_eq!((left["event"].as_str(), left["nick"].as_str()), (Some("leave"), Some("greedy")), "{left}");
    assert_eq!(alice.say("big", "still fine", "after").await["id"], 201);
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
            for _ in 0..20 {
                assert_eq!(writer.next().await["type"], "message");
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
