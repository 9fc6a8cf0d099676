//! The app in a big room (protocol version 2): 300 bots on raw WebSockets in the lobby,
//! half of them speaking version 2 and half version 1, chatting, leaving and coming back,
//! while a desktop and a phone page show the room.
//!
//! What a user would notice: the member count is the room's size (301, not the 50 names
//! of the first page), arrivals read as counts ("12 people joined"), "Show more" loads
//! the next page of members, and typing into the composer is not held up by the room's
//! traffic. The typing delay is a measurement (printed, with only a sanity bound of a
//! second): a timed assertion on a shared machine would fail for reasons not the app's.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use e2e::{Driver, Page, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const BOTS: usize = 300;
/// Bots that say something about once a second while the pages are measured.
const CHATTY: usize = 20;
/// Bots that leave the lobby and join it again, over and over, meanwhile.
const RESTLESS: usize = 20;
/// Keystrokes measured per page.
const KEYS: usize = 30;

/// One bot: connects (offering `chat.v2` for even `i`), takes the nick `bot-NNN`, joins
/// the lobby, says when it is in, then reads everything the server sends (a bot that stops
/// reading would be dropped as too slow) and, while `running`, chats or comes and goes.
/// When `running` turns false it is back in the lobby; when its sender is dropped it quits.
async fn bot(port: u16, i: usize, ready: mpsc::Sender<()>, mut running: watch::Receiver<bool>) -> Result<()> {
    let mut request = format!("ws://127.0.0.1:{port}/ws").into_client_request()?;
    if i.is_multiple_of(2) {
        request.headers_mut().insert("sec-websocket-protocol", common_v2().parse()?);
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.context("a bot connecting")?;
    let send = |frame: Value| Message::text(frame.to_string());
    ws.send(send(json!({"type": "nick", "nick": format!("bot-{i:03}")}))).await?;
    ws.send(send(json!({"type": "join", "room": "lobby"}))).await?;
    loop {
        let Some(frame) = ws.next().await else { bail!("bot {i}: closed before joining") };
        if let Message::Text(text) = frame? {
            let v: Value = serde_json::from_str(&text)?;
            if v["type"] == "joined" {
                break;
            }
        }
    }
    ready.send(()).await?;
    let mut tick = tokio::time::interval(Duration::from_millis(900 + (i as u64 % 7) * 30));
    let mut said = 0;
    let mut inside = true;
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(_)) => {}
                _ => return Ok(()),
            },
            _ = tick.tick(), if *running.borrow() => {
                if i < CHATTY {
                    said += 1;
                    let cid = format!("b{i}-{said}");
                    ws.send(send(json!({"type": "say", "room": "lobby", "text": format!("message {said} from bot {i}"), "cid": cid}))).await?;
                } else if i < CHATTY + RESTLESS {
                    let kind = if inside { "leave" } else { "join" };
                    inside = !inside;
                    ws.send(send(json!({"type": kind, "room": "lobby"}))).await?;
                }
            },
            changed = running.changed() => {
                if changed.is_err() {
                    let _ = ws.close(None).await;
                    return Ok(());
                }
                if !*running.borrow() && !inside {
                    inside = true;
                    ws.send(send(json!({"type": "join", "room": "lobby"}))).await?;
                }
            }
        }
    }
}

/// The subprotocol of version 2, as the app offers it.
fn common_v2() -> &'static str {
    "chat.v2"
}

/// The member count the members panel shows (its text, even in a closed drawer).
async fn member_count(page: &Page) -> Result<String> {
    let v = page
        .eval("const e = document.querySelector('[data-testid=member-count]'); return e ? e.textContent : ''")
        .await?;
    Ok(v.as_str().unwrap_or_default().to_owned())
}

