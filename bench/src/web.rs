//! The web app as a phone gets it: [`first_load`] fetches `index.html` from the real
//! server and every file the page references, each with `Accept-Encoding: br, gzip` as a
//! browser sends it, and counts the bytes on the wire (the response's head and body as
//! received). [`SlowPhone`] is the end-to-end suite's timing of a first load on an
//! emulated slow phone, which it writes to a file for this report.
//!
//! The manifest's own icons are not counted, nor the `apple-touch-icon` link's: a browser
//! fetches them when the app is installed (added to a home screen), not to show the page.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};

/// What a browser sends: it accepts Brotli and gzip (Chromium adds deflate and zstd, which
/// the server has no copies for).
const ACCEPT_ENCODING: &str = "br, gzip";
/// No file of the app takes longer than this on loopback.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Every file of a first load, in the order the page names them, `index.html` first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstLoad {
    pub files: Vec<Fetched>,
}

/// One file as it came over the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fetched {
    pub path: String,
    /// `Content-Encoding` (`br`, `gzip`), or "" when sent as it is.
    pub encoding: String,
    /// Head and body of the response, as received.
    pub wire_bytes: u64,
}

impl FirstLoad {
    pub fn total(&self) -> u64 {
        self.files.iter().map(|f| f.wire_bytes).sum()
    }
}

/// The slow-phone timing, as `e2e/tests/load.rs` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowPhone {
    /// The emulated phone and network, in words.
    pub conditions: String,
    /// Navigation to the status reading "Connected", each run, in milliseconds.
    pub runs_ms: Vec<f64>,
}

impl SlowPhone {
    pub fn median_ms(&self) -> Option<f64> {
        crate::stats::Spread::of(&self.runs_ms).map(|s| s.median)
    }
}

/// The first load from the server at `addr`.
pub fn first_load(addr: SocketAddr) -> Result<FirstLoad> {
    let index = get(addr, "/")?;
    ensure!(index.status == 200, "GET / answered {}: is the web app built?", index.status);
    let html = String::from_utf8(index.decoded()?).context("index.html is not UTF-8")?;
    let mut files = vec![index.fetched("/")];
    for path in references(&html) {
        let res = get(addr, &path)?;
        ensure!(res.status == 200, "GET {path} (named by index.html) answered {}", res.status);
        files.push(res.fetched(&path));
    }
    Ok(FirstLoad { files })
}

/// The local files an HTML page makes a browser fetch: the `href` of its links, the
/// `src` of its scripts and images, and the app's glue and wasm that `boot.js` loads
/// (`data-js`, `data-wasm`), each once, in order. Other sites' URLs and fragments are not
/// the server's to send.
pub fn references(html: &str) -> Vec<String> {
    const ATTRIBUTES: [&str; 4] = ["href", "src", "data-js", "data-wasm"];
    let mut out: Vec<String> = Vec::new();
    let html = without_install_icons(html);
    let mut rest = html.as_str();
    while let Some(eq) = rest.find('=') {
        let name_start = rest[..eq].rfind(|c: char| c.is_whitespace()).map_or(0, |i| i + 1);
        let name = rest[name_start..eq].trim().to_ascii_lowercase();
        let after = &rest[eq + 1..];
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
        // A minified page leaves out the quotes where HTML allows it: such a value ends at
        // a space or at the end of the tag.
        let value = if let Some(q) = quote {
            let Some(end) = after[1..].find(q) else { break };
            rest = &after[end + 2..];
            &after[1..=end]
        } else {
            let end = after.find(|c: char| c.is_whitespace() || c == '>').unwrap_or(after.len());
            rest = &after[end..];
            &after[..end]
        };
        let local =
            !value.is_empty() && !value.starts_with('#') && !value.starts_with("//") && !value.contains(':');
        if ATTRIBUTES.contains(&name.as_str()) && local {
            let path = if value.starts_with('/') { value.to_owned() } else { format!("/{value}") };
            if !out.contains(&path) {
                out.push(path);
            }
        }
    }
    out
}

