//! Private rooms as a client sees them: `join.password` and `join.max`, `forbidden` and
//! `room_full`, `history` closed to non-members, the private flag in the directory of both
//! versions, wrong passwords limited, a resumed session let back in, and the settings kept
//! by the real binary across a restart without the password in clear on disk.

use serde_json::{Value, json};

use crate::durability::Process;
use crate::helpers::*;

impl Client {
    /// Sends a `join` with extra fields and returns the answer (`joined` or `error`).
    async fn join_with(&mut self, room: &str, extra: Value) -> Value {
        let mut join = json!({"type": "join", "room": room});
        join.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        self.send(join).await;
        self.next().await
    }

    /// Creates (or enters) `room` with `password`, expecting `joined`.
    async fn join_private(&mut self, room: &str, password: &str) -> Value {
        let joined = self.join_with(room, json!({"password": password})).await;
        assert_eq!(joined["type"], "joined", "{joined}");
        joined
    }
}

fn code(v: &Value) -> (&str, &str) {
    (v["type"].as_str().unwrap_or_default(), v["code"].as_str().unwrap_or_default())
}

#[tokio::test]
async fn a_private_room_admits_its_password_only() {
    let app = spawn_app().await;
    let mut alice = app.client().await;
    alice.set_nick("alice").await;
    let joined = alice.join_private("den", "s3cret pass").await;
    assert_eq!(joined["members"], json!(["alice"]), "the creator is in");
    let mut bob = app.client().await;
    bob.set_nick("bob").await;
    let missing = bob.join_with("den", json!({})).await;
    assert_eq!(code(&missing), ("error", "forbidden"), "{missing}");
    let wrong = bob.join_with("den", json!({"password": "s3cret"})).await;
    assert_eq!(code(&wrong), ("error", "forbidden"), "{wrong}");
    let case = bob.join_with("den", json!({"password": "S3cret pass"})).await;
    assert_eq!(code(&case), ("error", "forbidden"), "passwords are case-sensitive: {case}");
    // Refused joins were not seen by the room; the right password is.
    let joined = bob.join_private("den", "s3cret pass").await;
    assert_eq!(joined["members"], json!(["alice", "bob"]));
    let seen = alice.next().await;
    assert_eq!((seen["event"].as_str(), seen["nick"].as_str()), (Some("join"), Some("bob")), "{seen}");
    // A member talks as in any room.
    let echo = bob.say("den", "psst", "b1").await;
    assert_eq!(alice.next().await, echo);
    // A member joining again (a resume of its history) needs no password.
    bob.send(json!({"type": "join", "room": "den", "after": 0})).await;
    let again = bob.next().await;
    assert_eq!(
        (again["type"].as_str(), again["history"][0]["text"].as_str()),
        (Some("joined"), Some("psst"))
    );
}

#[tokio::test]
async fn a_full_room_answers_room_full_until_someone_leaves() {
    let app = spawn_app().await;
    let mut alice = app.client().await;
    let joined = alice.join_with("pair", json!({"max": 2})).await;
    assert_eq!(joined["type"], "joined", "a limit alone makes a public room with a limit: {joined}");
    let mut bob = app.client().await;
    bob.join("pair").await;
    alice.next().await;
    let mut carol = app.client().await;
    let full = carol.join_with("pair", json!({})).await;
    assert_eq!(code(&full), ("error", "room_full"), "{full}");
    assert!(full["message"].as_str().unwrap().contains('2'), "says the limit: {full}");
    // A `max` for a room that exists changes nothing.
    let full = carol.join_with("pair", json!({"max": 1000})).await;
    assert_eq!(code(&full), ("error", "room_full"), "{full}");
    bob.send(json!({"type": "leave", "room": "pair"})).await;
    assert_eq!(bob.next().await["type"], "left");
    carol.join("pair").await;

    // A private room with a limit: the right password does not get past a full room.
    let mut a = app.client().await;
    a.join_with("duo", json!({"password": "pw", "max": 2})).await;
    let mut b = app.client().await;
    b.join_private("duo", "pw").await;
    let mut c = app.client().await;
    let full = c.join_with("duo", json!({"password": "pw"})).await;
    assert_eq!(code(&full), ("error", "room_full"), "{full}");
}

