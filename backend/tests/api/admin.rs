//! The operator's API (`--admin-token`): every call with no, wrong and right token; `404`
//! without a token configured and for nobody of that nick; `400` for a malformed body;
//! kicks and bans as the person and the room see them (close 4001, `kicked`, `presence`
//! `leave`, turned away at the door and `forbidden` while banned, by resume token and by
//! address); the
//! audit log; and across two nodes of a cluster sharing a real Redis.

use std::time::{Duration, Instant};

use backend::Config;
use backend::redis_server::RedisServer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::*;
use crate::metrics::ADMIN_TOKEN;

/// A call as the operator's tools make it: `(status, JSON body or Null)`. `from` is the
/// client's address as the trusted proxy (loopback) forwards it.
pub(crate) async fn call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    from: &str,
) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-Forwarded-For: {from}\r\n"
    );
    if let Some(token) = token {
        req.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or_default();
    req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut raw)).await.expect("an answer").unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

pub(crate) fn config() -> Config {
    Config {
        admin_token: Some(ADMIN_TOKEN.into()),
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..test_config()
    }
}

/// The operator, from its own address.
async fn operator(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    call(app.addr, method, path, Some(ADMIN_TOKEN), body.as_deref(), "198.51.100.1").await
}

/// A client whose address (forwarded by the trusted proxy) is `from`; `Err` with the
/// upgrade's refusal status, or with the close code when it was turned away at the door
/// (a ban: upgraded, `error` `forbidden` first, then the close).
pub(crate) async fn client_from(app: &TestApp, from: &str, resume: Option<&str>) -> Result<Client, u16> {
    client_at(&app.ws_url(), from, resume).await
}

