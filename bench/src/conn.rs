//! One connection of the generator at the byte level: its read buffer ([`Inbox`]), which
//! splits what arrives into messages in place, its write buffer ([`Outbox`]), which
//! frames what it sends, and its set-up (upgrade, greeting, join) per protocol. It does
//! not count or time anything; `load` does, with the messages this hands it.

use anyhow::{Context, Result, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::proto::{self, Proto, sio};
use crate::ws;

/// How a connection's bytes split into messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    WebSocket,
    Lines,
    /// A `text/event-stream` answer: events end with an empty line. The answer is
    /// chunked, and the server writes whole events per chunk, so a chunk's size line sits
    /// between two events, before the next one's `data:`, and never splits a marker.
    Events,
}

/// A complete message, borrowed from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Msg<'a> {
    Text(&'a [u8]),
    Ping(&'a [u8]),
    Close,
}

/// A message taken during set-up, owned (set-up is not the hot path).
#[derive(Debug)]
pub(crate) enum Owned {
    Text(String),
    Ping(Vec<u8>),
    Close,
}

/// A connection's read buffer: bytes read but not yet taken as messages are
/// `buf[pos..len]`. It is allocated once and only grows for a frame larger than itself.
#[derive(Debug)]
pub(crate) struct Inbox {
    framing: Framing,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// Every byte read into it, the upgrade's answer included: what the server sent.
    total: u64,
}

impl Inbox {
    pub(crate) fn new(framing: Framing) -> Self {
        Self { framing, buf: vec![0; READ_BUFFER], pos: 0, len: 0, total: 0 }
    }

    /// Bytes read so far.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Room to read into: taken bytes are dropped first, and a full buffer grows.
    pub(crate) fn space(&mut self) -> &mut [u8] {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
        }
        if self.len == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        &mut self.buf[self.len..]
    }

    pub(crate) fn filled(&mut self, n: usize) {
        self.len += n;
        self.total += n as u64;
    }

    /// The next complete message and its length in bytes, without taking it.
    fn peek(&self) -> Result<Option<(Msg<'_>, usize)>> {
        let bytes = &self.buf[self.pos..self.len];
        Ok(match self.framing {
            Framing::Lines => memchr::memchr(b'\n', bytes).map(|end| (Msg::Text(&bytes[..end]), end + 1)),
            Framing::Events => memchr::memmem::find(bytes, b"\n\n").map(|end| {
                let event = &bytes[..end];
                let msg = if memchr::memmem::find(event, b"event: close").is_some() {
                    Msg::Close
                } else {
                    Msg::Text(event)
                };
                (msg, end + 2)
            }),
            Framing::WebSocket => ws::parse(bytes)?.map(|(frame, used)| {
                let msg = match frame.opcode {
                    ws::op::PING => Msg::Ping(frame.payload),
                    ws::op::CLOSE => Msg::Close,
                    // Text, and continuations of it: the marker sits in the first part.
                    _ => Msg::Text(frame.payload),
                };
                (msg, used)
            }),
        })
    }

    /// Hands every complete message to `f`.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(Msg<'_>)) -> Result<()> {
        while let Some((msg, used)) = self.peek()? {
            f(msg);
            self.pos += used;
        }
        Ok(())
    }

    /// Takes one complete message, if there is one.
    pub(crate) fn take(&mut self) -> Result<Option<Owned>> {
        let Some((msg, used)) = self.peek()? else { return Ok(None) };
        let owned = match msg {
            Msg::Text(t) => Owned::Text(String::from_utf8_lossy(t).into_owned()),
            Msg::Ping(p) => Owned::Ping(p.to_vec()),
            Msg::Close => Owned::Close,
        };
        self.pos += used;
        Ok(Some(owned))
    }
}

/// Writes frames: WebSocket frames masked as a client must, lines as they are. The
/// buffer is reused, so a send allocates nothing once it has grown to the frame size.
#[derive(Debug)]
pub(crate) struct Outbox {
    framing: Framing,
    buf: Vec<u8>,
    /// A cheap, changing mask key (the mask protects proxies; no secrecy is needed).
    mask: u32,
}

impl Outbox {
    pub(crate) fn new(framing: Framing, seed: usize) -> Self {
        Self { framing, buf: Vec::with_capacity(256), mask: 0x9E37_79B9 ^ seed as u32 }
    }

    pub(crate) fn frame(&mut self, opcode: u8, payload: &[u8]) -> &[u8] {
        self.buf.clear();
        match self.framing {
            Framing::WebSocket => {
                // xorshift32: a different key per frame.
                self.mask ^= self.mask << 13;
                self.mask ^= self.mask >> 17;
                self.mask ^= self.mask << 5;
                ws::encode(&mut self.buf, opcode, payload, self.mask.to_be_bytes());
            }
            Framing::Lines | Framing::Events => self.buf.extend_from_slice(payload),
        }
        &self.buf
    }
}

/// The first bytes of the read buffer of every connection (it grows when needed).
const READ_BUFFER: usize = 8 * 1024;