#[tokio::test]
async fn a_password_for_an_existing_public_room_or_the_lobby_is_invalid() {
    let app = spawn_app().await;
    let mut alice = app.member("alice", "pub").await;
    let mut bob = app.client().await;
    let refused = bob.join_with("pub", json!({"password": "mine now"})).await;
    assert_eq!(code(&refused), ("error", "invalid"), "a room with a member: {refused}");
    // A room with history and no member is no less existing.
    alice.say("pub", "hello", "a1").await;
    alice.send(json!({"type": "leave", "room": "pub"})).await;
    assert_eq!(alice.next().await["type"], "left");
    let refused = bob.join_with("pub", json!({"password": "mine now"})).await;
    assert_eq!(code(&refused), ("error", "invalid"), "a room with history: {refused}");
    // It stayed public: anyone joins it without a password and reads it.
    let joined = bob.join("pub").await;
    assert_eq!(joined["history"][0]["text"], "hello");
    for extra in [json!({"password": "x"}), json!({"max": 5})] {
        let refused = bob.join_with("lobby", extra).await;
        assert_eq!(code(&refused), ("error", "invalid"), "the lobby stays open: {refused}");
    }
}

#[tokio::test]
async fn bounds_out_of_range_are_invalid_and_create_nothing() {
    let app = spawn_app().await;
    let mut c = app.client().await;
    let long = "p".repeat(129);
    for extra in [
        json!({"password": ""}),
        json!({"password": long}),
        json!({"max": 0}),
        json!({"max": 1}),
        json!({"max": 1001}),
        json!({"password": "ok", "max": 1}),
    ] {
        let refused = c.join_with("r", extra.clone()).await;
        assert_eq!(code(&refused), ("error", "invalid"), "{extra}: {refused}");
    }
    for extra in [json!({"max": -1}), json!({"max": "2"}), json!({"password": 7})] {
        let refused = c.join_with("r", extra.clone()).await;
        assert_eq!(code(&refused), ("error", "bad_request"), "{extra}: {refused}");
    }
    // 128 characters (not bytes) is a valid password.
    let joined = c.join_with("r2", json!({"password": "é".repeat(128), "max": 1000})).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    // Nothing was made of the refused joins: "r" is an ordinary room.
    let mut other = app.client().await;
    other.join("r").await;
}

#[tokio::test]
async fn a_private_rooms_history_is_for_its_members() {
    let app = spawn_app().await;
    let mut alice = app.client().await;
    alice.join_private("den", "pw").await;
    alice.say("den", "secret plans", "a1").await;
    let mut bob = app.client().await;
    bob.send(json!({"type": "history", "room": "den", "before": 100})).await;
    assert_eq!(code(&bob.next().await), ("error", "forbidden"));
    alice.send(json!({"type": "history", "room": "den", "before": 100})).await;
    let page = alice.next().await;
    assert_eq!(page["messages"][0]["text"], "secret plans", "{page}");
    // Once everyone left, the store still knows the room is private.
    alice.send(json!({"type": "leave", "room": "den"})).await;
    assert_eq!(alice.next().await["type"], "left");
    bob.send(json!({"type": "history", "room": "den", "before": 100})).await;
    assert_eq!(code(&bob.next().await), ("error", "forbidden"));
    let missing = bob.join_with("den", json!({})).await;
    assert_eq!(code(&missing), ("error", "forbidden"), "still private with nobody in it: {missing}");
    let joined = bob.join_private("den", "pw").await;
    assert_eq!(joined["history"][0]["text"], "secret plans");
    bob.send(json!({"type": "history", "room": "den", "before": 100})).await;
    assert_eq!(bob.next().await["type"], "history");
}

