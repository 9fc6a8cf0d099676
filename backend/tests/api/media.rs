//! Images: `POST /api/media`, `GET /media/<name>`, and `say.image`, as a client sees them.

use std::time::Duration;

use backend::Config;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// A 1x1 RGBA PNG.
pub(crate) const PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
/// A 1x1 lossless WebP.
const WEBP: &str = "UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==";

pub(crate) fn base64(s: &str) -> Vec<u8> {
    data_encoding::BASE64.decode(s.as_bytes()).unwrap()
}

/// A 2x1 GIF with a comment.
fn gif() -> Vec<u8> {
    let mut g = b"GIF89a\x02\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff".to_vec();
    g.extend_from_slice(b"\x21\xfe\x0bhello there\x00");
    g.extend_from_slice(b"\x2c\x00\x00\x00\x00\x02\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b");
    g
}

/// The latitude 48 deg 51' 29.58" as EXIF writes it (three RATIONALs, big-endian).
const LATITUDE: [u8; 24] = [0, 0, 0, 48, 0, 0, 0, 1, 0, 0, 0, 51, 0, 0, 0, 1, 0, 0, 0x0b, 0x8e, 0, 0, 0, 100];

/// An EXIF block as a phone writes one: the orientation (6: turned right) and a GPS
/// position in IFD0's GPS IFD, plus the camera's make.
fn exif() -> Vec<u8> {
    let mut t = b"MM\0\x2a\0\0\0\x08".to_vec();
    // IFD0 at 8: three entries, then the next-IFD offset (none).
    t.extend_from_slice(&[0, 3]);
    t.extend_from_slice(&[0x01, 0x0f, 0, 2, 0, 0, 0, 4]); // Make, ASCII, 4 bytes inline
    t.extend_from_slice(b"Pho\0");
    t.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]); // Orientation = 6
    t.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 50]); // GPS IFD at 50
    t.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(t.len(), 50);
    // The GPS IFD: LatitudeRef "N", Latitude at 50 + 2 + 24 + 4 = 80.
    t.extend_from_slice(&[0, 2]);
    t.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    t.extend_from_slice(&[0, 2, 0, 5, 0, 0, 0, 3, 0, 0, 0, 80]);
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(&LATITUDE);
    [b"Exif\0\0".as_slice(), &t].concat()
}

