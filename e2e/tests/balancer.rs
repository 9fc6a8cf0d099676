//! Two nodes of a cluster (separate `chat-server` processes on a real `redis-server`)
//! behind the real nginx that `cargo xtask cluster` runs, round-robin with no stickiness,
//! and a network in front of it that refuses WebSocket upgrades: a phone there chats over
//! the HTTP stream (its posts spread over both nodes by nginx) with a desk on a WebSocket.
//! The node holding the phone's stream is SIGKILLed: the phone reopens its stream through
//! nginx on the other node by itself, and the chat goes on, nothing lost, nothing doubled.

use std::time::Duration;

use anyhow::{Result, bail, ensure};
use backend::balancer::Balancer;
use backend::redis_server::RedisServer;
use e2e::{Driver, Node, Proxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_on_the_http_stream_behind_nginx_survives_its_node_being_killed() -> Result<()> {
    // Removed when the test ends, after everything in it (declared first, dropped last).
    let dir = tempfile::Builder::new().prefix("chat-e2e-balancer-").tempdir()?;
    let redis = RedisServer::start(&dir.path().join("redis"))?;
    let redis_url = redis.url();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        nodes.push(Node::start(&dir.path().join("nodes"), &["--redis", &redis_url])?);
    }
    let upstreams: Vec<_> = nodes.iter().map(Node::addr).collect();
    let nginx = Balancer::start(&dir.path().join("nginx"), &upstreams)?;
    let network = Proxy::refusing_upgrades(nginx.addr().port()).await?;
    let driver = Driver::start().await?;
    let (phone, desk) = (driver.phone().await?, driver.desktop().await?);
    phone.open(&network.url()).await?;
    phone.wait_text("status", "Connected · HTTP").await?;
    // Which node nginx gave the stream to: the desk goes straight to the other one, so
    // that the only page the kill moves is the phone.
    let deadline = std::time::Instant::now() + e2e::WAIT;
    let holder = loop {
        match (nodes[0].connections("http").await?, nodes[1].connections("http").await?) {
            (1, 0) => break 0,
            (0, 1) => break 1,
            seen if std::time::Instant::now() > deadline => bail!("streams on the nodes: {seen:?}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let survivor = &nodes[1 - holder];
    desk.open(&survivor.url("127.0.0.1")).await?;
    desk.wait_text("status", "Connected").await?;
    ensure!(!desk.text_of("[role=status]").await?.contains("HTTP"), "the desk is on its WebSocket");

    phone.type_and_enter("Nickname", "pat").await?;
    phone.until("nick", || async { Ok(phone.value("Nickname").await? == "pat") }).await?;
    desk.type_and_enter("Message", "desk 1: which node are you on?").await?;
    phone.wait_text("log", "desk 1: which node are you on?").await?;
    // Each post goes to whichever node nginx picks; the other hands it to the holder.
    for text in ["phone 1: the other one", "phone 2: through nginx", "phone 3: posts on both"] {
        phone.type_and_enter("Message", text).await?;
    }
    desk.wait_text("log", "phone 3: posts on both").await?;
    let before = [
        "desk 1: which node are you on?",
        "phone 1: the other one",
        "phone 2: through nginx",
        "phone 3: posts on both",
    ];
    phone.until("nothing pending", || async { Ok(phone.count("[data-pending=true]").await? == 0) }).await?;
    phone.shown_once_in_order("the phone", &before).await?;
    desk.shown_once_in_order("the desk", &before).await?;

    // The phone's node dies without a word; the chat goes on meanwhile on both sides.
    nodes.remove(holder).sigkill()?;
    let survivor = &nodes[0];
    desk.type_and_enter("Message", "desk 2: said as your node died").await?;
    phone.type_and_enter("Message", "phone 4: typed as it died").await?;
    // The phone finds its stream gone and reopens it through nginx, on the survivor.
    phone.wait_text_within("log", "desk 2: said as your node died", Duration::from_secs(40)).await?;
    phone.wait_text_within("status", "Connected · HTTP", Duration::from_secs(30)).await?;
    desk.wait_text_within("log", "phone 4: typed as it died", Duration::from_secs(30)).await?;
    phone.until("nothing pending", || async { Ok(phone.count("[data-pending=true]").await? == 0) }).await?;
    ensure!(survivor.connections("http").await? == 1, "the phone's stream is not on the survivor");
    desk.type_and_enter("Message", "desk 3: welcome back").await?;
    phone.wait_text("log", "desk 3: welcome back").await?;
    phone.type_and_enter("Message", "phone 5: never left").await?;
    desk.wait_text("log", "phone 5: never left").await?;
    let after = ["desk 3: welcome back", "phone 5: never left"];
    for (page, who) in [(&phone, "the phone"), (&desk, "the desk")] {
        page.shown_once_in_order(who, &before).await?;
        page.shown_once_in_order(who, &after).await?;
        // What was said during the kill: each once, between the two.
        for text in ["desk 2: said as your node died", "phone 4: typed as it died"] {
            page.shown_once_in_order(who, &[before[3], text, after[0]]).await?;
        }
    }
    ensure!(phone.value("Nickname").await? == "pat", "the phone lost its nickname");
    // The dead node's connection was replaced when the phone came back; once the
    // cluster reaps that node (its heartbeat expired), nobody is seen to leave: two
    // people, two members listed and counted, on both pages.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !survivor.logged().contains("a node stopped beating") {
        ensure!(std::time::Instant::now() < deadline, "the dead node was never reaped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    const MEMBERS: &str = "return [(document.querySelector('[data-testid=member-count]') || {}).textContent || '', \
         [...document.querySelectorAll('aside[aria-label=Members] [data-testid=member]')].map(e => e.textContent)]";
    // The reap's leaves cross Redis after it: watched for a while.
    let watched = std::time::Instant::now();
    while watched.elapsed() < Duration::from_secs(3) {
        for page in [&phone, &desk] {
            let seen = page.eval(MEMBERS).await?;
            let listed = seen[1].as_array().map_or(0, Vec::len);
            ensure!(seen[0].as_str().map(str::trim) == Some("2") && listed == 2, "the room shows {seen}");
        }
        ensure!(!desk.text_of("[role=log]").await?.contains("pat left"), "the desk saw pat leave");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let shot = phone.screenshot("balancer-node-killed").await?;
    eprintln!("screenshot: {}", shot.display());
    desk.screenshot("balancer-node-killed-desk").await?;
    phone.close().await?;
    desk.close().await?;
    Ok(())
}
