//! Nicks and room names people can trust: normalised, nothing hidden or reordered in
//! them, no nick that looks like another one online (on one node or across a cluster),
//! and no new room that looks like one with members.

use backend::redis_server::RedisServer;
use serde_json::json;

use crate::durability::Process;
use crate::helpers::*;

/// Names that hide or rearrange what others see, or show nothing: each is `invalid`.
const HIDDEN: [&str; 12] = [
    "ali\u{202E}ecila",    // right-to-left override: shows "alicealice" backwards
    "a\u{2067}bc\u{2069}", // right-to-left isolate
    "al\u{200B}ice",       // zero-width space
    "al\u{200D}ice",       // zero-width joiner outside an emoji
    "al\u{200F}ice",       // right-to-left mark
    "al\u{2060}ice",       // word joiner
    "al\u{2064}ice",       // invisible plus
    "al\u{FEFF}ice",       // zero-width no-break space
    "al\u{AD}ice",         // soft hyphen
    "\u{3164}",            // Hangul filler
    "\u{2800}",            // Braille blank
    "\u{301}\u{301}",      // combining marks on nothing
];

/// Plain names in other scripts, and emoji (with their joiners and selectors).
const PLAIN: [&str; 8] =
    ["김민준", "さくら", "山田", "محمد", "Ζωή", "😀", "❤\u{FE0F}", "👨\u{200D}👩\u{200D}👧"];

#[tokio::test]
async fn hidden_and_direction_changing_names_are_invalid() {
    let app = spawn_app().await;
    let mut c = app.client().await;
    for bad in HIDDEN {
        c.send(json!({"type": "nick", "nick": bad})).await;
        let e = c.expect_error("invalid").await;
        assert!(e["message"].as_str().unwrap().starts_with("a nickname must"), "{bad:?}: {e}");
        c.send(json!({"type": "join", "room": bad})).await;
        let e = c.expect_error("invalid").await;
        assert!(e["message"].as_str().unwrap().starts_with("a room name must"), "{bad:?}: {e}");
    }
    // Nothing was taken or created meanwhile.
    c.set_nick("still-me").await;
    assert_eq!(c.join("lobby").await["members"], json!(["still-me"]));
}

#[tokio::test]
async fn names_in_any_script_and_emoji_are_taken() {
    let app = spawn_app().await;
    for name in PLAIN {
        let mut c = app.client().await;
        c.set_nick(name).await;
        let joined = c.join(name).await;
        assert_eq!((joined["room"].as_str(), &joined["members"]), (Some(name), &json!([name])));
        assert_eq!(c.say(name, "안녕 \u{202E}text is kept as written", "c1").await["nick"], name);
    }
}

#[tokio::test]
async fn look_alike_nicks_cannot_coexist() {
    let app = spawn_app().await;
    let mut alice = app.client().await;
    alice.set_nick("alice").await;
    let mut other = app.client().await;
    // Case, a fullwidth letter, a Cyrillic a, all fullwidth: each is "alice" to the eye.
    for look_alike in ["ALICE", "\u{FF21}lice", "\u{430}lice", "\u{FF41}\u{FF4C}\u{FF49}\u{FF43}\u{FF45}"] {
        other.send(json!({"type": "nick", "nick": look_alike})).await;
        other.expect_error("nick_taken").await;
    }
    // Decomposed accents are the same nick as composed ones, told back composed.
    other.set_nick("Ren\u{E9}e").await;
    let mut third = app.client().await;
    third.send(json!({"type": "nick", "nick": "Rene\u{301}e"})).await;
    third.expect_error("nick_taken").await;
    // A nick that only shares letters is someone else.
    third.set_nick("alicia").await;
    // Once alice goes, a look-alike may take her place.
    drop(alice);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        third.send(json!({"type": "nick", "nick": "\u{430}lice"})).await;
        let v = third.next().await;
        if v["type"] == "you" {
            assert_eq!(v["nick"], "\u{430}lice");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "alice's nick never freed: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_decomposed_room_name_is_the_composed_room() {
    let app = spawn_app().await;
    let mut a = app.member("ann", "Caf\u{E9}").await;
    let mut b = app.client().await;
    b.set_nick("bob").await;
    let joined = b.join("Cafe\u{301}").await;
    assert_eq!(joined["room"], "Caf\u{E9}");
    assert_eq!(joined["members"], json!(["ann", "bob"]));
    // Said to the decomposed name, it reaches the room's members under the composed one.
    let echo = b.say("Cafe\u{301}", "hi", "c1").await;
    assert_eq!(echo["room"], "Caf\u{E9}");
    loop {
        let v = a.next().await;
        if v["type"] == "message" {
            assert_eq!((v["room"].as_str(), v["text"].as_str()), (Some("Caf\u{E9}"), Some("hi")));
            break;
        }
    }
    // Room names stay case-sensitive.
    assert_eq!(b.join("caf\u{E9}").await["members"], json!(["bob"]));
}

#[tokio::test]
async fn a_new_room_that_looks_like_a_room_with_members_is_refused() {
    let app = spawn_app().await;
    let _ann = app.member("ann", "general").await;
    let mut bob = app.client().await;
    bob.set_nick("bob").await;
    for look_alike in ["gen\u{435}ral", "genera\u{217C}", "g\u{435}n\u{435}ral"] {
        bob.send(json!({"type": "join", "room": look_alike})).await;
        let e = bob.expect_error("invalid").await;
        assert!(
            e["message"].as_str().unwrap().contains("looks like the room general"),
            "{look_alike:?}: {e}"
        );
    }
    // Case makes another room, by contract; and other names are free.
    assert_eq!(bob.join("General").await["members"], json!(["bob"]));
    assert_eq!(bob.join("generals").await["members"], json!(["bob"]));
    // A room stored before its look-alike had members stays joinable: it is not new.
    let mut cat = app.client().await;
    cat.set_nick("cat").await;
    cat.join("n\u{435}ws").await;
    cat.say("n\u{435}ws", "first", "c1").await;
    cat.send(json!({"type": "leave", "room": "n\u{435}ws"})).await;
    assert_eq!(cat.next().await["type"], "left");
    let _dan = app.member("dan", "news").await;
    assert_eq!(cat.join("n\u{435}ws").await["history"][0]["text"], "first");
}

#[tokio::test]
async fn look_alike_nicks_cannot_coexist_across_a_cluster() {
    let db = fresh_db();
    let redis = RedisServer::start(&db.dir().join("redis")).expect("a redis-server for the test");
    let url = redis.url();
    let one = Process::start_with(&db, 0, &["--redis", &url], None).await;
    let two = Process::start_with(&db, 0, &["--redis", &url], None).await;
    let mut a = Client::connect(&one.url()).await;
    a.set_nick("alice").await;
    let mut b = Client::connect(&two.url()).await;
    // The other node learns of alice through Redis; until then, its own check cannot see
    // her, and the cluster's script (keyed by the look-alike key) refuses.
    for look_alike in ["\u{430}lice", "\u{FF21}lice"] {
        b.send(json!({"type": "nick", "nick": look_alike})).await;
        b.expect_error("nick_taken").await;
    }
    b.set_nick("bob").await;
}
