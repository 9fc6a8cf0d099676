//! A room's owner moderates from the room's page, on a desktop, a plain member on a phone:
//! the member is offered none of it; the owner names and unnames the member a moderator,
//! deletes the member's message (gone on the phone too), removes the member from the room
//! (the phone says who did it and from which room, and shows the lobby), then bans it for
//! a day (the phone cannot join again, and says why rather than asking for a password).

use anyhow::{Result, ensure};
use e2e::{Driver, Page, Server};
use fantoccini::Locator;

async fn connect(page: &Page, url: &str, nick: &str) -> Result<()> {
    page.open(url).await?;
    page.wait_text("status", "Connected").await?;
    page.type_and_enter("Nickname", nick).await?;
    page.until("the nick", || async { Ok(page.value("Nickname").await? == nick) }).await
}

/// The line of the members list for `nick`, by XPath (only lines with actions name it).
fn member(nick: &str) -> String {
    format!("//aside[@aria-label='Members']//li[@data-nick='{nick}']")
}

/// The message line (`li`) that shows `text`, by XPath.
fn line(text: &str) -> String {
    format!("//li[@data-testid='message'][.//p[contains(., '{text}')]]")
}

/// Focuses the line `xpath` (as Tab, a click or a tap does, which shows its actions) and
/// clicks its button named `name`: a button that is not shown cannot be clicked.
async fn act(page: &Page, xpath: &str, name: &str) -> Result<()> {
    let li = page.client.wait().at_most(e2e::WAIT).for_element(Locator::XPath(xpath)).await?;
    page.client.execute("arguments[0].focus()", vec![serde_json::to_value(&li)?]).await?;
    let button = format!("{xpath}//button[normalize-space(.)='{name}']");
    page.client.wait().at_most(e2e::WAIT).for_element(Locator::XPath(&button)).await?.click().await?;
    Ok(())
}

/// Whether the `aria-pressed` of the owner's "Moderator" toggle for `nick` is `want`.
async fn toggle_is(page: &Page, nick: &str, want: &str) -> Result<bool> {
    let script = format!(
        "const b = document.evaluate(\"{}//button[@data-a='mod']\", document, null, 9, null).singleNodeValue;
         return b ? b.getAttribute('aria-pressed') : ''",
        member(nick)
    );
    Ok(page.eval(&script).await? == want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_deletes_a_message_and_removes_and_bans_its_author_from_the_room() -> Result<()> {
    let server = Server::start().await?;
    let driver = Driver::start().await?;
    let (owner, other) = (driver.desktop().await?, driver.phone().await?);
    connect(&owner, &server.url("127.0.0.1"), "ann").await?;
    connect(&other, &server.url("127.0.0.1"), "bob").await?;

    // Ann creates the room, so she owns it; bob joins it.
    owner.type_and_enter("Room", "den").await?;
    owner
        .until("den shown", || async { Ok(owner.text_of("[data-testid=room-title]").await? == "#den") })
        .await?;
    other.show_rooms().await?;
    other.until("den listed", || async { Ok(other.room_count("den").await? == Some(1)) }).await?;
    other.open_room("den").await?;
    owner
        .until("bob listed", || async {
            Ok(owner.count("[aria-label=Members] [data-testid=member]").await? == 2)
        })
        .await?;
    owner.type_and_enter("Message", "welcome to den").await?;
    other.wait_text("log", "welcome to den").await?;
    other.type_and_enter("Message", "buy cheap stuff at spam.example").await?;
    owner.wait_text("log", "spam.example").await?;

    // Bob, a plain member, is offered nothing: no actions in the list, no Delete on ann's.
    ensure!(other.count("aside .actions").await? == 0, "the member is offered the members' actions");
    let hidden = format!(
        "const b = document.evaluate(\"{}//button[@data-a='delete']\", document, null, 9, null).singleNodeValue;
         b.closest('li').focus(); return b.offsetHeight === 0",
        line("welcome to den")
    );
    ensure!(other.eval(&hidden).await? == true, "the member is offered Delete on another's message");

    // Ann names bob a moderator (his page now offers Delete on anyone's), then no longer.
    act(&owner, &member("bob"), "Moderator").await?;
    owner.until("bob a moderator", || toggle_is(&owner, "bob", "true")).await?;
    other.until("bob may delete", || async { Ok(other.count("[role=log][data-mod]").await? == 1) }).await?;
    act(&owner, &member("bob"), "Moderator").await?;
    owner.until("bob no longer", || toggle_is(&owner, "bob", "false")).await?;
    other.until("bob may not", || async { Ok(other.count("[role=log][data-mod]").await? == 0) }).await?;

    // Ann deletes bob's message: gone on both pages.
    act(&owner, &line("spam.example"), "Delete").await?;
    for page in [&owner, &other] {
        let log = page.wait_text("log", "message deleted").await?;
        ensure!(!log.contains("spam.example"), "the deleted text is still shown: {log}");
    }

    // Ann removes bob from the room: his page says who did it, from which room, and shows
    // the lobby; ann sees him leave.
    act(&owner, &member("bob"), "Remove").await?;
    other
        .until("the alert", || async {
            Ok(other.text_of("[data-testid=alert]").await?.contains("ann removed you from #den"))
        })
        .await?;
    other
        .until("the lobby shown", || async {
            Ok(other.text_of("[data-testid=room-title]").await? == "#lobby")
        })
        .await?;
    owner.wait_text("log", "bob left").await?;
    owner
        .until("bob gone", || async {
            Ok(owner.count("[aria-label=Members] [data-testid=member]").await? == 1)
        })
        .await?;
    other.screenshot("moderation-removed").await?;

    // A removal is not a ban: bob comes back. Banned for a day, he cannot.
    other.open_room("den").await?;
    owner
        .until("bob back", || async {
            Ok(owner.count("[aria-label=Members] [data-testid=member]").await? == 2)
        })
        .await?;
    act(&owner, &member("bob"), "Ban for a day").await?;
    other
        .until("the ban's alert", || async {
            Ok(other.text_of("[data-testid=room-title]").await? == "#lobby"
                && other.text_of("[data-testid=alert]").await?.contains("ann banned you from #den for now"))
        })
        .await?;
    owner
        .until("bob gone again", || async {
            Ok(owner.count("[aria-label=Members] [data-testid=member]").await? == 1)
        })
        .await?;
    other.open_room("den").await?;
    other
        .until("the refusal, said in an alert", || async {
            Ok(other.text_of("[data-testid=alert]").await?.contains("you are banned from the room den"))
        })
        .await?;
    ensure!(other.text_of("[data-testid=room-title]").await? == "#lobby", "the banned page is in den");
    ensure!(other.count(".room-options[open]").await? == 0, "a password was asked for");
    other.screenshot("moderation-banned").await?;
    owner.screenshot("moderation-owner").await?;
    owner.close().await?;
    other.close().await?;
    Ok(())
}
