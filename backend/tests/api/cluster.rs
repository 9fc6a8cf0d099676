//! Several real `chat-server` processes sharing one real `redis-server` (`--redis`): one
//! order for everyone, whichever node a client is on; gaps in pub/sub filled from the
//! stream; Redis SIGKILLed and restarted without losing anything acknowledged.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use backend::redis_server::RedisServer;
use serde_json::{Value, json};

use crate::durability::Process;
use crate::helpers::*;

/// A Redis of the test's own, in a fresh folder (removed when the second is dropped).
fn redis() -> (RedisServer, TempDb) {
    let db = fresh_db();
    let server = RedisServer::start(&db.dir().join("redis")).expect("a redis-server for the test");
    (server, db)
}

/// `n` nodes of one cluster.
async fn nodes(redis: &RedisServer, db: &std::path::Path, n: usize) -> Vec<Process> {
    let url = redis.url();
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(Process::start_with(db, 0, &["--redis", &url], None).await);
    }
    nodes
}

/// Reads until a `message` arrives (other frames skipped).
async fn next_message(c: &mut Client) -> Value {
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
