//! A device loses its network, its user types two messages, the network comes back: both
//! are sent once, and what others said meanwhile shows up.

use anyhow::Result;
use e2e::{Driver, Page, Proxy, Server};

async fn own_count(page: &Page, text: &str) -> Result<usize> {
    let texts = page
        .eval("return [...document.querySelectorAll('[data-testid=message]')].map(e => e.innerText)")
        .await?;
    Ok(texts
        .as_array()
        .map_or(0, |a| a.iter().filter(|t| t.as_str().is_some_and(|t| t.contains(text))).count()))
}

/// How opaque the member list is drawn (1 when shown as live).
async fn members_opacity(page: &Page) -> Result<f64> {
    let opacity =
        page.eval("return getComputedStyle(document.querySelector('.member-list')).opacity").await?;
    opacity.as_str().and_then(|o| o.parse().ok()).ok_or_else(|| anyhow::anyhow!("no opacity: {opacity}"))
}

/// A phone whose network the test controls (through a proxy) and a desktop connected
/// directly, both connected. The server and driver live as long as the scene.
struct Scene {
    _server: Server,
    network: Proxy,
    _driver: Driver,
    phone: Page,
    desk: Page,
}

impl Scene {
    async fn start() -> Result<Self> {
        let server = Server::start().await?;
        let network = Proxy::start(server.port).await?;
        let driver = Driver::start().await?;
        let (phone, desk) = (driver.phone().await?, driver.desktop().await?);
        phone.open(&network.url()).await?;
        desk.open(&server.url("127.0.0.1")).await?;
        for page in [&phone, &desk] {
            page.wait_text("status", "Connected").await?;
        }
        Ok(Self { _server: server, network, _driver: driver, phone, desk })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_typed_offline_are_sent_once_when_back() -> Result<()> {
    let Scene { _server, network, _driver, phone, desk } = Scene::start().await?;
    phone.type_and_enter("Nickname", "pat").await?;
    phone.until("nick", || async { Ok(phone.value("Nickname").await? == "pat") }).await?;
    phone.type_and_enter("Message", "before the tunnel").await?;
    desk.wait_text("log", "before the tunnel").await?;

    network.cut();
    phone
        .until("not connected", || async { Ok(!phone.text_of("[role=status]").await?.contains("Connected")) })
        .await?;
    for text in ["typed in the tunnel 1", "typed in the tunnel 2"] {
        phone.type_and_enter("Message", text).await?;
        assert_eq!(phone.value("Message").await?, "", "the input clears even offline");
    }
    phone.until("2 pending", || async { Ok(phone.count("[data-pending=true]").await? == 2) }).await?;
    assert!(
        members_opacity(&phone).await? < 0.75,
        "the members shown while disconnected are the last known: they look it"
    );
    phone.screenshot("offline-pending").await?;
    desk.type_and_enter("Message", "said while pat was away").await?;

    network.restore();
    phone.wait_text("status", "Connected").await?;
    phone.wait_text("log", "said while pat was away").await?;
    phone.until("nothing pending", || async { Ok(phone.count("[data-pending=true]").await? == 0) }).await?;
    phone.until("members live again", || async { Ok(members_opacity(&phone).await? == 1.0) }).await?;
    for text in ["typed in the tunnel 1", "typed in the tunnel 2"] {
        desk.wait_text("log", text).await?;
        assert_eq!(own_count(&desk, text).await?, 1, "{text} arrives once");
        assert_eq!(own_count(&phone, text).await?, 1, "{text} shows once on the phone");
    }
    assert_eq!(own_count(&phone, "before the tunnel").await?, 1, "no duplicate after resume");
    phone.screenshot("offline-back").await?;
    phone.close().await?;
    desk.close().await?;
    Ok(())
}

/// The network dies without closing anything (a phone switching networks): the app hears
/// nothing, asks `ping`, and reconnects within 30 s rather than sitting on a dead socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_dead_connection_is_noticed_and_replaced() -> Result<()> {
    let Scene { _server, network, _driver, phone, desk } = Scene::start().await?;
    network.freeze();
    let frozen = std::time::Instant::now();
    // The app's own bound is 30 s (20 s of silence, 10 s for an answer to `ping`); the
    // server would drop the silent socket itself at 50 s, which must not be what we see.
    let deadline = frozen + std::time::Duration::from_secs(40);
    while phone.text_of("[role=status]").await?.contains("Connected") {
        anyhow::ensure!(std::time::Instant::now() < deadline, "the app never noticed the dead connection");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let noticed = frozen.elapsed();
    eprintln!("silence noticed after {noticed:?}");
    assert!(noticed >= std::time::Duration::from_secs(15), "noticed too early ({noticed:?}): not by silence");
    network.restore();
    phone.wait_text_within("status", "Connected", std::time::Duration::from_secs(20)).await?;
    desk.type_and_enter("Message", "can you hear me now?").await?;
    phone.wait_text("log", "can you hear me now?").await?;
    phone.close().await?;
    desk.close().await?;
    Ok(())
}
