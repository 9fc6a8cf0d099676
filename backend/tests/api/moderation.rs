//! Owners and moderators: a room's creator owns it (`joined.roles`), names moderators
//! (`role` to every member), and owner and moderators kick and ban (`kicked` with `by`,
//! a `leave` for the others, `forbidden` on the way back in); anyone else is `forbidden`,
//! and nobody acts on their own rank or above. Ownership holds across a restart (the real
//! binary, its SQLite file) and across two nodes of a cluster.

use backend::Config;
use backend::redis_server::RedisServer;
use serde_json::{Value, json};

use crate::durability::Process;
use crate::helpers::*;

fn roles(joined: &Value) -> Value {
    joined.get("roles").cloned().unwrap_or(json!([]))
}

async fn named(url: &str, nick: &str) -> Client {
    let mut c = Client::connect(url).await;
    c.set_nick(nick).await;
    c
}

/// The next frame of that type (presence and the like before it are passed over).
async fn next_of(client: &mut Client, kind: &str) -> Value {
    loop {
        let got = client.next().await;
        if got["type"] == kind {
            return got;
        }
    }
}

#[tokio::test]
async fn the_creator_owns_the_room_names_moderators_and_they_kick_and_ban() {
    let app = spawn_app().await;
    let url = app.ws_url();
    let mut ann = named(&url, "ann").await;
    let joined = ann.join("den").await;
    assert_eq!(roles(&joined), json!([{"nick": "ann", "role": "owner"}]));
    let mut bob = named(&url, "bob").await;
    assert_eq!(roles(&bob.join("den").await), json!([{"nick": "ann", "role": "owner"}]));
    let mut carl = named(&url, "carl").await;
    carl.join("den").await;
    ann.next().await; // bob's join
    ann.next().await; // carl's
    bob.next().await; // carl's
    // A member is neither: forbidden.
    bob.send(json!({"type": "kick", "room": "den", "nick": "carl"})).await;
    bob.expect_error("forbidden").await;
    bob.send(json!({"type": "mod", "room": "den", "nick": "bob", "on": true})).await;
    bob.expect_error("forbidden").await;
    // The owner names bob: every member is told.
    ann.send(json!({"type": "mod", "room": "den", "nick": "bob", "on": true})).await;
    let role = json!({"type": "role", "room": "den", "nick": "bob", "role": "moderator"});
    assert_eq!(ann.next().await, role);
    assert_eq!(bob.next().await, role);
    assert_eq!(carl.next().await, role);
    // A moderator takes a member out, but never the owner.
    bob.send(json!({"type": "kick", "room": "den", "nick": "ann"})).await;
    bob.expect_error("forbidden").await;
    bob.send(json!({"type": "kick", "room": "den", "nick": "nobody"})).await;
    bob.expect_error("not_found").await;
    bob.send(json!({"type": "kick", "room": "den", "nick": "carl"})).await;
    assert_eq!(carl.next().await, json!({"type": "kicked", "room": "den", "by": "bob"}));
    let left = ann.next().await;
    assert_eq!(
        (&left["type"], &left["event"], &left["nick"]),
        (&json!("presence"), &json!("leave"), &json!("carl"))
    );
    // A kick is no ban; a ban is, until it ends.
    let joined = carl.join("den").await;
    assert_eq!(
        roles(&joined),
        json!([{"nick": "ann", "role": "owner"}, {"nick": "bob", "role": "moderator"}])
    );
    ann.next().await;
    bob.next().await; // carl is back
    ann.send(json!({"type": "ban", "room": "den", "nick": "carl", "minutes": 10})).await;
    let kicked = banned_for(carl.next().await, 10);
    assert_eq!(kicked, json!({"type": "kicked", "room": "den", "by": "ann"}));
    carl.send(json!({"type": "join", "room": "den"})).await;
    carl.expect_error("forbidden").await;
    // The owner removes the moderator, who can no longer act.
    ann.send(json!({"type": "mod", "room": "den", "nick": "bob", "on": false})).await;
    let role = json!({"type": "role", "room": "den", "nick": "bob", "role": "member"});
    assert_eq!(next_of(&mut bob, "role").await, role);
    bob.send(json!({"type": "kick", "room": "den", "nick": "ann"})).await;
    bob.expect_error("forbidden").await;
}

