//! A room list nobody sees is not kept current (version 2's `rooms_watch`): a phone with
//! its room drawer closed is sent no directory changes, and opening the drawer shows the
//! list as it is now; the same for a desktop page that is hidden (another tab in front)
//! and then shown again. The list of a closed drawer stays in the page (only hidden), so
//! what it holds tells what the server sent.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use e2e::{Driver, Page, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

/// Once a watching page lists a new room, the push that told it has gone to every
/// connection: a page that was told too would list it well within this.
const SETTLE: Duration = Duration::from_secs(2);

/// A bot on a raw WebSocket (version 1) that joins `room`, so creating it, and stays
/// there reading; its task ends when the set holding it is dropped.
async fn bot(port: u16, room: &str, bots: &mut JoinSet<()>) -> Result<()> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
        .await
        .context("a bot connecting")?;
    ws.send(Message::text(json!({"type": "join", "room": room}).to_string())).await?;
    loop {
        let Some(frame) = ws.next().await else { bail!("closed before joining {room}") };
        if let Message::Text(text) = frame? {
            let v: Value = serde_json::from_str(&text)?;
            if v["type"] == "joined" {
                break;
            }
            ensure!(v["type"] != "error", "joining {room}: {text}");
        }
    }
    bots.spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
    Ok(())
}

/// How many `rooms_watch` frames the server has received (its `/metrics`, which loopback
/// may read).
async fn watches(server: &Server) -> Result<u64> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await?;
    let req =
        format!("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", server.port);
    s.write_all(req.as_bytes()).await?;
    let mut text = String::new();
    s.read_to_string(&mut text).await?;
    let name = "chat_frames_in_total{type=\"rooms_watch\"} ";
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .with_context(|| format!("no {name} in the metrics"))
}

/// Whether the page's room list (shown or not) holds `room`.
async fn listed(page: &Page, room: &str) -> Result<bool> {
    Ok(page.count(&format!("[data-testid=room][data-room={}]", json!(room))).await? == 1)
}

/// The page says it is hidden (`hidden`) or visible again, as the browser does when
/// another tab comes to the front and back.
async fn set_hidden(page: &Page, hidden: bool) -> Result<()> {
    let state = if hidden { "hidden" } else { "visible" };
    page.eval(&format!(
        "Object.defineProperty(document, 'visibilityState', {{value: '{state}', configurable: true}}); \
         document.dispatchEvent(new Event('visibilitychange', {{bubbles: true}})); return true"
    ))
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_nobody_sees_gets_no_changes_and_is_current_once_shown() -> Result<()> {
    let server = Server::start().await?;
    let driver = Driver::start().await?;
    let (desktop, phone) = driver.desktop_and_phone(&server).await?;
    let mut bots = JoinSet::new();

    // The phone's drawer is closed: it tells the server once it is welcomed.
    phone.until("the phone stops watching", || async { Ok(watches(&server).await? == 1) }).await?;
    bot(server.port, "fresh", &mut bots).await?;
    desktop.until("fresh listed on the desktop", || async { listed(&desktop, "fresh").await }).await?;
    tokio::time::sleep(SETTLE).await;
    ensure!(!listed(&phone, "fresh").await?, "a closed drawer was sent the new room");
    // Opened, the drawer shows the list as it is now.
    phone.show_rooms().await?;
    phone.until("fresh listed on the phone", || async { listed(&phone, "fresh").await }).await?;
    let shot = phone.screenshot("room-watch-drawer-opened").await?;

    // The desktop page is hidden: no changes for it, while the phone's open drawer gets them.
    set_hidden(&desktop, true).await?;
    phone.until("the desktop stops watching", || async { Ok(watches(&server).await? == 3) }).await?;
    bot(server.port, "later", &mut bots).await?;
    phone.until("later listed on the phone", || async { listed(&phone, "later").await }).await?;
    tokio::time::sleep(SETTLE).await;
    ensure!(!listed(&desktop, "later").await?, "a hidden page was sent the new room");
    set_hidden(&desktop, false).await?;
    desktop.until("later listed once shown", || async { listed(&desktop, "later").await }).await?;

    eprintln!("screenshot: {}", shot.display());
    for page in [desktop, phone] {
        page.close().await?;
    }
    Ok(())
}
