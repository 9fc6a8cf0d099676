//! Protocol version 2 as a client that offers `chat.v2` sees it, and version 1 clients in
//! the same scenarios, unchanged.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use backend::Config;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Rooms above this many members count presence in these tests.
const THRESHOLD: usize = 3;

async fn spawn_small_threshold() -> TestApp {
    spawn_with(Config { presence_threshold: THRESHOLD, ..test_config() }).await
}

impl TestApp {
    async fn v2(&self) -> Client {
        let (client, answered) = Client::connect_offering(&self.ws_url(), "chat.v2").await;
        assert_eq!(answered.as_deref(), Some("chat.v2"));
        client
    }

    /// A version 2 client with `nick` that has joined `room`; returns it and its `joined`.
    async fn v2_member(&self, nick: &str, room: &str) -> (Client, Value) {
        let mut c = self.v2().await;
        c.set_nick(nick).await;
        let joined = c.join(room).await;
        (c, joined)
    }

    /// A version 2 client and its `welcome`, whole.
    async fn v2_welcome(&self) -> (Client, Value) {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = self.ws_url().into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "chat.v2".parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut client = Client { ws, nick: String::new(), resume: String::new() };
        let welcome = client.next_any().await;
        assert_eq!(welcome["type"], "welcome");
        (client, welcome)
    }