#[tokio::test]
async fn the_lobby_has_no_owner() {
    let app = spawn_app().await;
    let mut ann = app.member("ann", "lobby").await;
    let _bob = app.member("bob", "lobby").await;
    ann.next().await;
    ann.send(json!({"type": "kick", "room": "lobby", "nick": "bob"})).await;
    ann.expect_error("forbidden").await;
}

#[tokio::test]
async fn ownership_and_moderators_survive_a_restart() {
    let db = fresh_db();
    let server = Process::start(&db, 0).await;
    let mut ann = named(&server.url(), "ann").await;
    ann.join("den").await;
    ann.say("den", "kept", "a1").await;
    let mut bob = named(&server.url(), "bob").await;
    bob.join("den").await;
    ann.next().await;
    ann.send(json!({"type": "mod", "room": "den", "nick": "bob", "on": true})).await;
    assert_eq!(ann.next().await["type"], "role");
    // Answered once the moderator is stored: a client's requests are handled in order.
    ann.send(json!({"type": "ping"})).await;
    assert_eq!(next_of(&mut ann, "pong").await["type"], "pong");
    let (ann_token, bob_token) = (ann.resume.clone(), bob.resume.clone());
    server.sigkill().await;

    let server = Process::start(&db, 0).await;
    // Someone else comes first: the room exists (it has a message), so it is not theirs.
    let mut carl = named(&server.url(), "carl").await;
    assert_eq!(roles(&carl.join("den").await), json!([]));
    // The restart forgot their nicks; their resume tokens hold their roles.
    let mut ann = Client::connect(&format!("{}?resume={ann_token}", server.url())).await;
    ann.set_nick("ann").await;
    assert_eq!(roles(&ann.join("den").await), json!([{"nick": "ann", "role": "owner"}]));
    let mut bob = Client::connect(&format!("{}?resume={bob_token}", server.url())).await;
    bob.set_nick("bob").await;
    let joined = bob.join("den").await;
    assert_eq!(
        roles(&joined),
        json!([{"nick": "ann", "role": "owner"}, {"nick": "bob", "role": "moderator"}])
    );
    carl.next().await;
    carl.next().await; // ann's and bob's joins
    bob.send(json!({"type": "kick", "room": "den", "nick": "carl"})).await;
    assert_eq!(carl.next().await, json!({"type": "kicked", "room": "den", "by": "bob"}));
}

#[tokio::test]
async fn owners_and_moderators_act_across_the_cluster() {
    let db = fresh_db();
    let redis = RedisServer::start(&db.dir().join("redis")).expect("a redis-server for the test");
    let node = || Config { redis: Some(redis.url()), ..test_config() };
    let (a, b) = (spawn_with(node()).await, spawn_with(node()).await);
    let mut ann = named(&a.ws_url(), "ann").await;
    assert_eq!(roles(&ann.join("den").await), json!([{"nick": "ann", "role": "owner"}]));
    let mut bob = named(&b.ws_url(), "bob").await;
    // A message makes the room exist for every node at once (through the store), whether
    // or not node B has heard of ann's join yet: two first joins on two nodes within the
    // moment that takes to cross would both create it (see docs/protocol.md).
    ann.say("den", "mine", "a1").await;
    assert_eq!(roles(&bob.join("den").await), json!([{"nick": "ann", "role": "owner"}]));
    let mut carl = named(&a.ws_url(), "carl").await;
    carl.join("den").await;
    // The owner on node A names bob, on node B.
    ann.send(json!({"type": "mod", "room": "den", "nick": "bob", "on": true})).await;
    let role = json!({"type": "role", "room": "den", "nick": "bob", "role": "moderator"});
    assert_eq!(next_of(&mut bob, "role").await, role);
    // Bob, on node B, takes carl (node A) out.
    bob.send(json!({"type": "kick", "room": "den", "nick": "carl"})).await;
    assert_eq!(next_of(&mut carl, "kicked").await, json!({"type": "kicked", "room": "den", "by": "bob"}));
}

