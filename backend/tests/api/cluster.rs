//! Several real `chat-server` processes sharing one real `redis-server` (`--redis`): one
//! order for everyone, whichever node a client is on; gaps in pub/sub filled from the
//! stream; Redis SIGKILLed and restarted without losing anything acknowledged.
//!
//! What a user sees of presence, nicks and typing must not depend on the node they are
//! on: those tests take a [`Deployment`] and run twice, on one node alone and on two
//! nodes of a cluster (client `i` on node `i % 2`), so a cluster is held to the very
//! behaviour of one server.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use backend::redis_server::RedisServer;
use serde_json::{Value, json};

use crate::durability::Process;
use crate::helpers::*;

/// A Redis of the test's own, in a fresh folder (removed when the second is dropped).
pub fn redis() -> (RedisServer, TempDb) {
    let db = fresh_db();
    let server = RedisServer::start(&db.dir().join("redis")).expect("a redis-server for the test");
    (server, db)
}

/// `n` nodes of one cluster.
pub async fn nodes(redis: &RedisServer, db: &std::path::Path, n: usize) -> Vec<Process> {
    let url = redis.url();
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(Process::start_with(db, 0, &["--redis", &url], None).await);
    }
    nodes
}

/// Where a test's clients connect: one node alone (no Redis), or the nodes of a cluster.
pub(crate) struct Deployment {
    /// Dropped first: the nodes end before their Redis and their folder.
    nodes: Vec<Process>,
    _redis: Option<RedisServer>,
    _db: TempDb,
}

impl Deployment {
    /// `n` nodes (a cluster sharing a Redis of its own when more than one), each started
    /// with `args`.
    pub(crate) async fn start(n: usize, args: &[&str]) -> Self {
        let (redis, db) = if n > 1 {
            let (redis, db) = redis();
            (Some(redis), db)
        } else {
            (None, fresh_db())
        };
        let url = redis.as_ref().map(RedisServer::url);
        let mut with = args.to_vec();
        if let Some(url) = &url {
            with.extend(["--redis", url]);
        }
        let mut nodes = Vec::new();
        for _ in 0..n {
            nodes.push(Process::start_with(&db, 0, &with, None).await);
        }
        Self { nodes, _redis: redis, _db: db }
    }

    /// The WebSocket URL of node `i` (modulo the number of nodes).
    pub(crate) fn url(&self, i: usize) -> String {
        self.nodes[i % self.nodes.len()].url()
    }
}

/// Runs each `test(args)` (an `async fn(Deployment)`) as two tests, `test::one_node` and
/// `test::two_nodes`, its nodes started with `args`.
macro_rules! on_one_node_and_on_two {
    ($($test:ident($($arg:expr),*)),* $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn one_node() {
                super::$test(super::Deployment::start(1, &[$($arg),*]).await).await;
            }

            #[tokio::test]
            async fn two_nodes() {
                super::$test(super::Deployment::start(2, &[$($arg),*]).await).await;
            }
        }
    )*};
}

on_one_node_and_on_two!(
    presence_members_and_the_directory_span_the_nodes(),
    nicks_are_unique_across_the_nodes(),
    version_2_totals_pages_and_counts_span_the_nodes("--presence-threshold", "4"),
    typing_reaches_the_room_on_every_node_once_and_not_its_typer(),
    another_node_s_typer_in_a_big_room_reaches_version_2_once_per_renewal("--presence-threshold", "1"),
);

/// Reads until a `message` arrives (other frames skipped).
pub async fn next_message(c: &mut Client) -> Value {
    loop {
        let v = c.next().await;
        if v["type"] == "message" {
            return v;
        }
    }
}

