//! The HTTP stream's transport: a `text/event-stream` answer that the HTTP server writes
//! as its client takes it, for clients whose network refuses WebSocket upgrades.
//!
//! The queue's frames are the WebSocket's own (see `encode`): the JSON of a broadcast is
//! encoded once, inside a WebSocket header, whatever transports its members use, so the
//! WebSocket's path is unchanged. This transport translates each frame to its event as it
//! is taken: a text frame's JSON becomes one `data:` event (compact JSON holds no line
//! break), a ping a `heartbeat` event, a close frame a last `close` event that ends the
//! stream. The stream pulls rather than being pushed: a sender's write only wakes the
//! answer's body, which takes everything queued by then in one chunk when the HTTP server
//! can write more. So a stream whose client does not read stops taking frames, its link's
//! queue fills within its bounds, and it is closed as `too_slow` like a WebSocket.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::sync::Notify;

use crate::conn::link::Link;
use crate::encode::Frame;
use crate::ws::opcode;

/// The state the link's writer and the answer's body share.
#[derive(Debug, Default)]
pub struct Sse {
    /// The body's waker, set when it found nothing to take.
    body: Mutex<Option<Waker>>,
    /// Signalled each time the body took frames (the handler's `writable`).
    taken: Notify,
}

impl Sse {
    pub(super) fn wake_body(&self) {
        let waker = self.body.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// See [`super::Transport::write`]: nothing is taken here. The frames stay queued (the
/// link counts itself blocked) and the answer's body is woken to take them.
pub fn write(sse: &Sse, offered: usize) -> io::Result<(usize, usize)> {
    sse.wake_body();
    Ok((0, offered.max(1)))
}

/// Resolves once the body has taken frames.
pub async fn writable(sse: &Sse) -> io::Result<()> {
    sse.taken.notified().await;
    Ok(())
}

/// The answer's body: the link's frames as events, until a close frame or the link's end.
/// Dropping it (the client went away) marks the link lost, so its handler ends.
#[derive(Debug)]
pub struct Events {
    link: Link,
    sse: Arc<Sse>,
    /// Sent before the first frame: the stream's id (see `stream`).
    first: Option<Bytes>,
    ended: bool,
}

impl Events {
    pub fn new(link: Link, sse: Arc<Sse>, first: Bytes) -> Self {
        Self { link, sse, first: Some(first), ended: false }
    }
}

impl Stream for Events {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        // The waker first, then the queue: a frame queued in between wakes us again.
        *self.sse.body.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        let (frames, lost) = self.link.take_all();
        if frames.is_empty() {
            return if lost { Poll::Ready(None) } else { Poll::Pending };
        }
        self.sse.taken.notify_one();
        let mut chunk = BytesMut::new();
        for frame in &frames {
            if event(frame, &mut chunk) == Translated::Closed {
                self.ended = true;
                break;
            }
        }
        Poll::Ready(Some(Ok(chunk.freeze())))
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.link.lost();
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Translated {
    Event,
    Closed,
}

/// The payload of one whole, unmasked server frame, and its opcode.
fn payload(frame: &[u8]) -> Option<(u8, &[u8])> {
    let (&b0, &b1) = (frame.first()?, frame.get(1)?);
    let header = match b1 & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    Some((b0 & 0x0f, frame.get(header..)?))
}

/// Appends the event for one queued frame to `out`.
fn event(frame: &Frame, out: &mut BytesMut) -> Translated {
    let Some((op, body)) = payload(frame) else { return Translated::Event };
    match op {
        opcode::TEXT => {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(body);
            out.extend_from_slice(b"\n\n");
        }
        opcode::PING => out.extend_from_slice(b"event: heartbeat\ndata: {}\n\n"),
        opcode::CLOSE => {
            let code = body.get(..2).map_or(1000, |c| u16::from_be_bytes([c[0], c[1]]));
            let reason = body.get(2..).map(String::from_utf8_lossy).unwrap_or_default();
            let data = serde_json::json!({ "code": code, "reason": reason });
            out.extend_from_slice(format!("event: close\ndata: {data}\n\n").as_bytes());
            return Translated::Closed;
        }
        // Pongs answer a WebSocket's pings, which a stream's client cannot send.
        _ => {}
    }
    Translated::Event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws;

    fn events(frames: &[Frame]) -> (String, bool) {
        let mut out = BytesMut::new();
        let closed = frames.iter().any(|f| event(f, &mut out) == Translated::Closed);
        (String::from_utf8(out.to_vec()).unwrap(), closed)
    }

    #[test]
    fn each_frame_becomes_its_event() {
        let text = ws::text_frame(|b| b.extend_from_slice(br#"{"type":"pong"}"#));
        let (out, closed) = events(&[text, Bytes::from_static(ws::PING)]);
        assert_eq!(out, "data: {\"type\":\"pong\"}\n\nevent: heartbeat\ndata: {}\n\n");
        assert!(!closed);
        let (out, closed) = events(&[ws::close_frame(1013, "too slow")]);
        assert_eq!(out, "event: close\ndata: {\"code\":1013,\"reason\":\"too slow\"}\n\n");
        assert!(closed);
    }

    #[test]
    fn long_frames_lose_their_whole_header() {
        for len in [125, 126, 1000, 70_000] {
            let json = format!("\"{}\"", "x".repeat(len));
            let frame = ws::text_frame(|b| b.extend_from_slice(json.as_bytes()));
            let (out, _) = events(&[frame]);
            assert_eq!(out, format!("data: {json}\n\n"), "{len}");
        }
    }
}
