//! The chat over plain HTTP, for clients whose network refuses WebSocket upgrades: the
//! same session, hub and link as `/ws`, with the server's frames on a stream of events and
//! the client's frames in `POST`s.
//!
//! - `GET /http/stream?v=2[&resume=<token>]` answers `text/event-stream`: first a
//!   `stream` event naming the stream's id, then one event per server frame (`welcome`
//!   first), a `heartbeat` event at least every 15 seconds, and a last `close` event
//!   when the server ends it (see `conn::transport::sse`). Who may open one is decided as
//!   for `/ws`: the origin check, `--max-per-ip` and the connection cap.
//! - `POST /http/send?stream=<id>&seq=<n>` with `Authorization: Bearer <resume token>`
//!   takes a JSON list of the client's frames, bounded in bytes and in frames. `seq`
//!   numbers a stream's `POST`s from 1: one already applied is answered again without
//!   being applied twice (a retry), one that comes too early is refused (`409`), so the
//!   frames are applied once and in order whichever way the requests travel.
//!
//! In a cluster (`--redis`) a stream's id starts with its node's relay address, and a
//! post that reaches another node is handed to that one through Redis
//! (`cluster::relay`) and answered once the holder applied or refused it: `404` when no
//! node holds the stream any more (the client opens a new one with its token), `504` when
//! the holder did not answer in time (the client retries; it is applied once).
//!
//! The streams this node holds are in [`Streams`], by id; a stream's handler takes its
//! batches from a bounded channel, so that a client posting faster than it is served is
//! told to wait (`429`) rather than queued without bound. Nothing here is known to the
//! hub: to it, a stream is a connection like any other.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::Version;
use futures_util::{FutureExt as _, StreamExt as _};
use subtle::ConstantTimeEq as _;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::admission::{self, Origins, PerAddress};
use crate::cluster::relay::{Ask, Outcome, Post, Relay, RelayError};
use crate::conn::handler::{self, SessionConfig};
use crate::conn::link::Link;
use crate::conn::transport::{Transport, sse};
use crate::hub::Hub;
use crate::socket::{HttpSocket, ServedOn};

/// The most frames one `POST` may carry.
pub const MAX_POST_FRAMES: usize = 32;
/// The most bytes one `POST`'s body may hold: a full frame's worth with room to spare,
/// and a batch of small ones.
pub const MAX_POST_BYTES: usize = 2 * common::MAX_FRAME_BYTES;
/// Batches posted but not yet handled, per stream.
const POSTED_BATCHES: usize = 4;

/// What the stream endpoints share with the rest of the server.
#[derive(Debug, Clone)]
pub struct StreamState {
    pub hub: Hub,
    pub session: SessionConfig,
    pub shutdown: CancellationToken,
    pub sessions: TaskTracker,
    pub slots: Arc<Semaphore>,
    pub per_address: PerAddress,
    pub origins: Arc<Origins>,
    pub trusted_proxies: Arc<Vec<IpAddr>>,
    pub node: SocketAddr,
    pub streams: Streams,
    /// With `--redis`: how posts for other nodes' streams reach them.
    pub relay: Option<Relay>,
}

/// The HTTP streams open on this node, by id.
#[derive(Debug, Clone, Default)]
pub struct Streams(Arc<Mutex<HashMap<String, Entry>>>);

#[derive(Debug)]
struct Entry {
    /// The session's resume token: a `POST`'s credential.
    token: String,
    posted: mpsc::Sender<Vec<String>>,
    /// The `seq` the next new `POST` must carry.
    next_seq: u64,
}

impl Streams {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // Held for map updates only: no I/O, no await.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why a post to `stream` with `token` would be refused whatever its body, if it would.
    fn refusal(&self, stream: &str, token: &str) -> Option<Outcome> {
        match self.lock().get(stream) {
            None => Some(Outcome::Unknown),
            Some(entry) if !entry.holds(token) => Some(Outcome::WrongToken),
            Some(_) => None,
        }
    }

