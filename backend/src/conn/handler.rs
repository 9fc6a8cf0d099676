//! One connection, from `welcome` to its close, in one task: its [`Handler`]. A
//! WebSocket's frames come from its socket; an HTTP stream's from its `POST`s (see
//! `stream`), handed over in batches. Everything else is the same for both.
//!
//! The handler owns what is the connection's alone (its link, id, decoder and token
//! bucket) and holds the hub and the media folder's handles. It reads and decodes the
//! client's frames, applies the per-connection rate limit and hands valid requests to the
//! hub; what the hub queued for whom comes back as [`Deliveries`], which the handler
//! flushes once it has handled everything one read brought and yielded once (so that
//! under load the frames of many senders leave each member's queue in one `sendmsg`).
//! Otherwise the chat's frames go straight to the socket from whoever sends them (see
//! `link`); the handler only steps in when the socket is backed up, writing the queue out
//! as it drains. It also pings, and says goodbye. It keeps no state of the chat: that is
//! the hub's. A connection ends when the client goes, falls silent, is too slow, breaks
//! the protocol, or the server shuts down; in every case the hub is told, so the others
//! see the user leave.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use common::{ClientMsg, Request, close};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use super::bucket::TokenBucket;
use super::link::{self, Close, Deliveries, Link};
use super::transport::{Transport, ws as socket};
use crate::encode::refusal;
use crate::error::RequestError;
use crate::hub::{ConnId, Handled, Hub, Read};
use crate::media::Media;
use crate::ws::{self, Decoder, Message, WsError, opcode};
use crate::{metrics, names};

/// How long the final frames get to go out before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// A too-slow client's buffers are full: its `too_slow` and close get this long to go
/// through once it reads again. Its queued frames are freed at once, and the hub has
/// forgotten it, so waiting costs one idle socket.
const TOO_SLOW_GRACE: Duration = Duration::from_secs(10);

/// What a connection needs besides its socket.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub queue: link::Capacity,
    /// The socket's SO_SNDBUF (0: the kernel's own sizing).
    pub send_buffer: usize,
    pub rate_limit: u32,
    /// The server pings this often, so a silent peer is noticed...
    pub ping_every: Duration,
    /// Where a `say`'s `image` must have been stored.
    pub media: Media,
}

/// ...and drops a connection it has heard nothing from (not even a pong) for this long.
/// An HTTP stream's client says nothing back, so for every socket the kernel is told to
/// give up on a peer that leaves data unacknowledged this long (see `server`).
pub fn silence_limit(ping_every: Duration) -> Duration {
    ping_every * 5 / 2
}

/// Who is connecting: the address for the logs, and the resume token it presented.
#[derive(Debug)]
pub struct Peer {
    pub client: String,
    /// The client's address (behind a trusted proxy, the one it forwarded), for bans.
    pub ip: std::net::IpAddr,
    pub resume: Option<String>,
    /// The protocol version the handshake negotiated.
    pub version: common::Version,
}

/// Connects an upgraded WebSocket to the hub (it gets its `welcome`) and returns its
/// handler, to be run with [`Handler::run`]: `early` is what the client sent after its
/// handshake that the HTTP server had already read.
///
/// Not an `async fn`: everything an `async fn` is given stays in its future for the
/// future's whole life, beside the values made of it, and a connection's future is most
/// of an idle connection's memory (bench/TUNING.md). What the connection keeps lives in
/// the handler alone.
pub fn connect(stream: TcpStream, early: Bytes, hub: Hub, cfg: SessionConfig, peer: Peer) -> Handler {
    let Peer { client, ip, resume, version } = peer;
    bound_send_buffer(&stream, &cfg);
    let link = Link::new(Transport::WebSocket(stream), cfg.queue);
    let (id, welcome) = hub.connect(link.clone(), resume.as_deref(), version);
    hub.set_address(id, ip);
    hub.metrics().connected(metrics::Transport::WebSocket);
    welcome.flush();
    if tracing::enabled!(tracing::Level::INFO) {
        let nick = hub.nick(id).unwrap_or_default();
        tracing::info!(%client, conn = id, %nick, online = hub.connections(), "connected");
    }
    let mut decoder = Decoder::new(common::MAX_FRAME_BYTES);
    decoder.feed(&early);
    // It may be a view into the HTTP server's whole read buffer: let that go now, not
    // when the connection ends (it was most of an idle connection's memory).
    drop(early);
    Handler::new(id, link, Input::Socket(decoder), None, hub, cfg, client)
}

