//! A private room: created from the room form with a password and a limit on a desktop,
//! shown with a lock everywhere, and entered from a phone only with the right password;
//! a wrong one is refused, plainly, and the form asks again.

use anyhow::Result;
use e2e::{Driver, Page, Server};
use fantoccini::Locator;

async fn connect(page: &Page, url: &str, nick: &str) -> Result<()> {
    page.open(url).await?;
    page.wait_text("status", "Connected").await?;
    page.type_and_enter("Nickname", nick).await?;
    page.until("the nick", || async { Ok(page.value("Nickname").await? == nick) }).await
}

const LOCK: &str = "[data-testid=room][data-room=den] [data-testid=lock]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_room_refuses_a_wrong_password_and_admits_the_right_one() -> Result<()> {
    let server = Server::start().await?;
    let driver = Driver::start().await?;
    let (ann, cat) = (driver.desktop().await?, driver.phone().await?);
    connect(&ann, &server.url("127.0.0.1"), "ann").await?;
    connect(&cat, &server.url("127.0.0.2"), "cat").await?;

    // Ann creates "den" with a password and a limit of 3.
    ann.client.find(Locator::Css(".room-options summary")).await?.click().await?;
    ann.field("Password (private rooms)").await?.send_keys("open sesame").await?;
    ann.field("Member limit (new rooms, 2 to 1000)").await?.send_keys("3").await?;
    ann.type_and_enter("Room", "den").await?;
    ann.until("in den", || async { Ok(ann.text_of("[data-testid=room-title]").await? == "#den") }).await?;
    for page in [&ann, &cat] {
        page.show_rooms().await?;
        page.until("den with a lock", || async { Ok(page.count(LOCK).await? == 1) }).await?;
    }

    // The phone opens it from its drawer: the form asks for the password; a wrong one is
    // refused, and said so.
    cat.open_room("den").await?;
    cat.until("the password asked for", || async {
        Ok(cat.text_of("[data-testid=room-error]").await?.contains("#den is private: enter its password"))
    })
    .await?;
    let asked = cat.screenshot("private-phone-asked").await?;
    cat.type_and_enter("Password (private rooms)", "open says me").await?;
    cat.until("the refusal", || async {
        Ok(cat.text_of("[data-testid=room-error]").await?.contains("wrong password"))
    })
    .await?;
    let refused = cat.screenshot("private-phone-wrong-password").await?;
    cat.type_and_enter("Password (private rooms)", "open sesame").await?;
    cat.until("in den", || async { Ok(cat.text_of("[data-testid=room-title]").await? == "#den") }).await?;
    ann.until("den with 2 members", || async { Ok(ann.room_count("den").await? == Some(2)) }).await?;
    ann.type_and_enter("Message", "welcome to the den").await?;
    cat.wait_text("log", "welcome to the den").await?;
    let inside = cat.screenshot("private-phone-inside").await?;
    let desktop = ann.screenshot("private-desktop-lock").await?;
    for shot in [asked, refused, inside, desktop] {
        eprintln!("screenshot: {}", shot.display());
    }
    for page in [ann, cat] {
        page.close().await?;
    }
    Ok(())
}