/// A ban's `kicked` tells when it ends: `minutes` from now, in ms since the epoch. Returns
/// the frame without `until`, for the rest to be compared.
pub fn banned_for(mut kicked: Value, minutes: u64) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let until = kicked["until"].as_u64().unwrap_or_else(|| panic!("a ban's end in {kicked}"));
    let end = now + minutes * 60_000;
    assert!(until > end - 30_000 && until <= end + 1_000, "{until} is not {minutes} min from {now}");
    kicked.as_object_mut().unwrap().remove("until");
    kicked
}

/// Says `text` in `room` and returns its echo (the own message with that `cid`), passing
/// over whatever else arrives first.
async fn said(client: &mut Client, room: &str, text: &str, cid: &str) -> Value {
    client.send(json!({"type": "say", "room": room, "text": text, "cid": cid})).await;
    loop {
        let got = next_of(client, "message").await;
        if got["cid"] == cid {
            return got;
        }
    }
}

#[tokio::test]
async fn the_owner_and_moderators_delete_any_message_of_their_room_and_members_only_their_own() {
    let app = spawn_app().await;
    let url = app.ws_url();
    let mut ann = named(&url, "ann").await;
    ann.join("den").await;
    let mut bob = named(&url, "bob").await;
    bob.join("den").await;
    let mut carl = named(&url, "carl").await;
    carl.join("den").await;
    let first = said(&mut carl, "den", "spam one", "c-1").await;
    let second = said(&mut carl, "den", "spam two", "c-2").await;
    let bobs = said(&mut bob, "den", "hello", "b-1").await;
    // A member who is neither owner nor moderator may not delete another's message.
    carl.send(json!({"type": "delete", "room": "den", "id": bobs["id"]})).await;
    assert_eq!(next_of(&mut carl, "error").await["code"], "forbidden");
    // The owner may.
    ann.send(json!({"type": "delete", "room": "den", "id": first["id"]})).await;
    let deleted = next_of(&mut carl, "deleted").await;
    assert_eq!(deleted["id"], first["id"], "{deleted}");
    assert_eq!(next_of(&mut bob, "deleted").await["id"], first["id"]);
    // A moderator may too, once named, and not before.
    bob.send(json!({"type": "delete", "room": "den", "id": second["id"]})).await;
    assert_eq!(next_of(&mut bob, "error").await["code"], "forbidden");
    ann.send(json!({"type": "mod", "room": "den", "nick": "bob", "on": true})).await;
    next_of(&mut bob, "role").await;
    bob.send(json!({"type": "delete", "room": "den", "id": second["id"]})).await;
    assert_eq!(next_of(&mut carl, "deleted").await["id"], second["id"]);
    // Being moderator of one room gives nothing in another.
    let mut dana = named(&url, "dana").await;
    dana.join("elsewhere").await;
    bob.send(json!({"type": "join", "room": "elsewhere"})).await;
    next_of(&mut bob, "joined").await;
    let danas = said(&mut dana, "elsewhere", "mine", "d-1").await;
    bob.send(json!({"type": "delete", "room": "elsewhere", "id": danas["id"]})).await;
    assert_eq!(next_of(&mut bob, "error").await["code"], "forbidden");
}

/// Connects with `token` (a restarted server's client coming back) under `nick`.
async fn resumed(url: &str, token: &str, nick: &str) -> Client {
    let mut c = Client::connect(&format!("{url}?resume={token}")).await;
    c.set_nick(nick).await;
    c
}