    /// Applies a post to a stream of this node: its token checked, once and in order.
    pub fn apply(&self, post: Post) -> Outcome {
        let mut streams = self.lock();
        let Some(entry) = streams.get_mut(&post.stream) else { return Outcome::Unknown };
        if !entry.holds(&post.token) {
            return Outcome::WrongToken;
        }
        if post.seq < entry.next_seq {
            return Outcome::Duplicate;
        }
        if post.seq > entry.next_seq {
            return Outcome::TooEarly;
        }
        match entry.posted.try_send(post.frames) {
            Ok(()) => {
                entry.next_seq += 1;
                Outcome::Applied
            }
            Err(mpsc::error::TrySendError::Full(_)) => Outcome::Busy,
            Err(mpsc::error::TrySendError::Closed(_)) => Outcome::Unknown,
        }
    }
}

impl Entry {
    /// Whether `token` is the stream's, compared in constant time.
    fn holds(&self, token: &str) -> bool {
        self.token.as_bytes().ct_eq(token.as_bytes()).into()
    }
}

pub fn router(state: StreamState) -> Router {
    Router::new()
        .route("/http/stream", get(open))
        .route("/http/send", post(send))
        // Bounded by `send` itself, with a `413` that says so.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

#[derive(Debug, serde::Deserialize)]
struct OpenParams {
    v: Option<u8>,
    resume: Option<String>,
}

fn refuse(status: StatusCode, why: &'static str) -> Response {
    (status, why).into_response()
}

/// `GET /http/stream`: opens a stream, as `/ws` opens a WebSocket.
async fn open(
    State(state): State<StreamState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(params): Query<OpenParams>,
    req: Request,
) -> Response {
    // An `EventSource` asks with `GET`; a `HEAD` (which axum routes here too) would make a
    // session for an answer that has no body, and take over the one its token names.
    if req.method() == axum::http::Method::HEAD {
        return refuse(StatusCode::METHOD_NOT_ALLOWED, "a stream is opened with GET\n");
    }
    let version = if params.v == Some(2) { Version::V2 } else { Version::V1 };
    let ip = admission::client_ip(req.headers(), peer, &state.trusted_proxies);
    let client = if ip == peer.ip() { peer.to_string() } else { ip.to_string() };
    if !state.origins.allows(req.headers()) {
        tracing::warn!(%client, "refused an HTTP stream from another site's page (see --allowed-origin)");
        return refuse(StatusCode::FORBIDDEN, "streams from other sites' pages are not allowed\n");
    }
    // The socket the events are written to, once hyper has sent the answer's head.
    let Some(socket) = req.extensions().get::<ServedOn>().and_then(|on| on.0.upgrade()) else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "this connection cannot carry a stream\n");
    };
    if state.hub.banned_from_server(params.resume.as_deref(), ip) {
        // Told why and closed with 4001, as a WebSocket is: an `EventSource` cannot read
        // a 403 (see `banned`).
        tracing::info!(%client, "turned an HTTP stream away: banned by the operator");
        return crate::banned::stream();
    }
    let Ok(slot) = state.slots.clone().try_acquire_owned() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "the server is full; try again later\n");
    };
    let counted = match state.per_address.admit(ip) {
        Ok(counted) => counted,
        Err(status) => {
            tracing::warn!(%client, "refused an HTTP stream: too many connections from one address (--max-per-ip)");
            return refuse(status, "too many connections from your address\n");
        }
    };
    // The session holds its places from now on, as a WebSocket's does.
    if let Some(places) = req.extensions().get::<admission::HttpPlaces>() {
        places.release();
    }
    handler::bound_send_buffer(socket.tcp(), &state.session);
    socket.set_version(req.version());
    let link = Link::new(Transport::Stream(socket.clone()), state.session.queue);
    let (id, welcome) = state.hub.connect(link.clone(), params.resume.as_deref(), version);
    state.hub.set_address(id, ip);
    let token = state.hub.token(id).unwrap_or_default();
    let stream_id = stream_id(state.relay.as_ref());
    let (tx, rx) = mpsc::channel(POSTED_BATCHES);
    state.streams.lock().insert(stream_id.clone(), Entry { token, posted: tx, next_seq: 1 });
    // Queued now, taken by the body once the answer goes out, after the `stream` event.
    welcome.flush();
    let first =
        Bytes::from(format!("event: stream\ndata: {}\n\n", serde_json::json!({ "stream": stream_id })));
    // The stream's places (the server's cap, its address's count) are held while either
    // its session runs or hyper still holds its answer (a client that stops reading keeps
    // the socket after its session ended): they go with the last of the two.
    let places = Arc::new((slot, counted));
    let held = places.clone();
    let held_socket = socket.clone();
    let events = sse::Events::new(link.clone(), socket, first).map(move |chunk| {
        let _ = &held;
        chunk
    });
    let body = Body::from_stream(events);
    let span = tracing::info_span!("session", node = %state.node);
    let StreamState { hub, session, shutdown, sessions, streams, .. } = state;
    // Whatever way the session ends (a panic too), its stream is no longer found, and its
    // answer ends.
    let listed = Listed { streams, id: stream_id, socket: held_socket };
    // The handler is made here and its run is the task, not an `async` block around both:
    // a block keeps everything it captured for its whole life, beside the handler made of
    // it, and the task is most of an idle stream's memory (bench/TUNING.md).
    let handler = span.in_scope(|| handler::stream(id, link, rx, hub, session, client));
    sessions.spawn(handler.run(shutdown).map(move |()| drop((places, listed))).instrument(span));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // The socket ends with the stream: no idle keep-alive left over, which no cap counts
    // once the stream's places are given back.
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    // Tells nginx (and proxies that follow it) not to hold the events back in a buffer.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Takes a stream out of the node's list when its session ends, however it ends, and
/// ends its answer (nothing once it finished with its `close` event; a panic's session
/// did not).
struct Listed {
    streams: Streams,
    id: String,
    socket: Arc<HttpSocket>,
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.streams.lock().remove(&self.id);
        self.socket.abort();
    }
}