#[tokio::test]
async fn wrong_passwords_are_rate_limited_per_connection() {
    let app = spawn_app().await;
    let mut alice = app.client().await;
    alice.join_private("vault", "the right one").await;
    let mut mallory = app.client().await;
    for i in 0..5 {
        let wrong = mallory.join_with("vault", json!({"password": format!("guess {i}")})).await;
        assert_eq!(code(&wrong), ("error", "forbidden"), "guess {i}: {wrong}");
    }
    // The sixth try within the minute is refused before any check, even the right one.
    for password in ["guess 5", "the right one"] {
        let limited = mallory.join_with("vault", json!({"password": password})).await;
        assert_eq!(code(&limited), ("error", "rate_limited"), "{limited}");
    }
    // Other connections are not held back by it.
    let mut bob = app.client().await;
    bob.join_private("vault", "the right one").await;
}

#[tokio::test]
async fn the_directory_marks_private_rooms_in_both_versions() {
    let app = spawn_app().await;
    let mut v1 = app.client().await;
    let (mut v2, _) = Client::connect_offering(&app.ws_url(), "chat.v2").await;
    let mut alice = app.client().await;
    alice.join_private("den", "pw").await;
    let mut bob = app.client().await;
    bob.join("open").await;
    let rooms = v1
        .rooms_until(|r| {
            r.as_array().unwrap().iter().filter(|e| e["name"] == "den" || e["name"] == "open").count() == 2
        })
        .await;
    let entry = |rooms: &Value, name: &str| {
        rooms.as_array().unwrap().iter().find(|e| e["name"] == name).cloned().unwrap_or(Value::Null)
    };
    assert_eq!(entry(&rooms["rooms"], "den"), json!({"name": "den", "members": 1, "private": true}));
    assert_eq!(entry(&rooms["rooms"], "open"), json!({"name": "open", "members": 1}), "public: no field");
    // Version 2: the delta, then a new connection's welcome.
    let mut seen = Value::Null;
    while seen.is_null() {
        let v = v2.next_any().await;
        if v["type"] == "rooms_delta" {
            seen = entry(&v["changed"], "den");
        }
    }
    assert_eq!(seen, json!({"name": "den", "members": 1, "private": true}));
    let (_c, welcome) = {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = app.ws_url().into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "chat.v2".parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut client = Client { ws, nick: String::new(), resume: String::new() };
        let welcome = client.next_any().await;
        (client, welcome)
    };
    assert_eq!(welcome["protocol"], 2);
    assert_eq!(entry(&welcome["rooms"], "den")["private"], true, "{welcome}");
    assert_eq!(entry(&welcome["rooms"], "open").get("private"), None, "{welcome}");
}

#[tokio::test]
async fn a_resumed_session_rejoins_without_the_password() {
    let app = spawn_app().await;
    let mut alice = app.client().await;
    alice.join_private("den", "pw").await;
    let mut bob = app.client().await;
    bob.set_nick("bob").await;
    bob.join_private("den", "pw").await;
    alice.next().await;
    // Bob's socket drops; the app reconnects with its token and rejoins its rooms.
    let token = bob.resume.clone();
    drop(bob);
    let left = alice.next().await;
    assert_eq!(left["event"], "leave", "{left}");
    let mut again = Client::connect(&format!("{}?resume={token}", app.ws_url())).await;
    let joined = again.join_with("den", json!({"after": 0})).await;
    assert_eq!(joined["type"], "joined", "admitted before, admitted again: {joined}");
    // Taking over a socket that is still open carries the admission too.
    let mut third = Client::connect(&format!("{}?resume={token}", app.ws_url())).await;
    let joined = third.join_with("den", json!({})).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    // Someone else, without the token, still needs the password.
    let mut eve = app.client().await;
    assert_eq!(code(&eve.join_with("den", json!({})).await), ("error", "forbidden"));
}

