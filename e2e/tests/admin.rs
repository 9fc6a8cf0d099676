//! The operator's page (`/admin`, with `--admin-token`) bans a person from the server: the
//! person's page says so at once and stops reconnecting; opened again, it is turned away
//! at the door and says so again, without a loop of reconnects.
//!
//! The person's page comes from a public address behind a trusted proxy (the browser sends
//! `X-Forwarded-For`, as a proxy in front of the server would add it): a ban holds the
//! person's address as well as its resume token, and a loopback address is never banned.

use std::time::Duration;

use anyhow::{Result, ensure};
use e2e::{Driver, Page, Server};
use fantoccini::Locator;
use serde_json::json;

const TOKEN: &str = "operator-secret-0123456789";

/// Records every text the status shows in `window.statuses`.
const RECORD_STATUS: &str = "
window.statuses = [];
const status = document.querySelector('[role=status]');
new MutationObserver(() => window.statuses.push(status.textContent))
  .observe(status, { subtree: true, childList: true, characterData: true });
return null;
";

/// Every request of `page` claims to come from `address` through the server's trusted proxy.
async fn from_address(page: &Page, address: &str) -> Result<()> {
    page.cdp("Network.enable", json!({})).await?;
    page.cdp("Network.setExtraHTTPHeaders", json!({"headers": {"X-Forwarded-For": address}})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_bans_a_person_from_the_admin_page_and_the_banned_page_says_so() -> Result<()> {
    let server = Server::start_with(|c| {
        c.admin_token = Some(TOKEN.into());
        c.trusted_proxies = vec!["127.0.0.1".parse().expect("an address")];
    })
    .await?;
    let driver = Driver::start().await?;
    let (person, operator) = (driver.desktop().await?, driver.desktop().await?);
    from_address(&person, "203.0.113.9").await?;
    person.open(&server.url("127.0.0.1")).await?;
    person.wait_text("status", "Connected").await?;
    person.type_and_enter("Nickname", "pat").await?;
    person.until("nick", || async { Ok(person.value("Nickname").await? == "pat") }).await?;
    person.type_and_enter("Message", "buy cheap stuff at spam.example").await?;
    person.wait_text("log", "spam.example").await?;

    // The operator opens its page, gives the token once, and bans pat from the server.
    operator.open(&format!("{}admin", server.url("127.0.0.1"))).await?;
    operator.field("Admin token").await?.send_keys(TOKEN).await?;
    operator.button("Open").await?.click().await?;
    operator
        .until("the overview", || async { Ok(operator.text_of("[data-testid=connections]").await? == "1") })
        .await?;
    operator.field("Nick").await?;
    let nick = operator.client.find(Locator::Css("[data-testid=act-nick]")).await?;
    nick.send_keys("pat").await?;
    let minutes = operator.client.find(Locator::Css("#act-minutes")).await?;
    minutes.clear().await?;
    minutes.send_keys("30").await?;
    operator.button("Ban").await?.click().await?;
    // The page asks "Ban pat for 30 minutes from the server?" first.
    let asked = operator.client.get_alert_text().await?;
    ensure!(asked.contains("Ban pat for 30 minutes"), "the operator was asked {asked:?}");
    operator.client.accept_alert().await?;
    operator.wait_text("alert", "Banned pat.").await?;

    // The person's page says so, and stays so.
    person.wait_text("status", "Banned by the operator for now").await?;
    person.eval(RECORD_STATUS).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let statuses = person.eval("return window.statuses").await?;
    ensure!(statuses == json!([]), "the banned page went on: {statuses}");
    let shot = person.screenshot("banned").await?;
    eprintln!("screenshot: {}", shot.display());
    operator
        .until("the audit log", || async {
            Ok(operator.text_of("[data-testid=audit]").await?.contains("ban"))
        })
        .await?;
    operator.screenshot("admin-banned").await?;

    // Opened again (a new session: a new resume token), from the same address: turned
    // away at the door, told why, and no loop of reconnects.
    person.open(&server.url("127.0.0.1")).await?;
    person.wait_text("status", "Banned by the operator for now").await?;
    person.eval(RECORD_STATUS).await?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let statuses = person.eval("return window.statuses").await?;
    ensure!(statuses == json!([]), "the page turned away went on: {statuses}");
    ensure!(person.text_of("[role=status]").await? == "Banned by the operator for now", "the status changed");
    person.screenshot("banned-at-the-door").await?;
    person.close().await?;
    operator.close().await?;
    Ok(())
}