/// A new stream's id: 128 random bits, so that nobody finds another's stream by guessing,
/// after the relay address of this node (`<address>.<random>`) in a cluster, so that any
/// node knows where to hand its posts.
fn stream_id(relay: Option<&Relay>) -> String {
    let mut bytes = [0u8; 16];
    // The OS generator failing is not something a chat server can work around.
    getrandom::fill(&mut bytes).expect("the operating system's random generator works");
    let random = data_encoding::HEXLOWER.encode(&bytes);
    match relay {
        Some(relay) => format!("{}.{random}", relay.address()),
        None => random,
    }
}

#[derive(Debug, serde::Deserialize)]
struct SendParams {
    stream: String,
    seq: u64,
}

/// The bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// `POST /http/send`: hands a batch of the client's frames to its stream's handler, here
/// or, through the relay, on the node that holds the stream.
async fn send(State(state): State<StreamState>, Query(params): Query<SendParams>, req: Request) -> Response {
    if !state.origins.allows(req.headers()) {
        return refuse(StatusCode::FORBIDDEN, "posts from other sites' pages are not allowed\n");
    }
    let Some(token) = bearer(req.headers()).map(str::to_owned) else {
        return refuse(StatusCode::UNAUTHORIZED, "a post needs Authorization: Bearer <resume token>\n");
    };
    let elsewhere = holder(&params.stream, state.relay.as_ref());
    if elsewhere.is_none() {
        // Refused before its body is read, when this node can tell.
        if let Some(refused) = state.streams.refusal(&params.stream, &token) {
            return answer(refused);
        }
    }
    let body = match axum::body::to_bytes(req.into_body(), MAX_POST_BYTES).await {
        Ok(body) => body,
        Err(_) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, "a post holds at most 32 KiB of frames\n"),
    };
    let frames = match frames(&body) {
        Ok(frames) => frames,
        Err(refusal) => return refusal,
    };
    let post = Post { stream: params.stream, token, seq: params.seq, frames };
    match (elsewhere, &state.relay) {
        (Some(address), Some(relay)) => match relay.forward(&address, post).await {
            Ok(outcome) => answer(outcome),
            Err(RelayError::Gone) => answer(Outcome::Unknown),
            Err(e @ RelayError::NoAnswer) => {
                tracing::warn!(error = %e, "a post for a stream of another node got no answer");
                refuse(
                    StatusCode::GATEWAY_TIMEOUT,
                    "the node that holds your stream did not answer in time; retry this post (it is applied once)\n",
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "a post for a stream of another node could not be handed over");
                refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "your stream's node cannot be reached now; retry this post\n",
                )
            }
        },
        _ => answer(state.streams.apply(post)),
    }
}