#[tokio::test]
async fn an_empty_room_made_again_after_a_restart_is_its_first_joiners_alone() {
    let db = fresh_db();
    let server = Process::start(&db, 0).await;
    let mut ann = named(&server.url(), "ann").await;
    ann.join("den").await;
    let mut bob = named(&server.url(), "bob").await;
    bob.join("den").await;
    ann.next().await;
    ann.send(json!({"type": "mod", "room": "den", "nick": "bob", "on": true})).await;
    assert_eq!(ann.next().await["type"], "role");
    ann.send(json!({"type": "ping"})).await;
    assert_eq!(next_of(&mut ann, "pong").await["type"], "pong");
    let (ann_token, bob_token) = (ann.resume.clone(), bob.resume.clone());
    server.sigkill().await;

    // The room had neither messages nor settings: the restart forgot it, and its owner
    // coming back first makes it anew, as its owner alone (bob's rank went with it).
    let server = Process::start(&db, 0).await;
    let mut ann = resumed(&server.url(), &ann_token, "ann").await;
    assert_eq!(roles(&ann.join("den").await), json!([{"nick": "ann", "role": "owner"}]));
    ann.say("den", "kept", "a1").await;
    let mut bob = resumed(&server.url(), &bob_token, "bob").await;
    assert_eq!(roles(&bob.join("den").await), json!([{"nick": "ann", "role": "owner"}]));
    server.sigkill().await;

    // Now it has a message: it exists after a restart, with the roles stored for it.
    let server = Process::start(&db, 0).await;
    let mut bob = resumed(&server.url(), &bob_token, "bob").await;
    assert_eq!(roles(&bob.join("den").await), json!([]));
    let mut ann = resumed(&server.url(), &ann_token, "ann").await;
    assert_eq!(roles(&ann.join("den").await), json!([{"nick": "ann", "role": "owner"}]));
    assert_eq!(bob.next().await["event"], "join");
    bob.send(json!({"type": "kick", "room": "den", "nick": "ann"})).await;
    bob.expect_error("forbidden").await;
}

#[tokio::test]
async fn rooms_made_again_in_a_reconnect_storm_keep_their_owners() {
    const ROOMS: usize = 20;
    let db = fresh_db();
    let server = Process::start(&db, 0).await;
    let mut tokens = Vec::new();
    for i in 0..ROOMS {
        let mut owner = named(&server.url(), &format!("own{i}")).await;
        assert_eq!(
            roles(&owner.join(&format!("room{i}")).await),
            json!([{"nick": format!("own{i}"), "role": "owner"}])
        );
        tokens.push(owner.resume.clone());
    }
    server.sigkill().await;

    // Every owner comes back at once into its empty room, made again by its join.
    let server = Process::start(&db, 0).await;
    let url = server.url();
    let backs = tokens.iter().enumerate().map(|(i, token)| {
        let url = url.clone();
        async move {
            let mut owner = resumed(&url, token, &format!("own{i}")).await;
            let joined = owner.join(&format!("room{i}")).await;
            assert_eq!(roles(&joined), json!([{"nick": format!("own{i}"), "role": "owner"}]), "room{i}");
            owner.say(&format!("room{i}"), "back", "b1").await;
        }
    });
    futures_util::future::join_all(backs).await;
    server.sigkill().await;

    // Stored: someone else coming first finds each room owned, and its owner owns it.
    let server = Process::start(&db, 0).await;
    for (i, token) in tokens.iter().enumerate() {
        let mut other = named(&server.url(), &format!("other{i}")).await;
        assert_eq!(roles(&other.join(&format!("room{i}")).await), json!([]), "room{i}");
        let mut owner = resumed(&server.url(), token, &format!("own{i}")).await;
        let joined = owner.join(&format!("room{i}")).await;
        assert_eq!(roles(&joined), json!([{"nick": format!("own{i}"), "role": "owner"}]), "room{i}");
    }
}

#[tokio::test]
async fn someone_else_first_into_an_empty_room_after_a_restart_owns_it() {
    let db = fresh_db();
    let server = Process::start(&db, 0).await;
    let mut ann = named(&server.url(), "ann").await;
    ann.join("den").await;
    let ann_token = ann.resume.clone();
    server.sigkill().await;

    let server = Process::start(&db, 0).await;
    let mut carl = named(&server.url(), "carl").await;
    assert_eq!(roles(&carl.join("den").await), json!([{"nick": "carl", "role": "owner"}]));
    carl.say("den", "mine now", "c1").await;
    let carl_token = carl.resume.clone();
    server.sigkill().await;

    let server = Process::start(&db, 0).await;
    let mut ann = resumed(&server.url(), &ann_token, "ann").await;
    assert_eq!(roles(&ann.join("den").await), json!([]));
    let mut carl = resumed(&server.url(), &carl_token, "carl").await;
    assert_eq!(roles(&carl.join("den").await), json!([{"nick": "carl", "role": "owner"}]));
}
