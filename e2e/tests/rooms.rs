//! Three people (two desktops and a phone) and rooms: the live directory with counts,
//! joining, typing, messages, leaving, unread counts and the page title.

use anyhow::Result;
use e2e::{Driver, Page, Server};

async fn connect(page: &Page, url: &str, nick: &str) -> Result<()> {
    page.open(url).await?;
    page.wait_text("status", "Connected").await?;
    page.type_and_enter("Nickname", nick).await?;
    page.until("the nick", || async { Ok(page.value("Nickname").await? == nick) }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_pages_share_rooms_counts_typing_and_unread() -> Result<()> {
    let server = Server::start().await?;
    let driver = Driver::start().await?;
    let (ann, ben, cat) = (driver.desktop().await?, driver.desktop().await?, driver.phone().await?);
    connect(&ann, &server.url("127.0.0.1"), "ann").await?;
    connect(&ben, &server.url("127.0.0.1"), "ben").await?;
    connect(&cat, &server.url("127.0.0.2"), "cat").await?;

    // Ann creates a room; everyone's directory shows it with its count (the phone's in
    // its drawer).
    ann.type_and_enter("Room", "rust").await?;
    for page in [&ann, &ben, &cat] {
        page.show_rooms().await?;
        page.until("rust with 1 member", || async { Ok(page.room_count("rust").await? == Some(1)) }).await?;
    }
    // Ben joins from the directory, the phone from its drawer.
    ben.open_room("rust").await?;
    cat.open_room("rust").await?;
    for page in [&ann, &ben, &cat] {
        page.show_rooms().await?;
        page.until("rust with 3 members", || async { Ok(page.room_count("rust").await? == Some(3)) }).await?;
    }
    // The phone closes its drawer again, back to the room.
    cat.button("Rooms").await?.click().await?;
    ann.until("3 members listed", || async {
        Ok(ann.count("[aria-label=Members] [data-testid=member]").await? == 3)
    })
    .await?;

    // Ann types: the others see it, and it goes away by itself.
    ann.field("Message").await?.send_keys("hel").await?;
    ben.until("ann is typing", || async {
        Ok(ben.text_of("[data-testid=typing]").await?.contains("ann is typing"))
    })
    .await?;
    ann.field("Message").await?.send_keys("lo rust\u{E007}").await?;
    for page in [&ben, &cat] {
        page.wait_text("log", "hello rust").await?;
    }
    ben.until("typing cleared", || async { Ok(!ben.text_of("[data-testid=typing]").await?.contains("ann")) })
        .await?;

    // Ben looks at the lobby; a message in rust shows as unread and in the title.
    ben.open_room("lobby").await?;
    ann.type_and_enter("Message", "are you there?").await?;
    let unread = "[data-testid=room][data-room=rust] [data-testid=unread]";
    ben.until("1 unread in rust", || async { Ok(ben.text_of(unread).await?.trim() == "1") }).await?;
    ben.until("(1) Chat", || async { Ok(ben.title().await? == "(1) Chat") }).await?;
    let shots = [ann.screenshot("rooms-ann").await?, ben.screenshot("rooms-ben-unread").await?];
    ben.open_room("rust").await?;
    ben.until("read", || async { Ok(ben.title().await? == "Chat" && ben.count(unread).await? == 0) }).await?;
    ben.wait_text("log", "are you there?").await?;

    // The phone leaves: counts drop, the members panel follows.
    cat.screenshot("rooms-cat-phone").await?;
    cat.button("Leave").await?.click().await?;
    for page in [&ann, &ben] {
        page.until("rust with 2 members", || async { Ok(page.room_count("rust").await? == Some(2)) }).await?;
    }
    ann.until("cat gone from members", || async {
        Ok(!ann.text_of("[aria-label=Members]").await?.contains("cat"))
    })
    .await?;
    ann.wait_text("log", "cat left").await?;
    for shot in shots {
        eprintln!("screenshot: {}", shot.display());
    }
    for page in [ann, ben, cat] {
        page.close().await?;
    }
    Ok(())
}
