//! The HTTP stream's transport: a `text/event-stream` answer, for clients whose network
//! refuses WebSocket upgrades, written like a WebSocket.
//!
//! hyper writes the answer's head and its first chunk (the `stream` event), then hands
//! the socket over (see `socket`): from then on each frame is written straight to the
//! socket by whoever sends it, as a chunk of HTTP/1.1's chunked encoding holding its
//! event, with no task woken per delivery; when the kernel's buffer is full the frames
//! wait in the link's queue and the stream's handler writes them as it drains, so a
//! client that does not read is closed as `too_slow` like a WebSocket's. When the stream
//! ends with its `close` event written whole, hyper writes the last chunk; any other
//! way, hyper drops the connection.
//!
//! The queue's frames are the WebSocket's own (see `encode`): the JSON of a broadcast is
//! encoded once, inside a WebSocket header, whatever transports its members use, so the
//! WebSocket's path is unchanged. Each frame is translated to its event as it is written:
//! a text frame's JSON becomes one `data:` event (compact JSON holds no line break), a
//! ping a `heartbeat` event, a close frame a last `close` event. The chunk's size line
//! and the event's own words go around the shared JSON in one `sendmsg`: nothing is
//! copied per receiver.

use std::borrow::Cow;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use socket2::SockRef;
use tokio::io::Interest;

use crate::conn::link::Link;
use crate::encode::Frame;
use crate::socket::{BodyEnd, HttpSocket};
use crate::ws::opcode;

/// At most this many queued frames go out in one `sendmsg` (three slices each).
const FRAMES_MAX: usize = 21;

/// A heartbeat event.
const HEARTBEAT: &[u8] = b"event: heartbeat\ndata: {}\n\n";

/// What a frame with no event of its own becomes (a pong, which a stream's client never
/// asks for): a comment.
const COMMENT: &[u8] = b":\n\n";

const DATA: &[u8] = b"data: ";
const END_OF_EVENT: &[u8] = b"\n\n";
const END_OF_CHUNK: &[u8] = b"\r\n";
const END_OF_EVENT_AND_CHUNK: &[u8] = b"\n\n\r\n";

/// One queued frame as the stream writes it, in three parts: its event, in a chunk of
/// HTTP/1.1's chunked encoding (an HTTP/1.0 answer has no chunks: it ends with its
/// connection).
#[derive(Debug, Default)]
struct Wire<'a> {
    /// The chunk's size line, and the event's words before the JSON.
    head: Head,
    body: Cow<'a, [u8]>,
    /// What closes the event and the chunk.
    tail: &'static [u8],
}

/// A short head, kept inline: a chunk's size in hex, `\r\n`, and `data: `.
#[derive(Debug, Default)]
struct Head {
    bytes: [u8; 24],
    len: u8,
}