/// For a client that does not read, the kernel would grow the socket's send buffer to
/// megabytes, all of them answers encoded for nobody (see `--send-buffer`); what does not
/// fit waits in the link's queue, bounded, and goes out as the socket drains. For a
/// WebSocket and an HTTP stream alike.
pub fn bound_send_buffer(socket: &TcpStream, cfg: &SessionConfig) {
    if cfg.send_buffer > 0
        && let Err(e) = socket2::SockRef::from(socket).set_send_buffer_size(cfg.send_buffer)
    {
        tracing::debug!(error = %e, "could not set SO_SNDBUF");
    }
}

/// The handler of an HTTP stream (see `stream`), already connected to the hub as `id`:
/// its client's frames arrive as the batches of its `POST`s, on `posted`. Run it with
/// [`Handler::run`].
pub fn stream(
    id: ConnId,
    link: Link,
    posted: mpsc::Receiver<Vec<String>>,
    hub: Hub,
    cfg: SessionConfig,
    client: String,
) -> Handler {
    if tracing::enabled!(tracing::Level::INFO) {
        let nick = hub.nick(id).unwrap_or_default();
        tracing::info!(%client, conn = id, %nick, online = hub.connections(), "connected (HTTP stream)");
    }
    hub.metrics().connected(metrics::Transport::Http);
    // A stream's heartbeat comes at least this often, so that proxies keep it open.
    let cfg = SessionConfig { ping_every: cfg.ping_every.min(STREAM_HEARTBEAT), ..cfg };
    Handler::new(id, link, Input::Posted(VecDeque::new()), Some(posted), hub, cfg, client)
}

/// The most time between two heartbeats of an HTTP stream.
const STREAM_HEARTBEAT: Duration = Duration::from_secs(15);

/// One connection: what is its own, and the handles to what it shares.
#[derive(Debug)]
pub struct Handler {
    id: ConnId,
    link: Link,
    input: Input,
    /// An HTTP stream's batches of frames (see `stream`); `None` for a WebSocket.
    posted: Option<mpsc::Receiver<Vec<String>>>,
    bucket: TokenBucket,
    hub: Hub,
    media: Media,
    ping_every: Duration,
    /// The client's address, for the log's lines (empty when they are off).
    client: String,
}

/// Where a connection's client frames come from.
#[derive(Debug)]
enum Input {
    /// A WebSocket's bytes, decoded as they come.
    Socket(Decoder),
    /// An HTTP stream's frames, from its `POST`s, not handled yet.
    Posted(VecDeque<String>),
}

impl Input {
    fn next(&mut self) -> Result<Option<Message>, WsError> {
        match self {
            Self::Socket(decoder) => decoder.next(),
            Self::Posted(frames) => Ok(frames.pop_front().map(Message::Text)),
        }
    }
}

/// What came from the client side: a WebSocket's socket became readable, or a batch of
/// an HTTP stream's frames arrived (`None`: its sender is gone).
enum Arrived {
    Readable(io::Result<()>),
    Posted(Option<Vec<String>>),
}

async fn arrival(stream: Option<&TcpStream>, posted: Option<&mut mpsc::Receiver<Vec<String>>>) -> Arrived {
    match (stream, posted) {
        (Some(stream), _) => Arrived::Readable(socket::readable(stream).await),
        (None, Some(posted)) => Arrived::Posted(posted.recv().await),
        (None, None) => std::future::pending().await,
    }
}

