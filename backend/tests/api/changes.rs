//! Changing a message after it was said (PROTOCOL.md): `edit`, `delete` and `react` with
//! real clients, against the durable store (SQLite) as a server runs by default: who may do
//! what, the bounds, the room's one order, what a resumed client learns, replies and their
//! quotes, and that a deleted message is gone from the database's files; then the same on
//! `--store memory`, and on two nodes of a cluster with a real `redis-server`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::{Deployment, next_of, take_nick};
use crate::helpers::*;
use crate::media::{PNG, base64, upload};

/// Alice and Bob in `room`, Bob's arrival read by Alice.
async fn pair(app: &TestApp, room: &str) -> (Client, Client) {
    let mut alice = app.member("alice", room).await;
    let bob = app.member("bob", room).await;
    let presence = alice.next().await;
    assert_eq!(presence["type"], "presence", "{presence}");
    (alice, bob)
}

fn edit(room: &str, id: &Value, text: &str) -> Value {
    json!({"type": "edit", "room": room, "id": id, "text": text})
}

fn delete(room: &str, id: &Value) -> Value {
    json!({"type": "delete", "room": room, "id": id})
}

fn react(room: &str, id: &Value, emoji: &str, on: bool) -> Value {
    json!({"type": "react", "room": room, "id": id, "emoji": emoji, "on": on})
}

/// The next frame, expected of `kind`.
async fn expect(c: &mut Client, kind: &str) -> Value {
    let v = c.next().await;
    assert_eq!(v["type"], kind, "{v}");
    v
}

#[tokio::test]
async fn only_the_sender_edits_or_deletes_and_the_room_sees_both_in_order() {
    let app = spawn_app().await;
    let (mut alice, mut bob) = pair(&app, "r").await;
    let said = alice.say("r", "helo", "a-1").await;
    let id = said["id"].clone();
    assert_eq!(bob.next().await["text"], "helo");

    // Bob may not change Alice's message; nobody else hears of his attempts.
    bob.send(edit("r", &id, "hacked")).await;
    bob.expect_error("forbidden").await;
    bob.send(delete("r", &id)).await;
    bob.expect_error("forbidden").await;
    alice.expect_quiet(Duration::from_millis(200)).await;

    alice.send(edit("r", &id, "hello  ")).await;
    for c in [&mut alice, &mut bob] {
        let edited = expect(c, "edited").await;
        assert_eq!((&edited["id"], edited["text"].as_str()), (&id, Some("hello")), "{edited}");
        assert!(edited["seq"].as_u64().unwrap() > id.as_u64().unwrap(), "{edited}");
        assert!(edited["edited"].as_u64().unwrap() >= said["ts"].as_u64().unwrap(), "{edited}");
    }
    let next = alice.say("r", "second", "a-2").await;
    let _ = bob.next().await;
    alice.send(delete("r", &id)).await;
    let mut seqs = vec![id.as_u64().unwrap()];
    for c in [&mut alice, &mut bob] {
        let deleted = expect(c, "deleted").await;
        assert_eq!(deleted, json!({"type": "deleted", "room": "r", "id": id, "seq": deleted["seq"]}));
        seqs.push(deleted["seq"].as_u64().unwrap());
    }
    assert!(seqs[1] > next["id"].as_u64().unwrap() && seqs[1] == seqs[2], "{seqs:?}");

    // Gone is gone: no edit, reaction or second deletion of it; history keeps a tombstone.
    alice.send(edit("r", &id, "back")).await;
    alice.expect_error("not_found").await;
    bob.send(react("r", &id, "👍", true)).await;
    bob.expect_error("not_found").await;
    alice.send(delete("r", &id)).await;
    alice.expect_error("not_found").await;
    let mut carl = app.client().await;
    let joined = carl.join("r").await;
    assert_eq!(
        joined["history"][0],
        json!({"room": "r", "id": id, "nick": "alice", "ts": said["ts"], "text": "", "deleted": true})
    );
    assert_eq!(joined["history"][1]["text"], "second");
    carl.send(json!({"type": "history", "room": "r", "before": next["id"]})).await;
    let page = expect(&mut carl, "history").await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1, "the tombstone keeps paging exact: {page}");
    assert_eq!(page["messages"][0]["deleted"], true);
    app.stop().await;
}

