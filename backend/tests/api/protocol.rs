//! Every protocol path of PROTOCOL.md, as a client sees it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::helpers::*;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn count_of(rooms: &Value, name: &str) -> Option<u64> {
    rooms.as_array()?.iter().find(|r| r["name"] == name)?["members"].as_u64()
}

#[tokio::test]
async fn welcome_gives_a_free_guest_nick_and_the_directory() {
    let app = spawn_app().await;
    let (ws, _) = tokio_tungstenite::connect_async(app.ws_url()).await.unwrap();
    let mut c = Client { ws, nick: String::new(), resume: String::new() };
    let w = c.next_any().await;
    assert_eq!(w["type"], "welcome");
    assert_eq!(w["protocol"], 1);
    let nick = w["nick"].as_str().unwrap();
    assert!(nick.starts_with("guest-") && nick[6..].chars().all(|c| c.is_ascii_digit()), "{nick}");
    assert_eq!(w["rooms"], json!([{"name": "lobby", "members": 0}]));
    let other = app.client().await;
    assert_ne!(other.nick, nick);
}

#[tokio::test]
async fn nick_is_unique_case_insensitively_and_validated() {
    let app = spawn_app().await;
    let mut alice = app.client().await;
    alice.set_nick("Alice").await;
    let mut bob = app.client().await;
    bob.send(json!({"type": "nick", "nick": "aLiCe"})).await;
    bob.expect_error("nick_taken").await;
    for bad in ["", "   ", &"x".repeat(33), "tab\there"] {
        bob.send(json!({"type": "nick", "nick": bad})).await;
        bob.expect_error("invalid").await;
    }
    // Surrounding spaces are trimmed, and the connection is still fine after refusals.
    bob.send(json!({"type": "nick", "nick": "  bob  "})).await;
    assert_eq!(bob.next().await, json!({"type": "you", "nick": "bob"}));
    // Changing only the case of your own nick is allowed.
    alice.set_nick("alice").await;
}

#[tokio::test]
async fn join_answers_members_and_history_and_tells_the_others() {
    let app = spawn_app().await;
    let mut alice = app.member("alice", "lobby").await;
    let mut bob = app.client().await;
    bob.set_nick("bob").await;
    let joined = bob.join("lobby").await;
    assert_eq!(
        joined,
        json!({"type": "joined", "room": "lobby", "members": ["alice", "bob"], "history": [], "complete": true})
    );
    assert_eq!(
        alice.next().await,
        json!({"type": "presence", "room": "lobby", "event": "join", "nick": "bob"})
    );
    // Everyone, in the room or not, gets the directory with the new count.
    let mut carol = app.client().await;
    carol.rooms_until(|r| count_of(r, "lobby") == Some(2)).await;
    alice.rooms_until(|r| count_of(r, "lobby") == Some(2)).await;
}

#[tokio::test]
async fn say_reaches_every_member_with_increasing_ids_and_the_cid() {
    let app = spawn_app().await;
    let mut alice = app.member("alice", "lobby").await;
    let mut bob = app.member("bob", "lobby").await;
    let mut outsider = app.member("carol", "elsewhere").await;
    alice.next().await; // bob's presence
    let before = now_ms();
    let echo = alice.say("lobby", "hi", "a-1").await;
    assert_eq!(echo["id"], 1);
    assert_eq!(
        (echo["nick"].as_str(), echo["text"].as_str(), echo["cid"].as_str()),
        (Some("alice"), Some("hi"), Some("a-1"))
    );
    let ts = echo["ts"].as_u64().unwrap();
    assert!(ts >= before.saturating_sub(1000) && ts <= now_ms() + 1000, "ts {ts} is the server clock in ms");
    assert_eq!(bob.next().await, echo, "the same message to every member");
    let second = bob.say("lobby", "hello  \n", "b-1").await;
    assert_eq!((second["id"].as_u64(), second["text"].as_str()), (Some(2), Some("hello")));
    assert_eq!(alice.next().await, second);
    outsider.expect_quiet(Duration::from_millis(200)).await;
    // Ids are per room.
    assert_eq!(outsider.say("elsewhere", "x", "c-1").await["id"], 1);
}

#[tokio::test]
async fn a_retried_say_is_not_stored_twice_and_goes_back_to_the_sender_alone() {
    let app = spawn_app().await;
    let mut alice = app.member("alice", "r").await;
    let mut bob = app.member("bob", "r").await;
    alice.next().await;
    let first = alice.say("r", "once", "same").await;
    assert_eq!(bob.next().await, first);
    let again = alice.say("r", "once", "same").await;
    assert_eq!(again, first, "the stored message, same id");
    bob.expect_quiet(Duration::from_millis(300)).await;
    let history = bob.join("r").await; // joining again answers the current state
    assert_eq!(history["history"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn join_sends_the_last_50_and_after_resumes_exactly() {
    let app = spawn_app().await;
    let mut alice = app.member("alice", "r").await;
    for i in 1..=60 {
        alice.say("r", &format!("m{i}"), &format!("c{i}")).await;
    }
    let mut bob = app.client().await;
    let joined = bob.join("r").await;
    let ids: Vec<u64> =
        joined["history"].as_array().unwrap().iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (11..=60).collect::<Vec<_>>(), "the newest 50, oldest first");
    assert_eq!(joined["complete"], false);

    let mut carol = app.client().await;
    carol.send(json!({"type": "join", "room": "r", "after": 55})).await;
    let resumed = carol.next().await;
    let ids: Vec<u64> =
        resumed["history"].as_array().unwrap().iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [56, 57, 58, 59, 60]);
    assert_eq!(resumed["complete"], true);
    assert_eq!(resumed["history"][0]["text"], "m56");
}

#[tokio::test]
async fn history_pages_backwards() {
    let app = spawn_app().await;
    let mut alice = app.member("alice", "r").await;
    for i in 1..=30 {
        alice.say("r", &format!("m{i}"), &format!("c{i}")).await;
    }
    alice.send(json!({"type": "history", "room": "r", "before": 21, "limit": 10})).await;
    let page = alice.next().await;
    assert_eq!(page["type"], "history");
    let ids: Vec<u64> =
        page["messages"].as_array().unwrap().iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (11..=20).collect::<Vec<_>>());
    assert_eq!(page["complete"], false);
    alice.send(json!({"type": "history", "room": "r", "before": 11})).await;
    let first = alice.next().await;
    assert_eq!(first["messages"].as_array().unwrap().len(), 10);
    assert_eq!(first["complete"], true, "reached the start of the room");
}