/// How a connection ends: why (for the log), and the close to send, if any.
type Ending = (&'static str, Option<Close>);

/// What [`Hub::read`] returns: the bytes it sent (or why it failed), and what it queued.
type ReadDone = (Result<usize, RequestError>, Deliveries);

/// A read of the store under way for this client (see [`Hub::read`]), and the `cid` of
/// the request it is for.
struct Reading {
    read: Pin<Box<dyn Future<Output = ReadDone> + Send>>,
    cid: Option<String>,
}

/// Where [`Handler::handle_frames`] stopped.
enum Step {
    /// The connection ends.
    Ended(Ending),
    /// Every whole message decoded so far is handled (or the connection is closing and
    /// the rest is not worth doing).
    Drained,
    /// It handled a costly request (a page of history, a join): more may be waiting.
    Paused,
    /// A request needs a read of the store that may block: await it, with the request's
    /// `cid`, before handling more.
    Read(Read, Option<String>),
}

/// What [`Handler::handle_text`] leaves to await: a read of the store, with the request's
/// `cid`.
type Left = Option<(Read, Option<String>)>;

impl Handler {
    fn new(
        id: ConnId,
        link: Link,
        input: Input,
        posted: Option<mpsc::Receiver<Vec<String>>>,
        hub: Hub,
        cfg: SessionConfig,
        client: String,
    ) -> Self {
        let bucket = TokenBucket::new(cfg.rate_limit);
        Self { id, link, input, posted, bucket, hub, media: cfg.media, ping_every: cfg.ping_every, client }
    }

    /// Runs the connected client's handler until the connection must end, then tells the
    /// hub it left and says goodbye.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let (why, close) = self.serve(&shutdown).await;
        // Nothing more is read: the decoder's buffer goes now, not after the goodbye.
        self.input = Input::Posted(VecDeque::new());
        // The first close wins: the hub's (too slow, replaced) over ours.
        let close = close.map(|c| self.link.close(c));
        let (id, hub) = (self.id, &self.hub);
        let transport = match self.link.transport() {
            Transport::WebSocket(_) => metrics::Transport::WebSocket,
            Transport::Stream(_) => metrics::Transport::Http,
        };
        hub.metrics().closed(
            transport,
            close.as_ref().map(|c| c.code),
            close.as_ref().is_some_and(|c| c.too_slow),
        );
        let nick =
            if tracing::enabled!(tracing::Level::INFO) { hub.nick(id) } else { None }.unwrap_or_default();
        hub.disconnect(id).flush();
        if let Some(close) = close {
            goodbye(&self.link, &close).await;
        }
        let client = &self.client;
        tracing::info!(%client, conn = id, %nick, reason = why, online = hub.connections(), "disconnected");
    }

    /// Runs the connection until it must end.
    async fn serve(&mut self, shutdown: &CancellationToken) -> Ending {
        // A handle of its own, so the socket can be borrowed while `self` is changed.
        let link = self.link.clone();
        let transport = link.transport();
        let stream = match transport {
            Transport::WebSocket(stream) => Some(stream),
            Transport::Stream(_) => None,
        };
        let mut posted = self.posted.take();
        let mut heard = Instant::now();
        let mut next_ping = heard + self.ping_every;
        // One timer for both pings and silence; it is not reset per frame, only when it fires.
        let timer = sleep_until(next_ping);
        tokio::pin!(timer);
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        // While a read of the store is under way, nothing more from the client is handled
        // (its answers keep their order, and one client has one read at a time); the socket
        // is still written and the timers still run.
        let mut reading = match self.handle_read().await {
            Ok(reading) => reading,
            Err(end) => return end,
        };
        loop {
            let status = link.status();
            if let Some(c) = status.close {
                return (c.reason, Some(c));
            }
            if status.dead {
                return ("socket error", None);
            }
            tokio::select! {
                biased;
                () = &mut cancelled => return ("server shutting down", Some(going_away("server shutting down"))),
                () = link.changed() => {}
                r = transport.writable(), if status.blocked => {
                    if r.is_err() {
                        return ("socket error", None);
                    }
                    link.flush_blocked();
                }
                (result, out) = async {
                    match reading.as_mut() {
                        Some(r) => (&mut r.read).await,
                        None => std::future::pending().await,
                    }
                }, if reading.is_some() => {
                    out.flush();
                    let cid = reading.take().and_then(|r| r.cid);
                    match result {
                        Ok(bytes) => self.bucket.charge(bytes),
                        Err(e) => {
                            self.hub.metrics().refused(e.code());
                            link.send(refusal(&e, cid, self.hub.metrics()));
                        }
                    }
                    // What the client sent meanwhile is decoded already.
                    reading = match self.handle_read().await {
                        Ok(reading) => reading,
                        Err(end) => return end,
                    };
                }
                arrived = arrival(stream, posted.as_mut()), if reading.is_none() => {
                    let (r, stream) = match (arrived, stream) {
                        (Arrived::Readable(r), Some(stream)) => (r, stream),
                        (Arrived::Posted(Some(batch)), _) => {
                            if let Input::Posted(frames) = &mut self.input {
                                frames.extend(batch);
                            }
                            reading = match self.handle_read().await {
                                Ok(reading) => reading,
                                Err(end) => return end,
                            };
                            continue;
                        }
                        _ => return ("stream ended", None),
                    };
                    if r.is_err() {
                        return ("socket error", None);
                    }
                    let Input::Socket(decoder) = &mut self.input else { continue };
                    match socket::read_some(stream, decoder) {
                        Ok(Some(0)) => return ("client left", None),
                        Ok(Some(_)) => {
                            heard = Instant::now();
                            reading = match self.handle_read().await {
                                Ok(reading) => reading,
                                Err(end) => return end,
                            };
                        }
                        Ok(None) => {}
                        Err(_) => return ("socket error", None),
                    }
                }
                () = &mut timer => {
                    let now = Instant::now();
                    // A stream's client is gone when its answer is dropped (the link is
                    // then lost), whether or not it posts anything.
                    if stream.is_none() {
                        heard = now;
                    }
                    let silent_at = heard + silence_limit(self.ping_every);
                    if now >= silent_at {
                        return ("silent peer", Some(going_away("no answer to pings")));
                    }
                    if now >= next_ping {
                        link.send(Bytes::from_static(ws::PING));
                        next_ping = now + self.ping_every;
                    }
                    timer.as_mut().reset(next_ping.min(silent_at));
                }
            }
        }
    }

    /// Acts on what a read brought in, then yields once before the frames it made are
    /// written, so that under load they share each member's `sendmsg` with the frames of
    /// the other senders that were ready too. Stops early with a read of the store to
    /// await (the rest waits in the decoder), or with how the connection ends.
    ///
    /// Under light load nothing else is ready and the yield changes nothing. Under heavy
    /// load each member's queue holds several messages by the time it is written, from
    /// every sender, and they go out in one `sendmsg`: the cost per delivery falls as the
    /// load rises, instead of the backlog growing. Only the frame that finds a link's
    /// queue empty lists the link, so frames queued during the yield ride along with the
    /// first writer's list.
    async fn handle_read(&mut self) -> Result<Option<Reading>, Ending> {
        loop {
            let mut out = Deliveries::default();
            let step = self.handle_frames(&mut out);
            if let Step::Ended(end) = step {
                out.flush();
                return Err(end);
            }
            // The frames made so far wait one yield whatever comes next, a read of the
            // store included (in a storm of joins that read it, each `presence` would
            // otherwise go to every member alone); after a costly request, the others'
            // turn comes first.
            if !out.is_empty() || matches!(step, Step::Paused) {
                tokio::task::yield_now().await;
            }
            out.flush();
            match step {
                Step::Ended(_) | Step::Paused => {}
                Step::Drained => return Ok(None),
                Step::Read(read, cid) => {
                    let (hub, id) = (self.hub.clone(), self.id);
                    let read = Box::pin(async move { hub.read(id, read).await });
                    return Ok(Some(Reading { read, cid }));
                }
            }
        }
    }

    /// Acts on the whole messages decoded so far, stopping after a costly one: a client
    /// that sends forty `history` requests at once (within its rate limit) must not hold a
    /// core for their whole time while the rooms wait. The links the hub gives frames are
    /// added to `out`.
    fn handle_frames(&mut self, out: &mut Deliveries) -> Step {
        loop {
            // Closing (too slow, replaced): what it asks for now would only be thrown away.
            if self.link.is_closing() {
                return Step::Drained;
            }
            let message = match self.input.next() {
                Ok(Some(m)) => m,
                Ok(None) => return Step::Drained,
                Err(e) => {
                    let reason = e.reason();
                    let close = Close { code: e.close_code(), reason, last_frame: None, too_slow: false };
                    return Step::Ended((reason, Some(close)));
                }
            };
            let mut costly = false;
            let result = match message {
                Message::Text(text) => {
                    if self.bucket.take() {
                        match self.handle_text(&text, &mut costly, out) {
                            Ok(Some((read, cid))) => return Step::Read(read, cid),
                            Ok(None) => Ok(()),
                            Err(e) => Err(e),
                        }
                    } else {
                        // Refused, but it came in: counted by its type all the same.
                        let msg = decode(&text);
                        self.hub.metrics().frame_in(msg.as_ref().ok());
                        let cid = msg.ok().and_then(|m| m.cid().map(str::to_owned));
                        Err((RequestError::RateLimited, cid))
                    }
                }
                Message::Binary => Err((
                    RequestError::BadRequest("binary frames are not supported; send JSON text frames".into()),
                    None,
                )),
                Message::Ping(payload) => {
                    self.link.send(ws::frame(opcode::PONG, &payload));
                    Ok(())
                }
                // Pongs only prove the peer is alive, which any frame does.
                Message::Pong => Ok(()),
                Message::Close(code) => {
                    let code = code.unwrap_or(ws::code::NORMAL);
                    let close = Close { code, reason: "", last_frame: None, too_slow: false };
                    return Step::Ended(("client closed", Some(close)));
                }
            };
            if let Err((err, cid)) = result {
                self.hub.metrics().refused(err.code());
                self.link.send(refusal(&err, cid, self.hub.metrics()));
            }
            if costly {
                return Step::Paused;
            }
        }
    }

    /// Decodes, validates and applies one text frame; `costly` tells whether it read the
    /// store's history. What it leaves to await (a read of the store, a private room's
    /// password hashed or checked) is handed back; the links the hub gives frames are
    /// added to `out`.
    fn handle_text(
        &mut self,
        text: &str,
        costly: &mut bool,
        out: &mut Deliveries,
    ) -> Result<Left, (RequestError, Option<String>)> {
        let msg = decode(text);
        self.hub.metrics().frame_in(msg.as_ref().ok());
        let msg = msg.map_err(|e| (e, None))?;
        let cid = msg.cid().map(str::to_owned);
        let request =
            msg.validate().and_then(names::screen).map_err(|e| (RequestError::Invalid(e), cid.clone()))?;
        // A well-formed URL of an image that was never uploaded here (one stat, no lock held).
        if let Request::Say { image: Some(image), .. } = &request
            && !self.media.exists(image)
        {
            return Err((RequestError::Invalid(common::InvalidName::Image), cid));
        }
        *costly = matches!(request, Request::History { .. } | Request::Join { .. });
        let (handled, queued) = self.hub.handle(self.id, request);
        out.append(queued);
        match handled.map_err(|e| (e, cid.clone()))? {
            Handled::Done(bytes) => {
                self.bucket.charge(bytes);
                Ok(None)
            }
            Handled::Read(read) => Ok(Some((read, cid))),
        }
    }
}