#[tokio::test]
async fn unknown_ids_other_rooms_outsiders_and_bad_texts_are_refused() {
    let app = spawn_app().await;
    let (mut alice, mut bob) = pair(&app, "r").await;
    let id = alice.say("r", "hi", "a-1").await["id"].clone();
    let _ = bob.next().await;
    let _ = alice.join("elsewhere").await;
    // A message id of another room, and one that no message has.
    alice.send(edit("elsewhere", &id, "x")).await;
    alice.expect_error("not_found").await;
    alice.send(delete("r", &json!(999))).await;
    alice.expect_error("not_found").await;
    alice.send(edit("r", &id, "   ")).await;
    alice.expect_error("invalid").await;
    alice.send(edit("r", &id, &"x".repeat(4001))).await;
    alice.expect_error("invalid").await;
    let mut eve = app.client().await;
    for frame in [edit("r", &id, "x"), delete("r", &id), react("r", &id, "👍", true)] {
        eve.send(frame).await;
        eve.expect_error("not_in_room").await;
    }
    alice.send(json!({"type": "edit", "room": "r", "id": "one", "text": "x"})).await;
    alice.expect_error("bad_request").await;
    bob.expect_quiet(Duration::from_millis(200)).await;
    app.stop().await;
}

#[tokio::test]
async fn reactions_are_any_members_one_emoji_each_within_their_bounds() {
    let app = spawn_app().await;
    let (mut alice, mut bob) = pair(&app, "r").await;
    let id = alice.say("r", "react to me", "a-1").await["id"].clone();
    let _ = bob.next().await;
    bob.send(react("r", &id, "👍🏽", true)).await;
    for c in [&mut alice, &mut bob] {
        let r = expect(c, "reacted").await;
        assert_eq!(
            (r["emoji"].as_str(), r["nick"].as_str(), r["on"].as_bool(), &r["id"]),
            (Some("👍🏽"), Some("bob"), Some(true), &id)
        );
    }
    // The same again changes nothing: no frame, no number.
    bob.send(react("r", &id, "👍🏽", true)).await;
    alice.send(react("r", &id, "🎉", false)).await;
    for bad in ["a", "👍👍", "👍 x", ":)", "1"] {
        bob.send(react("r", &id, bad, true)).await;
        bob.expect_error("invalid").await;
    }
    alice.expect_quiet(Duration::from_millis(300)).await;

    // Ten reactions of one person at most, twenty emoji on a message at most.
    let emoji: Vec<String> = [
        "😀", "😃", "😄", "😁", "😆", "😅", "🤣", "😂", "🙂", "🙃", "😉", "😊", "😇", "🥰", "😍", "🤩", "😘",
        "😗", "😚", "😙", "😋",
    ]
    .map(String::from)
    .to_vec();
    for e in &emoji[..9] {
        bob.send(react("r", &id, e, true)).await;
        expect(&mut bob, "reacted").await;
        expect(&mut alice, "reacted").await;
    }
    bob.send(react("r", &id, &emoji[9], true)).await;
    bob.expect_error("invalid").await;
    for e in &emoji[9..19] {
        alice.send(react("r", &id, e, true)).await;
        expect(&mut alice, "reacted").await;
        expect(&mut bob, "reacted").await;
    }
    // 👍🏽 and 19 others: a 21st emoji is refused (to someone with reactions to spare),
    // one already there is taken.
    let mut carl = app.member("carl", "r").await;
    carl.send(react("r", &id, &emoji[19], true)).await;
    let refused = carl.expect_error("invalid").await;
    assert!(refused["message"].as_str().unwrap().contains("20 different emoji"), "{refused}");
    carl.send(react("r", &id, "👍🏽", true)).await;
    assert_eq!(expect(&mut carl, "reacted").await["emoji"], "👍🏽");
    bob.send(react("r", &id, "👍🏽", false)).await;
    assert_eq!(expect(&mut carl, "reacted").await["on"], false);

    let mut dave = app.client().await;
    let joined = dave.join("r").await;
    let reactions = joined["history"][0]["reactions"].as_array().unwrap().clone();
    assert_eq!(reactions.len(), 20, "{reactions:?}");
    // In the order first given by those whose reactions are still there.
    assert_eq!(reactions[0], json!({"emoji": "😀", "nicks": ["bob"]}));
    assert_eq!(reactions[19], json!({"emoji": "👍🏽", "nicks": ["carl"]}));
    app.stop().await;
}

