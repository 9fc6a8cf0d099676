//! One WebSocket connection, from `welcome` to its close.
//!
//! The session's task reads and decodes frames, applies the per-connection rate limit and
//! hands valid requests to the hub; a writer task owns the socket's write half and is the
//! only code that writes to it, draining the connection's bounded outbox and coalescing
//! whatever is queued into one flush. Neither keeps any state of the chat: that is the
//! hub's. A session ends when the client goes, falls silent, is too slow, or the server
//! shuts down; in every case the hub is told, so the others see the user leave.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use common::{ClientMsg, close};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use crate::error::RequestError;
use crate::hub::{ConnId, Hub};
use crate::outbox::{Close, CloseSignal, Frame, Outbox};

/// How long the writer may take to get the final frames out before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// A too-slow client's buffers are full: its `too_slow` and close get this long to go
/// through once it reads again. Its queued frames are freed at once, and the hub has
/// forgotten it, so waiting costs one idle socket.
const TOO_SLOW_GRACE: Duration = Duration::from_secs(10);
/// Frames taken from the outbox for one flush.
const BATCH: usize = 64;

/// What a session needs besides its socket.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub queue: usize,
    pub rate_limit: u32,
    /// The server pings this often, so a silent peer is noticed...
    pub ping_every: Duration,
}

impl SessionConfig {
    /// ...and drops a connection it has heard nothing from (not even a pong) for this long.
    fn silence_limit(&self) -> Duration {
        self.ping_every * 5 / 2
    }
}

/// Who is connecting: the address for the logs, and the resume token it presented.
#[derive(Debug)]
pub struct Peer {
    pub client: String,
    pub resume: Option<String>,
}

pub async fn run(socket: WebSocket, hub: Hub, cfg: SessionConfig, shutdown: CancellationToken, peer: Peer) {
    let Peer { client, resume } = peer;
    let (outbox, rx, closing) = Outbox::new(cfg.queue);
    let id = hub.connect(outbox.clone(), resume.as_deref());
    let nick = hub.nick(id).unwrap_or_default();
    tracing::info!(%client, conn = id, %nick, online = hub.connections(), "connected");
    let (sink, stream) = socket.split();
    let writer = tokio::spawn(write(sink, rx, closing.clone(), cfg.ping_every));
    let why = read(stream, &hub, id, &outbox, &cfg, &closing, &shutdown).await;
    hub.disconnect(id);
    // Drop our handle so the writer ends once the last queued frame is out.
    drop(outbox);
    // Usually quick; a too-slow peer's goodbye may take longer, and then the writer goes
    // on by itself (dropping the handle detaches it).
    if timeout(CLOSE_GRACE * 2, writer).await.is_err() {
        tracing::debug!(conn = id, "writer still saying goodbye");
    }
    tracing::info!(%client, conn = id, reason = why, online = hub.connections(), "disconnected");
}

/// Reads until the connection ends; returns why, for the log.
async fn read(
    mut stream: SplitStream<WebSocket>,
    hub: &Hub,
    id: ConnId,
    outbox: &Outbox,
    cfg: &SessionConfig,
    closing: &CloseSignal,
    shutdown: &CancellationToken,
) -> &'static str {
    let mut bucket = TokenBucket::new(cfg.rate_limit);
    let mut deadline = Instant::now() + cfg.silence_limit();
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            () = shutdown.cancelled() => {
                outbox.close(Close { code: close::GOING_AWAY, reason: "server shutting down", last_frame: None });
                return "server shutting down";
            }
            c = closing.closed() => return c.reason,
            () = sleep_until(deadline) => {
                outbox.close(Close { code: close::GOING_AWAY, reason: "no answer to pings", last_frame: None });
                return "silent peer";
            }
        };
        deadline = Instant::now() + cfg.silence_limit();
        let result = match frame {
            None => return "client left",
            Some(Err(e)) => {
                if is_too_big(e) {
                    outbox.close(Close { code: close::TOO_BIG, reason: "frame too large", last_frame: None });
                    return "frame too large";
                }
                return "socket error";
            }
            Some(Ok(Message::Text(text))) => {
                if bucket.take() {
                    handle_text(hub, id, text.as_str())
                } else {
                    let cid = decode(text.as_str()).ok().and_then(|m| m.cid().map(str::to_owned));
                    Err((RequestError::RateLimited, cid))
                }
            }
            Some(Ok(Message::Binary(_))) => Err((
                RequestError::BadRequest("binary frames are not supported; send JSON text frames".into()),
                None,
            )),
            Some(Ok(Message::Close(_))) => return "client closed",
            // Pings are answered by the WebSocket layer; pongs only prove the peer is alive.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
        };
        if let Err((err, cid)) = result {
            outbox.push(err.to_frame(cid));
        }
    }
}

