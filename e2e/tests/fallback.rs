//! A network that refuses WebSocket upgrades (a proxy that passes plain HTTP only): the
//! app falls back to the server's event stream and posts, says so discreetly, and chats
//! with a page on a WebSocket both ways, each message once and in order, also after the
//! network goes away and comes back.

use anyhow::{Result, ensure};
use e2e::{Driver, Page, Proxy, Server};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A phone behind a network that refuses upgrades, connected over HTTP, and a desktop on
/// its WebSocket, both on one server.
struct Pages {
    phone: Page,
    desk: Page,
    network: Proxy,
    // Kept for as long as the pages use them.
    _driver: Driver,
    _server: Server,
}

impl Pages {
    async fn connected() -> Result<Self> {
        let server = Server::start().await?;
        let network = Proxy::refusing_upgrades(server.port).await?;
        let driver = Driver::start().await?;
        let (phone, desk) = (driver.phone().await?, driver.desktop().await?);
        phone.open(&network.url()).await?;
        desk.open(&server.url("127.0.0.1")).await?;
        phone.wait_text("status", "Connected · HTTP").await?;
        desk.wait_text("status", "Connected").await?;
        Ok(Self { phone, desk, network, _driver: driver, _server: server })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_whose_network_refuses_websockets_chats_over_http() -> Result<()> {
    let Pages { phone, desk, network, _driver, _server } = Pages::connected().await?;
    ensure!(!desk.text_of("[role=status]").await?.contains("HTTP"), "the desk is on its WebSocket");
    ensure!(network.refused.load(Ordering::SeqCst) >= 1, "the phone's WebSocket was never refused");

    phone.type_and_enter("Nickname", "pat").await?;
    phone.until("nick", || async { Ok(phone.value("Nickname").await? == "pat") }).await?;
    desk.type_and_enter("Message", "desk 1: can you read me?").await?;
    phone.wait_text("log", "desk 1: can you read me?").await?;
    for text in ["phone 1: loud and clear", "phone 2: over plain HTTP"] {
        phone.type_and_enter("Message", text).await?;
    }
    desk.wait_text("log", "phone 2: over plain HTTP").await?;
    desk.type_and_enter("Message", "desk 2: good").await?;
    phone.wait_text("log", "desk 2: good").await?;
    let before =
        ["desk 1: can you read me?", "phone 1: loud and clear", "phone 2: over plain HTTP", "desk 2: good"];
    phone.until("nothing pending", || async { Ok(phone.count("[data-pending=true]").await? == 0) }).await?;
    phone.shown_once_in_order("the phone", &before).await?;
    desk.shown_once_in_order("the desk", &before).await?;
    let shot = phone.screenshot("http-fallback").await?;
    eprintln!("screenshot: {}", shot.display());

    // The network goes away: the stream ends, the posts find nothing.
    network.cut();
    phone
        .until("not connected", || async { Ok(!phone.text_of("[role=status]").await?.contains("Connected")) })
        .await?;
    for text in ["phone 3: typed in the tunnel", "phone 4: still in it"] {
        phone.type_and_enter("Message", text).await?;
    }
    desk.type_and_enter("Message", "desk 3: said while pat was away").await?;
    network.restore();
    phone.wait_text_within("status", "Connected · HTTP", Duration::from_secs(30)).await?;
    phone.wait_text("log", "desk 3: said while pat was away").await?;
    desk.wait_text("log", "phone 4: still in it").await?;
    phone.until("nothing pending", || async { Ok(phone.count("[data-pending=true]").await? == 0) }).await?;
    let after = ["phone 3: typed in the tunnel", "phone 4: still in it"];
    for page in [&phone, &desk] {
        page.shown_once_in_order("a page", &before).await?;
        page.shown_once_in_order("a page", &after).await?;
    }
    desk.type_and_enter("Message", "desk 4: welcome back").await?;
    phone.wait_text("log", "desk 4: welcome back").await?;
    phone.type_and_enter("Message", "phone 5: thanks").await?;
    desk.wait_text("log", "phone 5: thanks").await?;
    desk.shown_once_in_order("the desk", &["desk 4: welcome back", "phone 5: thanks"]).await?;
    phone.screenshot("http-fallback-back").await?;
    phone.close().await?;
    desk.close().await?;
    Ok(())
}

/// Records every text the status shows, with the time, in `window.statuses`.
const RECORD_STATUS: &str = "
window.statuses = [];
const status = document.querySelector('[role=status]');
new MutationObserver(() => window.statuses.push([performance.now(), status.textContent]))
  .observe(status, { subtree: true, childList: true, characterData: true });
return performance.now();
";

/// iOS ends the streams of a page it suspends without an `error` event: when the page
/// comes back, the app must notice that the stream has been silent too long and replace
/// it at once, not wait for its 30 s silence probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_while_the_page_was_hidden_is_replaced_when_it_shows_again() -> Result<()> {
    let Pages { phone, desk, network, _driver, _server } = Pages::connected().await?;
    // A frame just before the cut: the app's silence probe would then only reconnect 30 s
    // later, well after the page shows again below.
    desk.type_and_enter("Message", "desk 1: before the freeze").await?;
    phone.wait_text("log", "desk 1: before the freeze").await?;
    network.freeze();
    let frozen = std::time::Instant::now();
    // Hidden long enough for the server's heartbeats (every 15 s) to have been missed.
    tokio::time::sleep(Duration::from_secs(23)).await;
    network.restore();
    let shown_at = phone.eval(RECORD_STATUS).await?.as_f64().unwrap_or_default();
    // As the browser fires it: at the document, bubbling up to the window.
    phone.eval("document.dispatchEvent(new Event('visibilitychange', {bubbles: true})); return null").await?;
    phone
        .until("a new stream", || async {
            let statuses = phone.eval("return window.statuses").await?;
            Ok(statuses.as_array().into_iter().flatten().any(|s| {
                s[0].as_f64().is_some_and(|t| t >= shown_at) && s[1].as_str() == Some("Connecting…")
            }))
        })
        .await?;
    let noticed = frozen.elapsed();
    ensure!(noticed < Duration::from_secs(29), "replaced only after {noticed:?}: by the silence probe");
    phone.wait_text("status", "Connected · HTTP").await?;
    desk.type_and_enter("Message", "desk 2: you are back").await?;
    phone.wait_text("log", "desk 2: you are back").await?;
    phone.type_and_enter("Message", "phone 1: so I am").await?;
    desk.wait_text("log", "phone 1: so I am").await?;
    phone.shown_once_in_order("the phone", &["desk 1: before the freeze", "desk 2: you are back"]).await?;
    phone.close().await?;
    desk.close().await?;
    Ok(())
}