/// Sends the upgrade request (offering `proto`'s subprotocol, if it has one) and reads the
/// answer; frames after it stay in `inbox`.
pub(crate) async fn upgrade(tcp: &mut TcpStream, inbox: &mut Inbox, host: &str, proto: Proto) -> Result<()> {
    let path = proto.path().context("a protocol without WebSocket")?;
    upgrade_at(tcp, inbox, host, path, proto).await
}

/// [`upgrade`] on `path` (with a query, say).
pub(crate) async fn upgrade_at(
    tcp: &mut TcpStream,
    inbox: &mut Inbox,
    host: &str,
    path: &str,
    proto: Proto,
) -> Result<()> {
    let (request, key) = ws::request(host, path, proto.subprotocol());
    tcp.write_all(request.as_bytes()).await?;
    loop {
        let n = tcp.read(inbox.space()).await?;
        ensure!(n > 0, "the server closed during the upgrade");
        inbox.filled(n);
        if let Some(head) = ws::check_response(&inbox.buf[..inbox.len], &key, proto.subprotocol())
            .map_err(anyhow::Error::msg)?
        {
            inbox.pos = head;
            return Ok(());
        }
    }
}

/// Opens the HTTP stream (`GET /http/stream?v=2`) and reads the answer's head; the events
/// after it stay in `inbox` (its framing must be [`Framing::Events`]).
pub(crate) async fn open_stream(tcp: &mut TcpStream, inbox: &mut Inbox, host: &str) -> Result<()> {
    let request =
        format!("GET /http/stream?v=2 HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n");
    tcp.write_all(request.as_bytes()).await?;
    loop {
        let n = tcp.read(inbox.space()).await?;
        ensure!(n > 0, "the server closed before answering the stream");
        inbox.filled(n);
        let bytes = &inbox.buf[..inbox.len];
        if let Some(end) = memchr::memmem::find(bytes, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]);
            ensure!(head.starts_with("HTTP/1.1 200"), "the stream was refused: {head}");
            inbox.pos = end + 4;
            return Ok(());
        }
    }
}

/// `POST /http/send` of `frames` (a JSON list) to `stream`, on a connection of its own.
pub(crate) async fn post(
    addr: std::net::SocketAddr,
    stream: &str,
    token: &str,
    seq: u64,
    frames: &str,
) -> Result<()> {
    let mut tcp = TcpStream::connect(addr).await?;
    let request = format!(
        "POST /http/send?stream={stream}&seq={seq} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{frames}",
        frames.len()
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    ensure!(answer.starts_with("HTTP/1.1 200"), "a post was refused: {answer}");
    Ok(())
}

/// A connection during set-up, before its task owns it.
#[derive(Debug)]
pub(crate) struct Setup<'a> {
    pub(crate) tcp: &'a mut TcpStream,
    pub(crate) inbox: &'a mut Inbox,
    pub(crate) outbox: &'a mut Outbox,
}

