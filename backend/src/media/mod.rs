//! Uploaded images: `POST /api/media` takes one, `GET /media/<name>` serves it.
//!
//! An upload is allowed to the holder of an open connection's resume token (`Authorization:
//! Bearer <token>`), within a per-connection rate and a bound on uploads at once. Its size
//! is refused from `Content-Length` before anything is read, and a body without one stops
//! being read at the limit. What it is comes from its bytes (`image`), never from the
//! request's `Content-Type`. It is stored once, under the SHA-256 of the bytes as stored
//! (metadata taken out), written to a temporary name and renamed, so the folder never
//! holds a half-written image under a real name. Served files carry their real type,
//! `nosniff`, a year's immutable caching (a name is its content) and a sandboxing
//! Content-Security-Policy, so even a file that a browser could take for a page runs
//! nothing.
//!
//! It knows nothing of rooms or messages: a `say` checks its `image` with
//! [`Media::exists`].

pub mod image;

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::{Bytes, BytesMut};
use common::ImageRef;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::admission::Origins;
use crate::hub::Hub;

/// Uploads a connection may make in a burst...
const UPLOAD_BURST: f64 = 10.0;
/// ...and then one each this long.
const UPLOAD_EVERY: Duration = Duration::from_secs(3);
/// Uploads read, checked and written at once; more wait for a turn, up to [`TURN_WAIT`].
const UPLOADS_AT_ONCE: usize = 4;
const TURN_WAIT: Duration = Duration::from_secs(10);
/// A body that sends nothing for this long is given up (a phone that lost its network).
const BODY_IDLE: Duration = Duration::from_secs(30);
/// Connections whose upload rate is remembered; beyond it, the ones at their full burst
/// again are forgotten (they lose nothing by it).
const BUCKETS_MAX: usize = 10_000;

/// Served images: a name is the content's hash, so it never changes.
const CACHE: &str = "public, max-age=31536000, immutable";
/// An image is never a page: no scripts, no plugins, no same-origin access even if a
/// browser were to render one as a document.
const SANDBOX: &str = "default-src 'none'; sandbox";

/// A cheap handle to the media folder and the upload limits.
#[derive(Debug, Clone)]
pub struct Media {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    max_bytes: usize,
    /// Upload buckets by resume token. A std mutex: held for a lookup, never across an `.await`.
    buckets: Mutex<HashMap<String, Bucket>>,
    turns: Semaphore,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let earned = now.duration_since(self.last).as_secs_f64() / UPLOAD_EVERY.as_secs_f64();
        self.tokens = (self.tokens + earned).min(UPLOAD_BURST);
        self.last = now;
    }
}

/// Why an upload was refused. The texts are for people and name no path.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("send the resume token of an open chat connection as `Authorization: Bearer <token>`")]
    Unauthorized,
    #[error("an image may be at most {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Unsupported(#[from] image::Refused),
    #[error("too many uploads; wait a few seconds")]
    RateLimited,
    #[error("the server is busy with other uploads; retry in a moment")]
    Busy,
    #[error("the upload was interrupted")]
    Interrupted,
    #[error("the server's disk is full; the image was not stored")]
    DiskFull,
    /// Logged where it happened; the client gets no details.
    #[error("the server could not store the image")]
    Storage,
}

impl IntoResponse for UploadError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Interrupted => StatusCode::BAD_REQUEST,
            Self::DiskFull => StatusCode::INSUFFICIENT_STORAGE,
            Self::Storage => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut res = (status, format!("{self}\n")).into_response();
        if matches!(self, Self::RateLimited | Self::Busy) {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("3"));
        }
        if matches!(self, Self::Unauthorized) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// What `POST /api/media` answers with.
#[derive(Debug, serde::Serialize)]
pub struct Uploaded {
    pub url: String,
    #[serde(rename = "type")]
    pub mime: &'static str,
    pub bytes: usize,
    pub width: u32,
    pub height: u32,
}

