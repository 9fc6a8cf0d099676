//! An accepted TCP socket as the HTTP server reads and writes it, shared with the HTTP
//! stream that may be served on it.
//!
//! hyper serves every connection's requests over an [`HttpIo`], a handle to the socket.
//! A WebSocket upgrade takes the socket back from it whole ([`HttpIo::into_tcp`]). An HTTP
//! stream (`stream`) keeps hyper for its answer's head and its end, and in between its
//! events are written straight to the socket by whoever sends them, as a WebSocket's
//! frames are: no task is woken per delivery (bench/TUNING.md). The hand-over is the one
//! moment hyper has written everything it holds: its answer's body, once it has given
//! hyper its first chunk, [`HttpSocket::arm`]s the socket, and the next time hyper
//! flushes an empty buffer (its `poll_flush` comes only then) the socket is
//! [`HttpSocket::is_live`]. From then on hyper writes nothing until the body ends, and
//! the stream's writer nothing after it asked the body to end (see `conn::transport::sse`).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Notify;

/// Where a socket is in the hand-over to an HTTP stream.
mod state {
    /// Served by hyper alone.
    pub const HTTP: u8 = 0;
    /// A stream's answer gave hyper its head and first chunk: live once hyper flushed them.
    pub const ARMED: u8 = 1;
    /// hyper has written everything it held: the stream's writer may write.
    pub const LIVE: u8 = 2;
    /// The stream's last event is written whole: the answer ends cleanly.
    pub const FINISHED: u8 = 3;
    /// The stream ended without its last event written whole: the connection is dropped.
    pub const ABORTED: u8 = 4;
}

/// One accepted socket's writing side, and its hand-over to an HTTP stream. (The socket
/// is split in tokio's halves so that hyper reads through tokio's own `AsyncRead`, into
/// its buffer's spare room as it is, with no zeroing first: that would touch every page
/// of the buffer, 8 KB more per idle stream.)
#[derive(Debug)]
pub struct HttpSocket {
    write: OwnedWriteHalf,
    state: AtomicU8,
    /// The stream's answer is in chunks (HTTP/1.1); an HTTP/1.0 answer ends with its
    /// connection instead.
    chunked: AtomicBool,
    /// Tells the stream's handler its socket became live (or ended before).
    live: Notify,
    /// The stream's answer body, woken when the stream ends.
    body: Mutex<Option<Waker>>,
}

/// What the stream's answer body should do now.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyEnd {
    /// Nothing: the events go around it.
    Open,
    /// End cleanly (hyper writes the last chunk).
    Finished,
    /// Fail, so hyper drops the connection without a last chunk.
    Aborted,
}

impl HttpSocket {
    /// The socket itself, for the stream's writes and waits.
    pub fn tcp(&self) -> &TcpStream {
        self.write.as_ref()
    }

    /// Whether a stream's events go in chunks: hyper frames an answer of unknown length
    /// so for HTTP/1.1, and not at all for HTTP/1.0 (the answer ends with its connection).
    pub fn is_chunked(&self) -> bool {
        self.chunked.load(Ordering::Relaxed)
    }

    /// For a stream's answer to a request of `version`.
    pub fn set_version(&self, version: axum::http::Version) {
        self.chunked.store(version != axum::http::Version::HTTP_10, Ordering::Relaxed);
    }

