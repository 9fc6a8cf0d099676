//! Two nodes of one cluster (a real `redis-server`, `--redis`): a desktop page on one and a
//! phone page on the other chat with each other as if on one server, and each lists the
//! other among the room's members.

use anyhow::Result;
use backend::redis_server::RedisServer;
use e2e::{Driver, Page, Server};

/// The nicks the members panel lists (in a closed drawer too) and the count it shows.
async fn members(page: &Page) -> Result<(Vec<String>, String)> {
    let v = page
        .eval(
            "return [[...document.querySelectorAll('aside[aria-label=Members] [data-testid=member]')].map(e => e.textContent.trim()), \
             (document.querySelector('[data-testid=member-count]') || {}).textContent || '']",
        )
        .await?;
    let nicks = v[0].as_array().map(|a| a.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect());
    Ok((nicks.unwrap_or_default(), v[1].as_str().unwrap_or_default().trim().to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_and_a_phone_on_two_nodes_chat_both_ways() -> Result<()> {
    // Removed when the test ends, after Redis (declared later, dropped first) is killed.
    let dir = tempfile::Builder::new().prefix("chat-e2e-redis-").tempdir()?;
    let redis = RedisServer::start(dir.path())?;
    let one = Server::start_node(Some(redis.url())).await?;
    let two = Server::start_node(Some(redis.url())).await?;
    let driver = Driver::start().await?;
    let desktop = driver.desktop().await?;
    let phone = driver.phone().await?;

    desktop.open(&one.url("127.0.0.1")).await?;
    phone.open(&two.url("127.0.0.2")).await?;
    for page in [&desktop, &phone] {
        page.wait_text("status", "Connected").await?;
    }
    // Each page lists both people (each on its own node), with a count of 2, and sees
    // the other's new nickname.
    desktop.type_and_enter("Nickname", "Ada").await?;
    phone.type_and_enter("Nickname", "Pip").await?;
    for page in [&desktop, &phone] {
        page.until("both members, Ada and Pip, listed", || async {
            let (nicks, count) = members(page).await?;
            Ok(nicks == ["Ada", "Pip"] && count == "2")
        })
        .await?;
    }

    desktop.type_and_enter("Message", "Hello from node one").await?;
    phone.wait_text("log", "Hello from node one").await?;
    phone.field("Message").await?.send_keys("Hi from node two").await?;
    phone.button("Send").await?.click().await?;
    desktop.wait_text("log", "Hi from node two").await?;
    // Both show the same conversation, in the same order.
    let order = "return [...document.querySelectorAll('[role=log]')].map(e => e.innerText).join('')";
    let (mine, theirs) = (desktop.eval(order).await?, phone.eval(order).await?);
    let at = |log: &serde_json::Value, text: &str| {
        log.as_str().and_then(|l| l.find(text)).unwrap_or_else(|| panic!("{text} is not in {log}"))
    };
    for log in [&mine, &theirs] {
        assert!(at(log, "Hello from node one") < at(log, "Hi from node two"), "{log}");
    }
    phone.screenshot("cluster-phone").await?;
    desktop.close().await?;
    phone.close().await?;
    Ok(())
}
