//! Two real nodes behind the real nginx that `cargo xtask cluster` runs (its
//! configuration from `backend::balancer`): one URL, requests spread round-robin with no
//! stickiness, WebSockets upgraded through it, the HTTP stream's events not held back,
//! and a stream's posts applied whichever node nginx sends them to.

use std::collections::HashSet;
use std::net::SocketAddr;

use backend::balancer::Balancer;
use serde_json::json;

use crate::cluster::{next_message, nodes, redis};
use crate::helpers::Client;
use crate::http_stream::open_ok;

#[tokio::test]
async fn behind_nginx_streams_and_websockets_share_one_chat_on_any_node() {
    let (redis, db) = redis();
    let nodes = nodes(&redis, &db, 2).await;
    let upstreams: Vec<SocketAddr> =
        nodes.iter().map(|n| SocketAddr::from(([127, 0, 0, 1], n.port))).collect();
    let lb = Balancer::start(&db.dir().join("nginx"), &upstreams).expect("nginx in front of the nodes");
    let ws_url = format!("ws://{}/ws", lb.addr());
    // Round-robin, no stickiness: streams opened one after the other land on both nodes.
    let mut holders = HashSet::new();
    let mut streams = Vec::new();
    for _ in 0..4 {
        let st = open_ok(lb.addr(), "?v=2").await;
        holders.insert(st.id.split_once('.').expect("a cluster's stream id").0.to_owned());
        streams.push(st);
    }
    assert_eq!(holders.len(), 2, "four streams through nginx, on both nodes");
    let mut st = streams.pop().unwrap();
    drop(streams);
    // The upgrade passes through it.
    let mut ws = Client::connect(&ws_url).await;
    ws.join("r").await;
    // Every post goes to whichever node nginx picks; each is applied once, in order.
    st.send(json!([{"type": "join", "room": "r"}])).await;
    const N: usize = 12;
    for i in 0..N {
        st.send(json!([{"type": "say", "room": "r", "text": format!("h{i}"), "cid": format!("h{i}")}])).await;
    }
    for i in 0..N {
        assert_eq!(next_message(&mut ws).await["text"], format!("h{i}"));
    }
    // And the stream's events come as they are sent, not when a buffer fills.
    ws.send(json!({"type": "say", "room": "r", "text": "to the stream", "cid": "w"})).await;
    loop {
        let v = st.next().await;
        if v["type"] == "message" && v["text"] == "to the stream" {
            break;
        }
    }
}

#[tokio::test]
async fn behind_nginx_a_stream_whose_node_is_killed_reopens_through_it_and_misses_nothing() {
    let (redis, db) = redis();
    let mut nodes = nodes(&redis, &db, 2).await;
    let upstreams: Vec<SocketAddr> =
        nodes.iter().map(|n| SocketAddr::from(([127, 0, 0, 1], n.port))).collect();
    let lb = Balancer::start(&db.dir().join("nginx"), &upstreams).expect("nginx in front of the nodes");
    // A stream that nginx gave to the first node; its posts go through nginx to either.
    let mut st = open_ok(upstreams[0], "?v=2").await;
    let nick = st.nick.clone();
    let (status, _, body) = st.post_via(lb.addr(), json!([{"type": "join", "room": "r"}])).await;
    assert_eq!(status, 200, "{body}");
    let joined = loop {
        let v = st.next().await;
        if v["type"] == "joined" {
            break v;
        }
    };
    let after = joined["history"].as_array().and_then(|h| h.last()).map_or(0, |m| m["id"].as_u64().unwrap());
    nodes.remove(0).sigkill().await;
    // Said while the stream's node is dead, by someone who connects through nginx.
    let mut ws = Client::connect(&format!("ws://{}/ws", lb.addr())).await;
    ws.join("r").await;
    ws.say("r", "while it was away", "w1").await;
    // The next post, whichever node nginx tries, says the stream is gone...
    let (status, _, body) = st.post_via(lb.addr(), json!([{"type": "ping"}])).await;
    assert_eq!(status, 404, "{body}");
    // ...and the stream reopened through nginx, with its token, gets what it missed.
    let mut st = open_ok(lb.addr(), &format!("?v=2&resume={}", st.resume)).await;
    assert_eq!(st.nick, nick);
    st.send(json!([{"type": "join", "room": "r", "after": after}])).await;
    let joined = loop {
        let v = st.next().await;
        if v["type"] == "joined" {
            break v;
        }
    };
    let texts: Vec<&str> =
        joined["history"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["while it was away"], "{joined}");
}
