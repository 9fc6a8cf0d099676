//! Where the web app's bytes come from, and the one way they are answered.
//!
//! [`Source`] is a folder on disk (`--web-dir`, or `dist/`) or the copy built into the
//! binary (`cargo xtask build --release-binary`: `build.rs` embeds the folder named by
//! `CHAT_EMBED_WEB` at compile time). Both are read through [`Source::open`], and
//! [`serve`] alone decides the answer, so the two cannot differ: the Brotli or gzip copy
//! that `Accept-Encoding` prefers (`Vary: Accept-Encoding`), the type by the name,
//! `Last-Modified` and its `304`, and `index.html` for a path that is no file (its
//! caching is `web`'s).
//!
//! It knows nothing of caching rules or security headers (`web`'s layer adds them to
//! whatever this answers) and nothing of the chat.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A file built into the binary (the compressed copies are files of their own, named
/// `<name>.br` and `<name>.gz`, as on disk).
#[derive(Debug)]
pub struct Embedded {
    pub name: &'static str,
    pub bytes: &'static [u8],
    /// When the file was last changed, in seconds since the Unix epoch, at build time.
    pub modified: u64,
}

mod built {
    //! The table `build.rs` writes: every file of the app, sorted by name; empty when the
    //! binary was built without one.
    use super::Embedded;
    include!(concat!(env!("OUT_DIR"), "/embedded_web.rs"));
}

/// Where the app's files are read from.
#[derive(Debug, Clone)]
pub enum Source {
    Disk(PathBuf),
    Embedded(&'static [Embedded]),
}

/// One file found: its bytes (or where to stream them from) and its time.
enum Opened {
    Disk(tokio::fs::File, u64),
    Embedded(&'static [u8]),
}

/// The copies a file may have beside it, best first when the client likes them equally.
const ENCODINGS: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

impl Source {
    /// The app built into this binary, if it was built with one.
    pub fn built_in() -> Option<Self> {
        (!built::FILES.is_empty()).then_some(Self::Embedded(built::FILES))
    }

    /// Whether the source holds an app (its `index.html`).
    pub async fn has_app(&self) -> bool {
        self.open("index.html").await.is_some()
    }

    /// For the logs: where the files come from.
    pub fn describe(&self) -> String {
        match self {
            Self::Disk(dir) => dir.display().to_string(),
            Self::Embedded(files) => format!("built into the binary ({} files)", files.len()),
        }
    }

    /// The file `name` (a path relative to the app's root, already checked by
    /// [`file_name`]), with its last change.
    async fn open(&self, name: &str) -> Option<(Opened, Option<SystemTime>)> {
        match self {
            Self::Disk(dir) => {
                let file = tokio::fs::File::open(dir.join(name)).await.ok()?;
                let meta = file.metadata().await.ok().filter(std::fs::Metadata::is_file)?;
                Some((Opened::Disk(file, meta.len()), meta.modified().ok()))
            }
            Self::Embedded(files) => {
                let i = files.binary_search_by(|f| f.name.cmp(name)).ok()?;
                let file = &files[i];
                Some((Opened::Embedded(file.bytes), Some(UNIX_EPOCH + Duration::from_secs(file.modified))))
            }
        }
    }
}

/// The file a request path names, relative to the app's root (`index.html` for `/`), or
/// `None` for one that could leave the folder or names nothing we would have.
fn file_name(path: &str) -> Option<String> {
    let name = path.trim_start_matches('/');
    if name.is_empty() {
        return Some("index.html".to_owned());
    }
    let fine = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    name.split('/').all(fine).then(|| name.to_owned())
}

/// How much the client wants `coding` (its `q`, 0 to 1000), by `Accept-Encoding`.
fn wanted(headers: &HeaderMap, coding: &str) -> u16 {
    let mut star = None;
    for value in headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()) {
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(1000, |q| q.trim().parse::<f32>().map_or(0, |q| (q.clamp(0.0, 1.0) * 1000.0) as u16));
            if name.eq_ignore_ascii_case(coding) {
                return q;
            }
            if name == "*" {
                star = Some(q);
            }
        }
    }
    star.unwrap_or(0)
}

/// Answers a request for the app's files from `source`: the file the path names, or
/// `index.html` (marked by [`Fallback`] for `web`'s caching) when it names none.
pub async fn serve(source: &Source, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")]).into_response();
    }
    let headers = request.headers();
    let named = file_name(request.uri().path());
    let (name, fallback) = match named {
        Some(name) if source.open(&name).await.is_some() => (name, false),
        _ => ("index.html".to_owned(), true),
    };
    // The copy the client likes best (ties: the order of ENCODINGS), if there is one.
    let mut choices: Vec<(u16, &str, &str)> = ENCODINGS
        .iter()
        .map(|&(coding, suffix)| (wanted(headers, coding), coding, suffix))
        .filter(|&(q, _, _)| q > 0)
        .collect();
    choices.sort_by_key(|&(q, _, _)| std::cmp::Reverse(q));
    let mut found = None;
    for (_, coding, suffix) in choices {
        if let Some(opened) = source.open(&format!("{name}{suffix}")).await {
            found = Some((opened, Some(coding)));
            break;
        }
    }
    if found.is_none() {
        found = source.open(&name).await.map(|opened| (opened, None));
    }
    let Some(((opened, modified), coding)) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = Response::new(Body::empty());
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    let modified = modified.map(httpdate::HttpDate::from);
    if let Some(modified) = modified {
        if let Ok(value) = HeaderValue::try_from(modified.to_string()) {
            h.insert(header::LAST_MODIFIED, value);
        }
        let since = headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .map(httpdate::HttpDate::from);
        if since.is_some_and(|since| modified <= since) {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            return with_fallback(response, fallback);
        }
    }
    let mime = mime_guess::from_path(Path::new(&name)).first_or_octet_stream();
    if let Ok(value) = HeaderValue::try_from(mime.as_ref()) {
        h.insert(header::CONTENT_TYPE, value);
    }
    if let Some(coding) = coding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    let length = match &opened {
        Opened::Disk(_, length) => *length,
        Opened::Embedded(bytes) => bytes.len() as u64,
    };
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if request.method() == Method::GET {
        *response.body_mut() = match opened {
            // Streamed: a wasm of a megabyte is not held whole per download.
            Opened::Disk(file, _) => Body::from_stream(tokio_util::io::ReaderStream::new(file)),
            Opened::Embedded(bytes) => Body::from(bytes),
        };
    }
    with_fallback(response, fallback)
}

/// Marks an answer that is `index.html` standing in for a path that is no file.
#[derive(Debug, Clone, Copy)]
pub struct Fallback;

fn with_fallback(mut response: Response, fallback: bool) -> Response {
    if fallback {
        response.extensions_mut().insert(Fallback);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_leave_the_folder_name_no_file() {
        assert_eq!(file_name("/").as_deref(), Some("index.html"));
        assert_eq!(file_name("/frontend-0123_bg.wasm").as_deref(), Some("frontend-0123_bg.wasm"));
        assert_eq!(file_name("/snippets/a/b.js").as_deref(), Some("snippets/a/b.js"));
        for bad in ["/../etc/passwd", "/a/../../x", "/./x", "/a%2e%2e", "/a\\b", "/a b"] {
            assert_eq!(file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0.5, br;q=0, *;q=0.1"));
        assert_eq!((wanted(&h, "br"), wanted(&h, "gzip"), wanted(&h, "zstd")), (0, 500, 100));
        assert_eq!(wanted(&HeaderMap::new(), "gzip"), 0);
    }
}