    /// Called by the stream's body once it gave hyper its first chunk.
    pub fn arm(&self) {
        let _ = self.state.compare_exchange(state::HTTP, state::ARMED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Whether the stream's writer may write.
    pub fn is_live(&self) -> bool {
        self.state.load(Ordering::Acquire) == state::LIVE
    }

    /// Whether the stream ended (finished or aborted): nothing is written any more.
    pub fn is_ended(&self) -> bool {
        self.state.load(Ordering::Acquire) >= state::FINISHED
    }

    /// Waits until the socket is live or the stream ended.
    pub async fn wait_live(&self) {
        loop {
            let notified = self.live.notified();
            if self.state.load(Ordering::Acquire) >= state::LIVE {
                return;
            }
            notified.await;
        }
    }

    /// The stream's last event is written whole: its answer ends cleanly. A no-op once
    /// it ended.
    pub fn finish(&self) {
        self.end(state::FINISHED);
    }

    /// The stream ended any other way: its connection is dropped. A no-op once it ended.
    pub fn abort(&self) {
        self.end(state::ABORTED);
    }

    fn end(&self, to: u8) {
        let mut now = self.state.load(Ordering::Acquire);
        while now < state::FINISHED {
            match self.state.compare_exchange(now, to, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    if to == state::ABORTED {
                        // The client learns at once, whoever still holds the socket (a
                        // link's last handle may be a read of the store in flight).
                        let _ = socket2::SockRef::from(self.tcp()).shutdown(std::net::Shutdown::Both);
                    }
                    break;
                }
                Err(seen) => now = seen,
            }
        }
        self.live.notify_waiters();
        let waker = self.body.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// For the stream's body: what to do now, its waker kept for when that changes.
    pub fn poll_end(&self, cx: &Context<'_>) -> BodyEnd {
        // The waker first, then the state: an end in between wakes it again.
        *self.body.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        match self.state.load(Ordering::Acquire) {
            state::FINISHED => BodyEnd::Finished,
            state::ABORTED => BodyEnd::Aborted,
            _ => BodyEnd::Open,
        }
    }

    /// Whether hyper may write: not while the stream's writer does. hyper writes nothing
    /// while an answer's body is pending (its head and chunks come from the body, its
    /// errors and `100 Continue` only before an answer), and the tests run with the
    /// assertion; should a later hyper write anyway, its connection is dropped rather
    /// than its bytes mixed with the events'.
    fn hyper_may_write(&self) -> io::Result<()> {
        if self.state.load(Ordering::Acquire) == state::LIVE {
            debug_assert!(false, "hyper wrote on a live stream's socket");
            return Err(io::Error::other("hyper wrote on a live stream's socket"));
        }
        Ok(())
    }

    /// hyper flushed with nothing left in its buffer: an armed socket becomes live.
    fn flushed(&self) {
        if self.state.load(Ordering::Relaxed) == state::ARMED
            && self
                .state
                .compare_exchange(state::ARMED, state::LIVE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.live.notify_waiters();
        }
    }
}

/// The socket a request came on, for an HTTP stream's answer (an extension of every
/// request; weak, so that a WebSocket upgrade can take the socket back whole).
#[derive(Debug, Clone)]
pub struct ServedOn(pub Weak<HttpSocket>);

/// hyper's handle to an accepted socket.
#[derive(Debug)]
pub struct HttpIo {
    read: OwnedReadHalf,
    socket: Arc<HttpSocket>,
}

impl HttpIo {
    pub fn new(tcp: TcpStream) -> Self {
        let (read, write) = tcp.into_split();
        let socket = Arc::new(HttpSocket {
            write,
            state: AtomicU8::new(state::HTTP),
            chunked: AtomicBool::new(true),
            live: Notify::new(),
            body: Mutex::new(None),
        });
        Self { read, socket }
    }

    /// The socket, for a stream served on it (held weakly by the connection's requests,
    /// so that an upgrade can still take the socket back).
    pub fn socket(&self) -> Weak<HttpSocket> {
        Arc::downgrade(&self.socket)
    }

    /// The socket itself, after a WebSocket upgrade: `None` if a stream still holds it
    /// (never: a stream's answer is its connection's last).
    pub fn into_tcp(self) -> Option<TcpStream> {
        let socket = Arc::try_unwrap(self.socket).ok()?;
        self.read.reunite(socket.write).ok()
    }
}

impl AsyncRead for HttpIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl HttpIo {
    /// One of hyper's writes, `write` tried until the socket takes something.
    fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        write: impl Fn(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.socket.hyper_may_write()?;
        let tcp = self.socket.tcp();
        loop {
            ready!(tcp.poll_write_ready(cx))?;
            match write(tcp) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
        }
    }
}

impl AsyncWrite for HttpIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |tcp| tcp.try_write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |tcp| tcp.try_write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // hyper calls this only once its own buffer is written out.
        self.socket.flushed();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(self.socket.tcp()).shutdown(std::net::Shutdown::Write))
    }
}
