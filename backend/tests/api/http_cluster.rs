//! The chat over plain HTTP on several nodes without sticky sessions: a stream held by one
//! real `chat-server` process, its posts sent to any node of the cluster (one real
//! `redis-server`), as a round-robin balancer would send them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster::{next_message, nodes, redis};
use crate::durability::Process;
use crate::helpers::Client;
use crate::http_stream::{Stream, open_ok, post};

fn addr(node: &Process) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], node.port))
}

/// The next frame of type `ty` on a stream (others skipped).
async fn next_of(st: &mut Stream, ty: &str) -> Value {
    loop {
        let v = st.next().await;
        if v["type"] == ty {
            return v;
        }
    }
}

fn say(text: &str) -> Value {
    json!([{"type": "say", "room": "r", "text": text, "cid": text}])
}

/// A stream on `node` that has joined room `r`, posting its join through `via`.
async fn joined(node: SocketAddr, via: SocketAddr) -> Stream {
    let mut st = open_ok(node, "?v=2").await;
    let (status, _, body) = st.post_via(via, json!([{"type": "join", "room": "r"}])).await;
    assert_eq!(status, 200, "{body}");
    next_of(&mut st, "joined").await;
    st
}

#[tokio::test]
async fn posts_through_either_node_reach_the_stream_once_and_in_order() {
    let (redis, db) = redis();
    let nodes = nodes(&redis, &db, 2).await;
    let (a, b) = (addr(&nodes[0]), addr(&nodes[1]));
    let mut watcher = Client::connect(&nodes[1].url()).await;
    watcher.join("r").await;
    let mut st = joined(a, b).await;
    assert!(st.id.contains('.'), "a cluster's stream id names its node: {}", st.id);
    const N: usize = 20;
    for i in 0..N {
        // Mostly through the node that does not hold the stream.
        let via = if i % 3 == 0 { a } else { b };
        let (status, _, body) = st.post_via(via, say(&format!("m{i}"))).await;
        assert_eq!(status, 200, "post {i} through {via}: {body}");
    }
    let want: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    let mut watched = Vec::new();
    while watched.len() < N {
        watched.push(next_message(&mut watcher).await["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(watched, want, "the other node's member");
    let mut own = Vec::new();
    while own.len() < N {
        own.push(next_of(&mut st, "message").await["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(own, want, "the stream's own client");
    let more = tokio::time::timeout(Duration::from_millis(300), next_message(&mut watcher)).await;
    assert!(more.is_err(), "a message twice: {more:?}");
}

#[tokio::test]
async fn a_retried_post_is_applied_once_whichever_node_it_reaches() {
    let (redis, db) = redis();
    let nodes = nodes(&redis, &db, 2).await;
    let (a, b) = (addr(&nodes[0]), addr(&nodes[1]));
    let mut watcher = Client::connect(&nodes[1].url()).await;
    watcher.join("r").await;
    let mut st = joined(a, a).await;
    let (status, _, body) = st.post_via(b, say("once")).await;
    assert_eq!(status, 200, "{body}");
    // Its answer was lost, say: the client sends it again, to whichever node.
    for via in [a, b] {
        st.seq -= 1;
        let (status, _, body) = st.post_via(via, say("once")).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("duplicate"), "{body}");
    }
    // One that comes before the one before it, through the other node: refused, not applied.
    st.seq += 1;
    let (status, _, body) = st.post_via(b, say("too early")).await;
    assert_eq!(status, 409, "{body}");
    st.seq -= 2;
    // Another stream's token, through the other node.
    let wrong = format!("Bearer {}", watcher.resume);
    let query = format!("?stream={}&seq={}", st.id, st.seq);
    let (status, _, body) =
        post(b, &query, say("stolen").to_string().as_bytes(), &[("Authorization", &wrong)]).await;
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = st.post_via(b, say("next")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(next_message(&mut watcher).await["text"], "once");
    assert_eq!(next_message(&mut watcher).await["text"], "next");
    let more = tokio::time::timeout(Duration::from_millis(300), next_message(&mut watcher)).await;
    assert!(more.is_err(), "applied twice: {more:?}");
}

#[tokio::test]
async fn a_post_for_an_ended_stream_is_404_on_every_node() {
    let (redis, db) = redis();
    let mut nodes = nodes(&redis, &db, 2).await;
    let (a, b) = (addr(&nodes[0]), addr(&nodes[1]));
    // Ended by its holder: replaced by a stream opened with its token.
    let mut old = open_ok(a, "").await;
    let token = old.resume.clone();
    let new = open_ok(a, &format!("?resume={token}")).await;
    while old.event().await.is_some() {}
    let auth = format!("Bearer {token}");
    for via in [a, b] {
        let (status, _, body) =
            post(via, &format!("?stream={}&seq=1", old.id), b"[]", &[("Authorization", &auth)]).await;
        assert_eq!(status, 404, "through {via}: {body}");
        assert!(body.contains("open a new one"), "{body}");
    }
    // Ids no node gave: nobody's, wherever they are sent.
    for id in ["0123456789abcdef.00", "not-a-node.00", &format!("{}x", old.id)] {
        let (status, _, body) =
            post(b, &format!("?stream={id}&seq=1"), b"[]", &[("Authorization", &auth)]).await;
        assert_eq!(status, 404, "{id}: {body}");
    }
    // Ended with its holder, stopped: nobody holds its node's address, told at once.
    nodes.remove(0).sigterm().await;
    let asked = Instant::now();
    let (status, _, body) =
        post(b, &format!("?stream={}&seq=1", new.id), b"[]", &[("Authorization", &auth)]).await;
    assert_eq!(status, 404, "{body}");
    assert!(asked.elapsed() < Duration::from_secs(3), "told in {:?}", asked.elapsed());
}

#[tokio::test]
async fn after_its_node_is_killed_a_stream_reopens_on_another_with_its_token_and_misses_nothing() {
    let (redis, db) = redis();
    let mut nodes = nodes(&redis, &db, 2).await;
    let (a, b) = (addr(&nodes[0]), addr(&nodes[1]));
    let mut watcher = Client::connect(&nodes[1].url()).await;
    watcher.join("r").await;
    let mut st = joined(a, b).await;
    let nick = st.nick.clone();
    let mut last = 0;
    for i in 0..5 {
        watcher
            .send(json!({"type": "say", "room": "r", "text": format!("w{i}"), "cid": format!("w{i}")}))
            .await;
        let m = next_of(&mut st, "message").await;
        assert_eq!(m["text"], format!("w{i}"));
        last = m["id"].as_u64().unwrap();
    }
    nodes.remove(0).sigkill().await;
    // Said after its node died, acknowledged to their sender (whatever presence comes between).
    for i in 5..10 {
        watcher
            .send(json!({"type": "say", "room": "r", "text": format!("w{i}"), "cid": format!("w{i}")}))
            .await;
    }
    let mut acked = 0;
    while acked < 10 {
        next_message(&mut watcher).await;
        acked += 1;
    }
    // The client's next post, sent to the node that is left, says its stream is gone.
    let (status, _, body) = st.post_via(b, say("lost?")).await;
    assert_eq!(status, 404, "{body}");
    // It reopens there with its token and asks for what came after the last it saw.
    let mut st = open_ok(b, &format!("?v=2&resume={}", st.resume)).await;
    assert_eq!(st.nick, nick, "its nick, as on one node");
    st.send(json!([{"type": "join", "room": "r", "after": last}])).await;
    let joined = next_of(&mut st, "joined").await;
    let texts: Vec<&str> =
        joined["history"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["w5", "w6", "w7", "w8", "w9"], "{joined}");
    // And it chats on: the post the dead node never applied, sent again.
    st.send(say("lost?")).await;
    assert_eq!(next_message(&mut watcher).await["text"], "lost?");
}

#[tokio::test]
async fn a_holder_that_does_not_answer_gets_a_504_within_the_bound() {
    let (redis, db) = redis();
    let nodes = nodes(&redis, &db, 2).await;
    let (a, b) = (addr(&nodes[0]), addr(&nodes[1]));
    let mut st = open_ok(a, "").await;
    nodes[0].signal("STOP");
    let asked = Instant::now();
    let (status, _, body) = st.post_via(b, json!([{"type": "ping"}])).await;
    let took = asked.elapsed();
    nodes[0].signal("CONT");
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("retry"), "{body}");
    assert!(took >= Duration::from_secs(4) && took < Duration::from_secs(9), "answered after {took:?}");
}
