//! A cluster whose history is archived in a real PostgreSQL (`--database`) while Redis
//! keeps each room's hot window (`--redis-history`): paging and resuming across the two
//! tiers, PostgreSQL and Redis restarted, a node SIGKILLed mid-write; nothing acknowledged
//! lost, nothing doubled, and Redis's streams stay within the window; rooms' owners,
//! moderators and settings and the audit log kept by PostgreSQL through a flushed Redis.

use std::time::{Duration, Instant};

use backend::postgres_server::PostgresServer;
use backend::redis_server::RedisServer;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cluster::redis;
use crate::durability::Process;
use crate::helpers::*;

/// Messages Redis keeps per room in these tests.
const WINDOW: usize = 5;

/// Redis, PostgreSQL and the folder they live in, the test's own.
struct Backing {
    redis: RedisServer,
    pg: PostgresServer,
    db: TempDb,
}

impl Backing {
    fn start() -> Self {
        let (redis, db) = redis();
        let pg = PostgresServer::start(&db.dir().join("pg")).expect("a PostgreSQL for the test");
        Self { redis, pg, db }
    }

    async fn node(&self) -> Process {
        self.node_with(&[]).await
    }

    /// A node with flags beyond the cluster's.
    async fn node_with(&self, extra: &[&str]) -> Process {
        let (redis, pg, window) = (self.redis.url(), self.pg.url(), WINDOW.to_string());
        let mut args = vec!["--redis", &redis, "--database", &pg, "--redis-history", &window];
        args.extend_from_slice(extra);
        Process::start_with(&self.db, 0, &args, None).await
    }