#[tokio::test]
async fn leave_answers_left_tells_the_others_and_updates_the_directory() {
    let app = spawn_app().await;
    let mut alice = app.member("alice", "rust").await;
    let mut bob = app.member("bob", "rust").await;
    alice.next().await;
    alice.rooms_until(|r| count_of(r, "rust") == Some(2)).await;
    bob.send(json!({"type": "leave", "room": "rust"})).await;
    assert_eq!(bob.next().await, json!({"type": "left", "room": "rust"}));
    assert_eq!(
        alice.next().await,
        json!({"type": "presence", "room": "rust", "event": "leave", "nick": "bob"})
    );
    alice.rooms_until(|r| count_of(r, "rust") == Some(1)).await;
    // Out of the room now: say, typing and leave are refused.
    bob.send(json!({"type": "say", "room": "rust", "text": "hi", "cid": "x1"})).await;
    assert_eq!(bob.expect_error("not_in_room").await["cid"], "x1");
    bob.send(json!({"type": "typing", "room": "rust"})).await;
    bob.expect_error("not_in_room").await;
    bob.send(json!({"type": "leave", "room": "rust"})).await;
    bob.expect_error("not_in_room").await;
    // The last member leaves: the room disappears from the directory, the lobby stays.
    alice.send(json!({"type": "leave", "room": "rust"})).await;
    alice.next().await;
    let rooms = bob.rooms_until(|r| count_of(r, "rust").is_none()).await;
    assert_eq!(rooms["rooms"], json!([{"name": "lobby", "members": 0}]));
}

#[tokio::test]
async fn a_closed_socket_leaves_every_room_and_frees_its_nick() {
    let app = spawn_app().await;
    let mut alice = app.member("alice", "a").await;
    alice.join("b").await;
    let mut bob = app.member("bob", "a").await;
    bob.join("b").await;
    alice.next().await;
    alice.next().await;
    drop(bob);
    let mut rooms = Vec::new();
    for _ in 0..2 {
        let p = alice.next().await;
        assert_eq!(
            (p["type"].as_str(), p["event"].as_str(), p["nick"].as_str()),
            (Some("presence"), Some("leave"), Some("bob"))
        );
        rooms.push(p["room"].as_str().unwrap().to_owned());
    }
    rooms.sort();
    assert_eq!(rooms, ["a", "b"]);
    let mut again = app.client().await;
    again.set_nick("bob").await;
}

#[tokio::test]
async fn rename_is_told_to_every_room_of_its_owner() {
    let app = spawn_app().await;
    let mut alice = app.member("alice", "a").await;
    let mut bob = app.member("bob", "a").await;
    alice.next().await; // bob joined a
    bob.join("b").await;
    alice.join("b").await;
    bob.next().await; // alice joined b
    bob.set_nick("bobby").await;
    for _ in 0..2 {
        let p = alice.next().await;
        assert_eq!(
            (p["event"].as_str(), p["nick"].as_str(), p["old_nick"].as_str()),
            (Some("rename"), Some("bobby"), Some("bob"))
        );
    }
    // The renamer is a member of its rooms too: its own log can say "you are now bobby".
    for _ in 0..2 {
        assert_eq!(bob.next().await["event"], "rename");
    }
    let m = bob.say("a", "hi", "c").await;
    assert_eq!(m["nick"], "bobby");
}

#[tokio::test]
async fn typing_goes_to_the_others_only() {
    let app = spawn_app().await;
    let mut alice = app.member("alice", "r").await;
    let mut bob = app.member("bob", "r").await;
    alice.next().await;
    bob.send(json!({"type": "typing", "room": "r"})).await;
    assert_eq!(alice.next().await, json!({"type": "typing", "room": "r", "nick": "bob"}));
    bob.expect_quiet(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn names_out_of_bounds_are_invalid_with_the_cid() {
    let app = spawn_app().await;
    let mut c = app.member("alice", "r").await;
    for bad in ["", &"r".repeat(65), "a\u{1}b"] {
        c.send(json!({"type": "join", "room": bad})).await;
        c.expect_error("invalid").await;
    }
    c.send(json!({"type": "say", "room": "r", "text": "   ", "cid": "k1"})).await;
    assert_eq!(c.expect_error("invalid").await["cid"], "k1");
    c.send(json!({"type": "say", "room": "r", "text": "x".repeat(4001), "cid": "k2"})).await;
    assert_eq!(c.expect_error("invalid").await["cid"], "k2");
    c.send(json!({"type": "say", "room": "r", "text": "ok", "cid": ""})).await;
    c.expect_error("invalid").await;
    // 4000 characters is fine.
    assert_eq!(c.say("r", &"é".repeat(4000), "k3").await["id"], 1);
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let app = spawn_app().await;
    let mut c = app.client().await;
    c.send(json!({"type": "ping"})).await;
    assert_eq!(c.next().await, json!({"type": "pong"}));
}