impl Media {
    /// The media folder `dir` (created when missing), taking images of at most `max_bytes`.
    pub fn open(dir: &Path, max_bytes: usize) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let shared = Shared {
            dir: dir.to_owned(),
            max_bytes,
            buckets: Mutex::new(HashMap::new()),
            turns: Semaphore::new(UPLOADS_AT_ONCE),
        };
        Ok(Self { shared: Arc::new(shared) })
    }

    /// Whether the image a `say` names was stored here (or, in a cluster, by any node
    /// sharing the folder).
    pub fn exists(&self, image: &ImageRef) -> bool {
        self.shared.dir.join(image.file_name()).is_file()
    }

    /// Removes the stored picture of `url` (`/media/<name>`), which no message names any
    /// more (its message was deleted). Anything else, or a file already gone, is left.
    pub fn forget(&self, url: &str) {
        let Ok(image) = ImageRef::parse(url) else { return };
        match std::fs::remove_file(self.shared.dir.join(image.file_name())) {
            Ok(()) => tracing::info!(%url, "a deleted message's picture was removed"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, %url, "removing a deleted message's picture failed"),
        }
    }

    /// Removes the pictures `orphans` names as they come, off the runtime's threads.
    pub async fn sweep(self, mut orphans: tokio::sync::mpsc::Receiver<String>) {
        while let Some(url) = orphans.recv().await {
            let media = self.clone();
            // A failed removal was logged; a panic there is not the server's end.
            let _ = tokio::task::spawn_blocking(move || media.forget(&url)).await;
        }
    }

    /// Takes one upload from the bucket of `token`'s connection.
    fn take(&self, token: &str) -> bool {
        let now = Instant::now();
        let mut buckets = self.shared.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= BUCKETS_MAX && !buckets.contains_key(token) {
            buckets.retain(|_, b| {
                b.refill(now);
                b.tokens < UPLOAD_BURST
            });
        }
        let bucket = buckets.entry(token.to_owned()).or_insert(Bucket { tokens: UPLOAD_BURST, last: now });
        bucket.refill(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Checks, strips and stores an upload's bytes.
    async fn store(&self, body: Bytes) -> Result<Uploaded, UploadError> {
        let dir = self.shared.dir.clone();
        // Hashing and walking 8 MiB is milliseconds of CPU, and the write is blocking I/O.
        tokio::task::spawn_blocking(move || {
            let image = image::inspect(body)?;
            let hash = data_encoding::HEXLOWER.encode(&Sha256::digest(&image.bytes));
            let url = ImageRef::new(&hash, image.kind.ext()).map_err(|_| UploadError::Storage)?;
            write_once(&dir, url.file_name(), &image.bytes)?;
            Ok(Uploaded {
                url: url.into(),
                mime: image.kind.mime(),
                bytes: image.bytes.len(),
                width: image.width,
                height: image.height,
            })
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "storing an upload panicked");
            UploadError::Storage
        })?
    }
}

/// Writes `bytes` as `dir/name` unless it is there already (the same name is the same
/// content): to a temporary name first, synced, then renamed, so a reader never sees a
/// half-written file and a full disk leaves nothing behind.
fn write_once(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), UploadError> {
    let path = dir.join(name);
    if path.is_file() {
        return Ok(());
    }
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|_| UploadError::Storage)?;
    let temp = dir.join(format!(".upload-{}", data_encoding::HEXLOWER.encode(&nonce)));
    let written = std::fs::File::create_new(&temp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&temp, &path));
    written.map_err(|e| {
        // Nothing half-written stays behind; it may not exist at all.
        let _ = std::fs::remove_file(&temp);
        if e.kind() == io::ErrorKind::StorageFull || e.kind() == io::ErrorKind::QuotaExceeded {
            tracing::error!(error = %e, dir = %dir.display(), "the media folder's disk is full");
            UploadError::DiskFull
        } else {
            tracing::error!(error = %e, dir = %dir.display(), "storing an upload failed");
            UploadError::Storage
        }
    })
}