/// Types `KEYS` characters into the composer, one at a time, and returns the delays (ms):
/// as the page measured them, from each key press (the event's time stamp) to the next
/// frame painted after it, and as WebDriver saw them, from sending the key to the
/// character being in the input.
async fn typing_delays(page: &Page) -> Result<(Vec<f64>, Vec<f64>)> {
    // WebDriver's scripts run outside the page's Content-Security-Policy.
    page.eval(
        "window.__keys = []; document.addEventListener('keydown', e => { const t = e.timeStamp; \
         requestAnimationFrame(() => window.__keys.push(performance.now() - t)); }, true); return 0",
    )
    .await?;
    let input = page.field("Message").await?;
    input.clear().await?;
    let mut outside = Vec::new();
    for n in 1..=KEYS {
        let start = Instant::now();
        input.send_keys("x").await?;
        loop {
            let value = input.prop("value").await?.unwrap_or_default();
            if value.len() >= n {
                break;
            }
            ensure!(start.elapsed() < Duration::from_secs(10), "keystroke {n} never reached the input");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        outside.push(start.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let inside: Vec<f64> = serde_json::from_value(page.eval("return window.__keys").await?)?;
    input.clear().await?;
    Ok((inside, outside))
}

fn summary(delays: &[f64]) -> (f64, f64, f64) {
    let mut sorted = delays.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9), sorted[sorted.len() - 1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_of_300_stays_responsive_and_shows_its_size() -> Result<()> {
    let server = Server::start().await?;
    let driver = Driver::start().await?;
    let (desktop, phone) = driver.desktop_and_phone(&server).await?;

    let (ready_tx, mut ready) = mpsc::channel(BOTS);
    let (running_tx, running) = watch::channel(false);
    let mut bots = Vec::new();
    for i in 0..BOTS {
        bots.push(tokio::spawn(bot(server.port, i, ready_tx.clone(), running.clone())));
    }
    for n in 0..BOTS {
        tokio::time::timeout(Duration::from_secs(60), ready.recv())
            .await
            .with_context(|| format!("only {n} of {BOTS} bots joined within a minute"))?;
    }
    // The bots and the two pages: the room's size, counted rather than listed.
    for page in [&desktop, &phone] {
        page.until("302 members", || async { Ok(member_count(page).await? == "302") }).await?;
    }
    desktop
        .until("a counted notice", || async {
            let log = desktop.text_of("[role=log]").await?;
            Ok(log.contains(" people joined"))
        })
        .await?;
    let listed = desktop.count("aside[aria-label=Members] [data-testid=member]").await?;
    eprintln!("members listed before paging: {listed}");
    desktop.button("Show more").await?.click().await?;
    desktop
        .until("a fresh list, a page longer", || async {
            Ok(desktop.count("aside[aria-label=Members] [data-testid=member]").await? >= listed + 50)
        })
        .await?;

    // Now the room is busy: messages, and people leaving and coming back.
    running_tx.send(true)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (name, page) in [("desktop", &desktop), ("phone", &phone)] {
        let (inside, outside) = typing_delays(page).await?;
        let (p50, p90, max) = summary(&inside);
        let (w50, w90, wmax) = summary(&outside);
        eprintln!(
            "{name}: key press to the next frame, in the page: median {p50:.1} ms, p90 {p90:.1} ms, max {max:.1} ms \
             ({} keys); key sent to the character in the input, through WebDriver: median {w50:.1} ms, \
             p90 {w90:.1} ms, max {wmax:.1} ms",
            inside.len()
        );
        ensure!(inside.len() == KEYS, "the page saw {} of {KEYS} key presses", inside.len());
        ensure!(max < 1000.0, "{name}: a key press took {max:.0} ms to show");
    }
    desktop
        .until("the bots' messages", || async {
            Ok(desktop.text_of("[role=log]").await?.contains("from bot"))
        })
        .await?;
    // Calm again, everyone back: the count is the room's size again.
    running_tx.send(false)?;
    for page in [&desktop, &phone] {
        page.until("302 members again", || async { Ok(member_count(page).await? == "302") }).await?;
    }
    desktop.eval("document.querySelector('aside[aria-label=Members]').scrollTop = 0; return 0").await?;
    phone.button_counting("Members").await?.click().await?;
    let shot = desktop.screenshot("big-room-desktop").await?;
    let phone_shot = phone.screenshot("big-room-phone").await?;
    eprintln!("screenshots: {} {}", shot.display(), phone_shot.display());
    drop(running_tx);
    for bot in bots {
        bot.await??;
    }
    desktop.close().await?;
    phone.close().await?;
    Ok(())
}
