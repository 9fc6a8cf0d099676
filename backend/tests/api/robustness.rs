//! Bad input, limits, slow clients, shutdown, and the HTTP side.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

#[tokio::test]
async fn bad_frames_get_bad_request_and_the_connection_stays() {
    let app = spawn_app().await;
    let mut c = app.member("alice", "lobby").await;
    for raw in [
        "not json",
        r#"{"type":"shout","room":"lobby"}"#,
        r#"{"type":"say","room":"lobby","text":"hi"}"#,
        r#"["join","lobby"]"#,
        r#"{"room":"lobby"}"#,
        r#"{"type":"join","room":42}"#,
    ] {
        c.send_raw(Message::text(raw)).await;
        c.expect_error("bad_request").await;
    }
    c.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    let e = c.expect_error("bad_request").await;
    assert!(e["message"].as_str().unwrap().contains("binary"), "{e}");
    assert_eq!(c.say("lobby", "still here", "s1").await["text"], "still here");
}

#[tokio::test]
async fn a_frame_over_16_kib_is_closed_with_1009_and_others_go_on() {
    let app = spawn_app().await;
    let mut bob = app.member("bob", "lobby").await;
    let mut c = app.member("alice", "lobby").await;
    bob.next().await;
    // The largest legal message: 4000 four-byte characters, just under 16 KiB of JSON.
    let big = "😀".repeat(4000);
    assert_eq!(c.say("lobby", &big, "big").await["text"], big.as_str());
    bob.next().await;
    let text = json!({"type": "say", "room": "lobby", "text": "x".repeat(17 * 1024), "cid": "c"});
    c.send_raw(Message::text(text.to_string())).await;
    assert_eq!(c.ended().await, Ended::Close(1009));
    let left = bob.next().await;
    assert_eq!((left["event"].as_str(), left["nick"].as_str()), (Some("leave"), Some("alice")));
    assert_eq!(bob.say("lobby", "fine", "b1").await["id"], 2);
}

#[tokio::test]
async fn flooding_is_rate_limited_and_the_connection_stays() {
    let app = spawn_with(backend::Config { rate_limit: 5, ..test_config() }).await;
    let mut c = app.client().await;
    c.join("r").await; // one token used
    for i in 0..20 {
        c.send(json!({"type": "say", "room": "r", "text": "spam", "cid": format!("f{i}")})).await;
    }
    let (mut delivered, mut limited) = (0, 0);
    for _ in 0..20 {
        let f = c.next().await;
        match f["type"].as_str() {
            Some("message") => delivered += 1,
            Some("error") => {
                assert_eq!(f["code"], "rate_limited");
                assert!(f["cid"].as_str().unwrap().starts_with('f'), "the cid of the refused say");
                limited += 1;
            }
            _ => panic!("unexpected {f}"),
        }
    }
    assert!((8..=10).contains(&delivered), "a burst of twice the rate, then refusals: {delivered}");
    assert_eq!(delivered + limited, 20);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.say("r", "later", "l1").await["type"], "message", "tokens come back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_as_too_slow_and_others_keep_up() {
    // More than the kernel's socket buffers and the queue can hold between them (~20 MB).
    let app = spawn_with(backend::Config { queue: 256, ..test_config() }).await;
    let mut slow = app.member("slow", "r").await;
    let fast = app.member("fast", "r").await;
    let sender = app.member("sender", "r").await;
    const N: usize = 5000;
    let text = "x".repeat(4000);

    // The sender keeps at most 32 messages unacknowledged, as a real client would: a
    // sender that pipelines without reading its echoes is itself too slow.
    let window = std::sync::Arc::new(tokio::sync::Semaphore::new(32));
    let (mut sink, mut stream) = sender.ws.split();
    let permits = window.clone();
    let send = tokio::spawn(async move {
        for i in 0..N {
            permits.acquire().await.unwrap().forget();
            let say = json!({"type": "say", "room": "r", "text": text, "cid": format!("c{i}")});
            sink.send(Message::text(say.to_string())).await.unwrap();
        }
        sink
    });
    let echoes = tokio::spawn(async move {
        let mut n = 0;
        while n < N {
            let m = stream.next().await;
            let Some(Ok(Message::Text(t))) = m else { panic!("sender lost: {m:?} after {n}") };
            if t.as_str().contains("\"type\":\"message\"") {
                n += 1;
                window.add_permits(1);
            }
        }
    });
    // The slow client reads again as soon as the room sees it leave: the server then
    // gives it a grace to read its goodbye (on a loaded machine, the fast reader may take
    // longer than that grace to get all N).
    let (dropped, slow_dropped) = tokio::sync::oneshot::channel::<()>();
    let slow_reads = tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(120), slow_dropped).await;
        // After what had fit in the pipes, `too_slow` and 1013.
        let mut saw_too_slow = false;
        let ended = loop {
            match tokio::time::timeout(Duration::from_secs(10), slow.ws.next()).await.unwrap() {
                Some(Ok(Message::Text(t))) => saw_too_slow |= t.as_str().contains("\"code\":\"too_slow\""),
                Some(Ok(Message::Close(f))) => break f.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break None,
            }
        };
        (saw_too_slow, ended)
    });
    let (mut fast_sink, mut fast_stream) = fast.ws.split();
    let receive = tokio::spawn(async move {
        let started = Instant::now();
        let mut ids = Vec::new();
        let mut dropped = Some(dropped);
        while ids.len() < N {
            let m = tokio::time::timeout(Duration::from_secs(30), fast_stream.next()).await.unwrap();
            let Some(Ok(Message::Text(t))) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "message" {
                ids.push(v["id"].as_u64().unwrap());
            } else if v["type"] == "presence" && v["event"] == "leave" && v["nick"] == "slow" {
                dropped.take().map(|d| d.send(()));
            }
        }
        let _ = fast_sink.close().await;
        (ids, started.elapsed())
    });
    let _sink = send.await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), echoes).await.unwrap().unwrap();
    let (ids, _took) = receive.await.unwrap();
    assert_eq!(ids, (1..=N as u64).collect::<Vec<_>>(), "the reader that keeps up gets everything, in order");

    let (saw_too_slow, ended) = slow_reads.await.unwrap();
    assert!(saw_too_slow, "error too_slow before the close");
    assert_eq!(ended, Some(1013));
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001_within_2_s() {
    let app = spawn_app().await;
    let mut clients = Vec::new();
    for nick in ["a", "b", "c"] {
        clients.push(app.member(nick, "lobby").await);
    }
    let took = app.stop().await;
    assert!(took < Duration::from_secs(2), "took {took:?}");
    for c in &mut clients {
        assert_eq!(c.ended().await, Ended::Close(1001));
    }
}

