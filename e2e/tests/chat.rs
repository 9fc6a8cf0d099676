//! A desktop and a phone chat with each other through the real server and the release app.

use std::time::Duration;

use anyhow::Result;
use e2e::{Driver, Page, Server};

async fn set_nick(page: &Page, nick: &str) -> Result<()> {
    page.type_and_enter("Nickname", nick).await?;
    // The server's answer shows up: the nick is used in the header or the form.
    let deadline = std::time::Instant::now() + e2e::WAIT;
    loop {
        let body = page.eval("return document.body.innerText").await?;
        let shown = page.value("Nickname").await? == nick || body.as_str().is_some_and(|b| b.contains(nick));
        if shown {
            return Ok(());
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "nick {nick} never shown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_and_a_phone_chat_both_ways() -> Result<()> {
    let server = Server::start().await?;
    let driver = Driver::start().await?;
    let (desktop, phone) = driver.desktop_and_phone(&server).await?;

    set_nick(&desktop, "alice").await?;
    set_nick(&phone, "bob").await?;

    desktop.type_and_enter("Message", "Hello from the desktop").await?;
    assert_eq!(desktop.value("Message").await?, "", "the message input clears on send");
    phone.wait_text("log", "Hello from the desktop").await?;

    // The phone sends with the Send button, as a thumb would.
    phone.field("Message").await?.send_keys("Hi from the phone <b>!</b>").await?;
    phone.button("Send").await?.click().await?;
    desktop.wait_text("log", "Hi from the phone <b>!</b>").await?;
    assert_eq!(phone.value("Message").await?, "");
    let bold = phone.eval("return document.querySelectorAll('[role=log] b').length").await?;
    assert_eq!(bold, 0, "text is shown as text, never as HTML");

    // Each sees who said what.
    let log = phone.wait_text("log", "alice").await?;
    assert!(log.contains("Hello from the desktop"), "{log}");
    desktop.wait_text("log", "bob").await?;

    // The phone layout fits 360 px: no horizontal scrolling, the form is on screen.
    let width = phone.eval("return document.documentElement.scrollWidth").await?;
    assert!(width.as_u64().is_some_and(|w| w <= 360), "page is {width} px wide on a 360 px phone");
    let send_bottom = phone
        .eval("return document.evaluate(\"//button[normalize-space(.)='Send' or @aria-label='Send']\", document, null, 9, null).singleNodeValue.getBoundingClientRect().bottom")
        .await?;
    assert!(send_bottom.as_f64().is_some_and(|b| b <= 640.0), "Send is below the fold: {send_bottom}");

    let shots = [desktop.screenshot("desktop").await?, phone.screenshot("phone").await?];
    for shot in &shots {
        assert!(std::fs::metadata(shot)?.len() > 1000, "{} is empty", shot.display());
        eprintln!("screenshot: {}", shot.display());
    }
    desktop.close().await?;
    phone.close().await?;
    Ok(())
}

/// A 240x160 photo (JPEG) with a gradient and a block of colour, written to a file.
fn photo() -> Result<std::path::PathBuf> {
    let (w, h) = (240u16, 160u16);
    let mut pixels = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..h {
        for x in 0..w {
            let block = (80..160).contains(&x) && (40..120).contains(&y);
            let rgb = if block { [255, 212, 59] } else { [(x / 2) as u8, (y + 60) as u8, 219] };
            pixels.extend_from_slice(&rgb);
        }
    }
    let path = std::env::temp_dir().join(format!("chat-e2e-photo-{}.jpg", std::process::id()));
    jpeg_encoder::Encoder::new_file(&path, 85)?.encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)?;
    Ok(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_sends_a_picture_and_the_desktop_sees_it() -> Result<()> {
    let server = Server::start().await?;
    let driver = Driver::start().await?;
    let (desktop, phone) = driver.desktop_and_phone(&server).await?;
    set_nick(&phone, "bob").await?;
    set_nick(&desktop, "alice").await?;

    // As a phone's file picker (or camera) gives it to the page.
    let photo = photo()?;
    phone.field("Attach a picture").await?.send_keys(&photo.display().to_string()).await?;
    let loaded = "return [...document.querySelectorAll('[role=log] img[data-testid=picture]')]\
                  .filter(i => i.complete && i.naturalWidth === 240 && i.src.includes('/media/')).length";
    desktop
        .until("the picture on the desktop", || async { Ok(desktop.eval(loaded).await?.as_u64() == Some(1)) })
        .await?;
    phone
        .until("the phone's own picture, echoed", || async {
            Ok(phone.eval(loaded).await?.as_u64() == Some(1))
        })
        .await?;
    let log = desktop.wait_text("log", "bob").await?;
    assert!(log.contains("bob"), "{log}");
    // Shown at a bounded size, whole on a 360 px phone.
    let size = phone
        .eval("const r = document.querySelector('[role=log] img[data-testid=picture]').getBoundingClientRect(); return [r.width, r.height, document.documentElement.scrollWidth]")
        .await?;
    let size: Vec<f64> = size.as_array().unwrap().iter().filter_map(|v| v.as_f64()).collect();
    assert!(size[1] <= 240.0 && size[0] <= 360.0 && size[2] <= 360.0, "{size:?}");
    // Opened full size in a new tab.
    let link = desktop.eval("return document.querySelector('[role=log] a.pic').target").await?;
    assert_eq!(link.as_str(), Some("_blank"));
    for page in [&desktop, &phone] {
        assert!(page.csp_violations().await?.is_empty(), "{:?}", page.csp_violations().await?);
    }
    let shots = [desktop.screenshot("picture-desktop").await?, phone.screenshot("picture-phone").await?];
    for shot in &shots {
        assert!(std::fs::metadata(shot)?.len() > 1000, "{} is empty", shot.display());
        eprintln!("screenshot: {}", shot.display());
    }
    let _ = std::fs::remove_file(&photo);
    desktop.close().await?;
    phone.close().await?;
    Ok(())
}