/// [`client_from`] for the server at the WebSocket URL `ws`.
pub(crate) async fn client_at(ws: &str, from: &str, resume: Option<&str>) -> Result<Client, u16> {
    let url = match resume {
        Some(token) => format!("{ws}?resume={token}"),
        None => ws.to_owned(),
    };
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("x-forwarded-for", from.parse().unwrap());
    match connect_async(request).await {
        Ok((ws, _)) => {
            let mut client = Client { ws, nick: String::new(), resume: String::new() };
            let welcome = client.next().await;
            if welcome["type"] == "error" {
                assert_eq!(welcome["code"], "forbidden", "{welcome}");
                return match client.ended().await {
                    Ended::Close(code) => Err(code),
                    Ended::Dropped => panic!("turned away without a close frame"),
                };
            }
            client.nick = welcome["nick"].as_str().unwrap().to_owned();
            client.resume = welcome["resume"].as_str().unwrap().to_owned();
            Ok(client)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("connect: {e}"),
    }
}

#[tokio::test]
async fn without_an_admin_token_there_is_no_admin_api() {
    let app =
        spawn_with(Config { trusted_proxies: vec!["127.0.0.1".parse().unwrap()], ..test_config() }).await;
    for (method, path) in
        [("GET", "/api/admin/overview"), ("POST", "/api/admin/kick"), ("POST", "/api/admin/ban")]
    {
        let (status, body) =
            call(app.addr, method, path, Some(ADMIN_TOKEN), Some("{}"), "198.51.100.1").await;
        assert_eq!((status, &body["error"]), (404, &json!("not_found")), "{method} {path}");
    }
}

#[tokio::test]
async fn a_short_admin_token_refuses_to_start() {
    let listener = backend::server::bind(([127, 0, 0, 1], 0).into(), 0).unwrap();
    let config = Config { admin_token: Some("too-short".into()), ..test_config() };
    let _db = hold(&config);
    let err = backend::server::run(listener, config, std::future::pending()).await.unwrap_err();
    assert!(err.to_string().contains("at least 16 characters"), "{err}");
}

#[tokio::test]
async fn every_call_needs_the_right_token() {
    let app = spawn_with(config()).await;
    let _alice = app.member("alice", "lobby").await;
    let calls = [
        ("GET", "/api/admin/overview", None, 200),
        ("GET", "/api/admin/audit", None, 200),
        ("POST", "/api/admin/kick", Some(json!({"nick": "nobody"})), 404),
        ("POST", "/api/admin/ban", Some(json!({"nick": "nobody", "minutes": 5})), 404),
    ];
    for (i, (method, path, body, right)) in calls.into_iter().enumerate() {
        let body = body.map(|b| b.to_string());
        // Each from an address of its own, so that no address reaches the slow-down.
        let from = format!("203.0.113.{}", 10 + i);
        let (none, _) = call(app.addr, method, path, None, body.as_deref(), &from).await;
        let (wrong, _) =
            call(app.addr, method, path, Some("operator-secret-01234567890"), body.as_deref(), &from).await;
        let (ok, _) = call(app.addr, method, path, Some(ADMIN_TOKEN), body.as_deref(), &from).await;
        assert_eq!((none, wrong, ok), (401, 401, right), "{method} {path}");
    }
}

#[tokio::test]
async fn wrong_guesses_from_one_address_are_slowed_down() {
    let app = spawn_with(config()).await;
    for _ in 0..5 {
        let (status, _) =
            call(app.addr, "GET", "/api/admin/overview", Some("x".repeat(26).as_str()), None, "203.0.113.66")
                .await;
        assert_eq!(status, 401);
    }
    let (status, _) =
        call(app.addr, "GET", "/api/admin/overview", Some(ADMIN_TOKEN), None, "203.0.113.66").await;
    assert_eq!(status, 429, "the guesser's address waits, even with the right token");
    let (status, _) =
        call(app.addr, "GET", "/api/admin/overview", Some(ADMIN_TOKEN), None, "198.51.100.1").await;
    assert_eq!(status, 200, "the operator elsewhere is not held up");
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let app = spawn_with(config()).await;
    let _alice = app.member("alice", "lobby").await;
    for (path, body) in [
        ("/api/admin/kick", "not json"),
        ("/api/admin/kick", "{}"),
        ("/api/admin/kick", r#"{"nick": ""}"#),
        ("/api/admin/kick", r#"{"nick": "alice", "room": 7}"#),
        ("/api/admin/ban", r#"{"nick": "alice"}"#),
        ("/api/admin/ban", r#"{"nick": "alice", "minutes": 0}"#),
        ("/api/admin/ban", r#"{"nick": "alice", "minutes": -3}"#),
    ] {
        let (status, _) = call(app.addr, "POST", path, Some(ADMIN_TOKEN), Some(body), "198.51.100.1").await;
        assert_eq!(status, 400, "{path} {body}");
    }
}

#[tokio::test]
async fn a_kick_off_the_server_closes_with_4001_and_the_room_sees_a_leave() {
    let app = spawn_with(config()).await;
    let mut alice = app.member("alice", "lobby").await;
    let mut bob = app.member("bob", "lobby").await;
    alice.next().await; // bob's join
    let (status, body) = operator(&app, "POST", "/api/admin/kick", Some(json!({"nick": "ALICE"}))).await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    assert_eq!(alice.ended().await, Ended::Close(4001));
    let left = bob.next().await;
    assert_eq!(
        (&left["type"], &left["event"], &left["nick"]),
        (&json!("presence"), &json!("leave"), &json!("alice"))
    );
    // Gone: a second kick finds nobody. A kick is no ban: alice may come back.
    assert_eq!(operator(&app, "POST", "/api/admin/kick", Some(json!({"nick": "alice"}))).await.0, 404);
    Client::connect(&format!("{}?resume={}", app.ws_url(), alice.resume)).await;
}

#[tokio::test]
async fn a_kick_out_of_a_room_tells_the_person_and_the_room() {
    let app = spawn_with(config()).await;
    let mut alice = app.member("alice", "den").await;
    let mut bob = app.member("bob", "den").await;
    alice.next().await; // bob's join
    let kick = |room: &str| json!({"nick": "alice", "room": room});
    assert_eq!(
        operator(&app, "POST", "/api/admin/kick", Some(kick("elsewhere"))).await.0,
        404,
        "not in that room"
    );
    assert_eq!(operator(&app, "POST", "/api/admin/kick", Some(kick("den"))).await.0, 200);
    assert_eq!(alice.next().await, json!({"type": "kicked", "room": "den"}));
    let left = bob.next().await;
    assert_eq!((&left["event"], &left["nick"]), (&json!("leave"), &json!("alice")));
    // Still connected, and not banned: it may join again.
    alice.join("den").await;
}

#[tokio::test]
async fn a_room_ban_holds_the_person_out_of_that_room_only() {
    let app = spawn_with(config()).await;
    let mut alice = app.member("alice", "den").await;
    let ban = json!({"nick": "alice", "room": "den", "minutes": 5});
    assert_eq!(operator(&app, "POST", "/api/admin/ban", Some(ban)).await.0, 200);
    assert_eq!(alice.next().await, json!({"type": "kicked", "room": "den"}));
    alice.send(json!({"type": "join", "room": "den"})).await;
    alice.expect_error("forbidden").await;
    alice.join("other").await;
    // Reconnecting does not help: the ban holds the resume token.
    let token = alice.resume.clone();
    drop(alice);
    let mut again = Client::connect(&format!("{}?resume={token}", app.ws_url())).await;
    again.send(json!({"type": "join", "room": "den"})).await;
    again.expect_error("forbidden").await;
}

#[tokio::test]
async fn a_server_ban_holds_the_token_and_the_address_until_it_ends() {
    let app = spawn_with(config()).await;
    let mut alice = client_from(&app, "203.0.113.9", None).await.unwrap();
    alice.set_nick("alice").await;
    let token = alice.resume.clone();
    let mut bob = app.member("bob", "lobby").await;
    let ban = json!({"nick": "alice", "minutes": 5});
    assert_eq!(operator(&app, "POST", "/api/admin/ban", Some(ban)).await.0, 200);
    assert_eq!(alice.ended().await, Ended::Close(4001));
    // By token, from anywhere; by address, with any token or none: told why, closed
    // with 4001 (which no client reconnects after).
    assert_eq!(client_from(&app, "198.51.100.77", Some(&token)).await.err(), Some(4001));
    assert_eq!(client_from(&app, "203.0.113.9", None).await.err(), Some(4001));
    // Others are not concerned.
    assert!(client_from(&app, "198.51.100.78", None).await.is_ok());
    bob.send(json!({"type": "ping"})).await;
    assert_eq!(bob.next().await["type"], "pong");
    // The audit log says who did what to whom, newest first.
    let (status, audit) = operator(&app, "GET", "/api/admin/audit", None).await;
    assert_eq!(status, 200);
    let last = &audit["entries"][0];
    assert_eq!(
        (&last["who"], &last["action"], &last["nick"], &last["minutes"]),
        (&json!("operator"), &json!("ban"), &json!("alice"), &json!(5))
    );
    assert!(last["ts"].as_u64().unwrap() > 1_700_000_000_000);
}

#[tokio::test]
async fn the_operator_s_page_is_its_own_and_finds_people() {
    let app = spawn_with(config()).await;
    let page = app.fetch("/admin", &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(page.header("content-security-policy").contains("script-src 'self'"));
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("/admin/admin.js") && !html.contains(".wasm"), "{html}");
    assert_eq!(app.fetch("/admin/admin.js", &[]).await.status, 200);
    let _alice = app.member("alice", "den").await;
    let (status, found) = operator(&app, "GET", "/api/admin/person?nick=ALICE", None).await;
    assert_eq!((status, found), (200, json!({"nick": "alice", "here": true, "rooms": ["den"]})));
    assert_eq!(operator(&app, "GET", "/api/admin/person?nick=nobody", None).await.0, 404);
    // Without a token configured there is no page either.
    let bare = spawn_app().await;
    assert_eq!(bare.fetch("/admin", &[]).await.status, 404);
}

#[tokio::test]
async fn the_overview_counts_connections_and_lists_rooms() {
    let app = spawn_with(config()).await;
    let _alice = app.member("alice", "den").await;
    let _bob = app.member("bob", "lobby").await;
    let (status, overview) = operator(&app, "GET", "/api/admin/overview", None).await;
    assert_eq!(status, 200);
    assert_eq!(overview["connections"], 2, "{overview}");
    assert_eq!(overview["nodes"].as_array().unwrap().len(), 1, "{overview}");
    let rooms = overview["rooms"].as_array().unwrap();
    assert!(rooms.contains(&json!({"name": "den", "members": 1, "private": false})), "{overview}");
}

#[tokio::test]
async fn a_kick_and_a_ban_reach_a_person_on_the_other_node() {
    let db = fresh_db();
    let redis = RedisServer::start(&db.dir().join("redis")).expect("a redis-server for the test");
    let node = || Config { redis: Some(redis.url()), ..config() };
    let a = spawn_with(node()).await;
    let b = spawn_with(node()).await;
    let mut alice = b.member("alice", "lobby").await;
    let mut carol = b.member("carol", "den").await;
    // Node A learns of them through Redis.
    let started = Instant::now();
    loop {
        let (_, overview) = operator(&a, "GET", "/api/admin/overview", None).await;
        if overview["connections"] == 2 && overview["nodes"].as_array().unwrap().len() == 2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{overview}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    loop {
        let (status, _) = operator(&a, "POST", "/api/admin/kick", Some(json!({"nick": "alice"}))).await;
        if status == 200 {
            break;
        }
        assert!(started.elapsed() < WAIT, "alice is not known on node A");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(alice.ended().await, Ended::Close(4001));
    let (_, found) = operator(&a, "GET", "/api/admin/person?nick=carol", None).await;
    assert_eq!(found, json!({"nick": "carol", "here": false, "rooms": ["den"]}));
    // Dave shares carol's address (loopback here): never banned as an address.
    let mut dave = a.member("dave", "den").await;
    let joined = carol.next().await;
    assert_eq!((&joined["event"], &joined["nick"]), (&json!("join"), &json!("dave")), "{joined}");
    let ban = json!({"nick": "carol", "room": "den", "minutes": 5});
    assert_eq!(operator(&a, "POST", "/api/admin/ban", Some(ban)).await.0, 200);
    assert_eq!(carol.next().await, json!({"type": "kicked", "room": "den"}));
    carol.send(json!({"type": "join", "room": "den"})).await;
    carol.expect_error("forbidden").await;
    let left = dave.next().await;
    assert_eq!((&left["event"], &left["nick"]), (&json!("leave"), &json!("carol")), "{left}");
    let said = dave.say("den", "still here", "d-1").await;
    assert_eq!(said["type"], "message", "{said}");
    // The audit log is the cluster's: node B shows node A's actions.
    let (_, audit) = operator(&b, "GET", "/api/admin/audit", None).await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 2, "{audit}");
}

#[tokio::test]
async fn the_audit_log_is_kept_in_the_store_across_a_restart() {
    let db = fresh_db();
    let args = ["--admin-token", ADMIN_TOKEN];
    let server = crate::durability::Process::start_with(&db, 0, &args, None).await;
    let addr = ([127, 0, 0, 1], server.port).into();
    let mut alice = Client::connect(&server.url()).await;
    alice.set_nick("alice").await;
    let kick = json!({"nick": "alice"}).to_string();
    let (status, _) =
        call(addr, "POST", "/api/admin/kick", Some(ADMIN_TOKEN), Some(&kick), "198.51.100.1").await;
    assert_eq!(status, 200);
    server.sigkill().await;
    let server = crate::durability::Process::start_with(&db, 0, &args, None).await;
    let addr = ([127, 0, 0, 1], server.port).into();
    let (status, audit) =
        call(addr, "GET", "/api/admin/audit", Some(ADMIN_TOKEN), None, "198.51.100.1").await;
    assert_eq!(status, 200);
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!((&entries[0]["action"], &entries[0]["nick"]), (&json!("kick"), &json!("alice")));
}

#[tokio::test]
async fn the_operator_deletes_any_message_and_the_room_is_told() {
    let app = spawn_with(config()).await;
    let mut alice = app.member("alice", "den").await;
    let mut bob = app.member("bob", "den").await;
    alice.next().await; // bob's join
    let said = bob.say("den", "something to take back", "b-1").await;
    assert_eq!(alice.next().await["id"], said["id"]);
    let id = said["id"].as_u64().unwrap();
    // No, wrong and right tokens; malformed bodies; unknown messages.
    let body = json!({"room": "den", "id": id}).to_string();
    assert_eq!(call(app.addr, "POST", "/api/admin/delete", None, Some(&body), "198.51.100.1").await.0, 401);
    let wrong = Some("not-the-admin-token-at-all");
    assert_eq!(call(app.addr, "POST", "/api/admin/delete", wrong, Some(&body), "198.51.100.1").await.0, 401);
    for bad in [json!({"room": "den"}), json!({"room": "", "id": id}), json!({"room": "den", "id": "x"})] {
        assert_eq!(operator(&app, "POST", "/api/admin/delete", Some(bad.clone())).await.0, 400, "{bad}");
    }
    let unknown = json!({"room": "den", "id": id + 1000});
    assert_eq!(
        operator(&app, "POST", "/api/admin/delete", Some(unknown)).await,
        (404, json!({"error": "not_found"}))
    );
    let other_room = json!({"room": "elsewhere", "id": id});
    assert_eq!(operator(&app, "POST", "/api/admin/delete", Some(other_room)).await.0, 404);
    // Done: every member is told, the history keeps a tombstone, the audit log names it.
    assert_eq!(
        operator(&app, "POST", "/api/admin/delete", Some(json!({"room": "den", "id": id}))).await.0,
        200
    );
    for client in [&mut alice, &mut bob] {
        let deleted = client.next().await;
        assert_eq!((&deleted["type"], &deleted["id"]), (&json!("deleted"), &json!(id)), "{deleted}");
    }
    assert_eq!(
        operator(&app, "POST", "/api/admin/delete", Some(json!({"room": "den", "id": id}))).await.0,
        404,
        "gone already"
    );
    let (status, log) = operator(&app, "GET", "/api/admin/audit", None).await;
    assert_eq!(status, 200);
    assert!(log.to_string().contains("\"delete\"") && log.to_string().contains("\"bob\""), "{log}");
}
