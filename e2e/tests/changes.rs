//! Messages people correct and answer, on a desktop and a phone: an edit made on the
//! desktop shows on the phone; a reply shows the message it answers on both; what the
//! desktop deletes and reacts to while the phone is offline shows on the phone once it is
//! back; and a tap on a reaction chip adds the phone's own.

use anyhow::Result;
use e2e::{Driver, Page, Proxy, Server};
use fantoccini::Locator;
use fantoccini::elements::Element;

/// The message line (`li`) that shows `text`, by XPath.
fn line(text: &str) -> String {
    format!("//li[@data-testid='message'][.//p[contains(., '{text}')]]")
}

/// The button named `name` of the message showing `text`, clicked once the message has
/// the focus, as a keyboard user reaches it (which shows its actions).
async fn act(page: &Page, text: &str, name: &str) -> Result<()> {
    let li: Element = page.client.wait().at_most(e2e::WAIT).for_element(Locator::XPath(&line(text))).await?;
    page.client.execute("arguments[0].focus()", vec![serde_json::to_value(&li)?]).await?;
    let xpath = format!("{}//button[normalize-space(.)='{name}']", line(text));
    page.client.wait().at_most(e2e::WAIT).for_element(Locator::XPath(&xpath)).await?.click().await?;
    Ok(())
}

/// The text of the whole message line showing `text` ("" when there is none).
async fn line_text(page: &Page, text: &str) -> Result<String> {
    let script = format!(
        "const e = document.evaluate(\"{}\", document, null, 9, null).singleNodeValue; return e ? e.innerText : ''",
        line(text)
    );
    Ok(page.eval(&script).await?.as_str().unwrap_or_default().to_owned())
}

async fn set_nick(page: &Page, nick: &str) -> Result<()> {
    page.type_and_enter("Nickname", nick).await?;
    page.until("the nick taken", || async { Ok(page.value("Nickname").await? == nick) }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_replies_deletions_and_reactions_reach_the_other_page_even_offline() -> Result<()> {
    let server = Server::start().await?;
    let network = Proxy::start(server.port).await?;
    let driver = Driver::start().await?;
    let (desk, phone) = (driver.desktop().await?, driver.phone().await?);
    desk.open(&server.url("127.0.0.1")).await?;
    phone.open(&network.url()).await?;
    for page in [&desk, &phone] {
        page.wait_text("status", "Connected").await?;
    }
    set_nick(&desk, "alice").await?;
    set_nick(&phone, "bob").await?;

    // The desktop edits its message in place; the phone sees the new text, marked.
    desk.type_and_enter("Message", "lunch at noon").await?;
    phone.wait_text("log", "lunch at noon").await?;
    act(&desk, "lunch at noon", "Edit").await?;
    desk.type_and_enter("Edit the message", "lunch at one").await?;
    for page in [&phone, &desk] {
        page.wait_text("log", "lunch at one").await?;
        page.until("the edited mark", || async {
            Ok(line_text(page, "lunch at one").await?.contains("edited"))
        })
        .await?;
    }
    assert!(!phone.wait_text("log", "lunch").await?.contains("noon"), "the old text is gone");

    // The phone answers it: the composer says what it answers, both pages show the quote.
    act(&phone, "lunch at one", "Reply").await?;
    let replying = phone.text_of("[data-testid=replying]").await?;
    assert!(replying.contains("alice") && replying.contains("lunch at one"), "{replying}");
    phone.type_and_enter("Message", "count me in").await?;
    for page in [&desk, &phone] {
        page.wait_text("log", "count me in").await?;
        let reply = line_text(page, "count me in").await?;
        assert!(reply.contains("alice") && reply.contains("lunch at one"), "no quote: {reply}");
    }
    assert_eq!(phone.text_of("[data-testid=replying]").await?, "", "the composer answers nothing now");
    desk.type_and_enter("Message", "a typo here").await?;
    phone.wait_text("log", "a typo here").await?;

    // The phone goes offline; the desktop deletes a message and reacts to another.
    network.cut();
    phone
        .until("not connected", || async { Ok(!phone.text_of("[role=status]").await?.contains("Connected")) })
        .await?;
    act(&desk, "a typo here", "Delete").await?;
    desk.until("deleted on the desktop", || async { Ok(line_text(&desk, "a typo here").await?.is_empty()) })
        .await?;
    act(&desk, "count me in", "React").await?;
    let thumbs = format!("{}//div[@class='palette']//button[normalize-space(.)='👍']", line("count me in"));
    desk.client.wait().at_most(e2e::WAIT).for_element(Locator::XPath(&thumbs)).await?.click().await?;
    desk.until("the desktop's reaction", || async {
        Ok(line_text(&desk, "count me in").await?.contains("👍 1"))
    })
    .await?;

    // Back online, the phone shows both.
    network.restore();
    phone.wait_text_within("status", "Connected", std::time::Duration::from_secs(30)).await?;
    phone
        .until("the reaction on the phone", || async {
            Ok(line_text(&phone, "count me in").await?.contains("👍 1"))
        })
        .await?;
    let log = phone.wait_text("log", "message deleted").await?;
    assert!(!log.contains("a typo here"), "the deleted text is gone: {log}");
    phone.screenshot("changes-phone").await?;

    // A tap on the chip adds the phone's own reaction, highlighted there.
    let chip = format!("{}//div[@class='chips']/button", line("count me in"));
    phone.client.wait().at_most(e2e::WAIT).for_element(Locator::XPath(&chip)).await?.click().await?;
    desk.until("two reactions", || async { Ok(line_text(&desk, "count me in").await?.contains("👍 2")) })
        .await?;
    let pressed = format!("{chip}[@aria-pressed='true']");
    phone.client.wait().at_most(e2e::WAIT).for_element(Locator::XPath(&pressed)).await?;
    desk.screenshot("changes-desktop").await?;
    desk.close().await?;
    phone.close().await?;
    Ok(())
}
