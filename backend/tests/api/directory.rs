//! Version 2's room directory at any size, as clients see it: a short `welcome`, pages in
//! a stable order, a search by name, deltas only for the rooms a client holds, and no
//! deltas at all for a client that hides its list; version 1's full list unchanged; the
//! same through a cluster of two nodes.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use backend::Config;
use backend::config::StoreKind;
use serde_json::{Value, json};

use crate::cluster::{nodes, redis};
use crate::helpers::*;
use crate::v2::apply_directory;

async fn spawn_memory() -> TestApp {
    spawn_with(Config { store: StoreKind::Memory, ..test_config() }).await
}

async fn v2_at(url: &str) -> (Client, Value) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "chat.v2".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut client = Client { ws, nick: String::new(), resume: String::new() };
    let welcome = client.next_any().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["protocol"], 2);
    (client, welcome)
}

/// Version 2 clients at `url` that join the rooms `names` (spread over a few of them,
/// pipelined by batches); they stay connected, so the rooms stay.
async fn make_rooms(url: &str, names: &[String]) -> Vec<Client> {
    let mut makers = Vec::new();
    for chunk in names.chunks(names.len().div_ceil(8).max(1)) {
        let (mut c, _) = v2_at(url).await;
        for batch in chunk.chunks(200) {
            for name in batch {
                c.send(json!({"type": "join", "room": name})).await;
            }
            let mut answered = 0;
            while answered < batch.len() {
                let f = c.next().await;
                match f["type"].as_str() {
                    Some("joined") => answered += 1,
                    Some("presence" | "presence_count") => {}
                    _ => panic!("unexpected {f}"),
                }
            }
        }
        makers.push(c);
    }
    makers
}