impl Setup<'_> {
    pub(crate) async fn send(&mut self, text: &str) -> Result<()> {
        let frame = self.outbox.frame(ws::op::TEXT, text.as_bytes());
        self.tcp.write_all(frame).await?;
        Ok(())
    }

    /// The next text message; pings are answered on the way.
    pub(crate) async fn next_text(&mut self) -> Result<String> {
        loop {
            match self.inbox.take()? {
                Some(Owned::Text(t)) => return Ok(t),
                Some(Owned::Ping(p)) => {
                    let frame = self.outbox.frame(ws::op::PONG, &p);
                    self.tcp.write_all(frame).await?;
                }
                Some(Owned::Close) => bail!("closed by the server"),
                None => {
                    let n = self.tcp.read(self.inbox.space()).await?;
                    ensure!(n > 0, "the connection ended");
                    self.inbox.filled(n);
                }
            }
        }
    }

    /// The greeting and the join, per protocol.
    pub(crate) async fn greet(&mut self, proto: Proto, room: Option<&str>) -> Result<()> {
        match proto {
            Proto::Stream => {
                let named = self.next_text().await?;
                let stream = proto::v1_field(&named, "stream").context("the stream's id")?;
                let welcome = self.next_text().await?;
                ensure!(proto::v1_is(&welcome, "welcome"), "expected welcome, got {welcome}");
                let token = proto::v1_field(&welcome, "resume").context("a resume token")?;
                if let Some(room) = room {
                    let addr = self.tcp.peer_addr()?;
                    post(addr, &stream, &token, 1, &format!("[{}]", proto.join(room))).await?;
                    loop {
                        let frame = self.next_text().await?;
                        if proto::v1_is(&frame, "joined") {
                            break;
                        }
                        ensure!(!proto::v1_is(&frame, "error"), "join refused: {frame}");
                    }
                }
            }
            Proto::V1 | Proto::V2 => {
                let first = self.next_text().await?;
                ensure!(proto::v1_is(&first, "welcome"), "expected welcome, got {first}");
                if let Some(room) = room {
                    self.send(&proto.join(room)).await?;
                    loop {
                        let frame = self.next_text().await?;
                        if proto::v1_is(&frame, "joined") {
                            break;
                        }
                        ensure!(!proto::v1_is(&frame, "error"), "join refused: {frame}");
                    }
                }
            }
            Proto::SocketIo => {
                let first = self.next_text().await?;
                ensure!(
                    matches!(sio::decode_eio(&first), Some(sio::Eio::Open(_))),
                    "expected an Engine.IO open packet, got {first}"
                );
                self.send(sio::CONNECT).await?;
                self.sio_wait(|p| matches!(p, sio::Packet::Connect(_))).await?;
                if let Some(room) = room {
                    self.send(&proto.join(room)).await?;
                    self.sio_wait(
                        |p| matches!(p, sio::Packet::Event(a) if sio::event_name(a) == Some("joined")),
                    )
                    .await?;
                }
            }
            Proto::Line => {
                if let Some(room) = room {
                    self.send(&proto.join(room)).await?;
                    let ok = self.next_text().await?;
                    ensure!(ok == "OK", "the floor answered {ok:?} to a join");
                }
            }
        }
        Ok(())
    }

    /// Reads Socket.IO packets (answering Engine.IO pings) until one that `want`s.
    async fn sio_wait(&mut self, want: impl Fn(&sio::Packet<'_>) -> bool) -> Result<()> {
        loop {
            let frame = self.next_text().await?;
            if matches!(sio::decode_eio(&frame), Some(sio::Eio::Ping(_))) {
                self.send(sio::PONG).await?;
                continue;
            }
            match sio::decode(&frame) {
                Some(p) if want(&p) => return Ok(()),
                Some(sio::Packet::ConnectError(e)) => bail!("Socket.IO refused the connection: {e}"),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_reads() {
        let mut inbox = Inbox::new(Framing::Lines);
        let mut got = Vec::new();
        for chunk in [&b"M bench:1:5:0:xx\nM ben"[..], b"ch:1:6:1:xx\n", b"OK"] {
            let n = chunk.len();
            inbox.space()[..n].copy_from_slice(chunk);
            inbox.filled(n);
            inbox.drain(|m| got.push(format!("{m:?}"))).unwrap();
        }
        assert_eq!(got.len(), 2);
        assert_eq!(&inbox.buf[inbox.pos..inbox.len], b"OK", "a partial line waits");
    }

    #[test]
    fn websocket_frames_split_across_reads_and_grow_the_buffer() {
        let mut inbox = Inbox::new(Framing::WebSocket);
        let big = vec![b'x'; READ_BUFFER * 3];
        let mut bytes = vec![0x81, 126, 0, 2, b'h', b'i', 0x89, 0];
        bytes.extend_from_slice(&[0x81, 127]);
        bytes.extend_from_slice(&(big.len() as u64).to_be_bytes());
        bytes.extend_from_slice(&big);
        bytes.extend_from_slice(&[0x88, 0]);
        let mut got = Vec::new();
        for chunk in bytes.chunks(1000) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let space = inbox.space();
                let n = space.len().min(rest.len());
                space[..n].copy_from_slice(&rest[..n]);
                inbox.filled(n);
                rest = &rest[n..];
            }
            inbox
                .drain(|m| {
                    got.push(match m {
                        Msg::Text(t) => format!("text {}", t.len()),
                        Msg::Ping(p) => format!("ping {}", p.len()),
                        Msg::Close => "close".into(),
                    })
                })
                .unwrap();
        }
        assert_eq!(got, ["text 2", "ping 0", format!("text {}", big.len()).as_str(), "close"]);
    }

    #[test]
    fn events_split_across_reads_past_the_chunks_size_lines() {
        let mut inbox = Inbox::new(Framing::Events);
        let mut got = Vec::new();
        let answer = "2a\r\ndata: {\"a\":1}\n\nevent: heartbeat\ndata: {}\n\n\r\n30\r\ndata: {\"b\":2}\n\nevent: close\ndata: {}\n\n\r\n";
        for chunk in answer.as_bytes().chunks(7) {
            let n = chunk.len();
            inbox.space()[..n].copy_from_slice(chunk);
            inbox.filled(n);
            inbox
                .drain(|m| {
                    got.push(match m {
                        Msg::Text(t) => String::from_utf8_lossy(t).trim().to_owned(),
                        Msg::Ping(_) => "ping".into(),
                        Msg::Close => "close".into(),
                    })
                })
                .unwrap();
        }
        assert_eq!(
            got,
            ["2a\r\ndata: {\"a\":1}", "event: heartbeat\ndata: {}", "30\r\ndata: {\"b\":2}", "close"]
        );
    }

    #[test]
    fn client_frames_are_masked_and_lines_are_not() {
        let mut ws_out = Outbox::new(Framing::WebSocket, 1);
        let first = ws_out.frame(ws::op::TEXT, b"hello").to_vec();
        let second = ws_out.frame(ws::op::TEXT, b"hello").to_vec();
        assert_eq!(first.len(), 2 + 4 + 5);
        assert_ne!(first, second, "each frame gets a new mask");
        let mut lines = Outbox::new(Framing::Lines, 1);
        assert_eq!(lines.frame(ws::op::TEXT, b"S r0 hi\n"), b"S r0 hi\n");
    }
}