#[tokio::test]
async fn the_connection_cap_refuses_with_503() {
    let app = spawn_with(backend::Config { max_connections: 2, ..test_config() }).await;
    let _a = app.client().await;
    let _b = app.client().await;
    let err = tokio_tungstenite::connect_async(app.ws_url()).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(resp) = err else { panic!("{err:?}") };
    assert_eq!(resp.status(), 503);
    drop(_a);
    // The slot comes back once the server has seen the close.
    let deadline = Instant::now() + WAIT;
    while tokio_tungstenite::connect_async(app.ws_url()).await.is_err() {
        assert!(Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn directory_pushes_are_coalesced_under_churn_and_end_true() {
    let app = spawn_app().await;
    let mut watcher = app.client().await;
    let churner = app.client().await;
    let (mut sink, mut stream) = churner.ws.split();
    // Drain the churner's answers so it is never too slow.
    tokio::spawn(async move { while stream.next().await.is_some() {} });
    let started = Instant::now();
    for _ in 0..300 {
        sink.send(Message::text(r#"{"type":"join","room":"churn"}"#)).await.unwrap();
        sink.send(Message::text(r#"{"type":"leave","room":"churn"}"#)).await.unwrap();
    }
    sink.send(Message::text(r#"{"type":"join","room":"churn"}"#)).await.unwrap();
    // Count pushes until the directory shows the final state (however long a busy machine
    // takes to serve the churn), then for a quiet while more.
    let truth = json!([{"name": "lobby", "members": 0}, {"name": "churn", "members": 1}]);
    let mut pushes = 0;
    let mut last = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), watcher.ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                assert_eq!(v["type"], "rooms");
                pushes += 1;
                last = v["rooms"].clone();
            }
            Ok(_) => panic!("watcher lost"),
            // Quiet for 500 ms: done once the last push was the true state.
            Err(_) if last == truth => break,
            Err(_) => {}
        }
    }
    let window = started.elapsed();
    let allowed = (window.as_millis() / 100) as usize + 2;
    assert!(pushes <= allowed, "{pushes} pushes in {window:?} (at most {allowed})");
    assert_eq!(last, truth, "ends at the true state");
}

#[tokio::test]
async fn serves_the_built_app_with_a_fallback_for_deep_links() {
    let app = spawn_with(with_web_dir(test_config())).await;
    let (status, head, body) = app.get("/").await;
    assert_eq!(status, 200);
    assert!(body.contains("<title>Chat</title>"));
    assert!(head.to_lowercase().contains("cache-control: no-cache"), "{head}");
    let (status, _, body) = app.get("/room/rust").await;
    assert_eq!((status, body.contains("<title>Chat</title>")), (200, true));
    let (status, _, body) = app.get("/app-1234.js").await;
    assert_eq!((status, body.as_str()), (200, "console.log(1)"));
    let (status, _, body) = app.get("/api/info").await;
    assert_eq!(status, 200);
    let info: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["protocol"], 1);
    assert_eq!(info["protocols"], serde_json::json!([1, 2]));
    // Each version listed is one a client gets: version 1 by default, 2 with `chat.v2`.
    for version in info["protocols"].as_array().unwrap() {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = app.ws_url().into_client_request().unwrap();
        match version.as_u64() {
            Some(1) => {}
            Some(2) => {
                request.headers_mut().insert("sec-websocket-protocol", "chat.v2".parse().unwrap());
            }
            _ => panic!("an unknown version listed: {version}"),
        }
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let Some(Ok(Message::Text(welcome))) = ws.next().await else { panic!("no welcome") };
        let welcome: Value = serde_json::from_str(&welcome).unwrap();
        assert_eq!(&welcome["protocol"], version, "{welcome}");
    }
    assert_eq!(info["lan_urls"], serde_json::json!([]), "bound to 127.0.0.1: no LAN URL");
    let (status, _, _) = app.get("/api/qr.svg").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_phone_is_offered_the_address_the_page_was_opened_at() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // 10.9.8.7 stands for this machine's LAN address (named, since the test cannot know it).
    let app = spawn_with(backend::Config {
        addr: ([0, 0, 0, 0], 0).into(),
        allowed_hosts: vec!["10.9.8.7".into()],
        ..test_config()
    })
    .await;
    let port = app.addr.port();
    let get = |path: &'static str, host: String| async move {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).await.unwrap();
        raw
    };
    // Opened on the desktop by a LAN address: the phone gets that one.
    let raw = get("/api/info", format!("10.9.8.7:{port}")).await;
    let info: Value = serde_json::from_str(raw.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(info["lan_urls"][0], format!("http://10.9.8.7:{port}/"), "{info}");
    let raw = get("/api/qr.svg?room=rust", format!("10.9.8.7:{port}")).await;
    assert!(raw.starts_with("HTTP/1.1 200") && raw.contains("<svg"), "{raw}");
    // Opened as localhost: the phone gets the host's own LAN addresses instead.
    let raw = get("/api/info", format!("localhost:{port}")).await;
    let info: Value = serde_json::from_str(raw.split_once("\r\n\r\n").unwrap().1).unwrap();
    for url in info["lan_urls"].as_array().unwrap() {
        let url = url.as_str().unwrap();
        assert!(!url.contains("localhost") && !url.contains("//127.") && !url.contains("10.9.8.7"), "{url}");
    }
}

#[tokio::test]
async fn without_a_built_app_the_page_says_how_to_build_it() {
    let dir = std::env::temp_dir().join("chat-no-such-dist");
    let app = spawn_with(backend::Config { web_dir: Some(dir), ..test_config() }).await;
    let (status, _, body) = app.get("/").await;
    assert_eq!(status, 503);
    assert!(body.contains("cargo xtask serve"), "{body}");
    // The WebSocket works regardless.
    app.client().await;
}

#[tokio::test]
async fn a_silent_peer_is_dropped_and_its_rooms_are_told() {
    // Pings every second: a peer that never answers is gone after 2.5 s.
    let app = spawn_with(backend::Config { ping_secs: 1, ..test_config() }).await;
    let mut alice = app.member("alice", "r").await;
    let ghost = app.member("ghost", "r").await; // never reads again, so never pongs
    alice.next().await;
    let started = Instant::now();
    // Alice reads, so her client answers pings and she stays.
    let left = alice.next().await;
    assert_eq!((left["event"].as_str(), left["nick"].as_str()), (Some("leave"), Some("ghost")));
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(4), "dropped after {took:?}");
    drop(ghost);
    assert_eq!(alice.say("r", "still here", "s").await["nick"], "alice");
}
