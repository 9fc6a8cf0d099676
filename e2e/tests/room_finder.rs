//! The room list on a server with more rooms than version 2's first view (the lobby, our
//! own rooms and the 10 busiest others): "Find a room" finds a room the first view left
//! out, scrolling to the end of the list (or "More rooms") loads the next page of the
//! directory, and a room found by the search can be joined from the list.

use anyhow::{Context, Result, bail, ensure};
use e2e::{Driver, Page, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

/// Twelve rooms of two members: the busiest, so the first view shows ten of them.
const BUSY: usize = 12;
/// Ten rooms of one member, and "zebra" of one: left out of the first view.
const QUIET: usize = 10;

/// A bot on a raw WebSocket that joins `room` and stays there, reading everything the
/// server sends (a bot that stops reading would be dropped as too slow). Returns once it
/// is in; its task ends when the set holding it is dropped.
async fn bot(port: u16, nick: String, room: String, bots: &mut JoinSet<()>) -> Result<()> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
        .await
        .context("a bot connecting")?;
    let send = |frame: Value| Message::text(frame.to_string());
    ws.send(send(json!({"type": "nick", "nick": nick}))).await?;
    ws.send(send(json!({"type": "join", "room": room}))).await?;
    loop {
        let Some(frame) = ws.next().await else { bail!("{nick}: closed before joining {room}") };
        if let Message::Text(text) = frame? {
            let v: Value = serde_json::from_str(&text)?;
            if v["type"] == "joined" {
                break;
            }
            if v["type"] == "error" {
                bail!("{nick}: {text}");
            }
        }
    }
    bots.spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
    Ok(())
}

/// Whether the room list shows `room`.
async fn listed(page: &Page, room: &str) -> Result<bool> {
    Ok(page.count(&format!("[data-testid=room][data-room={}]", json!(room))).await? == 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_a_room_and_more_rooms_reach_rooms_the_first_view_leaves_out() -> Result<()> {
    let server = Server::start().await?;
    let mut bots = JoinSet::new();
    for i in 0..BUSY {
        for j in 0..2 {
            bot(server.port, format!("busy{i}-{j}"), format!("busy-{i:02}"), &mut bots).await?;
        }
    }
    for i in 0..QUIET {
        bot(server.port, format!("quiet{i}"), format!("quiet-{i:02}"), &mut bots).await?;
    }
    bot(server.port, "zed".into(), "zebra".into(), &mut bots).await?;
    let all = 1 + BUSY + QUIET + 1;

    let driver = Driver::start().await?;
    let ann = driver.desktop().await?;
    ann.open(&server.url("127.0.0.1")).await?;
    ann.wait_text("status", "Connected").await?;
    // The first view: the lobby and the ten busiest rooms (ours is the lobby), and a way to
    // the rest.
    ann.until("the first view", || async { Ok(ann.count("[data-testid=room]").await? == 11) }).await?;
    let more = "[data-testid=more-rooms]:not([hidden])";
    ann.until("More rooms offered", || async { Ok(ann.count(more).await? == 1) }).await?;
    if listed(&ann, "zebra").await? || listed(&ann, "quiet-00").await? {
        bail!("the first view lists a quiet room");
    }
    let found = ann.axe_violations().await?;
    ensure!(found.is_empty(), "axe-core, the finder and More rooms shown: {found:?}");

    // A search by the start of the name, in another case, finds the room left out...
    let find = ann.field("Find a room").await?;
    find.send_keys("ZEB").await?;
    ann.until("zebra found", || async { listed(&ann, "zebra").await }).await?;
    ann.until("only zebra", || async { Ok(ann.count("[data-testid=room]").await? == 1) }).await?;
    let shot = ann.screenshot("room-finder-search").await?;
    // ...and emptied, the whole list is back, with the page that holds the rest to load.
    find.send_keys("\u{E003}\u{E003}\u{E003}").await?;
    ann.until("the list again", || async { Ok(ann.count("[data-testid=room]").await? >= 11) }).await?;
    // Scrolled to its end, the list loads the next page by itself (the button does the
    // same for a keyboard). The event is sent as well in case the list is too short to
    // scroll on this screen: the app then sees its end reached all the same.
    ann.eval(
        "const nav = document.querySelector('nav.sidebar'); nav.scrollTop = nav.scrollHeight; \
         nav.dispatchEvent(new Event('scroll')); return true",
    )
    .await?;
    ann.until("every room listed", || async { Ok(ann.count("[data-testid=room]").await? == all as u64) })
        .await?;
    ann.until("no more to load", || async { Ok(ann.count(more).await? == 0) }).await?;
    if !listed(&ann, "quiet-09").await? {
        bail!("the next page did not list quiet-09");
    }

    // Joining a room found by the search: it is shown, with its two members.
    find.send_keys("zeb").await?;
    ann.until("zebra alone", || async { Ok(ann.count("[data-testid=room]").await? == 1) }).await?;
    ann.open_room("zebra").await?;
    ann.until("in zebra with zed", || async {
        Ok(ann.room_count("zebra").await? == Some(2)
            && ann.text_of("[aria-label=Members]").await?.contains("zed")
            && ann.count("[data-testid=room][data-room=zebra][aria-current=true]").await? == 1)
    })
    .await?;
    eprintln!("screenshot: {}", shot.display());
    ann.close().await?;
    Ok(())
}
