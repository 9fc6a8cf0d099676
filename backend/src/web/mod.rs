//! The built web app as static files: the part of the router that answers everything
//! but `/ws` and `/api/*`.
//!
//! - From a folder (`--web-dir`, else `dist/`) or from the copy built into the binary
//!   (`cargo xtask build --release-binary`), by the same rules (`files`).
//! - Compressed when the client allows: `cargo xtask build` writes a Brotli (`.br`) and a
//!   gzip (`.gz`) copy beside each file, and the best one the request's `Accept-Encoding`
//!   accepts is sent, with `Vary: Accept-Encoding`, or the original.
//! - Cached by name: a file trunk named by its content hash never changes, so the browser
//!   may keep it a year without asking; everything else (`index.html`, the manifest, the
//!   icons) is `no-cache`, asked again each time (a cheap 304 when unchanged), so a new
//!   build is picked up at once.
//! - Under a Content-Security-Policy that allows only this server's scripts, styles,
//!   images and WebSocket, with `nosniff` and no referrer.
//! - `index.html` for any path that is no file, so a deep link loads the app; without a
//!   built app, a 503 that says how to build it.
//!
//! It knows nothing of the chat: no state, no WebSocket.

mod files;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

pub use files::Source;

/// For files whose name says their content: a year, and no revalidation.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For everything else: keep it, but ask the server before each use.
const NO_CACHE: &str = "no-cache";

/// Where the app comes from: `web_dir` when given (`--web-dir`), else the copy built into
/// the binary, else `dist/`.
pub fn source(web_dir: Option<&Path>) -> Source {
    match web_dir {
        Some(dir) => Source::Disk(dir.to_owned()),
        None => Source::built_in().unwrap_or_else(|| Source::Disk(PathBuf::from("dist"))),
    }
}

/// The static part of the router, serving the app from `source`.
pub async fn router(source: Source) -> Router {
    let files = if source.has_app().await {
        tracing::info!(from = %source.describe(), "serving the web app");
        let source = Arc::new(source);
        Router::new().fallback(move |request: Request| {
            let source = source.clone();
            async move { files::serve(&source, request).await }
        })
    } else {
        tracing::warn!(dir = %source.describe(), "no index.html there: only /ws and /api are served");
        Router::new().fallback(not_built)
    };
    files.layer(middleware::from_fn(headers))
}

async fn not_built() -> impl IntoResponse {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The web app is not built. Run `cargo xtask serve`, or pass --web-dir with a built app.\n",
    )
}