fn ids(list: &[Value]) -> Vec<u64> {
    list.iter().map(|m| m["id"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn concurrent_says_on_three_nodes_reach_every_client_in_one_order() {
    let (redis, db) = redis();
    let nodes = nodes(&redis, &db, 3).await;
    let mut clients = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        for j in 0..2 {
            let mut c = Client::connect(&node.url()).await;
            c.set_nick(&format!("n{i}c{j}")).await;
            c.join("r").await;
            clients.push(c);
        }
    }
    const EACH: usize = 25;
    // Everyone talks at once, without waiting for echoes.
    for round in 0..EACH {
        for (k, c) in clients.iter_mut().enumerate() {
            c.send(json!({"type": "say", "room": "r", "text": format!("{k}:{round}"), "cid": format!("c{k}-{round}")}))
                .await;
        }
    }
    let total = EACH * clients.len();
    let mut seen = Vec::new();
    for c in &mut clients {
        let mut got = Vec::new();
        while got.len() < total {
            got.push(next_message(c).await);
        }
        seen.push(got);
    }
    let first = &seen[0];
    assert_eq!(ids(first), (1..=total as u64).collect::<Vec<_>>(), "ids strictly increasing, no gap");
    for (k, got) in seen.iter().enumerate() {
        let order = |l: &[Value]| l.iter().map(|m| (m["id"].clone(), m["text"].clone())).collect::<Vec<_>>();
        assert_eq!(order(got), order(first), "client {k} saw another order");
    }
    // Each sender's own messages kept the order it sent them in.
    let mut last: HashMap<String, usize> = HashMap::new();
    for m in first {
        let (k, round) = m["text"].as_str().unwrap().split_once(':').unwrap();
        let round: usize = round.parse().unwrap();
        if let Some(before) = last.insert(k.to_owned(), round) {
            assert!(round > before, "{k}'s messages out of order");
        }
    }
}

#[tokio::test]
async fn a_message_missed_by_pub_sub_is_read_from_the_stream_in_order() {
    let (redis, db) = redis();
    let nodes = nodes(&redis, &db, 2).await;
    let mut a = Client::connect(&nodes[0].url()).await;
    a.join("r").await;
    let mut b = Client::connect(&nodes[1].url()).await;
    b.join("r").await;
    a.send(json!({"type": "say", "room": "r", "text": "one", "cid": "c1"})).await;
    assert_eq!(next_message(&mut b).await["id"], 1);
    // A message stored but never published, as if its publication was lost on the way
    // to every node.
    let lost = |id: u64, text: &str| {
        json!({"room": "r", "id": id, "nick": "ghost", "text": text, "ts": 1, "cid": format!("g{id}")})
            .to_string()
    };
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let _: u64 = redis::cmd("INCR").arg("chat:seq:r").query(&mut conn).unwrap();
    let _: String = redis::cmd("XADD")
        .arg("chat:log:r")
        .arg("2-0")
        .arg("m")
        .arg(lost(2, "lost"))
        .query(&mut conn)
        .unwrap();
    assert_eq!(next_message(&mut a).await["id"], 1);
    // The next message shows the gap: each node reads 2 before it delivers 3.
    a.send(json!({"type": "say", "room": "r", "text": "three", "cid": "c3"})).await;
    for c in [&mut a, &mut b] {
        let got = [next_message(c).await, next_message(c).await];
        assert_eq!(ids(&got), [2, 3]);
        assert_eq!(got[0]["text"], "lost");
    }

    // Lost while the nodes were disconnected: after reconnecting, they read what they
    // missed without waiting for a next message.
    let _: u64 = redis::cmd("INCR").arg("chat:seq:r").query(&mut conn).unwrap();
    let _: String = redis::cmd("XADD")
        .arg("chat:log:r")
        .arg("4-0")
        .arg("m")
        .arg(lost(4, "away"))
        .query(&mut conn)
        .unwrap();
    let _: redis::Value =
        redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").query(&mut conn).unwrap();
    for c in [&mut a, &mut b] {
        let m = next_message(c).await;
        assert_eq!((m["id"].as_u64(), m["text"].as_str()), (Some(4), Some("away")));
    }
}

/// Says `text` with `cid` until it is acknowledged (retrying after `unavailable`, as the
/// app does), and returns the acknowledged message.
async fn say_until_stored(c: &mut Client, text: &str, cid: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        assert!(Instant::now() < deadline, "{cid} was never stored");
        c.send(json!({"type": "say", "room": "r", "text": text, "cid": cid})).await;
        loop {
            let v = c.next().await;
            if v["type"] == "message" && v["cid"] == cid {
                return v;
            }
            if v["type"] == "error" {
                assert_eq!((v["code"].as_str(), v["cid"].as_str()), (Some("unavailable"), Some(cid)), "{v}");
                tokio::time::sleep(Duration::from_millis(300)).await;
                break;
            }
        }
    }
}

#[tokio::test]
async fn redis_killed_and_restarted_nodes_serve_again_and_lose_nothing() {
    let (mut redis, db) = redis();
    let nodes = nodes(&redis, &db, 2).await;
    let mut a = Client::connect(&nodes[0].url()).await;
    a.join("r").await;
    let mut b = Client::connect(&nodes[1].url()).await;
    b.join("r").await;
    next_of(&mut a, "presence", WAIT).await;
    for i in 1..=5 {
        a.say("r", &format!("before {i}"), &format!("c{i}")).await;
        assert_eq!(next_message(&mut b).await["id"], i);
    }
    redis.kill();
    // Refused, clearly, while Redis is away; nothing is shown as sent.
    a.send(json!({"type": "say", "room": "r", "text": "during", "cid": "c6"})).await;
    let refused =
        tokio::time::timeout(Duration::from_secs(15), a.next()).await.expect("an answer while Redis is away");
    assert_eq!(
        (refused["code"].as_str(), refused["cid"].as_str()),
        (Some("unavailable"), Some("c6")),
        "{refused}"
    );
    // Away for longer than the connection manager's own retries: the nodes' heartbeat
    // keeps them trying.
    tokio::time::sleep(Duration::from_secs(5)).await;
    redis.restart().unwrap();
    // The nodes reconnect and resubscribe by themselves; the retry is stored once, after
    // everything acknowledged before the crash.
    let stored = say_until_stored(&mut a, "during", "c6", Duration::from_secs(20)).await;
    assert_eq!(stored["id"], 6);
    let got = next_message(&mut b).await;
    assert_eq!((got["id"].as_u64(), got["text"].as_str()), (Some(6), Some("during")));
    // A newcomer on either node sees the whole history.
    for node in &nodes {
        let mut c = Client::connect(&node.url()).await;
        let joined = c.join("r").await;
        let history = joined["history"].as_array().unwrap();
        assert_eq!(ids(history), [1, 2, 3, 4, 5, 6]);
    }
}

#[tokio::test]
async fn a_node_that_cannot_reach_redis_says_so_and_exits() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--addr", "127.0.0.1:0", "--web-dir", "/nonexistent", "--redis"])
        .arg(format!("redis://{closed}/"))
        .output();
    let out = tokio::time::timeout(Duration::from_secs(10), out).await.expect("it exits").unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot reach Redis at {closed}")), "{err}");
}