fn names(v: &Value) -> Vec<String> {
    v["rooms"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect()
}

/// The next frame of type `ty`, skipping directory deltas and other frames.
async fn next_of(c: &mut Client, ty: &str) -> Value {
    loop {
        let f = c.next_any().await;
        if f["type"] == ty {
            return f;
        }
    }
}

/// Every frame for `d`.
async fn frames_for(c: &mut Client, d: Duration) -> Vec<Value> {
    let end = tokio::time::Instant::now() + d;
    let mut got = Vec::new();
    while let Ok(f) = tokio::time::timeout_at(end, c.next_any()).await {
        got.push(f);
    }
    got
}

/// The names a client was told of in the `rooms_delta`s among `frames`.
fn delta_names(frames: &[Value]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for f in frames.iter().filter(|f| f["type"] == "rooms_delta") {
        for r in f["changed"].as_array().unwrap() {
            seen.insert(r["name"].as_str().unwrap().to_owned());
        }
        for n in f["removed"].as_array().unwrap() {
            seen.insert(n.as_str().unwrap().to_owned());
        }
    }
    seen
}

#[tokio::test]
async fn a_version_2_welcome_is_as_small_with_10_rooms_as_with_10000() {
    let mut sizes = Vec::new();
    for n in [10, 10_000] {
        let app = spawn_memory().await;
        let rooms: Vec<String> = (0..n).map(|i| format!("room-{i:05}")).collect();
        let _makers = make_rooms(&app.ws_url(), &rooms).await;
        // The busiest come from the directory's last push (at most 100 ms old).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_c, welcome) = v2_at(&app.ws_url()).await;
        assert_eq!(welcome["rooms_total"], n + 1, "every room and the lobby are counted");
        assert_eq!(names(&welcome)[0], "lobby");
        assert_eq!(welcome["rooms"].as_array().unwrap().len(), 11, "the lobby and ten rooms");
        sizes.push(welcome.to_string().len());
    }
    let (small, big) = (sizes[0] as f64, sizes[1] as f64);
    assert!(big <= 8192.0, "{big} bytes with 10,000 rooms");
    assert!(big / small <= 1.2 && small / big <= 1.2, "{sizes:?}");
}

#[tokio::test]
async fn pages_cover_every_room_once_in_name_order_whatever_the_case() {
    let app = spawn_memory().await;
    let rooms: Vec<String> =
        (0..230).map(|i| if i % 3 == 0 { format!("Room-{i:03}") } else { format!("room-{i:03}") }).collect();
    let _makers = make_rooms(&app.ws_url(), &rooms).await;
    let (mut c, _) = v2_at(&app.ws_url()).await;
    let mut got: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut ask = json!({"type": "rooms"});
        if let Some(a) = &after {
            ask["after"] = json!(a);
        }
        c.send(ask).await;
        let page = next_of(&mut c, "rooms_page").await;
        assert_eq!(page["total"], 231, "{page}");
        pages += 1;
        got.extend(names(&page));
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(names(&page).len(), 50, "a full page before the last");
                after = Some(next.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(pages, 5);
    let mut want: Vec<String> = rooms.clone();
    want.push("lobby".into());
    want.sort_by_key(|n| (n.to_lowercase(), n.clone()));
    assert_eq!(got, want, "every room once, in name order without regard to case");
    // A limit is bounded: 0 is served as 1, a huge one as 200.
    c.send(json!({"type": "rooms", "limit": 0})).await;
    assert_eq!(names(&next_of(&mut c, "rooms_page").await).len(), 1);
    c.send(json!({"type": "rooms", "limit": 100_000})).await;
    assert_eq!(names(&next_of(&mut c, "rooms_page").await).len(), 200);
}

#[tokio::test]
async fn a_search_finds_rooms_by_the_start_of_their_name_in_any_case() {
    let app = spawn_memory().await;
    let rooms: Vec<String> = ["Rust", "rustaceans", "RUSTY cars", "go", "trust", "lobbyists"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let _makers = make_rooms(&app.ws_url(), &rooms).await;
    let (mut c, _) = v2_at(&app.ws_url()).await;
    c.send(json!({"type": "rooms", "query": "rUs"})).await;
    let page = next_of(&mut c, "rooms_page").await;
    assert_eq!(names(&page), ["Rust", "rustaceans", "RUSTY cars"], "{page}");
    assert_eq!(page["query"], "rUs");
    assert!(page.get("next").is_none());
    // Pages of a search, one room each.
    c.send(json!({"type": "rooms", "query": "rust", "limit": 1, "after": "Rust"})).await;
    let page = next_of(&mut c, "rooms_page").await;
    assert_eq!((names(&page), page["next"].as_str()), (vec!["rustaceans".to_owned()], Some("rustaceans")));
    // A cursor before the search's first room starts the search at its beginning.
    c.send(json!({"type": "rooms", "query": "RUST", "after": "go"})).await;
    assert_eq!(names(&next_of(&mut c, "rooms_page").await), ["Rust", "rustaceans", "RUSTY cars"]);
    c.send(json!({"type": "rooms", "query": "zz"})).await;
    assert!(names(&next_of(&mut c, "rooms_page").await).is_empty());
    // Bad input: a clear error, and the connection goes on.
    c.send(json!({"type": "rooms", "query": "x".repeat(65)})).await;
    c.expect_error("invalid").await;
    c.send(json!({"type": "rooms", "query": ""})).await;
    c.expect_error("invalid").await;
    c.send(json!({"type": "rooms", "after": 5})).await;
    c.expect_error("bad_request").await;
    c.send(json!({"type": "rooms_watch"})).await;
    c.expect_error("bad_request").await;
    c.send(json!({"type": "rooms", "query": "go"})).await;
    assert_eq!(names(&next_of(&mut c, "rooms_page").await), ["go"]);
}

#[tokio::test]
async fn a_version_2_client_is_told_of_the_rooms_it_holds_only() {
    let app = spawn_memory().await;
    // Twenty rooms, the busiest with the most members: "a00" has 20, "a19" one.
    let mut members = Vec::new();
    for i in 0..20 {
        let rooms: Vec<String> = (0..=i).map(|k| format!("a{k:02}")).collect();
        members.extend(make_rooms(&app.ws_url(), &rooms).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut watcher, welcome) = v2_at(&app.ws_url()).await;
    let shown: HashSet<String> = names(&welcome).into_iter().collect();
    assert!(shown.contains("a00") && shown.contains("a09") && !shown.contains("a10"), "{welcome}");
    // Changes in a room it holds and in one it does not.
    let _held = make_rooms(&app.ws_url(), &["a00".into()]).await;
    let _not = make_rooms(&app.ws_url(), &["a15".into()]).await;
    let frames = frames_for(&mut watcher, Duration::from_millis(1500)).await;
    let told = delta_names(&frames);
    assert!(told.contains("a00"), "a room it holds: {frames:?}");
    assert!(!told.contains("a15"), "a room it was never sent: {frames:?}");
    let last = frames.iter().rev().find(|f| f["type"] == "rooms_delta").unwrap();
    assert_eq!(last["total"], 21, "the count of rooms comes with the changes");
    // Once a search has shown it "a15", it is told of it.
    watcher.send(json!({"type": "rooms", "query": "a15"})).await;
    assert_eq!(names(&next_of(&mut watcher, "rooms_page").await), ["a15"]);
    let _more = make_rooms(&app.ws_url(), &["a15".into()]).await;
    let mut dir = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while dir.get("a15") != Some(&7) {
        assert!(tokio::time::Instant::now() < deadline, "a15 never shown at 7: {dir:?}");
        let f = watcher.next_any().await;
        apply_directory(&mut dir, &f);
    }
    // Its own rooms are held too.
    watcher.send(json!({"type": "join", "room": "mine"})).await;
    let _other = make_rooms(&app.ws_url(), &["mine".into()]).await;
    while dir.get("mine") != Some(&2) {
        assert!(tokio::time::Instant::now() < deadline, "its own room never shown at 2: {dir:?}");
        let f = watcher.next_any().await;
        apply_directory(&mut dir, &f);
    }
}

#[tokio::test]
async fn a_small_directory_stays_whole_and_live() {
    let app = spawn_memory().await;
    let (mut watcher, _) = v2_at(&app.ws_url()).await;
    // Rooms made after it connected: while the whole directory fits in a first view (the
    // lobby and ten rooms), it is told of them.
    let names: Vec<String> = (0..10).map(|i| format!("new-{i}")).collect();
    let _makers = make_rooms(&app.ws_url(), &names).await;
    let mut dir = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while dir.len() < 10 {
        assert!(tokio::time::Instant::now() < deadline, "{dir:?}");
        let f = watcher.next_any().await;
        apply_directory(&mut dir, &f);
    }
    // One more, and the directory no longer fits: the twelfth room is not pushed.
    let _more = make_rooms(&app.ws_url(), &["new-x".into()]).await;
    let frames = frames_for(&mut watcher, Duration::from_millis(1500)).await;
    assert!(!delta_names(&frames).contains("new-x"), "{frames:?}");
}

#[tokio::test]
async fn a_client_that_hides_its_list_gets_no_deltas_until_it_shows_it_again() {
    let app = spawn_memory().await;
    let _makers = make_rooms(&app.ws_url(), &["r".into()]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut watcher, welcome) = v2_at(&app.ws_url()).await;
    assert!(names(&welcome).contains(&"r".to_owned()));
    watcher.send(json!({"type": "rooms_watch", "on": false})).await;
    // A round trip: the server has taken the `rooms_watch` once the `pong` comes.
    watcher.send(json!({"type": "ping"})).await;
    next_of(&mut watcher, "pong").await;
    let mut churn = Vec::new();
    for _ in 0..3 {
        churn.extend(make_rooms(&app.ws_url(), &["r".into(), "new".into()]).await);
    }
    let frames = frames_for(&mut watcher, Duration::from_millis(1500)).await;
    assert!(frames.iter().all(|f| f["type"] != "rooms_delta"), "{frames:?}");
    // Shown again: the first view afresh, then its changes.
    watcher.send(json!({"type": "rooms_watch", "on": true})).await;
    let page = next_of(&mut watcher, "rooms_page").await;
    let r = page["rooms"].as_array().unwrap().iter().find(|r| r["name"] == "r").unwrap();
    assert_eq!(r["members"], 4, "{page}");
    assert_eq!(page["total"], 3);
    churn.extend(make_rooms(&app.ws_url(), &["r".into()]).await);
    let delta = next_of(&mut watcher, "rooms_delta").await;
    assert!(
        delta["changed"].as_array().unwrap().iter().any(|r| r["name"] == "r" && r["members"] == 5),
        "{delta}"
    );
}

#[tokio::test]
async fn version_1_still_gets_the_whole_list_and_no_version_2_frame() {
    let app = spawn_memory().await;
    let rooms: Vec<String> = (0..60).map(|i| format!("room-{i:02}")).collect();
    let _makers = make_rooms(&app.ws_url(), &rooms).await;
    let (ws, _) = tokio_tungstenite::connect_async(app.ws_url()).await.unwrap();
    let mut v1 = Client { ws, nick: String::new(), resume: String::new() };
    let welcome = v1.next_any().await;
    assert_eq!(welcome["rooms"].as_array().unwrap().len(), 61, "every room and the lobby");
    assert!(welcome.get("rooms_total").is_none(), "{welcome}");
    let _more = make_rooms(&app.ws_url(), &["zz".into()]).await;
    let full = v1.rooms_until(|rooms| rooms.as_array().unwrap().len() == 62).await;
    assert_eq!(full["type"], "rooms");
    v1.send(json!({"type": "rooms"})).await;
    v1.expect_error("bad_request").await;
    v1.send(json!({"type": "rooms_watch", "on": false})).await;
    v1.expect_error("bad_request").await;
}

#[tokio::test]
async fn in_a_cluster_every_node_pages_searches_and_tells_held_rooms_only() {
    let (redis, db) = redis();
    let nodes = nodes(&redis, &db, 2).await;
    let (a, b) = (nodes[0].url(), nodes[1].url());
    // Rooms made on node B, watched from node A.
    let rooms: Vec<String> = (0..60).map(|i| format!("Room-{i:02}")).collect();
    let makers = make_rooms(&b, &rooms).await;
    let (mut watcher, _) = v2_at(&a).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut all = Vec::new();
    while all.len() != 61 {
        assert!(tokio::time::Instant::now() < deadline, "node A lists {} rooms", all.len());
        watcher.send(json!({"type": "rooms", "limit": 200})).await;
        all = names(&next_of(&mut watcher, "rooms_page").await);
    }
    watcher.send(json!({"type": "rooms_watch", "on": false})).await;
    watcher.send(json!({"type": "rooms_watch", "on": true})).await;
    let first = next_of(&mut watcher, "rooms_page").await;
    assert_eq!(first["total"], 61);
    // It now holds the lobby and ten rooms; a search shows it one more.
    let held: HashSet<String> = names(&first).into_iter().collect();
    let unheld = rooms.iter().find(|r| !held.contains(*r)).unwrap().clone();
    let searched = rooms.iter().rev().find(|r| !held.contains(*r) && **r != unheld).unwrap().clone();
    watcher.send(json!({"type": "rooms", "query": searched.to_lowercase()})).await;
    assert_eq!(names(&next_of(&mut watcher, "rooms_page").await), std::slice::from_ref(&searched));
    let some_held = names(&first).into_iter().find(|r| r != "lobby").unwrap();
    let _joiners = make_rooms(&b, &[some_held.clone(), unheld.clone(), searched.clone()]).await;
    let frames = frames_for(&mut watcher, Duration::from_millis(2000)).await;
    let told = delta_names(&frames);
    assert!(told.contains(&some_held) && told.contains(&searched), "{told:?} {frames:?}");
    assert!(!told.contains(&unheld), "{unheld} {told:?}");
    drop(makers);
}