impl Head {
    /// `<size in hex>\r\n` (for a chunk) and then `words`.
    fn new(chunk: Option<usize>, words: &[u8]) -> Self {
        let mut head = Self::default();
        let mut at = 0;
        if let Some(size) = chunk {
            let digits = hex_digits(size);
            for i in 0..digits {
                let nibble = (size >> (4 * (digits - 1 - i))) & 0xf;
                head.bytes[i] = b"0123456789abcdef"[nibble];
            }
            head.bytes[digits..digits + 2].copy_from_slice(END_OF_CHUNK);
            at = digits + 2;
        }
        head.bytes[at..at + words.len()].copy_from_slice(words);
        head.len = (at + words.len()) as u8;
        head
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// How many hex digits `n` takes (at least one).
fn hex_digits(n: usize) -> usize {
    (usize::BITS - n.leading_zeros()).div_ceil(4).max(1) as usize
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

/// A close frame's payload as the last event.
fn close_event(payload: &[u8]) -> Vec<u8> {
    let code = payload.get(..2).map_or(1000, |c| u16::from_be_bytes([c[0], c[1]]));
    let reason = payload.get(2..).map(String::from_utf8_lossy).unwrap_or_default();
    let data = serde_json::json!({ "code": code, "reason": reason });
    format!("event: close\ndata: {data}\n\n").into_bytes()
}

/// What a queued frame becomes on the stream: its event, in a chunk when `chunked`.
fn wire(frame: &Frame, chunked: bool) -> Wire<'_> {
    let (before, body): (&[u8], Cow<'_, [u8]>) = match payload(frame) {
        Some((opcode::TEXT, json)) => (DATA, Cow::Borrowed(json)),
        Some((opcode::PING, _)) => (b"", Cow::Borrowed(HEARTBEAT)),
        Some((opcode::CLOSE, payload)) => (b"", Cow::Owned(close_event(payload))),
        // Pongs answer a WebSocket's pings, which a stream's client cannot send.
        _ => (b"", Cow::Borrowed(COMMENT)),
    };
    // Only a text frame's JSON needs words after it to make an event.
    let after = if before.is_empty() { &b""[..] } else { END_OF_EVENT };
    let size = before.len() + body.len() + after.len();
    let tail = match (chunked, after.is_empty()) {
        (true, true) => END_OF_CHUNK,
        (true, false) => END_OF_EVENT_AND_CHUNK,
        (false, true) => b"",
        (false, false) => END_OF_EVENT,
    };
    Wire { head: Head::new(chunked.then_some(size), before), body, tail }
}

/// The bytes a queued frame takes on the stream: the link counts what the socket took of
/// its front frame in these.
#[inline]
pub fn wire_len(frame: &Frame, chunked: bool) -> usize {
    let size = match payload(frame) {
        Some((opcode::TEXT, json)) => DATA.len() + json.len() + END_OF_EVENT.len(),
        Some((opcode::PING, _)) => HEARTBEAT.len(),
        Some((opcode::CLOSE, payload)) => close_event(payload).len(),
        _ => COMMENT.len(),
    };
    if chunked { hex_digits(size) + 2 + size + 2 } else { size }
}

impl Wire<'_> {
    /// Adds this chunk's slices, less its first `skip` bytes, to `slices` from `n`;
    /// returns the new count and the bytes added.
    fn slices<'s>(&'s self, mut skip: usize, slices: &mut [IoSlice<'s>], mut n: usize) -> (usize, usize) {
        let mut added = 0;
        for part in [self.head.as_slice(), &self.body, self.tail] {
            if skip >= part.len() {
                skip -= part.len();
                continue;
            }
            let part = &part[skip..];
            skip = 0;
            slices[n] = IoSlice::new(part);
            n += 1;
            added += part.len();
        }
        (n, added)
    }
}

/// See [`super::Transport::write`]: `offset` bytes of the front frame's chunk are
/// written already. Before hyper has handed the socket over, nothing is taken (the link
/// counts itself blocked and its handler waits for [`writable`]).
pub fn write<'a>(
    socket: &HttpSocket,
    front: &Frame,
    offset: usize,
    rest: impl ExactSizeIterator<Item = &'a Frame>,
) -> io::Result<(usize, usize)> {
    if !socket.is_live() {
        return not_live(socket);
    }
    let chunked = socket.is_chunked();
    let mut wires: [Wire<'_>; FRAMES_MAX] = std::array::from_fn(|_| Wire::default());
    wires[0] = wire(front, chunked);
    let mut count = 1;
    for frame in rest.take(FRAMES_MAX - 1) {
        wires[count] = wire(frame, chunked);
        count += 1;
    }
    let mut slices = [IoSlice::new(&[]); 3 * FRAMES_MAX];
    let (mut n, mut offered) = wires[0].slices(offset, &mut slices, 0);
    for w in &wires[1..count] {
        let (m, added) = w.slices(0, &mut slices, n);
        n = m;
        offered += added;
    }
    send(socket, &slices[..n], offered)
}

/// [`write`] with nothing queued behind `front`: a broadcast to a member.
#[inline]
pub fn write_one(socket: &HttpSocket, front: &Frame, offset: usize) -> io::Result<(usize, usize)> {
    if !socket.is_live() {
        return not_live(socket);
    }
    let w = wire(front, socket.is_chunked());
    let mut slices = [IoSlice::new(&[]); 3];
    let (n, offered) = w.slices(offset, &mut slices, 0);
    send(socket, &slices[..n], offered)
}

fn not_live(socket: &HttpSocket) -> io::Result<(usize, usize)> {
    if socket.is_ended() {
        return Err(io::ErrorKind::BrokenPipe.into());
    }
    Ok((0, 1))
}

fn send(socket: &HttpSocket, slices: &[IoSlice<'_>], offered: usize) -> io::Result<(usize, usize)> {
    let tcp = socket.tcp();
    // `sendmsg`, a socket's own call, as for a WebSocket (see `ws::write`).
    let sent = tcp.try_io(Interest::WRITABLE, || SockRef::from(tcp).send_vectored(slices))?;
    Ok((sent, offered))
}

/// Resolves when the stream may take more: once hyper has handed the socket over, when
/// the socket may be written.
pub async fn writable(socket: &HttpSocket) -> io::Result<()> {
    if !socket.is_live() {
        socket.wait_live().await;
        return if socket.is_ended() { Err(io::ErrorKind::BrokenPipe.into()) } else { Ok(()) };
    }
    std::future::poll_fn(|cx| socket.tcp().poll_write_ready(cx)).await
}

/// The answer's body, as hyper sees it: the `stream` event, then nothing while the events
/// go around it, then its end. Dropping it (hyper gave up on the connection, or the
/// answer ended) ends the stream and marks the link lost, so its handler ends.
#[derive(Debug)]
pub struct Events {
    link: Link,
    socket: Arc<HttpSocket>,
    /// Sent before the first frame: the stream's id (see `stream`).
    first: Option<Bytes>,
}

impl Events {
    pub fn new(link: Link, socket: Arc<HttpSocket>, first: Bytes) -> Self {
        Self { link, socket, first: Some(first) }
    }
}

impl Stream for Events {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            // hyper holds the head now, and is given this chunk: once it has written both,
            // the socket is the stream's.
            self.socket.arm();
            return Poll::Ready(Some(Ok(first)));
        }
        match self.socket.poll_end(cx) {
            BodyEnd::Open => Poll::Pending,
            BodyEnd::Finished => Poll::Ready(None),
            BodyEnd::Aborted => {
                Poll::Ready(Some(Err(io::Error::other("the stream ended before its close event"))))
            }
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        // Nothing once it finished; otherwise nothing more is written, and a handler
        // waiting for the hand-over is told.
        self.socket.abort();
        self.link.lost();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws;

    /// The bytes a frame becomes, whole.
    fn bytes(frame: &Frame, chunked: bool) -> Vec<u8> {
        let w = wire(frame, chunked);
        let mut slices = [IoSlice::new(&[]); 3];
        let (n, len) = w.slices(0, &mut slices, 0);
        let bytes: Vec<u8> = slices[..n].iter().flat_map(|s| s.to_vec()).collect();
        assert_eq!(bytes.len(), len);
        assert_eq!(wire_len(frame, chunked), len, "wire_len agrees with the bytes");
        bytes
    }

    /// The event a frame becomes: the chunk's size line checked, and the same event
    /// without a chunk (an HTTP/1.0 answer).
    fn event(frame: &Frame) -> String {
        let text = String::from_utf8(bytes(frame, true)).unwrap();
        let (size, rest) = text.split_once("\r\n").unwrap();
        let event = rest.strip_suffix("\r\n").unwrap();
        assert_eq!(usize::from_str_radix(size, 16).unwrap(), event.len(), "{text:?}");
        assert_eq!(String::from_utf8(bytes(frame, false)).unwrap(), event);
        event.to_owned()
    }

    #[test]
    fn each_frame_becomes_its_event_in_one_chunk() {
        let text = ws::text_frame(|b| b.extend_from_slice(br#"{"type":"pong"}"#));
        assert_eq!(event(&text), "data: {\"type\":\"pong\"}\n\n");
        assert_eq!(event(&Bytes::from_static(ws::PING)), "event: heartbeat\ndata: {}\n\n");
        let close = ws::close_frame(1013, "too slow");
        assert_eq!(event(&close), "event: close\ndata: {\"code\":1013,\"reason\":\"too slow\"}\n\n");
        assert_eq!(event(&ws::frame(ws::opcode::PONG, b"")), ":\n\n");
    }

    #[test]
    fn long_frames_lose_their_whole_header() {
        for len in [0, 1, 7, 8, 125, 126, 240, 1000, 4090, 70_000] {
            let json = format!("\"{}\"", "x".repeat(len));
            let frame = ws::text_frame(|b| b.extend_from_slice(json.as_bytes()));
            assert_eq!(event(&frame), format!("data: {json}\n\n"), "{len}");
        }
    }

    #[test]
    fn a_chunk_resumes_where_the_socket_stopped() {
        let frame = ws::text_frame(|b| b.extend_from_slice(br#"{"type":"say","text":"hello"}"#));
        for chunked in [true, false] {
            let whole = bytes(&frame, chunked);
            let w = wire(&frame, chunked);
            for skip in 0..whole.len() {
                let mut slices = [IoSlice::new(&[]); 3];
                let (n, len) = w.slices(skip, &mut slices, 0);
                let rest: Vec<u8> = slices[..n].iter().flat_map(|s| s.to_vec()).collect();
                assert_eq!(rest, whole[skip..], "{skip}");
                assert_eq!(len, whole.len() - skip);
            }
        }
    }

    #[test]
    fn hex_sizes() {
        for (n, digits) in [(0, 1), (1, 1), (15, 1), (16, 2), (255, 2), (256, 3), (70_000, 5)] {
            assert_eq!(hex_digits(n), digits, "{n}");
            assert_eq!(Head::new(Some(n), b"").as_slice(), format!("{n:x}\r\n").as_bytes());
        }
        assert_eq!(Head::new(None, DATA).as_slice(), DATA);
    }
}
