//! The chat as people with assistive technology or other languages meet it: axe-core
//! finds nothing wrong on a desktop, a phone and a dark desktop with messages of their own
//! and of others shown (edited, answered with a quote and a mention, reacted to, one
//! message's actions shown), then with a room's moderation controls shown (the owner's
//! and a moderator's actions on a member, Delete on another's message, the alert of a
//! person removed), and a browser that prefers Korean gets the app in Korean.

use anyhow::{Result, ensure};
use e2e::{Driver, Page, Server};

/// Sets `page`'s nickname and says `text`, then waits until it sees `others` said.
async fn chat(page: &Page, nick: &str, text: &str) -> Result<()> {
    page.type_and_enter("Nickname", nick).await?;
    page.until("the nick taken", || async { Ok(page.value("Nickname").await? == nick) }).await?;
    page.type_and_enter("Message", text).await?;
    page.wait_text("log", text).await?;
    Ok(())
}

/// Focuses the message saying `text`, then its button `act` (`data-a`), as a keyboard
/// user gets there (which shows that message's actions), and clicks it if `click`.
async fn action(page: &Page, text: &str, act: &str, click: bool) -> Result<()> {
    let xpath = format!("//li[@data-testid='message'][.//p[contains(., '{text}')]]//button[@data-a='{act}']");
    let script = format!(
        "const b = document.evaluate(\"{xpath}\", document, null, 9, null).singleNodeValue;
         if (!b) return false; b.closest('li').focus(); b.focus();
         const shown = b.offsetHeight > 0; if ({click}) b.click(); return shown"
    );
    ensure!(page.eval(&script).await? == true, "no visible {act} on {text:?}");
    Ok(())
}

/// Focuses the line of `nick` in the members list, then its button `act` (`data-a`), as a
/// keyboard user gets there (which shows the line's actions), and clicks it if `click`.
async fn member_action(page: &Page, nick: &str, act: &str, click: bool) -> Result<()> {
    let script = format!(
        "const b = document.querySelector(\"aside [data-nick='{nick}'] button[data-a='{act}']\");
         if (!b) return false; b.closest('li').focus(); b.focus();
         const shown = b.offsetHeight > 0; if ({click}) b.click(); return shown"
    );
    ensure!(page.eval(&script).await? == true, "no visible {act} on {nick:?}");
    Ok(())
}