fn going_away(reason: &'static str) -> Close {
    Close { code: close::GOING_AWAY, reason, last_frame: None, too_slow: false }
}

/// A frame is one JSON object with a known `type`; anything else is a `bad_request`.
pub fn decode(text: &str) -> Result<ClientMsg, RequestError> {
    if !text.trim_start().starts_with('{') {
        return Err(RequestError::BadRequest("a frame must be one JSON object with a \"type\"".into()));
    }
    serde_json::from_str(text).map_err(|e| RequestError::BadRequest(format!("bad frame: {e}")))
}

/// Sends what is still queued (unless the client was too slow for it), the close's last
/// frame and the close frame; then ends our side and waits, briefly, for the client to end
/// its own, so that nothing we sent is lost to a reset.
async fn goodbye(link: &Link, close: &Close) {
    let grace = if close.too_slow { TOO_SLOW_GRACE } else { CLOSE_GRACE };
    let frames = close.last_frame.iter().cloned().chain([ws::close_frame(close.code, close.reason)]);
    link.goodbye(frames);
    let transport = link.transport();
    let said = async {
        loop {
            let status = link.status();
            if status.dead {
                return;
            }
            if status.queued == 0 {
                break;
            }
            if transport.writable().await.is_err() {
                return;
            }
            link.flush_blocked();
        }
        let stream = match transport {
            Transport::WebSocket(stream) => stream,
            // Its `close` event is written whole: the stream's answer ends here.
            Transport::Stream(socket) => return socket.finish(),
        };
        let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write);
        // On the heap, and only now: a buffer held across an await is part of every
        // connection's state.
        let mut buf = vec![0u8; 1024];
        loop {
            if socket::readable(stream).await.is_err() {
                return;
            }
            match stream.try_read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    };
    // The peer may not be reading at all: do not wait forever.
    let _ = timeout(grace, said).await;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a session is made of, small, for the tests that weigh its future and its task
    /// (its pictures go to `dir`).
    pub(crate) fn sizing_parts(dir: &std::path::Path) -> (Hub, SessionConfig, Peer) {
        let (store, history) = crate::store::Store::memory(10);
        let cfg = SessionConfig {
            queue: link::Capacity { frames: 8, bytes: 1 << 20 },
            send_buffer: 0,
            rate_limit: 10,
            ping_every: Duration::from_secs(20),
            media: Media::open(dir, 1 << 20).unwrap(),
        };
        let peer = Peer {
            client: String::new(),
            ip: std::net::Ipv4Addr::LOCALHOST.into(),
            resume: None,
            version: common::Version::V2,
        };
        (Hub::new(store, history, 10), cfg, peer)
    }

    /// A connection's future is most of an idle connection's memory, so it holds the
    /// handler once: with `async fn`s nested around `Handler::serve`, each keeping what it
    /// was given beside what was made of it, it was 1,736 bytes; now 1,232
    /// (bench/TUNING.md).
    #[tokio::test]
    async fn a_connections_future_holds_its_state_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (socket, _) = listener.accept().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (hub, cfg, peer) = sizing_parts(dir.path());
        let shutdown = CancellationToken::new();
        let served = connect(socket, Bytes::new(), hub, cfg, peer).run(shutdown);
        let size = std::mem::size_of_val(&served);
        assert!(size <= 1536, "a connection's future is {size} bytes");
    }

    #[test]
    fn decode_refuses_anything_but_an_object() {
        assert!(decode(r#"["join","lobby"]"#).is_err());
        assert!(decode("42").is_err());
        assert!(decode(r#" {"type":"join","room":"lobby"}"#).is_ok());
        let err = decode(r#"{"type":"shout"}"#).unwrap_err();
        assert!(err.to_string().contains("shout"), "{err}");
    }
}

/// Properties of [`decode`], which turns a text frame into a [`ClientMsg`]: no text makes
/// it panic, and every message a client can encode comes back as it was sent.
#[cfg(test)]
mod decode_properties {
    use common::ClientMsg;
    use proptest::prelude::*;
    use serde_json::json;

    use super::decode;

    /// Any text at all, or one that looks like a name, so both sides of validation occur.
    fn string() -> impl Strategy<Value = String> + Clone {
        prop_oneof!["(?s).{0,40}", "[a-z0-9_-]{1,24}"]
    }

    fn client_msg() -> impl Strategy<Value = ClientMsg> {
        prop_oneof![
            string().prop_map(|nick| ClientMsg::Nick { nick }),
            (string(), any::<Option<u64>>(), proptest::option::of(string()), any::<Option<u32>>())
                .prop_map(|(room, after, password, max)| ClientMsg::Join { room, after, password, max }),
            string().prop_map(|room| ClientMsg::Leave { room }),
            (string(), string(), string()).prop_map(|(room, text, cid)| ClientMsg::Say {
                room,
                text,
                cid,
                image: None,
                reply_to: None,
            }),
            string().prop_map(|room| ClientMsg::Typing { room }),
            (string(), any::<u64>(), any::<Option<u32>>())
                .prop_map(|(room, before, limit)| ClientMsg::History { room, before, limit }),
            Just(ClientMsg::Ping),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "(?s).{0,200}") {
            let _ = decode(&text);
        }

        /// Near misses: a real frame cut short, or with one character replaced.
        #[test]
        fn damaged_frames_never_panic_and_decode_consistently(
            msg in client_msg(),
            cut in any::<prop::sample::Index>(),
            replacement in any::<char>(),
        ) {
            let json = serde_json::to_string(&msg).unwrap();
            let chars: Vec<char> = json.chars().collect();
            let at = cut.index(chars.len());
            let cut_short: String = chars[..at].iter().collect();
            let mut replaced = chars.clone();
            replaced[at] = replacement;
            let replaced: String = replaced.into_iter().collect();
            for text in [cut_short, replaced] {
                // Whatever decodes is a message that encodes and decodes to itself.
                if let Ok(m) = decode(&text) {
                    let again = decode(&serde_json::to_string(&m).unwrap()).ok();
                    prop_assert_eq!(again, Some(m));
                }
            }
        }

        #[test]
        fn every_message_decodes_back_equal(
            msg in client_msg(),
            pretty in any::<bool>(),
            indent in "[ \t\r\n]{0,3}",
        ) {
            let json = if pretty { serde_json::to_string_pretty(&msg) } else { serde_json::to_string(&msg) };
            let text = format!("{indent}{}", json.unwrap());
            let back = decode(&text).ok();
            prop_assert_eq!(back.as_ref(), Some(&msg));
            // So the server applies the bounds to exactly what the client sent.
            prop_assert_eq!(back.map(ClientMsg::validate), Some(msg.validate()));
        }

        #[test]
        fn json_that_is_not_an_object_is_refused(
            value in prop_oneof![
                any::<i64>().prop_map(|n| json!(n)),
                any::<bool>().prop_map(|b| json!(b)),
                string().prop_map(|s| json!(s)),
                prop::collection::vec(string(), 0..4).prop_map(|v| json!(v)),
                Just(json!(null)),
            ],
        ) {
            prop_assert!(decode(&value.to_string()).is_err());
        }
    }
}