#[tokio::test]
async fn messages_and_changes_share_the_rooms_one_increasing_sequence() {
    let app = spawn_app().await;
    let (mut alice, mut bob) = pair(&app, "r").await;
    let first = alice.say("r", "one", "a-1").await["id"].clone();
    let _ = bob.next().await;
    // Sent at once, from both, without waiting: every member sees one order, numbered up.
    for i in 0..10 {
        alice
            .send(json!({"type": "say", "room": "r", "text": format!("m{i}"), "cid": format!("b-{i}")}))
            .await;
        bob.send(react("r", &first, if i % 2 == 0 { "👍" } else { "🎉" }, true)).await;
        alice.send(edit("r", &first, &format!("one, edit {i}"))).await;
    }
    let mut orders = Vec::new();
    for c in [&mut alice, &mut bob] {
        let mut seen = Vec::new();
        while seen.len() < 22 {
            let v = c.next().await;
            let n = v["seq"].as_u64().or(v["id"].as_u64()).unwrap_or_else(|| panic!("{v}"));
            seen.push((v["type"].as_str().unwrap().to_owned(), n));
        }
        let numbers: Vec<u64> = seen.iter().map(|(_, n)| *n).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        assert_eq!(seen.iter().filter(|(t, _)| t == "reacted").count(), 2, "two emoji, each once: {seen:?}");
        orders.push(seen);
    }
    assert_eq!(orders[0], orders[1]);
    app.stop().await;
}