/// Prints every violation axe-core finds on `page`, named by `what`, and counts them.
async fn audit(page: &Page, what: &str) -> Result<usize> {
    let found = page.axe_violations().await?;
    for line in &found {
        eprintln!("axe, {what}: {line}");
    }
    Ok(found.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_finds_nothing_on_a_desktop_a_phone_and_in_dark_mode() -> Result<()> {
    let server = Server::start().await?;
    let driver = Driver::start().await?;
    let (desktop, phone) = driver.desktop_and_phone(&server).await?;
    let dark = driver.desktop_dark().await?;
    dark.open(&server.url("127.0.0.1")).await?;
    dark.wait_text("status", "Connected").await?;

    chat(&desktop, "alice", "Hello from the desktop").await?;
    chat(&phone, "bob", "Hi from the phone").await?;
    chat(&dark, "cy", "Evening, in the dark").await?;
    // Each page shows its own message and the others'.
    for page in [&desktop, &phone, &dark] {
        for text in ["Hello from the desktop", "Hi from the phone", "Evening, in the dark"] {
            page.wait_text("log", text).await?;
        }
    }

    // A message edited, one answering another with a mention, a reaction; then each page
    // with one message's actions shown.
    action(&desktop, "Hello from the desktop", "edit", true).await?;
    desktop.type_and_enter("Edit the message", "Hello from the desktop, edited").await?;
    action(&phone, "Hello from the desktop", "reply", true).await?;
    phone.type_and_enter("Message", "@alice and a reply").await?;
    action(&dark, "Hi from the phone", "react", true).await?;
    dark.eval("document.querySelector('.palette:not([hidden]) button').click()").await?;
    for page in [&desktop, &phone, &dark] {
        page.wait_text("log", "Hello from the desktop, edited").await?;
        page.wait_text("log", "@alice and a reply").await?;
        page.until("the reaction", || async { Ok(page.count(".chips button").await? == 1) }).await?;
    }
    action(&desktop, "Hi from the phone", "reply", false).await?;
    action(&phone, "Hello from the desktop, edited", "react", false).await?;
    action(&dark, "Evening, in the dark", "edit", false).await?;
    desktop.screenshot("desktop-actions").await?;
    phone.screenshot("phone-actions").await?;

    // Every page is audited before the test fails, so that it lists all there is to fix.
    let mut found = audit(&desktop, "desktop (1280 px)").await?
        + audit(&phone, "phone (360x640)").await?
        + audit(&dark, "dark desktop").await?;
    eprintln!("screenshot: {}", dark.screenshot("desktop-dark").await?.display());

    // Moderation: cy creates a room (and so owns it) and names alice a moderator; each
    // page with its moderation controls shown, and bob told he was removed.
    dark.type_and_enter("Room", "den").await?;
    dark.until("den shown", || async { Ok(dark.text_of("[data-testid=room-title]").await? == "#den") })
        .await?;
    for page in [&desktop, &phone] {
        page.show_rooms().await?;
        page.until("den listed", || async { Ok(page.room_count("den").await?.is_some()) }).await?;
        page.open_room("den").await?;
    }
    dark.until("alice and bob listed", || async { Ok(dark.count("aside [data-nick]").await? == 2) }).await?;
    member_action(&dark, "alice", "mod", true).await?;
    desktop
        .until("alice a moderator", || async { Ok(desktop.count("[role=log][data-mod]").await? == 1) })
        .await?;
    phone.type_and_enter("Message", "Hello, den").await?;
    desktop.wait_text("log", "Hello, den").await?;
    dark.until("the toggle pressed", || async {
        Ok(dark.count("aside [data-nick=alice] [aria-pressed=true]").await? == 1)
    })
    .await?;
    member_action(&dark, "alice", "mod", false).await?;
    member_action(&desktop, "bob", "kick", false).await?;
    desktop.screenshot("desktop-member-actions").await?;
    dark.screenshot("dark-owner-actions").await?;
    found += audit(&desktop, "desktop, a moderator's member actions").await?
        + audit(&dark, "dark desktop, the owner's member actions").await?;
    action(&dark, "Hello, den", "delete", false).await?;
    found += audit(&dark, "dark desktop, Delete on another's message").await?;
    member_action(&desktop, "bob", "kick", true).await?;
    phone
        .until("the kick's alert", || async {
            Ok(phone.text_of("[data-testid=alert]").await?.contains("alice removed you from #den"))
        })
        .await?;
    phone.screenshot("phone-removed").await?;
    found += audit(&phone, "phone, removed from a room").await?;
    ensure!(found == 0, "axe-core found {found} violations (above)");
    for page in [desktop, phone, dark] {
        page.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_prefers_korean_gets_the_app_in_korean() -> Result<()> {
    let server = Server::start().await?;
    let driver = Driver::start().await?;
    let page = driver.desktop_in("ko-KR,ko,en-US").await?;
    page.open(&server.url("127.0.0.1")).await?;
    page.wait_text("status", "연결됨").await?;
    assert_eq!(page.eval("return document.documentElement.lang").await?, "ko");
    // People are found by the Korean names of things, as a Korean screen reader says them.
    page.type_and_enter("닉네임", "민수").await?;
    page.until("the nick taken", || async { Ok(page.value("닉네임").await? == "민수") }).await?;
    let placeholder = page.field("메시지").await?.attr("placeholder").await?;
    assert_eq!(placeholder.as_deref(), Some("#lobby에 메시지 보내기"));
    page.field("메시지").await?.send_keys("안녕하세요").await?;
    page.button("보내기").await?.click().await?;
    page.wait_text("log", "안녕하세요").await?;
    // The time is written the Korean way ("오후 9:05"), not as English does ("9:05 PM"),
    // once the server has the message (while it is being sent, no time is shown yet).
    page.until("the time written the Korean way", || async {
        let time = page.text_of("[role=log] time").await.unwrap_or_default();
        Ok(time.contains("오전") || time.contains("오후"))
    })
    .await?;
    page.button("대화방").await?;
    page.field("방 찾기").await?;
    eprintln!("screenshot: {}", page.screenshot("desktop-ko").await?.display());
    let found = audit(&page, "Korean desktop").await?;
    ensure!(found == 0, "axe-core found {found} violations (above)");
    page.close().await
}