/// The address of the node that holds `stream`, when it is another node of the cluster.
/// An id whose start is not a node's address (16 hex digits) is nobody's: it is answered
/// here (`404`), never published.
fn holder(stream: &str, relay: Option<&Relay>) -> Option<String> {
    let (address, _) = stream.split_once('.')?;
    let well_formed = address.len() == 16 && address.bytes().all(|b| b.is_ascii_hexdigit());
    relay.filter(|relay| well_formed && relay.address() != address).map(|_| address.to_owned())
}

/// The answer to a post, whichever node applied it.
fn answer(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Applied => axum::Json(serde_json::json!({ "ok": true })).into_response(),
        // A retry of a post already applied (its answer was lost): applied once.
        Outcome::Duplicate => {
            axum::Json(serde_json::json!({ "ok": true, "duplicate": true })).into_response()
        }
        Outcome::Unknown => {
            refuse(StatusCode::NOT_FOUND, "no such stream: it ended; open a new one with your token\n")
        }
        Outcome::WrongToken => refuse(StatusCode::UNAUTHORIZED, "that is not this stream's resume token\n"),
        Outcome::TooEarly => refuse(
            StatusCode::CONFLICT,
            "a post came before the one numbered before it; send that one first\n",
        ),
        Outcome::Busy => {
            refuse(StatusCode::TOO_MANY_REQUESTS, "earlier posts are still being handled; retry this one\n")
        }
    }
}

/// Applies the posts other nodes relay to this one, in the order they come, until
/// `shutdown`.
pub async fn apply_relayed(
    streams: Streams,
    relay: Relay,
    mut asks: mpsc::Receiver<Ask>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            ask = asks.recv() => {
                let Some(Ask { post, reply }) = ask else { return };
                let outcome = streams.apply(post);
                relay.answer(reply, outcome).await;
            }
        }
    }
}

/// A post's body: a JSON list of at most [`MAX_POST_FRAMES`] objects, each a frame.
#[allow(clippy::result_large_err)]
fn frames(body: &[u8]) -> Result<Vec<String>, Response> {
    let list: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|_| {
        refuse(StatusCode::BAD_REQUEST, "a post's body is a JSON list of frames, each a JSON object\n")
    })?;
    if list.len() > MAX_POST_FRAMES {
        return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, "a post holds at most 32 frames\n"));
    }
    list.into_iter()
        .map(|frame| {
            if !frame.is_object() {
                return Err(refuse(StatusCode::BAD_REQUEST, "each frame of a post is a JSON object\n"));
            }
            let text = frame.to_string();
            if text.len() > common::MAX_FRAME_BYTES {
                return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, "a frame holds at most 16 KiB\n"));
            }
            Ok(text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_must_be_a_bounded_list_of_objects() {
        assert_eq!(frames(br#"[{"type":"ping"}]"#).unwrap(), [r#"{"type":"ping"}"#]);
        assert_eq!(frames(b"[]").unwrap().len(), 0);
        for bad in [&b"{\"type\":\"ping\"}"[..], b"[1]", b"not json", b"[{\"type\":"] {
            assert_eq!(frames(bad).unwrap_err().status(), StatusCode::BAD_REQUEST);
        }
        let many = format!("[{}]", vec![r#"{"type":"ping"}"#; MAX_POST_FRAMES + 1].join(","));
        assert_eq!(frames(many.as_bytes()).unwrap_err().status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