/// A real 16x8 JPEG photo with the EXIF block above.
fn jpeg_with_gps() -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
    encoder.add_app_segment(1, exif()).unwrap();
    let pixels: Vec<u8> = (0..16 * 8).flat_map(|i| [(i * 2) as u8, 100, 200]).collect();
    encoder.encode(&pixels, 16, 8, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// How a test sends an upload's body.
#[derive(Clone, Copy)]
enum Body<'a> {
    /// With a `Content-Length` of the bytes.
    Sized(&'a [u8]),
    /// With a `Content-Length` that claims this many bytes, and no body.
    Claims(u64),
    /// Chunked (no length), in pieces of 16 KiB.
    Chunked(&'a [u8]),
}

/// `POST /api/media` with `Authorization: Bearer <token>` when given, and `extra` headers.
async fn post(app: &TestApp, token: Option<&str>, body: Body<'_>, extra: &[(&str, &str)]) -> Fetched {
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let mut req = format!("POST /api/media HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", app.addr);
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for (name, value) in extra {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    match body {
        Body::Sized(b) => req.push_str(&format!("Content-Length: {}\r\n", b.len())),
        Body::Claims(n) => req.push_str(&format!("Content-Length: {n}\r\n")),
        Body::Chunked(_) => req.push_str("Transfer-Encoding: chunked\r\n"),
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    // The server may answer and close before it has read everything: a failed write is
    // expected then, and the answer is read all the same.
    let _ = match body {
        Body::Sized(b) => s.write_all(b).await,
        Body::Claims(_) => Ok(()),
        Body::Chunked(b) => {
            let mut r = Ok(());
            for piece in b.chunks(16 * 1024) {
                r = s.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await;
                r = r.and(s.write_all(piece).await);
                r = r.and(s.write_all(b"\r\n").await);
                if r.is_err() {
                    break;
                }
            }
            r.and(s.write_all(b"0\r\n\r\n").await)
        }
    };
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut raw)).await.expect("an answer in time");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    Fetched { status, headers, body: raw[split + 4..].to_vec() }
}

/// Uploads `bytes` as `client` and expects `201`; returns the answer's JSON.
pub(crate) async fn upload(app: &TestApp, client: &Client, bytes: &[u8]) -> Value {
    let res = post(app, Some(&client.resume), Body::Sized(bytes), &[("Content-Type", "image/png")]).await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    serde_json::from_slice(&res.body).unwrap()
}

fn media_files(app_config: &Config) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&app_config.media_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_png_is_stored_once_and_served_with_its_real_type_and_safe_headers() {
    let config = test_config();
    let app = spawn_with(config.clone()).await;
    let c = app.client().await;
    let png = base64(PNG);
    let first = upload(&app, &c, &png).await;
    let url = first["url"].as_str().unwrap();
    assert!(url.starts_with("/media/") && url.ends_with(".png"), "{first}");
    assert_eq!(
        (first["type"].as_str(), first["width"].as_u64(), first["height"].as_u64()),
        (Some("image/png"), Some(1), Some(1))
    );
    assert_eq!(first["bytes"].as_u64(), Some(png.len() as u64));
    // The same bytes again: the same URL, one file.
    let second = upload(&app, &c, &png).await;
    assert_eq!(second["url"], first["url"]);
    assert_eq!(media_files(&config).len(), 1, "{:?}", media_files(&config));
    let got = app.fetch(url, &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, png);
    assert_eq!(got.header("content-type"), "image/png");
    assert_eq!(got.header("x-content-type-options"), "nosniff");
    assert_eq!(got.header("cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(got.header("content-security-policy"), "default-src 'none'; sandbox");
    assert_eq!(got.header("cross-origin-resource-policy"), "same-site");
    // The name is the SHA-256 of the stored bytes.
    use sha2::Digest;
    let hash = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(&got.body));
    assert_eq!(url, format!("/media/{hash}.png"));
    app.stop().await;
}

#[tokio::test]
async fn unknown_and_invalid_media_names_are_404_and_never_leave_the_folder() {
    let app = spawn_app().await;
    let zeros = "0".repeat(64);
    for path in [
        format!("/media/{zeros}.png"),
        "/media/..%2F..%2Fchat.db".into(),
        "/media/../chat.db".into(),
        "/media/%2e%2e/chat.db".into(),
        format!("/media/{zeros}.svg"),
        "/media/".into(),
        "/media/x".into(),
    ] {
        let got = app.fetch(&path, &[]).await;
        // Names the media route takes are 404; other paths are the web app's (here: not built).
        assert_ne!(got.status, 200, "{path}");
        if path.starts_with("/media/0") || path.contains("%2F") || path == "/media/x" {
            assert_eq!(got.status, 404, "{path}");
        }
        assert_ne!(got.header("content-type"), "image/png", "{path}");
        assert!(!contains(&got.body, b"SQLite"), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn gif_jpeg_and_webp_are_taken_with_their_sizes() {
    let app = spawn_app().await;
    let c = app.client().await;
    let gif = upload(&app, &c, &gif()).await;
    assert_eq!(
        (gif["type"].as_str(), gif["width"].as_u64(), gif["height"].as_u64()),
        (Some("image/gif"), Some(2), Some(1))
    );
    assert!(gif["url"].as_str().unwrap().ends_with(".gif"));
    let stored = app.fetch(gif["url"].as_str().unwrap(), &[]).await;
    assert!(!contains(&stored.body, b"hello there"), "the GIF's comment is gone");
    let jpeg = upload(&app, &c, &jpeg_with_gps()).await;
    assert_eq!(
        (jpeg["type"].as_str(), jpeg["width"].as_u64(), jpeg["height"].as_u64()),
        (Some("image/jpeg"), Some(16), Some(8))
    );
    let webp = upload(&app, &c, &base64(WEBP)).await;
    assert_eq!((webp["type"].as_str(), webp["width"].as_u64()), (Some("image/webp"), Some(1)));
    let got = app.fetch(webp["url"].as_str().unwrap(), &[]).await;
    assert_eq!(got.header("content-type"), "image/webp");
    app.stop().await;
}

#[tokio::test]
async fn a_photos_gps_position_is_removed_and_its_orientation_kept() {
    let app = spawn_app().await;
    let c = app.client().await;
    let photo = jpeg_with_gps();
    assert!(contains(&photo, &LATITUDE) && contains(&photo, b"Pho\0"));
    let answer = upload(&app, &c, &photo).await;
    let stored = app.fetch(answer["url"].as_str().unwrap(), &[]).await.body;
    assert_eq!(answer["bytes"].as_u64(), Some(stored.len() as u64));
    assert!(!contains(&stored, &LATITUDE), "the latitude is still there");
    assert!(!contains(&stored, &[0x88, 0x25]), "the GPS IFD is still there");
    assert!(!contains(&stored, b"Pho\0"), "the camera's make is still there");
    // Still a whole JPEG, turned the same way.
    assert!(stored.starts_with(&[0xFF, 0xD8]) && stored.ends_with(&[0xFF, 0xD9]));
    assert!(contains(&stored, &[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6]), "the orientation is gone");
    app.stop().await;
}

#[tokio::test]
async fn what_is_not_a_whole_image_is_415_whatever_its_content_type() {
    let app = spawn_app().await;
    let c = app.client().await;
    let png = base64(PNG);
    let jpeg = jpeg_with_gps();
    let gif = gif();
    let mut png_header_on_other_bytes = png[..33].to_vec(); // the signature and IHDR
    png_header_on_other_bytes.extend_from_slice(&[0x55; 200]);
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let cases: [(&str, &[u8]); 8] = [
        ("an SVG sent as a .png", svg),
        ("a truncated PNG", &png[..png.len() - 12]),
        ("a PNG header on other bytes", &png_header_on_other_bytes),
        ("a truncated JPEG", &jpeg[..jpeg.len() - 40]),
        ("a truncated GIF", &gif[..gif.len() - 1]),
        ("a truncated WebP", &base64(WEBP)[..20]),
        ("text", b"hello, world"),
        ("nothing", b""),
    ];
    for (what, body) in cases {
        let res = post(
            &app,
            Some(&c.resume),
            Body::Sized(body),
            &[("Content-Type", "image/png"), ("Content-Disposition", "attachment; filename=cat.png")],
        )
        .await;
        assert_eq!(res.status, 415, "{what}: {}", String::from_utf8_lossy(&res.body));
        assert!(!res.body.is_empty(), "{what}: a reason for people");
    }
    app.stop().await;
}

#[tokio::test]
async fn uploads_need_the_token_of_an_open_connection() {
    let app = spawn_app().await;
    let png = base64(PNG);
    assert_eq!(post(&app, None, Body::Sized(&png), &[]).await.status, 401);
    assert_eq!(post(&app, Some("not-a-token-of-anyone"), Body::Sized(&png), &[]).await.status, 401);
    let mut c = app.client().await;
    let token = c.resume.clone();
    assert_eq!(post(&app, Some(&token), Body::Sized(&png), &[]).await.status, 201);
    // Closed: its token is stale.
    c.ws.close(None).await.unwrap();
    assert_eq!(c.ended().await, Ended::Close(1000));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = post(&app, Some(&token), Body::Sized(&png), &[]).await.status;
        if status == 401 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "a closed connection's token still uploads");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn an_image_over_the_limit_is_413_from_its_length_or_as_it_grows() {
    let config = Config { media_max_bytes: 64 * 1024, ..test_config() };
    let app = spawn_with(config.clone()).await;
    let c = app.client().await;
    // A huge declared size: refused at once, nothing read (the test sends no body).
    let res = post(&app, Some(&c.resume), Body::Claims(50 * 1024 * 1024 * 1024), &[]).await;
    assert_eq!(res.status, 413);
    // Just over, with its length.
    let big = vec![0u8; 64 * 1024 + 1];
    assert_eq!(post(&app, Some(&c.resume), Body::Sized(&big), &[]).await.status, 413);
    // No length: it is read up to the limit and refused there (the test would send 16 MiB).
    let endless = vec![0u8; 16 * 1024 * 1024];
    assert_eq!(post(&app, Some(&c.resume), Body::Chunked(&endless), &[]).await.status, 413);
    // The limit itself is fine (a PNG padded with a private chunk to exactly the limit).
    let png = base64(PNG);
    let mut padded = png[..png.len() - 12].to_vec();
    let pad = 64 * 1024 - padded.len() - 12 - 12;
    let chunk = img_parts::png::PngChunk::new(*b"prIv", img_parts::Bytes::from(vec![7u8; pad]));
    padded.extend_from_slice(&chunk.encoder().bytes());
    padded.extend_from_slice(&png[png.len() - 12..]);
    assert_eq!(padded.len(), 64 * 1024);
    assert_eq!(post(&app, Some(&c.resume), Body::Chunked(&padded), &[]).await.status, 201);
    assert!(media_files(&config).iter().all(|n| !n.starts_with(".upload")), "no temporary file left");
    app.stop().await;
}

#[tokio::test]
async fn uploads_are_rate_limited_per_connection() {
    let app = spawn_app().await;
    let (a, b) = (app.client().await, app.client().await);
    let png = base64(PNG);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(post(&app, Some(&a.resume), Body::Sized(&png), &[]).await.status);
    }
    assert_eq!(statuses[..10], [201; 10], "{statuses:?}");
    assert_eq!(statuses[10..], [429, 429], "{statuses:?}");
    // Another connection is not slowed by it.
    assert_eq!(post(&app, Some(&b.resume), Body::Sized(&png), &[]).await.status, 201);
    app.stop().await;
}

#[tokio::test]
async fn an_allowed_page_of_another_origin_may_upload_and_others_get_no_cors() {
    let config = Config { allowed_origins: vec!["http://127.0.0.1:8080".into()], ..test_config() };
    let app = spawn_with(config).await;
    let c = app.client().await;
    let png = base64(PNG);
    let ok = post(&app, Some(&c.resume), Body::Sized(&png), &[("Origin", "http://127.0.0.1:8080")]).await;
    assert_eq!((ok.status, ok.header("access-control-allow-origin")), (201, "http://127.0.0.1:8080"));
    let other = post(&app, Some(&c.resume), Body::Sized(&png), &[("Origin", "https://evil.example")]).await;
    assert_eq!(other.header("access-control-allow-origin"), "");
    app.stop().await;
}

#[tokio::test]
async fn a_message_with_an_image_reaches_the_room_and_its_history() {
    let app = spawn_app().await;
    let mut alice = app.member("alice", "pics").await;
    let mut bob = app.member("bob", "pics").await;
    let _ = alice.next().await; // bob's arrival
    let url = upload(&app, &alice, &base64(PNG)).await["url"].as_str().unwrap().to_owned();
    alice.send(json!({"type": "say", "room": "pics", "text": "", "cid": "i-1", "image": url})).await;
    let echo = alice.next().await;
    assert_eq!(
        (echo["type"].as_str(), echo["image"].as_str(), echo["text"].as_str()),
        (Some("message"), Some(&*url), Some(""))
    );
    let seen = bob.next().await;
    assert_eq!((seen["image"].as_str(), seen["nick"].as_str()), (Some(&*url), Some("alice")));
    alice.send(json!({"type": "say", "room": "pics", "text": "a caption", "cid": "i-2", "image": url})).await;
    assert_eq!(alice.next().await["text"], "a caption");
    let _ = bob.next().await;
    // A plain message carries no `image` at all.
    let plain = alice.say("pics", "words", "i-3").await;
    assert!(plain.get("image").is_none(), "{plain}");
    let mut dave = app.client().await;
    let joined = dave.join("pics").await;
    let images: Vec<_> = joined["history"].as_array().unwrap().iter().map(|m| m["image"].clone()).collect();
    assert_eq!(images, [json!(url), json!(url), Value::Null]);
    dave.send(json!({"type": "history", "room": "pics", "before": 3})).await;
    let page = dave.next().await;
    assert_eq!(page["messages"][0]["image"], json!(url), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn a_say_with_any_other_image_is_invalid() {
    let app = spawn_app().await;
    let mut alice = app.member("alice", "pics").await;
    let zeros = "0".repeat(64);
    for image in [
        "https://elsewhere.example/cat.png".to_owned(),
        format!("http://127.0.0.1/media/{zeros}.png"),
        format!("/media/{zeros}.png"), // well-formed, never uploaded
        format!("/media/{zeros}.svg"),
        "/media/../chat.db".into(),
        String::new(),
    ] {
        alice.send(json!({"type": "say", "room": "pics", "text": "x", "cid": "c-1", "image": image})).await;
        let e = alice.expect_error("invalid").await;
        assert_eq!(e["cid"], "c-1", "{image}: {e}");
    }
    // Without an image, an empty text is still invalid.
    alice.send(json!({"type": "say", "room": "pics", "text": " ", "cid": "c-2"})).await;
    alice.expect_error("invalid").await;
    app.stop().await;
}

#[tokio::test]
async fn images_survive_a_restart_in_sqlite_and_an_old_database_is_migrated() {
    let config = test_config();
    let _folder = hold(&config);
    // A database as the server before images wrote it.
    std::fs::create_dir_all(config.db.parent().unwrap()).unwrap();
    {
        let old = rusqlite::Connection::open(&config.db).unwrap();
        old.execute_batch(
            "CREATE TABLE messages (room TEXT NOT NULL, id INTEGER NOT NULL, nick TEXT NOT NULL,
               text TEXT NOT NULL, ts INTEGER NOT NULL, sender TEXT NOT NULL, cid TEXT NOT NULL,
               PRIMARY KEY (room, id));
             CREATE UNIQUE INDEX messages_by_sender_cid ON messages (sender, cid);
             INSERT INTO messages VALUES ('pics', 1, 'old', 'before images', 5, 's', 'c');",
        )
        .unwrap();
    }
    let app = spawn_with(config.clone()).await;
    let mut alice = app.member("alice", "pics").await;
    let url = upload(&app, &alice, &gif()).await["url"].as_str().unwrap().to_owned();
    alice.send(json!({"type": "say", "room": "pics", "text": "", "cid": "g", "image": url})).await;
    assert_eq!(alice.next().await["id"], 2);
    app.stop().await;
    let app = spawn_with(config).await;
    let mut bob = app.client().await;
    let joined = bob.join("pics").await;
    let history = joined["history"].as_array().unwrap();
    assert_eq!(history[0]["text"], "before images");
    assert!(history[0].get("image").is_none());
    assert_eq!(history[1]["image"], json!(url));
    app.stop().await;
}