/// `/api/media` and `/media/{name}`. A page of an origin that may open `/ws` (its own,
/// or one of `--allowed-origin`) may upload from another origin too (CORS); others get no
/// CORS headers, so their browser keeps the answer from them.
pub fn router(media: Media, hub: Hub, origins: Arc<Origins>) -> Router {
    let cors = move |req: Request, next: Next| {
        let origins = origins.clone();
        async move {
            let origin = req.headers().get(header::ORIGIN).filter(|_| origins.allows(req.headers())).cloned();
            let preflight = req.method() == Method::OPTIONS;
            let mut res =
                if preflight { StatusCode::NO_CONTENT.into_response() } else { next.run(req).await };
            let h = res.headers_mut();
            h.append(header::VARY, HeaderValue::from_static("Origin"));
            if let Some(origin) = origin {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                if preflight {
                    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
                    h.insert(
                        header::ACCESS_CONTROL_ALLOW_HEADERS,
                        HeaderValue::from_static("authorization, content-type"),
                    );
                    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
                }
            }
            res
        }
    };
    Router::new()
        .route("/api/media", post(upload).options(|| async { StatusCode::NO_CONTENT }))
        .route_layer(middleware::from_fn(cors))
        .route("/media/{name}", get(serve))
        .with_state((media, hub))
}

/// The resume token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn upload(State((media, hub)): State<(Media, Hub)>, req: Request) -> Result<Response, UploadError> {
    let token = bearer(req.headers()).filter(|t| hub.is_open(t)).ok_or(UploadError::Unauthorized)?;
    let max = media.shared.max_bytes;
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(UploadError::TooLarge(max));
    }
    if !media.take(token) {
        return Err(UploadError::RateLimited);
    }
    let _turn = tokio::time::timeout(TURN_WAIT, media.shared.turns.acquire())
        .await
        .map_err(|_| UploadError::Busy)?
        .map_err(|_| UploadError::Busy)?;
    let body = read_body(req.into_body(), max).await?;
    let uploaded = media.store(body).await?;
    tracing::info!(url = %uploaded.url, bytes = uploaded.bytes, "stored an image");
    Ok((StatusCode::CREATED, axum::Json(uploaded)).into_response())
}

/// Reads a body of at most `max` bytes; one that grows past it is refused at that point.
async fn read_body(body: Body, max: usize) -> Result<Bytes, UploadError> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    loop {
        let chunk =
            tokio::time::timeout(BODY_IDLE, stream.next()).await.map_err(|_| UploadError::Interrupted)?;
        match chunk {
            None => return Ok(buf.freeze()),
            Some(Ok(chunk)) => {
                if buf.len() + chunk.len() > max {
                    return Err(UploadError::TooLarge(max));
                }
                buf.extend_from_slice(&chunk);
            }
            Some(Err(_)) => return Err(UploadError::Interrupted),
        }
    }
}

async fn serve(
    State((media, _)): State<(Media, Hub)>,
    UrlPath(name): UrlPath<String>,
    req: Request,
) -> Response {
    let mime = name.rsplit_once('.').and_then(|(_, ext)| {
        common::media::IMAGE_TYPES.iter().find(|(e, _)| *e == ext).map(|(_, mime)| *mime)
    });
    let (true, Some(mime)) = (common::media::is_file_name(&name), mime) else {
        return (StatusCode::NOT_FOUND, "no such image\n").into_response();
    };
    let file =
        ServeFile::new_with_mime(media.shared.dir.join(&name), &mime.parse().expect("a valid media type"));
    let Ok(mut res) = file.oneshot(req).await;
    let found = res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED;
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(SANDBOX));
    // Pages of this site only (any port: the app's own, a development page, the browser
    // tests' page) may show it; other sites' pages cannot embed the chat's pictures.
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-site"));
    if found {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    }
    res.map(Body::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_token_is_read_from_authorization() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer  abc "));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn a_write_that_fails_leaves_no_file_behind() {
        let dir = std::env::temp_dir().join(format!("chat-media-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_once(&dir, "a.png", b"x").unwrap();
        assert_eq!(std::fs::read(dir.join("a.png")).unwrap(), b"x");
        // A name that is a folder cannot be renamed over: an error, and no temporary file.
        std::fs::create_dir_all(dir.join("b.png").join("inside")).unwrap();
        assert!(write_once(&dir, "b.png", b"y").is_err());
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