#[tokio::test]
async fn a_resumed_client_learns_what_changed_in_what_it_had() {
    let app = spawn_app().await;
    let (mut alice, mut bob) = pair(&app, "r").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(alice.say("r", &format!("m{i}"), &format!("a-{i}")).await["id"].clone());
        let _ = bob.next().await;
    }
    let after = ids[2].as_u64().unwrap();
    bob.send(json!({"type": "leave", "room": "r"})).await;
    expect(&mut bob, "left").await;
    let _ = alice.next().await; // bob left
    alice.send(edit("r", &ids[0], "m0 fixed")).await;
    alice.send(edit("r", &ids[1], "m1 fixed")).await;
    alice.send(react("r", &ids[1], "👍", true)).await;
    alice.send(delete("r", &ids[1])).await;
    alice.send(react("r", &ids[2], "🎉", true)).await;
    for _ in 0..5 {
        let _ = alice.next().await;
    }
    let new = alice.say("r", "m3", "a-3").await;
    bob.send(json!({"type": "join", "room": "r", "after": after})).await;
    let joined = expect(&mut bob, "joined").await;
    assert_eq!(joined["history"].as_array().unwrap().len(), 1, "{joined}");
    assert_eq!(joined["history"][0]["id"], new["id"]);
    assert!(joined.get("changes_complete").is_none(), "{joined}");
    let changes: Vec<(String, u64)> = joined["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["type"].as_str().unwrap().to_owned(), c["id"].as_u64().unwrap()))
        .collect();
    // The deleted message's edit and reaction went with it: only its deletion is told.
    let id = |i: usize| ids[i].as_u64().unwrap();
    assert_eq!(
        changes,
        [("edited".to_owned(), id(0)), ("deleted".to_owned(), id(1)), ("reacted".to_owned(), id(2))]
    );
    assert_eq!(joined["changes"][0]["text"], "m0 fixed");
    let seqs: Vec<u64> =
        joined["changes"].as_array().unwrap().iter().map(|c| c["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]) && seqs[0] > after, "{seqs:?}");

    // Resumed from the newest number it saw (a change's), it learns nothing twice.
    let last = seqs[2].max(new["id"].as_u64().unwrap());
    bob.send(json!({"type": "join", "room": "r", "after": last})).await;
    let again = expect(&mut bob, "joined").await;
    assert!(again.get("changes").is_none() && again["history"] == json!([]), "{again}");
    app.stop().await;
}

#[tokio::test]
async fn more_than_500_changes_while_away_say_they_are_not_complete() {
    let app = spawn_app().await;
    let mut alice = app.member("alice", "r").await;
    let id = alice.say("r", "busy", "a-1").await["id"].clone();
    for i in 0..501 {
        alice.send(react("r", &id, "👍", i % 2 == 0)).await;
    }
    for _ in 0..501 {
        expect(&mut alice, "reacted").await;
    }
    let mut bob = app.client().await;
    bob.send(json!({"type": "join", "room": "r", "after": id})).await;
    let joined = expect(&mut bob, "joined").await;
    assert_eq!(joined["changes"].as_array().unwrap().len(), 500);
    assert_eq!(joined["changes_complete"], false);
    app.stop().await;
}

#[tokio::test]
async fn changes_survive_a_restart() {
    let config = test_config();
    let _db = hold(&config);
    let app = spawn_with(config.clone()).await;
    let mut alice = app.member("alice", "r").await;
    let ids: Vec<Value> = {
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(alice.say("r", &format!("m{i}"), &format!("a-{i}")).await["id"].clone());
        }
        ids
    };
    alice.send(edit("r", &ids[0], "m0 fixed")).await;
    alice.send(delete("r", &ids[1])).await;
    alice.send(react("r", &ids[2], "👍", true)).await;
    let mut last = 0;
    for _ in 0..3 {
        last = alice.next().await["seq"].as_u64().unwrap();
    }
    let token = alice.resume.clone();
    app.stop().await;

    let app = spawn_with(config).await;
    let mut alice = Client::connect(&format!("{}?resume={token}", app.ws_url())).await;
    let joined = alice.join("r").await;
    let history = joined["history"].as_array().unwrap();
    assert_eq!((history[0]["text"].as_str(), history[0]["edited"].is_u64()), (Some("m0 fixed"), true));
    assert_eq!((history[1]["text"].as_str(), history[1]["deleted"].as_bool()), (Some(""), Some(true)));
    assert_eq!(history[2]["reactions"], json!([{"emoji": "👍", "nicks": ["alice"]}]));
    alice.send(json!({"type": "join", "room": "r", "after": ids[2]})).await;
    let resumed = expect(&mut alice, "joined").await;
    assert_eq!(resumed["changes"].as_array().unwrap().len(), 3, "{resumed}");
    // The sequence goes on after the last change, not after the last message.
    let said = alice.say("r", "after the restart", "a-9").await;
    assert!(said["id"].as_u64().unwrap() > last, "{said} after {last}");
    // And the sender is still the sender: its token was kept.
    alice.send(edit("r", &ids[0], "m0 again")).await;
    assert_eq!(expect(&mut alice, "edited").await["text"], "m0 again");
    app.stop().await;
}

/// Whether `needle` is in any of the database's files (the database, its write-ahead log).
fn in_files(db: &std::path::Path, needle: &str) -> Vec<String> {
    let dir = db.parent().unwrap();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_file()
            && let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            found.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    found
}

#[tokio::test]
async fn a_deleted_message_is_gone_from_the_database_files_with_its_earlier_versions() {
    let config = test_config();
    let db = hold(&config);
    let app = spawn_with(config).await;
    let (mut alice, mut bob) = pair(&app, "r").await;
    let first = "first-version-7c1f2e";
    let second = "second-version-94ab03";
    let id = alice.say("r", first, "a-1").await["id"].clone();
    let _ = bob.next().await;
    alice.send(edit("r", &id, second)).await;
    expect(&mut alice, "edited").await;
    expect(&mut bob, "edited").await;
    // A reply quotes it, and a reaction names it.
    bob.send(json!({"type": "say", "room": "r", "text": "quoting", "cid": "b-1", "reply_to": id})).await;
    let reply = expect(&mut bob, "message").await;
    assert_eq!(reply["quote"], json!({"nick": "alice", "text": second}));
    bob.send(react("r", &id, "👍", true)).await;
    expect(&mut bob, "reacted").await;
    expect(&mut alice, "message").await;
    expect(&mut alice, "reacted").await;
    let kept = alice.say("r", "kept-words-55d0", "a-2").await;
    assert!(!in_files(&db, second).is_empty(), "the text was written to the files");

    alice.send(delete("r", &id)).await;
    expect(&mut bob, "message").await;
    expect(&mut bob, "deleted").await;
    // The writer checkpoints and truncates the log once the deletion is committed.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (a, b) = (in_files(&db, first), in_files(&db, second));
        if a.is_empty() && b.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still in the files: {a:?} {b:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What was not deleted is still there, and the reply shows the deletion.
    let mut carl = app.client().await;
    let joined = carl.join("r").await;
    let history = joined["history"].as_array().unwrap();
    assert_eq!(history[1]["quote"], json!({"nick": "alice", "text": "", "deleted": true}), "{joined}");
    assert_eq!(history[2]["text"], kept["text"]);
    app.stop().await;
}

#[tokio::test]
async fn a_reply_carries_its_quote_and_names_a_message_of_its_room() {
    let app = spawn_app().await;
    let (mut alice, mut bob) = pair(&app, "r").await;
    let long = "é".repeat(150);
    let id = alice.say("r", &long, "a-1").await["id"].clone();
    let _ = bob.next().await;
    bob.send(json!({"type": "say", "room": "r", "text": "yes", "cid": "b-1", "reply_to": id})).await;
    for c in [&mut alice, &mut bob] {
        let reply = expect(c, "message").await;
        assert_eq!(reply["reply_to"], id);
        assert_eq!(reply["quote"], json!({"nick": "alice", "text": "é".repeat(100)}));
    }
    // A reply to nothing (or to a message of another room) is refused with its cid.
    bob.send(json!({"type": "say", "room": "r", "text": "?", "cid": "b-2", "reply_to": 999})).await;
    let e = bob.expect_error("not_found").await;
    assert_eq!(e["cid"], "b-2");
    // The cid of a refused reply is free again.
    bob.send(json!({"type": "say", "room": "r", "text": "!", "cid": "b-2"})).await;
    assert_eq!(expect(&mut bob, "message").await["text"], "!");
    let _ = alice.next().await;
    // The quoted message is deleted later: its reply shows that, without its text.
    alice.send(delete("r", &id)).await;
    expect(&mut alice, "deleted").await;
    expect(&mut bob, "deleted").await;
    let mut carl = app.client().await;
    let joined = carl.join("r").await;
    assert_eq!(joined["history"][1]["quote"], json!({"nick": "alice", "text": "", "deleted": true}));
    expect(&mut bob, "presence").await; // Carl came.
    bob.send(json!({"type": "say", "room": "r", "text": "??", "cid": "b-3", "reply_to": id})).await;
    bob.expect_error("not_found").await;
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_messages_picture_leaves_the_media_folder_once_no_message_names_it() {
    let config = test_config();
    let media_dir = config.media_dir.clone();
    let app = spawn_with(config).await;
    let mut alice = app.member("alice", "pics").await;
    let url = upload(&app, &alice, &base64(PNG)).await["url"].as_str().unwrap().to_owned();
    let file = media_dir.join(url.trim_start_matches("/media/"));
    let mut ids = Vec::new();
    for cid in ["p-1", "p-2"] {
        alice.send(json!({"type": "say", "room": "pics", "text": "", "cid": cid, "image": url})).await;
        ids.push(expect(&mut alice, "message").await["id"].clone());
    }
    alice.send(delete("pics", &ids[0])).await;
    expect(&mut alice, "deleted").await;
    alice.send(json!({"type": "ping"})).await;
    expect(&mut alice, "pong").await;
    assert!(file.is_file(), "another message still shows it");
    alice.send(delete("pics", &ids[1])).await;
    expect(&mut alice, "deleted").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while file.exists() {
        assert!(Instant::now() < deadline, "the picture is still in the folder");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn the_memory_store_changes_messages_by_the_same_rules() {
    let app =
        spawn_with(backend::Config { store: backend::config::StoreKind::Memory, ..test_config() }).await;
    let (mut alice, mut bob) = pair(&app, "r").await;
    let ids: Vec<Value> = {
        let mut ids = Vec::new();
        for i in 0..2 {
            ids.push(alice.say("r", &format!("m{i}"), &format!("a-{i}")).await["id"].clone());
            let _ = bob.next().await;
        }
        ids
    };
    bob.send(delete("r", &ids[0])).await;
    bob.expect_error("forbidden").await;
    bob.send(json!({"type": "say", "room": "r", "text": "re", "cid": "b-1", "reply_to": ids[0]})).await;
    assert_eq!(expect(&mut bob, "message").await["quote"], json!({"nick": "alice", "text": "m0"}));
    let _ = alice.next().await;
    alice.send(edit("r", &ids[0], "m0 fixed")).await;
    bob.send(react("r", &ids[1], "🎉", true)).await;
    alice.send(delete("r", &ids[0])).await;
    let kinds = |v: Vec<Value>| v.iter().map(|f| f["type"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(bob.next().await);
    }
    assert_eq!(kinds(seen), ["edited", "reacted", "deleted"]);
    let mut carl = app.client().await;
    carl.send(json!({"type": "join", "room": "r", "after": ids[1]})).await;
    let joined = expect(&mut carl, "joined").await;
    assert_eq!(kinds(joined["changes"].as_array().unwrap().clone()), ["reacted", "deleted"], "{joined}");
    assert_eq!(joined["history"][0]["quote"], json!({"nick": "alice", "text": "", "deleted": true}));
    app.stop().await;
}

/// Frames of the kinds a change of messages concerns (`message`, `edited`, `deleted`,
/// `reacted`), as (type, number), until `n` of them came.
async fn chat_frames(c: &mut Client, n: usize) -> Vec<(String, u64)> {
    let mut got = Vec::new();
    while got.len() < n {
        let v = c.next().await;
        let kind = v["type"].as_str().unwrap().to_owned();
        if ["message", "edited", "deleted", "reacted"].contains(&kind.as_str()) {
            let number = v["seq"].as_u64().or(v["id"].as_u64()).unwrap();
            got.push((kind, number));
        }
    }
    got
}

/// Edits, reactions, replies and deletions made on either node reach every member on
/// both, once and in the room's one order; history and a resume show them everywhere.
#[tokio::test]
async fn changes_of_messages_made_on_one_node_reach_the_others_members_once_in_order() {
    let nodes = Deployment::start(2, &[]).await;
    let mut alice = Client::connect(&nodes.url(0)).await;
    take_nick(&mut alice, "alice", WAIT).await;
    alice.join("r").await;
    let mut bob = Client::connect(&nodes.url(1)).await;
    take_nick(&mut bob, "bob", WAIT).await;
    bob.join("r").await;
    next_of(&mut alice, "presence", WAIT).await;
    let m0 = alice.say("r", "first words", "a-1").await["id"].clone();
    let m1 = alice.say("r", "second words", "a-2").await["id"].clone();
    assert_eq!(chat_frames(&mut bob, 2).await.len(), 2);
    // Bob may not change Alice's message, whichever node he is on.
    bob.send(json!({"type": "edit", "room": "r", "id": m0, "text": "mine"})).await;
    bob.expect_error("forbidden").await;
    bob.send(json!({"type": "react", "room": "r", "id": m1, "emoji": "👍", "on": true})).await;
    alice.send(json!({"type": "edit", "room": "r", "id": m0, "text": "first words, fixed"})).await;
    bob.send(json!({"type": "say", "room": "r", "text": "agreed", "cid": "b-1", "reply_to": m0})).await;
    bob.send(json!({"type": "react", "room": "r", "id": m1, "emoji": "👍", "on": true})).await;
    // The reply is stored (Bob has seen it) before Alice deletes what it quotes.
    let mut b = chat_frames(&mut bob, 3).await;
    alice.send(json!({"type": "delete", "room": "r", "id": m0})).await;
    b.extend(chat_frames(&mut bob, 1).await);
    let a = chat_frames(&mut alice, 4).await;
    assert_eq!(a, b, "one order on both nodes");
    let mut kinds: Vec<&str> = a.iter().map(|(k, _)| k.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["deleted", "edited", "message", "reacted"], "{a:?}");
    assert!(a.windows(2).all(|w| w[0].1 < w[1].1), "{a:?}");
    alice.expect_quiet(Duration::from_millis(300)).await;
    bob.expect_quiet(Duration::from_millis(100)).await;

    let mut carl = Client::connect(&nodes.url(1)).await;
    let joined = carl.join("r").await;
    let history = joined["history"].as_array().unwrap();
    assert_eq!(
        history[0],
        json!({"room": "r", "id": m0, "nick": "alice", "ts": history[0]["ts"], "text": "", "deleted": true})
    );
    assert_eq!(history[1]["reactions"], json!([{"emoji": "👍", "nicks": ["bob"]}]));
    assert_eq!(history[2]["quote"], json!({"nick": "alice", "text": "", "deleted": true}), "{joined}");
    carl.send(json!({"type": "history", "room": "r", "before": history[2]["id"]})).await;
    let page = next_of(&mut carl, "history", WAIT).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 2, "the tombstone keeps paging exact: {page}");
    let mut dave = Client::connect(&nodes.url(0)).await;
    dave.send(json!({"type": "join", "room": "r", "after": m1})).await;
    let resumed = next_of(&mut dave, "joined", WAIT).await;
    let changes: Vec<&str> =
        resumed["changes"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(changes, ["reacted", "deleted"], "the deleted one's edit went with it: {resumed}");
    // A reply to a message that is not there is refused with its cid.
    bob.send(json!({"type": "say", "room": "r", "text": "?", "cid": "b-2", "reply_to": m0})).await;
    let refused = next_of(&mut bob, "error", WAIT).await;
    assert_eq!((refused["code"].as_str(), refused["cid"].as_str()), (Some("not_found"), Some("b-2")));
    // A quote holds the first 100 characters, not bytes, of what it quotes.
    alice.send(json!({"type": "say", "room": "r", "text": "é".repeat(150), "cid": "a-3"})).await;
    let long = next_of(&mut alice, "message", WAIT).await["id"].clone();
    next_of(&mut bob, "message", WAIT).await;
    bob.send(json!({"type": "say", "room": "r", "text": "so long", "cid": "b-3", "reply_to": long})).await;
    let reply = next_of(&mut bob, "message", WAIT).await;
    assert_eq!(reply["quote"], json!({"nick": "alice", "text": "é".repeat(100)}), "{reply}");
}