    /// Empties Redis, as an operator's `FLUSHALL` or a Redis that lost its files would.
    async fn flush_redis(&self) {
        let client = ::redis::Client::open(self.redis.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        ::redis::cmd("FLUSHALL").query_async::<()>(&mut c).await.unwrap();
    }

    /// The length of a room's stream in Redis.
    async fn stream_len(&self, room: &str) -> usize {
        let client = ::redis::Client::open(self.redis.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        ::redis::cmd("XLEN").arg(format!("chat:log:{room}")).query_async(&mut c).await.unwrap()
    }

    /// Waits until the archiver has trimmed a room's stream to the window.
    async fn trimmed(&self, room: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let len = self.stream_len(room).await;
            if len <= WINDOW {
                return;
            }
            assert!(Instant::now() < deadline, "the stream of {room} still holds {len} messages");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn ids(list: &Value) -> Vec<u64> {
    list.as_array().unwrap().iter().map(|m| m["id"].as_u64().unwrap()).collect()
}

/// The HTTP status of `GET path` on a node.
async fn status(node: &Process, path: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut head = vec![0u8; 12];
    s.read_exact(&mut head).await.unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

async fn wait_for_status(node: &Process, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(node, "/readyz").await != want {
        assert!(Instant::now() < deadline, "/readyz never answered {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The whole history of a room as a newcomer on `node` reads it (`join.after` 0).
async fn everything(node: &Process, room: &str) -> Value {
    let mut c = Client::connect(&node.url()).await;
    c.send(json!({"type": "join", "room": room, "after": 0})).await;
    let joined = c.next().await;
    assert_eq!(joined["complete"], true, "{joined}");
    joined["history"].clone()
}

#[tokio::test]
async fn history_pages_and_resumes_across_the_hot_window_and_postgresql() {
    let backing = Backing::start();
    let (a, b) = (backing.node().await, backing.node().await);
    let mut alice = Client::connect(&a.url()).await;
    alice.join("r").await;
    for i in 1..=30 {
        assert_eq!(alice.say("r", &format!("m{i}"), &format!("c{i}")).await["id"], i);
    }
    backing.trimmed("r").await;

    // On the other node: a resume from long before the window gets everything after it.
    let mut bob = Client::connect(&b.url()).await;
    bob.send(json!({"type": "join", "room": "r", "after": 3})).await;
    let joined = bob.next().await;
    assert_eq!(ids(&joined["history"]), (4..=30).collect::<Vec<_>>());
    assert_eq!(
        (joined["complete"].as_bool(), joined["history"][0]["text"].as_str()),
        (Some(true), Some("m4"))
    );
    // Scroll-back: a page that straddles the window's edge, one wholly in PostgreSQL.
    for (before, limit, want) in [(28u64, 10u64, (18..=27).collect::<Vec<u64>>()), (10, 5, (5..=9).collect())]
    {
        bob.send(json!({"type": "history", "room": "r", "before": before, "limit": limit})).await;
        let page = bob.next().await;
        assert_eq!(page["type"], "history", "{page}");
        assert_eq!(ids(&page["messages"]), want, "{page}");
    }
    // A newcomer without `after` gets the newest 30 of 30, across both tiers.
    let mut carl = Client::connect(&a.url()).await;
    let joined = carl.join("r").await;
    assert_eq!(ids(&joined["history"]), (1..=30).collect::<Vec<_>>());
    assert!(backing.stream_len("r").await <= WINDOW);
}

#[tokio::test]
async fn postgresql_and_redis_restarts_and_a_node_killed_mid_write_lose_nothing_and_double_nothing() {
    let mut backing = Backing::start();
    let (a, b) = (backing.node().await, backing.node().await);
    let mut alice = Client::connect(&a.url()).await;
    alice.join("r").await;
    for i in 1..=10 {
        alice.say("r", &format!("a{i}"), &format!("a{i}")).await;
    }
    backing.trimmed("r").await;

    // PostgreSQL goes down: messages are still taken (Redis holds them durably), the node
    // says it is not ready, and it recovers by itself once PostgreSQL is back.
    backing.pg.kill();
    for i in 11..=20 {
        assert_eq!(alice.say("r", &format!("a{i}"), &format!("a{i}")).await["id"], i);
    }
    wait_for_status(&a, 503).await;
    backing.pg.restart().unwrap();
    wait_for_status(&a, 200).await;
    backing.trimmed("r").await;

    // Redis restarts (its append-only file): the floor and the window come back with it.
    backing.redis.kill();
    backing.redis.restart().unwrap();

    // A node dies with says in flight; its client comes back on the other node with its
    // token and sends them all again, as the app's outbox does.
    let mut bob = Client::connect(&b.url()).await;
    bob.join("r").await;
    let token = bob.resume.clone();
    for i in 1..=20 {
        bob.send(json!({"type": "say", "room": "r", "text": format!("b{i}"), "cid": format!("b{i}")})).await;
    }
    let mut acknowledged = Vec::new();
    if let Ok(Ok(first)) =
        tokio::time::timeout(Duration::from_secs(5), async { Ok::<_, ()>(bob.next().await) }).await
        && first["type"] == "message"
    {
        acknowledged.push(first);
    }
    b.sigkill().await;
    // What the dead node stored is archived and trimmed first: the retries of the oldest
    // are recognised from PostgreSQL.
    backing.trimmed("r").await;
    let mut again = Client::connect(&format!("{}?resume={token}", a.url())).await;
    again.join("r").await;
    for i in 1..=20 {
        let echo = again.say("r", &format!("b{i}"), &format!("b{i}")).await;
        assert_eq!(echo["text"], format!("b{i}"));
        if let Some(before) = acknowledged.iter().find(|m| m["cid"] == echo["cid"]) {
            assert_eq!(before["id"], echo["id"], "an acknowledged message keeps its id");
        }
    }
    backing.trimmed("r").await;

    let all = everything(&a, "r").await;
    assert_eq!(ids(&all), (1..=40).collect::<Vec<_>>(), "every message once, in order");
    let mut texts: Vec<&str> = all.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    texts.sort_unstable();
    texts.dedup();
    assert_eq!(texts.len(), 40, "none doubled");
}

#[tokio::test]
async fn a_node_that_cannot_use_postgresql_says_so_and_exits() {
    let (redis, db) = redis();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--addr", "127.0.0.1:0", "--web-dir", "/nonexistent", "--redis", &redis.url(), "--database"])
        .arg(format!("postgres://postgres@{closed}/postgres"))
        .arg("--db")
        .arg(&*db)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out).await.expect("it exits").unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot use PostgreSQL at postgres://postgres@{closed}/postgres")),
        "{err}"
    );
}

/// A mixed rollout: once a node with `--database` archived the cluster's Redis, a node
/// without it would change rooms' settings, roles and bans only in Redis, where the
/// others no longer read them; it refuses to start and says why.
#[tokio::test]
async fn a_node_without_postgresql_does_not_join_a_cluster_that_archives() {
    let backing = Backing::start();
    let _archiving = backing.node().await;
    let client = ::redis::Client::open(backing.redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !::redis::cmd("EXISTS").arg("chat:archive-scanned").query_async::<bool>(&mut c).await.unwrap() {
        assert!(Instant::now() < deadline, "the archiver never marked the cluster as archived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--addr", "127.0.0.1:0", "--web-dir", "/nonexistent", "--redis", &backing.redis.url(), "--db"])
        .arg(backing.db.dir().join("plain.db"))
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out).await.expect("it exits").unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("start this node with --database too"), "{err}");
}

/// Redis's `used_memory` after `n` messages in one room through a node that keeps a hot
/// window of 1,000 (`--database`) or every message (Redis alone). A measurement, not a
/// check: `cargo test -p backend --test api postgres::redis_memory -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement of a few minutes; run it by name"]
async fn redis_memory_with_and_without_an_archive() {
    async fn used_memory(redis: &RedisServer) -> u64 {
        let client = ::redis::Client::open(redis.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let info: String = ::redis::cmd("INFO").arg("memory").query_async(&mut c).await.unwrap();
        info.lines().find_map(|l| l.strip_prefix("used_memory:")).unwrap().trim().parse().unwrap()
    }
    for archive in [true, false] {
        let backing = Backing::start();
        let node = if archive {
            let (redis, pg) = (backing.redis.url(), backing.pg.url());
            let args = ["--redis", &redis, "--database", &pg, "--redis-history", "1000"];
            Process::start_with(&backing.db, 0, &args, None).await
        } else {
            Process::start_with(&backing.db, 0, &["--redis", &backing.redis.url()], None).await
        };
        let mut c = Client::connect(&node.url()).await;
        c.join("r").await;
        let before = used_memory(&backing.redis).await;
        let text = "x".repeat(100);
        for step in 1..=4 {
            for i in 0..5_000 {
                let n = (step - 1) * 5_000 + i;
                c.send(json!({"type": "say", "room": "r", "text": text, "cid": format!("c{n}")})).await;
                if i % 100 == 99 {
                    // Let the echoes catch up now and then, as a sending client would.
                    while c.next().await["id"].as_u64().unwrap_or(0) < n as u64 + 1 {}
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let grown = used_memory(&backing.redis).await.saturating_sub(before);
            eprintln!("archive {archive}: {:>6} messages, Redis grew by {grown} bytes", step * 5_000);
        }
    }
}

#[tokio::test]
async fn an_old_message_is_edited_deleted_and_quoted_and_a_resume_from_long_ago_learns_it() {
    let backing = Backing::start();
    let (a, b) = (backing.node().await, backing.node().await);
    let mut alice = Client::connect(&a.url()).await;
    alice.join("r").await;
    for i in 1..=20 {
        alice.say("r", &format!("m{i}"), &format!("c{i}")).await;
    }
    backing.trimmed("r").await;
    // Messages 2 and 3 are only in PostgreSQL now: their sender still edits and deletes
    // them, and a reply still quotes one.
    alice.send(json!({"type": "edit", "room": "r", "id": 2, "text": "m2 fixed"})).await;
    assert_eq!(alice.next().await["type"], "edited");
    alice.send(json!({"type": "delete", "room": "r", "id": 3})).await;
    assert_eq!(alice.next().await["type"], "deleted");
    alice.send(json!({"type": "say", "room": "r", "text": "re", "cid": "re", "reply_to": 2})).await;
    let reply = alice.next().await;
    assert_eq!(reply["quote"]["text"], "m2 fixed", "{reply}");
    for i in 21..=30 {
        alice.say("r", &format!("m{i}"), &format!("c{i}")).await;
    }
    backing.trimmed("r").await;

    // A client that had messages up to 5 comes back on the other node.
    let mut bob = Client::connect(&b.url()).await;
    bob.send(json!({"type": "join", "room": "r", "after": 5})).await;
    let joined = bob.next().await;
    let kinds: Vec<(&str, u64)> = joined["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["type"].as_str().unwrap(), c["id"].as_u64().unwrap()))
        .collect();
    assert_eq!(kinds, [("edited", 2), ("deleted", 3)], "{joined}");
    // And the whole history reads as it is now, from both tiers.
    let all = everything(&b, "r").await;
    let all = all.as_array().unwrap();
    assert_eq!(all[1]["text"], "m2 fixed");
    assert_eq!((all[2]["deleted"].as_bool(), all[2]["text"].as_str()), (Some(true), Some("")), "{}", all[2]);
}

#[tokio::test]
async fn history_owners_moderators_private_rooms_and_the_audit_log_survive_a_flushed_redis() {
    use crate::metrics::ADMIN_TOKEN;
    let backing = Backing::start();
    let args = ["--admin-token", ADMIN_TOKEN];
    let node = backing.node_with(&args).await;
    let mut ann = Client::connect(&node.url()).await;
    ann.set_nick("ann").await;
    ann.join("den").await;
    let mut bob = Client::connect(&node.url()).await;
    bob.set_nick("bob").await;
    bob.join("den").await;
    ann.send(json!({"type": "mod", "room": "den", "nick": "bob", "on": true})).await;
    while ann.next().await["type"] != "role" {}
    ann.send(json!({"type": "join", "room": "vault", "password": "sesame"})).await;
    assert_eq!(ann.next().await["type"], "joined");
    // Answered once the moderator and the private room are stored: requests are in order.
    ann.send(json!({"type": "ping"})).await;
    while ann.next().await["type"] != "pong" {}
    let mut carl = Client::connect(&node.url()).await;
    carl.set_nick("carl").await;
    let addr = ([127, 0, 0, 1], node.port).into();
    let kick = json!({"nick": "carl"}).to_string();
    let kicked =
        crate::admin::call(addr, "POST", "/api/admin/kick", Some(ADMIN_TOKEN), Some(&kick), "198.51.100.1");
    assert_eq!(kicked.await.0, 200);
    // Said and archived: the room exists for PostgreSQL (roles alone do not make it).
    for i in 0..=WINDOW {
        ann.say("den", "kept", &format!("a{i}")).await;
    }
    backing.trimmed("den").await;
    let (ann_token, bob_token) = (ann.resume.clone(), bob.resume.clone());
    node.sigkill().await;

    backing.flush_redis().await;
    let node = backing.node_with(&args).await;
    // Someone else comes first: the room exists, so it is not theirs; the vault still
    // asks its password.
    let mut dave = Client::connect(&node.url()).await;
    dave.set_nick("dave").await;
    let joined = dave.join("den").await;
    assert_eq!(joined.get("roles"), None);
    // The history is PostgreSQL's, and the room numbers on from it.
    assert_eq!(ids(&joined["history"]), (1..=WINDOW as u64 + 1).collect::<Vec<_>>());
    assert_eq!(dave.say("den", "after the flush", "d1").await["id"], WINDOW + 2);
    dave.send(json!({"type": "join", "room": "vault"})).await;
    dave.expect_error("forbidden").await;
    let mut ann = Client::connect(&format!("{}?resume={ann_token}", node.url())).await;
    ann.set_nick("ann").await;
    assert_eq!(ann.join("den").await["roles"], json!([{"nick": "ann", "role": "owner"}]));
    let mut bob = Client::connect(&format!("{}?resume={bob_token}", node.url())).await;
    bob.set_nick("bob").await;
    assert_eq!(
        bob.join("den").await["roles"],
        json!([{"nick": "ann", "role": "owner"}, {"nick": "bob", "role": "moderator"}])
    );
    let addr = ([127, 0, 0, 1], node.port).into();
    let (status, audit) =
        crate::admin::call(addr, "GET", "/api/admin/audit", Some(ADMIN_TOKEN), None, "198.51.100.1").await;
    assert_eq!(status, 200);
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!((&entries[0]["action"], &entries[0]["nick"]), (&json!("kick"), &json!("carl")));
}

/// Redis emptied under a running node (an operator's `FLUSHALL`): the node's next
/// messages in a room it wrote to before number on from what PostgreSQL has, not from 1,
/// though its writer no longer checks the counter of such a room before each batch.
#[tokio::test]
async fn a_redis_flushed_under_a_running_node_numbers_on_from_postgresql() {
    let backing = Backing::start();
    let node = backing.node().await;
    let mut ann = Client::connect(&node.url()).await;
    ann.set_nick("ann").await;
    ann.join("den").await;
    for i in 0..=WINDOW {
        ann.say("den", "kept", &format!("a{i}")).await;
    }
    backing.trimmed("den").await;
    backing.flush_redis().await;
    assert_eq!(ann.say("den", "after the flush", "b0").await["id"], WINDOW + 2);
    assert_eq!(ann.say("den", "and on", "b1").await["id"], WINDOW + 3);
}

/// Every key of Redis with its `MEMORY USAGE` (all of it counted, `SAMPLES 0`).
async fn redis_keys(redis: &RedisServer) -> Vec<(String, u64)> {
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = ::redis::cmd("KEYS").arg("*").query_async(&mut c).await.unwrap();
    let mut sizes = Vec::new();
    for key in keys {
        let size: Option<u64> = ::redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&key)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut c)
            .await
            .unwrap();
        sizes.push((key, size.unwrap_or(0)));
    }
    sizes
}

/// Says `n` messages (a multiple of 100) in `room`, their `cid`s `c<first>` on, as a
/// sending client does (the echoes read a hundred at a time); of each hundred, the first
/// answers the last of the hundred before, and the tenth is edited, the twentieth
/// deleted and the thirtieth reacted to once said.
async fn say_many(c: &mut Client, room: &str, first: u64, n: u64) {
    let mut last = None;
    for start in (first..first + n).step_by(100) {
        for i in start..start + 100 {
            let mut say =
                json!({"type": "say", "room": room, "text": "x".repeat(100), "cid": format!("c{i}")});
            if i == start
                && let Some(quoted) = last
            {
                say["reply_to"] = json!(quoted);
            }
            c.send(say).await;
        }
        let mut ids = Vec::new();
        while ids.len() < 100 {
            let frame = c.next().await;
            if frame["type"] == "message" {
                ids.push(frame["id"].as_u64().unwrap());
            }
        }
        c.send(json!({"type": "edit", "room": room, "id": ids[10], "text": "edited"})).await;
        c.send(json!({"type": "react", "room": room, "id": ids[30], "emoji": "👍", "on": true})).await;
        c.send(json!({"type": "delete", "room": room, "id": ids[20]})).await;
        while c.next().await["type"] != "deleted" {}
        last = ids.last().copied();
    }
}

#[tokio::test]
async fn redis_memory_stays_flat_however_many_messages_go_past_the_hot_window() {
    let backing = Backing::start();
    let node = backing.node().await;
    let mut c = Client::connect(&node.url()).await;
    c.join("r").await;
    let mut totals = Vec::new();
    let step = 1_500;
    for round in 0..3 {
        say_many(&mut c, "r", round * step + 1, step).await;
        backing.trimmed("r").await;
        let keys = redis_keys(&backing.redis).await;
        let total: u64 = keys.iter().map(|k| k.1).sum();
        // By kind (the key without its last part, a sender, id or day), for the figures.
        let mut kinds = std::collections::BTreeMap::<String, (usize, u64)>::new();
        for (key, size) in &keys {
            let kind = key.rsplit_once(':').map_or(key.as_str(), |(kind, _)| kind);
            let kind = if kind.starts_with("chat:cids") { "chat:cids" } else { kind };
            let (n, bytes) = kinds.entry(kind.to_owned()).or_default();
            (*n, *bytes) = (*n + 1, *bytes + size);
        }
        eprintln!("after {} messages: {total} bytes in {} keys: {kinds:?}", (round + 1) * step, keys.len());
        totals.push(total);
    }
    // Without bounds, each message would keep about 60 bytes (its `cid`), each reply and
    // change more: 90 KB more for the last 1,500.
    assert!(totals[2] <= totals[1] + 16 * 1024, "Redis grew from {} to {} bytes", totals[1], totals[2]);
}