#[tokio::test]
async fn a_node_killed_during_traffic_loses_nothing_and_its_clients_resume_on_another() {
    let (redis, db) = redis();
    let mut nodes = nodes(&redis, &db, 2).await;
    let mut watcher = Client::connect(&nodes[1].url()).await;
    watcher.join("r").await;
    let mut sender = Client::connect(&nodes[0].url()).await;
    sender.join("r").await;
    const N: usize = 40;
    for i in 0..N {
        sender
            .send(json!({"type": "say", "room": "r", "text": format!("m{i}"), "cid": format!("s{i}")}))
            .await;
    }
    // What the sender saw acknowledged, by id; the node dies with the rest in flight.
    let mut seen: HashMap<u64, String> = HashMap::new();
    while seen.len() < N / 2 {
        let m = next_message(&mut sender).await;
        seen.insert(m["id"].as_u64().unwrap(), m["cid"].as_str().unwrap().to_owned());
    }
    nodes.remove(0).sigkill().await;
    // The app resumes on the other node: same token, `join.after`, then it sends again
    // what it never saw acknowledged, with the same cids.
    let mut resumed = Client::connect(&format!("{}?resume={}", nodes[0].url(), sender.resume)).await;
    assert_eq!(resumed.nick, sender.nick, "its nick, as on one node");
    let last = seen.keys().max().copied().unwrap();
    resumed.send(json!({"type": "join", "room": "r", "after": last})).await;
    let joined = resumed.next().await;
    assert_eq!(joined["type"], "joined", "{joined}");
    for m in joined["history"].as_array().unwrap() {
        let id = m["id"].as_u64().unwrap();
        assert!(seen.insert(id, m["cid"].as_str().unwrap().to_owned()).is_none(), "{id} came twice");
    }
    let acked: std::collections::HashSet<String> = seen.values().cloned().collect();
    for i in (0..N).filter(|i| !acked.contains(&format!("s{i}"))) {
        resumed
            .send(json!({"type": "say", "room": "r", "text": format!("m{i}"), "cid": format!("s{i}")}))
            .await;
    }
    while seen.len() < N {
        let m = next_message(&mut resumed).await;
        let id = m["id"].as_u64().unwrap();
        assert!(seen.insert(id, m["cid"].as_str().unwrap().to_owned()).is_none(), "{id} came twice");
    }
    // Every message once, ids 1..=N with no gap, the same for the watcher on the other node.
    let mut stored: Vec<u64> = seen.keys().copied().collect();
    stored.sort_unstable();
    assert_eq!(stored, (1..=N as u64).collect::<Vec<_>>());
    let cids: std::collections::HashSet<&String> = seen.values().collect();
    assert_eq!(cids.len(), N, "every cid stored once");
    let mut watched = Vec::new();
    while watched.len() < N {
        watched.push(next_message(&mut watcher).await);
    }
    assert_eq!(ids(&watched), (1..=N as u64).collect::<Vec<_>>());
    for m in &watched {
        assert_eq!(seen[&m["id"].as_u64().unwrap()], m["cid"].as_str().unwrap());
    }
    // And nothing more: no message twice.
    let more = tokio::time::timeout(Duration::from_millis(300), next_message(&mut watcher)).await;
    assert!(more.is_err(), "an extra message: {more:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_three_clients_900_messages_over_three_nodes_with_node_kills_and_drops() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::durability::Resilient;

    const EACH: usize = 300;
    let (redis, db) = redis();
    let mut nodes = nodes(&redis, &db, 3).await;
    let urls: Vec<String> = nodes.iter().map(Process::url).collect();
    let acked = Arc::new(AtomicUsize::new(0));
    let seed = Instant::now().elapsed().subsec_nanos() as u64 ^ std::process::id() as u64;
    eprintln!("cluster chaos seed {seed}");
    let mut tasks = Vec::new();
    for (n, name) in ["ann", "ben", "cat"].into_iter().enumerate() {
        let urls = urls.clone();
        let acked = acked.clone();
        let mut rng = seed.wrapping_add((n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
        tasks.push(tokio::spawn(async move {
            let mut c = Resilient::new(name);
            // Each client starts on its own node; every reconnection goes to the next one.
            let urls: Vec<String> = urls.iter().cycle().skip(n).take(urls.len()).cloned().collect();
            for i in 0..EACH {
                c.outbox.insert(i, format!("{name} says {i}"));
                c.ensure_any(&urls).await;
                if c.outbox.contains_key(&i) {
                    c.say(i).await;
                }
                c.pump(Duration::from_millis(2)).await;
                acked.fetch_add(1, Ordering::Relaxed);
                c.sometimes_drop(&mut rng);
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            while c.got.len() < 3 * EACH || !c.outbox.is_empty() {
                assert!(Instant::now() < deadline, "{name}: {} of {} messages", c.got.len(), 3 * EACH);
                c.ensure_any(&urls).await;
                c.pump(Duration::from_millis(100)).await;
            }
            c
        }));
    }
    // Twice, mid-way, SIGKILL a node and start it again on the same port.
    for (round, victim) in [(1, seed as usize % 3), (2, (seed as usize + 1) % 3)] {
        while acked.load(Ordering::Relaxed) < round * EACH {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let port = nodes[victim].port;
        nodes.remove(victim).sigkill().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        nodes.insert(victim, Process::start_with(&db, port, &["--redis", &redis.url()], None).await);
    }
    let mut all_texts = std::collections::HashSet::new();
    for t in tasks {
        let c = t.await.unwrap();
        let ids: Vec<u64> = c.got.keys().copied().collect();
        assert_eq!(ids, (1..=(3 * EACH) as u64).collect::<Vec<_>>(), "{}: every id once, in order", c.name);
        let texts: std::collections::HashSet<&String> = c.got.values().map(|(_, t)| t).collect();
        assert_eq!(texts.len(), 3 * EACH, "{}: no message stored twice", c.name);
        assert_eq!(c.out_of_order, 0, "{}: a message came after a newer one", c.name);
        all_texts.extend(c.got.values().map(|(_, t)| t.clone()));
        eprintln!("{}: 900 messages, {} duplicates dropped by id", c.name, c.duplicates_shown);
    }
    assert_eq!(all_texts.len(), 3 * EACH);
}

/// Reads until a frame of `ty` arrives (other frames skipped), within `within`.
pub(crate) async fn next_of(c: &mut Client, ty: &str, within: Duration) -> Value {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    tokio::time::timeout(within, async {
        loop {
            match c.ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if v["type"] == ty {
                        return v;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("waiting for {ty}: {other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {ty} within {within:?}"))
}

/// Reads `rooms` pushes until room `name` shows `members` (0: not listed).
async fn directory_shows(c: &mut Client, name: &str, members: u64) {
    c.rooms_until(|rooms| {
        let count = rooms
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map_or(0, |r| r["members"].as_u64().unwrap());
        count == members
    })
    .await;
}

/// Sets the nick, retrying while the cluster still has it taken (a departure on another
/// node reaches this one a moment later).
pub(crate) async fn take_nick(c: &mut Client, nick: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        c.send(json!({"type": "nick", "nick": nick})).await;
        let v = c.next().await;
        if v == json!({"type": "you", "nick": nick}) {
            c.nick = nick.to_owned();
            return;
        }
        assert_eq!(v["code"], "nick_taken", "{v}");
        assert!(Instant::now() < deadline, "{nick} still taken after {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn presence_members_and_the_directory_span_the_nodes(nodes: Deployment) {
    let mut watcher = Client::connect(&nodes.url(0)).await;
    let mut bob = Client::connect(&nodes.url(1)).await;
    bob.set_nick("bob").await;
    let mut alice = Client::connect(&nodes.url(0)).await;
    alice.set_nick("alice").await;
    alice.join("r").await;
    // Node 1 hears of alice a moment later (its directory shows her room).
    directory_shows(&mut bob, "r", 1).await;
    // Bob, on the other node, sees alice in the room; alice sees bob come.
    let joined = bob.join("r").await;
    assert_eq!(joined["members"], json!(["alice", "bob"]), "{joined}");
    let came = next_of(&mut alice, "presence", WAIT).await;
    assert_eq!((came["event"].as_str(), came["nick"].as_str()), (Some("join"), Some("bob")), "{came}");
    // The directory on node 0 counts both.
    directory_shows(&mut watcher, "r", 2).await;
    // A rename and a leave on node 0 reach bob on node 1.
    alice.set_nick("Alicia").await;
    let renamed = next_of(&mut bob, "presence", WAIT).await;
    assert_eq!(
        (renamed["event"].as_str(), renamed["nick"].as_str(), renamed["old_nick"].as_str()),
        (Some("rename"), Some("Alicia"), Some("alice")),
        "{renamed}"
    );
    alice.send(json!({"type": "leave", "room": "r"})).await;
    let left = next_of(&mut bob, "presence", WAIT).await;
    assert_eq!((left["event"].as_str(), left["nick"].as_str()), (Some("leave"), Some("Alicia")), "{left}");
    directory_shows(&mut watcher, "r", 1).await;
    // A newcomer on node 0 sees bob alone; a closed socket on node 1 leaves everywhere.
    let mut carl = Client::connect(&nodes.url(0)).await;
    assert_eq!(carl.join("r").await["members"], json!(["bob", carl.nick.clone()]));
    drop(bob);
    let gone = next_of(&mut carl, "presence", WAIT).await;
    assert_eq!((gone["event"].as_str(), gone["nick"].as_str()), (Some("leave"), Some("bob")), "{gone}");
}

async fn nicks_are_unique_across_the_nodes(nodes: Deployment) {
    let mut a = Client::connect(&nodes.url(0)).await;
    a.set_nick("alice").await;
    let mut b = Client::connect(&nodes.url(1)).await;
    // Taken on node 0 means taken on node 1, whatever the case.
    b.send(json!({"type": "nick", "nick": "ALICE"})).await;
    b.expect_error("nick_taken").await;
    // Two nodes claiming one nick at the same moment: exactly one gets it.
    let mut c = Client::connect(&nodes.url(0)).await;
    let mut d = Client::connect(&nodes.url(1)).await;
    for _ in 0..5 {
        c.send(json!({"type": "nick", "nick": "zed"})).await;
        d.send(json!({"type": "nick", "nick": "Zed"})).await;
    }
    let mut won = Vec::new();
    for client in [&mut c, &mut d] {
        let mut got = 0;
        for _ in 0..5 {
            let v = client.next().await;
            if v["type"] == "you" {
                got += 1;
            } else {
                assert_eq!(v["code"], "nick_taken", "{v}");
            }
        }
        won.push(got);
    }
    won.sort_unstable();
    assert_eq!(won, [0, 5], "one client has it (each claim again is its own), the other never");
    // Freed when its owner leaves: then node 1 may take it.
    drop(a);
    take_nick(&mut b, "ALICE", Duration::from_secs(5)).await;
    // A client that comes back with its token to another node gets its nick back.
    let token = b.resume.clone();
    drop(b);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let back = Client::connect(&format!("{}?resume={token}", nodes.url(0))).await;
    assert_eq!(back.nick, "ALICE");
    // Its socket on node 0 still open, the client resumes on node 1: the new connection
    // takes its place and nick, and the old one is closed as replaced (4000), as on one node.
    let mut old = back;
    let new = Client::connect(&format!("{}?resume={token}", nodes.url(1))).await;
    assert_eq!(new.nick, "ALICE");
    assert_eq!(old.ended().await, crate::helpers::Ended::Close(4000));
}

async fn version_2_totals_pages_and_counts_span_the_nodes(nodes: Deployment) {
    let mut members = Vec::new();
    for (i, nick) in ["ann", "Bea", "cid", "dan"].into_iter().enumerate() {
        let mut c = Client::connect(&nodes.url(i)).await;
        c.set_nick(nick).await;
        c.join("big").await;
        members.push(c);
    }
    // Node 0 has heard of the members on node 1.
    directory_shows(&mut members[0], "big", 4).await;
    let (mut v2, _) = Client::connect_offering(&nodes.url(0), "chat.v2").await;
    v2.set_nick("eve").await;
    v2.send(json!({"type": "join", "room": "big"})).await;
    let joined = next_of(&mut v2, "joined", WAIT).await;
    assert_eq!(joined["total"], 5, "{joined}");
    assert_eq!(joined["members"], json!(["ann", "Bea", "cid", "dan", "eve"]));
    v2.send(json!({"type": "members", "room": "big", "after": "Bea", "limit": 2})).await;
    let page = next_of(&mut v2, "members", WAIT).await;
    assert_eq!(page["members"], json!(["cid", "dan"]), "{page}");
    assert_eq!((page["total"].as_u64(), page["complete"].as_bool()), (Some(5), Some(false)));
    // Above the threshold, joins on the other node are counted for version 2.
    for _ in 0..3 {
        let mut c = Client::connect(&nodes.url(1)).await;
        c.join("big").await;
        members.push(c);
    }
    // ... and the directory's delta counts the whole room too.
    let (mut joined_n, mut delta_seen) = (0, false);
    let deadline = Instant::now() + WAIT;
    while joined_n < 3 || !delta_seen {
        assert!(Instant::now() < deadline, "counted {joined_n} joins; a delta with 8: {delta_seen}");
        let v = v2.next_any().await;
        match v["type"].as_str() {
            Some("presence_count") => {
                joined_n += v["joined"].as_u64().unwrap();
                if joined_n == 3 {
                    assert_eq!(v["total"], 8, "{v}");
                }
            }
            Some("rooms_delta") => {
                delta_seen |=
                    v["changed"].as_array().unwrap().iter().any(|r| r["name"] == "big" && r["members"] == 8);
            }
            Some("presence") => panic!("a big room's presence is counted for version 2: {v}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_killed_node_s_members_leave_elsewhere_within_ten_seconds_and_free_their_nicks() {
    let (redis, db) = redis();
    let mut nodes = nodes(&redis, &db, 2).await;
    let mut watcher = Client::connect(&nodes[1].url()).await;
    watcher.set_nick("watcher").await;
    watcher.join("r").await;
    let mut doomed = Vec::new();
    for nick in ["alice", "al"] {
        let mut c = Client::connect(&nodes[0].url()).await;
        c.set_nick(nick).await;
        c.join("r").await;
        doomed.push(c);
    }
    for _ in 0..2 {
        next_of(&mut watcher, "presence", WAIT).await;
    }
    directory_shows(&mut watcher, "r", 3).await;
    // Traffic while it dies.
    for i in 0..20 {
        doomed[0]
            .send(json!({"type": "say", "room": "r", "text": format!("m{i}"), "cid": format!("c{i}")}))
            .await;
    }
    let killed = Instant::now();
    nodes.remove(0).sigkill().await;
    let mut left = std::collections::HashSet::new();
    while left.len() < 2 {
        let v = next_of(&mut watcher, "presence", Duration::from_secs(10)).await;
        assert_eq!(v["event"], "leave", "{v}");
        left.insert(v["nick"].as_str().unwrap().to_owned());
    }
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
    eprintln!("a SIGKILLed node's members left elsewhere {took:.1?} after the kill");
    assert_eq!(left, ["alice".to_owned(), "al".to_owned()].into());
    directory_shows(&mut watcher, "r", 1).await;
    take_nick(&mut watcher, "alice", Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_node_taken_for_dead_closes_its_sockets_and_serves_again() {
    let (redis, db) = redis();
    let nodes = nodes(&redis, &db, 2).await;
    let mut a = Client::connect(&nodes[0].url()).await;
    a.set_nick("alice").await;
    a.join("r").await;
    let mut b = Client::connect(&nodes[1].url()).await;
    b.join("r").await;
    // As another node's reaper would after a partition: node 0's registration is gone.
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let (a_node, _): (String, String) = redis::cmd("HGETALL")
        .arg("chat:p:nicks")
        .query::<Vec<(String, String)>>(&mut conn)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == "alice")
        .map(|(_, m)| (m.split('/').next().unwrap().to_owned(), m))
        .unwrap();
    let _: i64 = redis::cmd("SREM").arg("chat:p:nodes").arg(&a_node).query(&mut conn).unwrap();
    assert_eq!(a.ended().await, crate::helpers::Ended::Close(1012));
    // It serves again, under a new id: its client resumes there with its nick.
    let mut again = Client::connect(&format!("{}?resume={}", nodes[0].url(), a.resume)).await;
    let nick = if again.nick == "alice" {
        again.nick.clone()
    } else {
        next_of(&mut again, "you", WAIT).await["nick"].as_str().unwrap().to_owned()
    };
    assert_eq!(nick, "alice");
    let joined = again.join("r").await;
    let members = joined["members"].as_array().unwrap();
    assert!(members.contains(&json!("alice")) && members.contains(&json!(b.nick.clone())), "{joined}");
}

#[tokio::test]
async fn a_node_stopped_cleanly_takes_its_members_out_at_once() {
    let (redis, db) = redis();
    let mut nodes = nodes(&redis, &db, 2).await;
    let mut watcher = Client::connect(&nodes[1].url()).await;
    watcher.join("r").await;
    let mut alice = Client::connect(&nodes[0].url()).await;
    alice.set_nick("alice").await;
    alice.join("r").await;
    let came = next_of(&mut watcher, "presence", WAIT).await;
    assert_eq!(came["nick"], "alice", "{came}");
    let stopped = Instant::now();
    nodes.remove(0).sigterm().await;
    // Not after the 5 s a dead node's heartbeat takes to expire: on the way out.
    let left = next_of(&mut watcher, "presence", Duration::from_secs(3)).await;
    assert_eq!((left["event"].as_str(), left["nick"].as_str()), (Some("leave"), Some("alice")), "{left}");
    assert!(stopped.elapsed() < Duration::from_secs(3), "{:?}", stopped.elapsed());
    take_nick(&mut watcher, "alice", Duration::from_secs(1)).await;
}

async fn typing_reaches_the_room_on_every_node_once_and_not_its_typer(nodes: Deployment) {
    let mut alice = Client::connect(&nodes.url(0)).await;
    alice.set_nick("alice").await;
    alice.join("r").await;
    let mut carol = Client::connect(&nodes.url(0)).await;
    carol.set_nick("carol").await;
    carol.join("r").await;
    next_of(&mut alice, "presence", WAIT).await;
    let mut bob = Client::connect(&nodes.url(1)).await;
    bob.set_nick("bob").await;
    // Node 1 knows alice and carol are in the room (bob's `joined` lists them) ...
    assert_eq!(bob.join("r").await["members"], json!(["alice", "bob", "carol"]));
    // ... and node 0 knows bob is (alice and carol see him come).
    for c in [&mut alice, &mut carol] {
        let came = next_of(c, "presence", WAIT).await;
        assert_eq!((came["event"].as_str(), came["nick"].as_str()), (Some("join"), Some("bob")), "{came}");
    }
    alice.send(json!({"type": "typing", "room": "r"})).await;
    let typing = json!({"type": "typing", "room": "r", "nick": "alice"});
    assert_eq!(next_of(&mut bob, "typing", WAIT).await, typing, "bob, on the other node");
    assert_eq!(next_of(&mut carol, "typing", WAIT).await, typing, "carol, on alice's node");
    // Bob types back: alice and carol get it once each, bob not at all.
    bob.send(json!({"type": "typing", "room": "r"})).await;
    let typing = json!({"type": "typing", "room": "r", "nick": "bob"});
    assert_eq!(next_of(&mut alice, "typing", WAIT).await, typing);
    assert_eq!(next_of(&mut carol, "typing", WAIT).await, typing);
    // Nobody gets anything twice, nor their own notice back.
    for c in [&mut alice, &mut bob, &mut carol] {
        c.expect_quiet(Duration::from_millis(700)).await;
    }
    // A room without members on the other node: nothing crosses (bob is not in "solo").
    alice.join("solo").await;
    alice.send(json!({"type": "typing", "room": "solo"})).await;
    bob.expect_quiet(Duration::from_millis(500)).await;
}

async fn another_node_s_typer_in_a_big_room_reaches_version_2_once_per_renewal(nodes: Deployment) {
    let mut alice = Client::connect(&nodes.url(0)).await;
    alice.set_nick("alice").await;
    alice.join("big").await;
    let (mut bob, _) = Client::connect_offering(&nodes.url(1), "chat.v2").await;
    bob.set_nick("bob").await;
    bob.send(json!({"type": "join", "room": "big"})).await;
    let joined = next_of(&mut bob, "joined", WAIT).await;
    assert_eq!(joined["total"], 2, "node 1 knows alice: {joined}");
    // Alice's node hears of bob (alice, version 1, gets every presence).
    let came = next_of(&mut alice, "presence", WAIT).await;
    assert_eq!(came["nick"], "bob", "{came}");
    // Keystrokes in quick succession: bob, version 2 in a room above the threshold, is
    // given the first only (once per typer every 3 s), from the other node as from his own.
    for _ in 0..4 {
        alice.send(json!({"type": "typing", "room": "big"})).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(next_of(&mut bob, "typing", WAIT).await["nick"], "alice");
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(v) = tokio::time::timeout_at(deadline, bob.next_any()).await {
        assert_ne!(v["type"], "typing", "a second typing within 3 s: {v}");
    }
}