/// Decodes, validates and applies one text frame.
fn handle_text(hub: &Hub, id: ConnId, text: &str) -> Result<(), (RequestError, Option<String>)> {
    let msg = decode(text).map_err(|e| (e, None))?;
    let cid = msg.cid().map(str::to_owned);
    let request = msg.validate().map_err(|e| (RequestError::Invalid(e), cid.clone()))?;
    hub.handle(id, request).map_err(|e| (e, cid))
}

/// A frame is one JSON object with a known `type`; anything else is a `bad_request`.
pub fn decode(text: &str) -> Result<ClientMsg, RequestError> {
    if !text.trim_start().starts_with('{') {
        return Err(RequestError::BadRequest("a frame must be one JSON object with a \"type\"".into()));
    }
    serde_json::from_str(text).map_err(|e| RequestError::BadRequest(format!("bad frame: {e}")))
}

fn is_too_big(e: axum::Error) -> bool {
    matches!(e.into_inner().downcast_ref::<tungstenite::Error>(), Some(tungstenite::Error::Capacity(_)))
}

/// Writes queued frames, coalescing what is queued into one flush, and pings the peer.
/// Ends when the outbox closes (the session is over) or a close is requested.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Frame>,
    closing: Arc<CloseSignal>,
    ping_every: Duration,
) {
    // Grows on first use (recv_many reserves what it needs): an idle connection pays nothing.
    let mut batch = Vec::new();
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    // Made once: building this future on every pass was a measurable share of the CPU
    // per delivery. Both selects break when it completes, so it is never polled again.
    let closed = closing.closed();
    tokio::pin!(closed);
    let close = loop {
        tokio::select! {
            biased;
            c = &mut closed => break Some(c.clone()),
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break None;
                }
            }
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
                continue;
            }
        }
        let flush = async {
            for frame in batch.drain(..) {
                sink.feed(Message::Text(frame)).await?;
            }
            sink.flush().await
        };
        // A peer that stops reading must not pin this task: a close request interrupts it.
        tokio::select! {
            biased;
            c = &mut closed => break Some(c.clone()),
            r = flush => if r.is_err() { return },
        }
    };
    drop((rx, batch));
    if let Some(c) = close {
        let grace = if c.code == close::TRY_AGAIN_LATER { TOO_SLOW_GRACE } else { CLOSE_GRACE };
        let goodbye = async {
            if let Some(frame) = c.last_frame {
                sink.send(Message::Text(frame)).await?;
            }
            let frame = CloseFrame { code: c.code, reason: c.reason.into() };
            sink.send(Message::Close(Some(frame))).await
        };
        // The peer may not be reading at all: do not wait forever.
        let _ = timeout(grace, goodbye).await;
    }
}

/// A token bucket: `rate` frames a second, bursts up to twice that.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Self { rate, tokens: rate * 2.0, last: Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate * 2.0);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_refuses_anything_but_an_object() {
        assert!(decode(r#"["join","lobby"]"#).is_err());
        assert!(decode("42").is_err());
        assert!(decode(r#" {"type":"join","room":"lobby"}"#).is_ok());
        let err = decode(r#"{"type":"shout"}"#).unwrap_err();
        assert!(err.to_string().contains("shout"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn token_bucket_allows_bursts_then_the_rate() {
        let mut b = TokenBucket::new(5);
        assert_eq!((0..20).filter(|_| b.take()).count(), 10);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!((0..20).filter(|_| b.take()).count(), 5);
    }
}