/// `html` without its `<link rel="apple-touch-icon">` tags: Safari fetches that icon when
/// the page is added to a home screen, as other browsers fetch the manifest's icons.
fn without_install_icons(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<link") {
        let end = rest[start..].find('>').map_or(rest.len(), |e| start + e + 1);
        out.push_str(&rest[..start]);
        if !rest[start..end].contains("apple-touch-icon") {
            out.push_str(&rest[start..end]);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

struct Response {
    status: u16,
    encoding: String,
    body: Vec<u8>,
    wire: usize,
}

impl Response {
    fn fetched(&self, path: &str) -> Fetched {
        Fetched { path: path.to_owned(), encoding: self.encoding.clone(), wire_bytes: self.wire as u64 }
    }

    /// The body as the page's author wrote it.
    fn decoded(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        match self.encoding.as_str() {
            "" => out.extend_from_slice(&self.body),
            "br" => {
                brotli::Decompressor::new(&self.body[..], 4096).read_to_end(&mut out)?;
            }
            "gzip" => {
                flate2::read::GzDecoder::new(&self.body[..]).read_to_end(&mut out)?;
            }
            other => bail!("an encoding the bench did not ask for: {other}"),
        }
        Ok(out)
    }
}

/// One GET over its own connection, read to its end: what a browser receives for it
/// (apart from TCP's and TLS's own framing).
fn get(addr: SocketAddr, path: &str) -> Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: {ACCEPT_ENCODING}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).with_context(|| format!("reading GET {path}"))?;
    parse(&raw).with_context(|| format!("GET {path}"))
}

fn parse(raw: &[u8]) -> Result<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").context("no end of the response's head")?;
    let head = std::str::from_utf8(&raw[..split]).context("a head that is not text")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok());
    let status = status.context("no status")?;
    let encoding = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-encoding"))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    Ok(Response { status, encoding, body: raw[split + 4..].to_vec(), wire: raw.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What trunk writes, in short.
    const PAGE: &str = r##"<!DOCTYPE html><html><head>
<link rel="manifest" href="/manifest.webmanifest" />
<link rel="icon" type="image/png" sizes="192x192" href="/icon-192.png" />
<link rel="apple-touch-icon" href="/apple-touch-icon.png" />
<link rel="stylesheet" href="/style-9a8b.css" integrity="sha384-x" />
<script src="/boot-12ab.js" type="module" integrity="sha384-y"></script>
<meta name="chat-app" data-js="/frontend-ab12.js" data-wasm="/frontend-ab12_bg.wasm" />
<link rel="modulepreload" href="/frontend-ab12.js" crossorigin="anonymous">
<link rel="preload" href='/frontend-ab12_bg.wasm' as="fetch" type="application/wasm">
<a href="#/room/x">room</a> <a href="https://example.org/">elsewhere</a>
<link href=/icon-512.png rel=icon sizes=512x512><meta content=yes name=x>
<img src="data:image/png;base64,AAAA"> <link href="//cdn.example/x.css">
</head><body><p title="a = b">x</p></body></html>"##;

    #[test]
    fn every_local_file_the_page_names_once_in_order() {
        assert_eq!(
            references(PAGE),
            [
                "/manifest.webmanifest",
                "/icon-192.png",
                "/style-9a8b.css",
                "/boot-12ab.js",
                "/frontend-ab12.js",
                "/frontend-ab12_bg.wasm",
                "/icon-512.png",
            ]
        );
    }

    #[test]
    fn a_response_counts_its_head_and_body() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-encoding: br\r\ncontent-length: 3\r\n\r\nabc";
        let res = parse(raw).unwrap();
        assert_eq!((res.status, res.encoding.as_str(), res.body.as_slice()), (200, "br", &b"abc"[..]));
        assert_eq!(res.fetched("/x").wire_bytes, raw.len() as u64);
        let plain = parse(b"HTTP/1.1 404 Not Found\r\n\r\n").unwrap();
        assert_eq!((plain.status, plain.encoding.as_str()), (404, ""));
    }

    #[test]
    fn a_compressed_page_is_read_as_written() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(PAGE.as_bytes()).unwrap();
        let res = Response { status: 200, encoding: "gzip".into(), body: gz.finish().unwrap(), wire: 0 };
        assert_eq!(res.decoded().unwrap(), PAGE.as_bytes());
        let mut br = Vec::new();
        brotli::CompressorWriter::new(&mut br, 4096, 5, 22).write_all(PAGE.as_bytes()).unwrap();
        let res = Response { status: 200, encoding: "br".into(), body: br, wire: 0 };
        assert_eq!(res.decoded().unwrap(), PAGE.as_bytes());
    }
}
