//! The web app as a browser fetches it: compressed copies only for a client that accepts
//! them, caching by content hash, the install manifest and icons with their types, and
//! the security headers. The app is a fixture folder written here (no trunk build): each
//! compressed copy holds a marker, so a body shows which file was sent.

use std::path::Path;

use crate::helpers::{TestApp, spawn_with, test_config};

const WASM: &str = "/frontend-0123456789abcdef_bg.wasm";
const CSS: &str = "/style-fedcba9876543210.css";

/// A built app in `dir`: index.html and a hashed wasm with Brotli and gzip copies, a
/// hashed CSS with a gzip copy only, the manifest and an icon.
fn fixture(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let write =
        |name: &str, body: &[u8]| std::fs::write(dir.join(name.trim_start_matches('/')), body).unwrap();
    write("index.html", b"<!doctype html><title>Chat</title>");
    write("index.html.br", b"index as brotli");
    write("index.html.gz", b"index as gzip");
    write(WASM, b"\0asm the original");
    write(&format!("{WASM}.br"), b"wasm as brotli");
    write(&format!("{WASM}.gz"), b"wasm as gzip");
    write(CSS, b"body { margin: 0 }");
    write(&format!("{CSS}.gz"), b"css as gzip");
    write("manifest.webmanifest", br#"{"name": "Chat"}"#);
    write("icon-192.png", b"\x89PNG fake");
}

/// A server of the fixture, written in its database's folder (removed with the app).
async fn app() -> TestApp {
    let config = test_config();
    let web_dir = config.db.with_file_name("web");
    fixture(&web_dir);
    spawn_with(backend::Config { web_dir: Some(web_dir), ..config }).await
}

#[tokio::test]
async fn each_encoding_goes_to_a_client_that_asks_for_it_and_only_then() {
    let app = app().await;
    // (Accept-Encoding, the body that must come, its Content-Encoding)
    let cases: [(Option<&str>, &str, &str); 7] = [
        (Some("br, gzip"), "wasm as brotli", "br"),
        (Some("gzip, deflate, br, zstd"), "wasm as brotli", "br"),
        (Some("gzip"), "wasm as gzip", "gzip"),
        (Some("br;q=0, gzip"), "wasm as gzip", "gzip"),
        (None, "\0asm the original", ""),
        (Some("identity"), "\0asm the original", ""),
        (Some("deflate"), "\0asm the original", ""),
    ];
    for (accept, body, encoding) in cases {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept-Encoding", a)).into_iter().collect();
        let res = app.fetch(WASM, &headers).await;
        assert_eq!(res.status, 200, "{accept:?}");
        assert_eq!(String::from_utf8_lossy(&res.body), body, "{accept:?}");
        assert_eq!(res.header("content-encoding"), encoding, "{accept:?}");
        assert_eq!(res.header("content-type"), "application/wasm", "{accept:?}");
        // A cache between must keep the encodings apart.
        assert!(res.header("vary").to_lowercase().contains("accept-encoding"), "{accept:?}: {res:?}");
    }
    // A file with only a gzip copy: a Brotli-only client gets the original.
    let res = app.fetch(CSS, &[("Accept-Encoding", "br")]).await;
    assert_eq!((res.body.as_slice(), res.header("content-encoding")), (&b"body { margin: 0 }"[..], ""));
    let res = app.fetch(CSS, &[("Accept-Encoding", "br, gzip")]).await;
    assert_eq!((res.body.as_slice(), res.header("content-encoding")), (&b"css as gzip"[..], "gzip"));
    // The page itself, by its name and as the site's root.
    for path in ["/", "/index.html"] {
        let res = app.fetch(path, &[("Accept-Encoding", "br, gzip")]).await;
        assert_eq!((res.body.as_slice(), res.header("content-encoding")), (&b"index as brotli"[..], "br"));
        assert!(res.header("content-type").starts_with("text/html"), "{res:?}");
        let res = app.fetch(path, &[]).await;
        assert_eq!(res.body, b"<!doctype html><title>Chat</title>");
    }
    // A deep link falls back to the page, compressed the same way.
    let res = app.fetch("/room/rust", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!((res.status, res.body.as_slice()), (200, &b"index as gzip"[..]));
}

#[tokio::test]
async fn hashed_files_are_kept_a_year_and_the_rest_is_asked_again() {
    let app = app().await;
    for path in [WASM, CSS] {
        for accept in ["br, gzip", "identity"] {
            let res = app.fetch(path, &[("Accept-Encoding", accept)]).await;
            assert_eq!(res.status, 200);
            assert_eq!(res.header("cache-control"), "public, max-age=31536000, immutable", "{path} {accept}");
        }
    }
    for path in ["/", "/index.html", "/manifest.webmanifest", "/icon-192.png", "/room/rust"] {
        let res = app.fetch(path, &[("Accept-Encoding", "br, gzip")]).await;
        assert_eq!((res.status, res.header("cache-control")), (200, "no-cache"), "{path}");
    }
    // A hashed name that is not there (an old build's) gets the page, which must not be
    // kept a year under that name.
    let res = app.fetch("/frontend-aaaaaaaaaaaaaaaa.js", &[]).await;
    assert_eq!(res.body, b"<!doctype html><title>Chat</title>");
    assert_eq!(res.header("cache-control"), "no-cache");
    // Unchanged unhashed files cost a 304, not a download.
    let first = app.fetch("/manifest.webmanifest", &[]).await;
    let modified = first.header("last-modified").to_owned();
    assert!(!modified.is_empty(), "{first:?}");
    let again = app.fetch("/manifest.webmanifest", &[("If-Modified-Since", &modified)]).await;
    assert_eq!((again.status, again.body.len()), (304, 0));
}

#[tokio::test]
async fn the_install_manifest_and_icons_are_served_with_their_types() {
    let app = app().await;
    let res = app.fetch("/manifest.webmanifest", &[]).await;
    assert_eq!((res.status, res.header("content-type")), (200, "application/manifest+json"));
    assert_eq!(res.body, br#"{"name": "Chat"}"#);
    let res = app.fetch("/icon-192.png", &[]).await;
    assert_eq!((res.status, res.header("content-type")), (200, "image/png"));
}

#[tokio::test]
async fn the_page_and_its_files_carry_the_security_headers() {
    let app = app().await;
    let host = app.addr.to_string();
    // The wasm (like the scripts, the stylesheet, the icons and the install manifest) is
    // never a document: no policy, the other two headers all the same.
    for path in [WASM, "/manifest.webmanifest", "/icon-192.png"] {
        let res = app.fetch(path, &[("Accept-Encoding", "br")]).await;
        assert_eq!(res.status, 200, "{path}");
        assert_eq!(res.header("content-security-policy"), "", "{path}: a subresource carries no policy");
        assert_eq!(res.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(res.header("referrer-policy"), "", "{path}: makes no requests of its own");
    }
    // A file kept a year is never revalidated: no date to revalidate against.
    let res = app.fetch(WASM, &[("Accept-Encoding", "br")]).await;
    assert!(res.header("cache-control").contains("immutable"), "{res:?}");
    assert_eq!(res.header("last-modified"), "");
    for path in ["/", "/room/rust"] {
        let res = app.fetch(path, &[("Accept-Encoding", "br")]).await;
        let csp = res.header("content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            &format!("connect-src 'self' ws://{host} wss://{host}"),
            "frame-ancestors 'none'",
        ] {
            assert!(csp.split(';').any(|d| d.trim() == directive), "{path}: no `{directive}` in {csp:?}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"), "{csp}");
        assert_eq!(res.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(res.header("referrer-policy"), "no-referrer", "{path}");
    }
    // Without a built app, the page that says so carries them too.
    let dir = std::env::temp_dir().join("chat-no-such-dist");
    let bare = spawn_with(backend::Config { web_dir: Some(dir), ..test_config() }).await;
    let res = bare.fetch("/", &[]).await;
    assert_eq!(res.status, 503);
    assert_eq!(res.header("x-content-type-options"), "nosniff");
    assert!(res.header("content-security-policy").contains("frame-ancestors 'none'"));
}