    /// The response head of a raw WebSocket handshake offering `offer`, if any.
    async fn handshake_head(&self, offer: Option<&str>) -> String {
        let mut s = TcpStream::connect(self.addr).await.unwrap();
        let mut req = format!(
            "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
            self.addr
        );
        if let Some(offer) = offer {
            req.push_str(&format!("Sec-WebSocket-Protocol: {offer}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 1024];
        while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tokio::time::timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap();
            assert!(n > 0, "the server closed during the handshake");
            raw.extend_from_slice(&buf[..n]);
        }
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        String::from_utf8(raw[..end].to_vec()).unwrap().to_lowercase()
    }
}

/// Applies a directory frame (`rooms`, `rooms_delta`, `rooms_page`) to a client's copy of it.
pub fn apply_directory(dir: &mut BTreeMap<String, u64>, frame: &Value) {
    match frame["type"].as_str() {
        Some("rooms_page") => {
            for r in frame["rooms"].as_array().unwrap() {
                dir.insert(r["name"].as_str().unwrap().to_owned(), r["members"].as_u64().unwrap());
            }
        }
        Some("rooms") | Some("welcome") => {
            dir.clear();
            for r in frame["rooms"].as_array().unwrap() {
                dir.insert(r["name"].as_str().unwrap().to_owned(), r["members"].as_u64().unwrap());
            }
        }
        Some("rooms_delta") => {
            for r in frame["changed"].as_array().unwrap() {
                dir.insert(r["name"].as_str().unwrap().to_owned(), r["members"].as_u64().unwrap());
            }
            for name in frame["removed"].as_array().unwrap() {
                dir.remove(name.as_str().unwrap());
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn chat_v2_is_answered_only_when_offered() {
    let app = spawn_app().await;
    // Offered alone, and among others: answered with chat.v2, and welcome says 2.
    for offer in ["chat.v2", "mqtt, chat.v2", "chat.v3,chat.v2 , x"] {
        let head = app.handshake_head(Some(offer)).await;
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("\r\nsec-websocket-protocol: chat.v2"), "{offer}: {head}");
    }
    let (mut c, answered) = Client::connect_offering(&app.ws_url(), "other, chat.v2").await;
    assert_eq!(answered.as_deref(), Some("chat.v2"));
    c.send(json!({"type": "ping"})).await;
    assert_eq!(c.next().await, json!({"type": "pong"}));
    let (_c, welcome) = app.v2_welcome().await;
    assert_eq!((welcome["type"].as_str(), welcome["protocol"].as_u64()), (Some("welcome"), Some(2)));
    // Not offered, or only other protocols: no subprotocol header, and version 1.
    for offer in [None, Some("chat.v1"), Some("CHAT.V2")] {
        let head = app.handshake_head(offer).await;
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(!head.contains("sec-websocket-protocol"), "{offer:?}: {head}");
    }
    let (ws, response) = tokio_tungstenite::connect_async(app.ws_url()).await.unwrap();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    let mut v1 = Client { ws, nick: String::new(), resume: String::new() };
    assert_eq!(v1.next_any().await["protocol"], 1);
}

#[tokio::test]
async fn joined_has_the_first_page_and_the_total_and_members_pages_through_the_rest() {
    let app = spawn_app().await;
    // 64 members, more than a page (50), with nicks whose case would upset a plain sort.
    let mut nicks: Vec<String> =
        (0..64).map(|i| if i % 2 == 0 { format!("User{i:02}") } else { format!("user{i:02}") }).collect();
    let mut clients = Vec::new();
    for nick in &nicks {
        let (c, _) = app.v2_member(nick, "big").await;
        clients.push(c);
    }
    let (mut last, joined) = app.v2_member("zed", "big").await;
    nicks.push("zed".into());
    nicks.sort_by_key(|n| n.to_lowercase());
    assert_eq!(joined["total"], 65, "{joined}");
    let first: Vec<String> = serde_json::from_value(joined["members"].clone()).unwrap();
    assert_eq!(first, nicks[..50], "the first page, case-insensitively sorted");
    // Every member exactly once across pages of 7, from where the first page ended.
    let mut seen = first.clone();
    let mut after = first.last().cloned();
    loop {
        last.send(json!({"type": "members", "room": "big", "after": after, "limit": 7})).await;
        let page = last.next().await;
        assert_eq!((page["type"].as_str(), page["room"].as_str()), (Some("members"), Some("big")), "{page}");
        assert_eq!(page["total"], 65);
        let members: Vec<String> = serde_json::from_value(page["members"].clone()).unwrap();
        assert!(members.len() <= 7);
        seen.extend(members.iter().cloned());
        after = members.last().cloned();
        if page["complete"] == true {
            break;
        }
        assert_eq!(members.len(), 7, "a page short of its limit must be the last");
    }
    assert_eq!(seen, nicks, "all members, each once, in order");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 65);
    // From the start without `after`; the default page is 50.
    last.send(json!({"type": "members", "room": "big"})).await;
    let page = last.next().await;
    assert_eq!(page["members"].as_array().unwrap().len(), 50);
    assert_eq!(page["complete"], false);
    // Only for members of the room.
    last.send(json!({"type": "members", "room": "elsewhere"})).await;
    last.expect_error("not_in_room").await;
    last.send(json!({"type": "members", "room": "big", "after": ""})).await;
    last.expect_error("invalid").await;
}

#[tokio::test]
async fn presence_is_one_by_one_up_to_the_threshold_and_counted_above_it() {
    let app = spawn_small_threshold().await;
    let (mut watcher, _) = app.v2_member("watcher", "r").await;
    let mut old = app.member("oldie", "r").await; // version 1
    assert_eq!(watcher.next().await["nick"], "oldie");
    // The third member: the room is at the threshold, so still one by one.
    let (mut third, _) = app.v2_member("third", "r").await;
    assert_eq!(
        watcher.next().await,
        json!({"type": "presence", "room": "r", "event": "join", "nick": "third"})
    );
    assert_eq!(old.next().await["nick"], "third");
    third.set_nick("third2").await;
    assert_eq!(watcher.next().await["event"], "rename");
    assert_eq!(old.next().await["event"], "rename");
    // Above it: five more join, two leave, one renames; the version 2 members get counts.
    let mut extra = Vec::new();
    for i in 0..5 {
        extra.push(app.v2_member(&format!("extra{i}"), "r").await.0);
    }
    extra.pop().unwrap().send(json!({"type": "leave", "room": "r"})).await;
    drop(extra.pop());
    // (Its own `you` may follow counts it was sent, so it is not awaited here.)
    extra[0].send(json!({"type": "nick", "nick": "renamed"})).await;
    let mut counted = (0, 0, 0);
    let mut total = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    while counted != (5, 2, 1) {
        assert!(tokio::time::Instant::now() < deadline, "counted only {counted:?}");
        let f = watcher.next().await;
        assert_eq!(f["type"], "presence_count", "no one-by-one presence above the threshold: {f}");
        assert_eq!(f["room"], "r");
        counted.0 += f["joined"].as_u64().unwrap();
        counted.1 += f["left"].as_u64().unwrap();
        counted.2 += f["renamed"].as_u64().unwrap();
        total = f["total"].as_u64().unwrap();
    }
    assert_eq!(total, 6, "3 + 5 - 2");
    // The version 1 member got every event, one by one, as version 1 always did.
    let mut events = Vec::new();
    while events.len() < 8 {
        let f = old.next().await;
        assert_eq!(f["type"], "presence", "{f}");
        events.push(f["event"].as_str().unwrap().to_owned());
    }
    assert_eq!(events.iter().filter(|e| *e == "join").count(), 5);
    assert_eq!(events.iter().filter(|e| *e == "leave").count(), 2);
    assert_eq!(events.iter().filter(|e| *e == "rename").count(), 1);
    // Counts are coalesced: nothing more comes, and at most one count a second.
    watcher.expect_quiet(Duration::from_millis(1200)).await;
}

#[tokio::test]
async fn a_version_1_client_in_a_big_room_still_speaks_version_1() {
    let app = spawn_small_threshold().await;
    let mut v2s = Vec::new();
    for i in 0..5 {
        v2s.push(app.v2_member(&format!("n{i}"), "big").await.0);
    }
    let mut old = app.client().await;
    old.set_nick("oldie").await;
    let joined = old.join("big").await;
    // Every member, no total: version 1's joined exactly (with the room's owner, an
    // addition to version 1).
    assert_eq!(
        joined,
        json!({"type": "joined", "room": "big", "members": ["n0", "n1", "n2", "n3", "n4", "oldie"],
               "history": [], "complete": true, "roles": [{"nick": "n0", "role": "owner"}]})
    );
    old.send(json!({"type": "members", "room": "big"})).await;
    old.expect_error("bad_request").await;
    // Messages reach both versions alike.
    let echo = old.say("big", "hello", "c-1").await;
    let got = loop {
        let f = v2s[0].next().await;
        if f["type"] != "presence" && f["type"] != "presence_count" {
            break f;
        }
    };
    assert_eq!(got, echo);
    // Its directory is full lists, never deltas.
    v2s.pop();
    let rooms = old.rooms_until(|r| r.as_array().unwrap().iter().any(|r| r["members"] == 5)).await;
    assert_eq!(rooms["rooms"][0]["name"], "lobby");
}

#[tokio::test]
async fn directory_deltas_under_churn_add_up_to_the_full_list() {
    let app = spawn_app().await;
    let (mut watcher, welcome) = app.v2_welcome().await;
    let mut dir = BTreeMap::new();
    apply_directory(&mut dir, &welcome);
    let mut old = app.client().await;
    // Churn: 30 clients join and leave 10 rooms, some disconnect while in rooms.
    let mut churners = Vec::new();
    for i in 0..30 {
        let mut c = if i % 3 == 0 { app.client().await } else { app.v2().await };
        for k in 0..3 {
            c.send(json!({"type": "join", "room": format!("room{}", (i + k) % 10)})).await;
        }
        if i % 2 == 0 {
            c.send(json!({"type": "leave", "room": format!("room{}", i % 10)})).await;
        }
        churners.push(c);
    }
    // Every room is made: the watcher asks for the list, and from then on holds them all
    // (a version 2 client is told of the rooms it was sent only).
    for c in &mut churners {
        c.send(json!({"type": "ping"})).await;
        while c.next().await["type"] != "pong" {}
    }
    watcher.send(json!({"type": "rooms"})).await;
    loop {
        let f = watcher.next_any().await;
        apply_directory(&mut dir, &f);
        if f["type"] == "rooms_page" {
            assert!(f.get("next").is_none(), "one page holds them all: {f}");
            break;
        }
    }
    let mut i = 0;
    churners.retain(|_| {
        i += 1;
        i % 4 != 1
    });
    // Read what the watcher gets until the directory is quiet.
    let mut pushes = 0;
    while let Ok(f) = tokio::time::timeout(Duration::from_millis(800), watcher.next_any()).await {
        assert_ne!(f["type"], "rooms", "a version 2 client gets deltas, not full lists");
        if f["type"] == "rooms_delta" {
            pushes += 1;
            apply_directory(&mut dir, &f);
        }
    }
    assert!(pushes >= 1, "no delta came");
    let (_fresh, welcome) = app.v2_welcome().await;
    let mut full = BTreeMap::new();
    apply_directory(&mut full, &welcome);
    assert_eq!(dir, full, "the deltas applied to the first list give the fresh list");
    assert!(full.len() > 1, "the churn left rooms: {full:?}");
    // A version 1 client's last full list agrees too.
    let mut v1_dir = BTreeMap::new();
    while let Ok(f) = tokio::time::timeout(Duration::from_millis(300), old.next_any()).await {
        apply_directory(&mut v1_dir, &f);
    }
    assert_eq!(v1_dir, full);
}

#[tokio::test]
async fn a_join_in_a_big_room_costs_the_same_whatever_its_size() {
    let app = spawn_small_threshold().await;
    let (mut watcher, _) = app.v2_member("watcher", "r").await;
    let mut members = Vec::new();
    for i in 0..40 {
        members.push(app.v2_member(&format!("m{i:02}"), "r").await.0);
    }
    // The 42nd joiner's joined: the members (42 fit in the first page) and the total.
    let (_late, joined) = app.v2_member("late", "r").await;
    assert_eq!(joined["total"], 42);
    // Members above the threshold got counts, not 38 presence frames each: drain the
    // watcher and count what it received.
    let mut frames = 0;
    let mut joined_total = 0;
    while joined_total < 41 {
        let f = watcher.next().await;
        frames += 1;
        if f["type"] == "presence_count" {
            joined_total += f["joined"].as_u64().unwrap();
        } else {
            assert_eq!(f["type"], "presence", "{f}");
            joined_total += 1;
        }
    }
    assert!(frames < 10, "{frames} frames for 41 joins");
}

#[tokio::test]
async fn a_big_room_growing_is_in_the_directory_at_most_once_a_second() {
    let app = spawn_small_threshold().await;
    let (mut watcher, welcome) = app.v2_welcome().await;
    let mut dir = BTreeMap::new();
    apply_directory(&mut dir, &welcome);
    // Its own room: a version 2 client is told of the rooms it holds.
    watcher.send(json!({"type": "join", "room": "big"})).await;
    // 40 joins over 2 s: the room is big after the fourth, and its count changes 20 times
    // a second, where the directory's pace is ten pushes a second.
    let storm = async {
        let mut members = Vec::new();
        for i in 0..40 {
            members.push(app.v2_member(&format!("m{i:02}"), "big").await.0);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        members
    };
    let watch = async {
        let mut shown = Vec::new();
        let end = tokio::time::Instant::now() + Duration::from_secs(4);
        while let Ok(f) = tokio::time::timeout_at(end, watcher.next_any()).await {
            if f["type"] == "rooms_delta" {
                apply_directory(&mut dir, &f);
                let big = f["changed"].as_array().unwrap().iter().find(|r| r["name"] == "big");
                shown.extend(big.map(|r| (r["members"].as_u64().unwrap(), tokio::time::Instant::now())));
            }
        }
        shown
    };
    let (_members, shown) = tokio::join!(storm, watch);
    let counts: Vec<u64> = shown.iter().map(|(n, _)| *n).collect();
    // Once big, its count is shown at most once a second (ten a second would be about 20
    // showings in 2 s of joins). Judged by the gaps between showings, not their number: on
    // a loaded machine the joins take longer than 2 s. A push delayed on its way may
    // arrive a little closer to the next one than the server sent them.
    let big: Vec<_> = shown.iter().filter(|(n, _)| *n > 4).collect();
    for pair in big.windows(2) {
        let gap = pair[1].1 - pair[0].1;
        assert!(gap >= Duration::from_millis(600), "shown {gap:?} apart: {counts:?}");
    }
    assert!(big.len() >= 2, "the growing room's count is shown as it grows: {counts:?}");
    assert_eq!(dir["big"], 41, "the last count shown is the true one: {counts:?}");
}

/// Reads `c`'s frames for `d` and returns the nicks of the `typing` frames among them.
async fn typers_within(c: &mut Client, d: Duration) -> Vec<String> {
    let mut nicks = Vec::new();
    let end = tokio::time::Instant::now() + d;
    while let Ok(f) = tokio::time::timeout_at(end, c.next()).await {
        if f["type"] == "typing" {
            nicks.push(f["nick"].as_str().unwrap().to_owned());
        }
    }
    nicks
}

#[tokio::test]
async fn typing_in_a_big_room_reaches_version_2_members_once_per_typer_every_3_s_for_3_typers_a_second() {
    let app = spawn_small_threshold().await;
    // A small room first: every keystroke reaches everyone, as in version 1.
    let (mut watcher, _) = app.v2_member("watcher", "r").await;
    let (mut typer, _) = app.v2_member("typer", "r").await;
    watcher.next().await; // typer's join
    for _ in 0..3 {
        typer.send(json!({"type": "typing", "room": "r"})).await;
    }
    assert_eq!(typers_within(&mut watcher, Duration::from_millis(300)).await, ["typer"; 3]);
    // Four more make it big (6 > 3), one of them version 1.
    let mut old = app.member("oldie", "r").await;
    let mut others = Vec::new();
    for i in 0..4 {
        others.push(app.v2_member(&format!("t{i}"), "r").await.0);
    }
    // Presence counts and joins settle.
    typers_within(&mut watcher, Duration::from_millis(1200)).await;
    typers_within(&mut old, Duration::from_millis(10)).await;
    // Ten keystrokes of one typer: version 2 members get one, version 1 members ten.
    for _ in 0..10 {
        typer.send(json!({"type": "typing", "room": "r"})).await;
    }
    assert_eq!(typers_within(&mut watcher, Duration::from_millis(500)).await, ["typer"]);
    assert_eq!(typers_within(&mut old, Duration::from_millis(100)).await, ["typer"; 10]);
    // Wait out the second; then four typers at once: three are relayed that second.
    tokio::time::sleep(Duration::from_millis(600)).await;
    for other in &mut others {
        other.send(json!({"type": "typing", "room": "r"})).await;
    }
    let seen = typers_within(&mut watcher, Duration::from_millis(500)).await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(typers_within(&mut old, Duration::from_millis(100)).await.len(), 4);
    // Once its 3 s are over, the first typer is relayed again.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    typer.send(json!({"type": "typing", "room": "r"})).await;
    assert_eq!(typers_within(&mut watcher, Duration::from_millis(300)).await, ["typer"]);
}