/// Adds the caching and security headers to every static response.
async fn headers(req: Request, next: Next) -> Response {
    let hashed = is_hashed(req.uri().path());
    // Kept for the policy, which only documents get (written below, once that is known).
    let host = req.headers().get(header::HOST).cloned();
    let mut res = next.run(req).await;
    // A path that is no file gets index.html, which must never be cached as the file
    // that path names (a hashed name would otherwise keep the page a year).
    let found = (res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED)
        && res.extensions().get::<files::Fallback>().is_none();
    let cache = if hashed && found { IMMUTABLE } else { NO_CACHE };
    // The policy governs documents: a script, a stylesheet, the wasm, a PNG or the install
    // manifest is never one (with `nosniff`, a browser will not render it as a page), so
    // their answers go without its ~240 bytes, six times in every first load. Anything
    // else (HTML, an SVG, an unknown type) gets it.
    let kind = res.headers().get(header::CONTENT_TYPE).and_then(|t| t.to_str().ok()).unwrap_or_default();
    let is = |kinds: &[&str]| kinds.iter().any(|k| kind.starts_with(k));
    let css = is(&["text/css"]);
    let subresource = css
        || is(&[
            "text/javascript",
            "application/javascript",
            "application/wasm",
            "image/png",
            "application/manifest+json",
        ]);
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if cache == IMMUTABLE {
        // Never asked again: a date to revalidate against is bytes of every first load.
        h.remove(header::LAST_MODIFIED);
    }
    if !subresource && let Ok(csp) = HeaderValue::try_from(content_security_policy(host.as_ref())) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The referrer policy governs the requests a document or a stylesheet makes; a
    // script's, the wasm's, an image's or the manifest's own answer has none to govern.
    if !subresource || css {
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    res
}

/// The policy the app runs under (`common::content_security_policy`), with the WebSocket
/// to the host the page was loaded from.
///
/// `'self'` alone covers `ws:` and `wss:` to the same host in CSP level 3 browsers; the
/// host is named as well for the older ones, when the `Host` header is a plain host name
/// or address (anything else is not written into a header).
fn content_security_policy(host: Option<&HeaderValue>) -> String {
    let host = host
        .and_then(|h| h.to_str().ok())
        .filter(|h| is_plain_host(h))
        .map(|h| format!("ws://{h} wss://{h}"))
        .unwrap_or_default();
    common::content_security_policy(&host)
}

/// `name`, `name:port`, `1.2.3.4:port` or `[::1]:port`, and nothing that could end or
/// extend a CSP directive.
fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Whether the last segment of `path` is a name trunk gave by content hash:
/// `<stem>-<hash>.<ext>`, with `_bg` after the hash for the wasm (`frontend-<hash>_bg.wasm`).
///
/// trunk writes the hash as the hex of a 64-bit seahash without leading zeros: 16 digits
/// but for one name in 16, 8 or more but for one in four billion. A hashed name with fewer
/// is only revalidated like an unhashed file (a 304), never cached wrongly; no file we name
/// ourselves (`index.html`, `manifest.webmanifest`, `icon-192.png`) looks like this.
fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let Some((stem, _ext)) = name.split_once('.') else { return false };
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    let Some((prefix, hash)) = stem.rsplit_once('-') else { return false };
    !prefix.is_empty()
        && (8..=16).contains(&hash.len())
        && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small built app: the page, a hashed wasm with both compressed copies, a manifest.
    const FIXTURE: [(&str, &[u8]); 6] = [
        ("frontend-0123456789abcdef_bg.wasm", b"\0asm the original"),
        ("frontend-0123456789abcdef_bg.wasm.br", b"wasm as brotli"),
        ("frontend-0123456789abcdef_bg.wasm.gz", b"wasm as gzip"),
        ("index.html", b"<!doctype html><title>Chat</title>"),
        ("index.html.br", b"index as brotli"),
        ("manifest.webmanifest", b"{}"),
    ];

    /// The answer to `GET path` with these headers: status, every header, body.
    async fn get(
        app: &Router,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut request = Request::builder().uri(path).header(header::HOST, "localhost:3000");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(axum::body::Body::empty()).unwrap();
        let response = tower::Service::call(&mut app.clone(), request).await.unwrap();
        let mut headers: Vec<_> =
            response.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned())).collect();
        headers.sort();
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, headers, body.to_vec())
    }

    #[tokio::test]
    async fn the_built_in_app_is_served_as_the_same_files_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut table = Vec::new();
        for (name, bytes) in FIXTURE {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
            let modified = modified.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            table.push(files::Embedded { name, bytes, modified });
        }
        let disk = router(Source::Disk(dir.path().to_owned())).await;
        let built_in = router(Source::Embedded(Vec::leak(table))).await;
        let wasm = "/frontend-0123456789abcdef_bg.wasm";
        let first = get(&disk, "/manifest.webmanifest", &[]).await;
        let modified = first.1.iter().find(|(k, _)| k == "last-modified").unwrap().1.clone();
        let cases: [(&str, &[(&str, &str)]); 9] = [
            ("/", &[("accept-encoding", "br, gzip")]),
            ("/index.html", &[]),
            (wasm, &[("accept-encoding", "gzip, deflate, br")]),
            (wasm, &[("accept-encoding", "br;q=0, gzip")]),
            (wasm, &[]),
            ("/room/rust", &[("accept-encoding", "gzip")]),
            ("/frontend-aaaaaaaaaaaaaaaa.js", &[("accept-encoding", "br")]),
            ("/manifest.webmanifest", &[]),
            ("/manifest.webmanifest", &[("if-modified-since", &modified)]),
        ];
        for (path, headers) in cases {
            let answer = get(&disk, path, headers).await;
            assert_eq!(get(&built_in, path, headers).await, answer, "{path} {headers:?}");
        }
        // And they are the rules, not the same mistake twice.
        let (status, headers, body) = get(&built_in, wasm, &[("accept-encoding", "br")]).await;
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!((status, body.as_slice()), (200, b"wasm as brotli".as_slice()));
        assert_eq!(header("content-encoding"), Some("br"));
        assert_eq!(header("content-type"), Some("application/wasm"));
        assert_eq!(header("vary"), Some("accept-encoding"));
        assert_eq!(header("cache-control"), Some(IMMUTABLE));
        assert_eq!(header("x-content-type-options"), Some("nosniff"));
        let (status, headers, body) = get(&built_in, "/room/rust", &[("accept-encoding", "br")]).await;
        assert_eq!((status, body.as_slice()), (200, b"index as brotli".as_slice()));
        assert!(headers.contains(&("cache-control".to_owned(), NO_CACHE.to_owned())), "{headers:?}");
        let (status, _, body) =
            get(&built_in, "/manifest.webmanifest", &[("if-modified-since", &modified)]).await;
        assert_eq!((status, body.len()), (304, 0));
    }

    #[test]
    fn trunk_names_are_hashed_and_ours_are_not() {
        for hashed in [
            "/frontend-3f2c9a1b7d4e6f80_bg.wasm",
            "/frontend-3f2c9a1b7d4e6f80.js",
            "/style-9a8b7c6d5e4f3a2.css",
            "/boot-0123abcd.js",
        ] {
            assert!(is_hashed(hashed), "{hashed}");
        }
        for plain in [
            "/",
            "/index.html",
            "/manifest.webmanifest",
            "/icon-192.png",
            "/apple-touch-icon.png",
            "/room/rust",
            "/app-1234.js",
            "/-0123456789abcdef.js",
            "/frontend-3F2C9A1B7D4E6F80.js",
            "/frontend-3f2c9a1b7d4e6f8012.js",
        ] {
            assert!(!is_hashed(plain), "{plain}");
        }
    }

    #[test]
    fn the_policy_names_a_plain_host_and_nothing_else() {
        let csp = content_security_policy(Some(&HeaderValue::from_static("192.168.1.20:3000")));
        assert!(csp.contains("connect-src 'self' ws://192.168.1.20:3000 wss://192.168.1.20:3000;"), "{csp}");
        assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval';"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let csp = content_security_policy(Some(&HeaderValue::from_static("evil; script-src *")));
        assert!(csp.contains("connect-src 'self';") && !csp.contains("evil"), "{csp}");
    }
}