#[tokio::test]
async fn settings_survive_a_restart_and_the_password_is_never_stored_in_clear() {
    let db = fresh_db();
    let password = "correct horse battery staple";
    let server = Process::start(&db, 0).await;
    let mut alice = Client::connect(&server.url()).await;
    alice.join_with("den", json!({"password": password, "max": 2})).await;
    alice.say("den", "kept", "a1").await;
    server.sigkill().await;

    // Every file of the database (the WAL too) holds a hash, never the password.
    let dir = db.dir();
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("chat.db") {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    let has = |needle: &[u8]| all.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"$argon2id$"), "the hash is stored");
    assert!(!has(password.as_bytes()), "the password is not");
    assert!(!has(b"correct horse"), "nor a part of it");

    let server = Process::start(&db, 0).await;
    let mut bob = Client::connect(&server.url()).await;
    assert_eq!(code(&bob.join_with("den", json!({})).await), ("error", "forbidden"));
    assert_eq!(code(&bob.join_with("den", json!({"password": "wrong"})).await), ("error", "forbidden"));
    let joined = bob.join_private("den", password).await;
    assert_eq!(joined["history"][0]["text"], "kept");
    let mut carol = Client::connect(&server.url()).await;
    carol.join_private("den", password).await;
    let mut dave = Client::connect(&server.url()).await;
    let full = dave.join_with("den", json!({"password": password})).await;
    assert_eq!(code(&full), ("error", "room_full"), "the limit survived too: {full}");
    drop(server);
}

#[tokio::test]
async fn a_cluster_shares_a_private_rooms_settings_through_redis() {
    use backend::redis_server::RedisServer;
    let db = fresh_db();
    let redis = RedisServer::start(&db.dir().join("redis")).expect("a redis-server for the test");
    let url = redis.url();
    let a = Process::start_with(&db, 0, &["--redis", &url], None).await;
    let b = Process::start_with(&db.with_file_name("b.db"), 0, &["--redis", &url], None).await;
    let mut watcher = Client::connect(&b.url()).await;
    let mut alice = Client::connect(&a.url()).await;
    alice.join_with("den", json!({"password": "shared", "max": 2})).await;
    // The other node's directory lists the room with its lock (its settings read there).
    let listed = loop {
        let v = watcher.next_any().await;
        if v["type"] == "rooms"
            && let Some(den) = v["rooms"].as_array().unwrap().iter().find(|r| r["name"] == "den")
        {
            break den.clone();
        }
    };
    assert_eq!((listed["members"].as_u64(), &listed["private"]), (Some(1), &json!(true)), "{listed}");
    // On the other node, the room has no member of its own: its settings come from Redis.
    let mut bob = Client::connect(&b.url()).await;
    assert_eq!(code(&bob.join_with("den", json!({})).await), ("error", "forbidden"));
    let other = bob.join_with("den", json!({"password": "mine"})).await;
    assert_eq!(code(&other), ("error", "forbidden"), "not created a second time: {other}");
    bob.send(json!({"type": "history", "room": "den", "before": 10})).await;
    assert_eq!(code(&bob.next().await), ("error", "forbidden"));
    let joined = bob.join_private("den", "shared").await;
    assert_eq!(joined["members"].as_array().unwrap().len(), 2, "the cluster's members: {joined}");
    // Presence is the cluster's: alice hears bob come.
    let came = alice.next().await;
    assert_eq!((&came["type"], &came["event"]), (&json!("presence"), &json!("join")), "{came}");
    assert_eq!(came["nick"], bob.nick.as_str());
    let echo = alice.say("den", "hello across nodes", "a1").await;
    let got = loop {
        let v = bob.next().await;
        if v["type"] == "message" {
            break v;
        }
    };
    assert_eq!(got["text"], echo["text"]);
    // `max` is the cluster's: alice here and bob there make 2, so a third on either node
    // is refused.
    for node in [&a, &b] {
        let mut carol = Client::connect(&node.url()).await;
        let full = carol.join_with("den", json!({"password": "shared"})).await;
        assert_eq!(code(&full), ("error", "room_full"), "{full}");
    }
}
