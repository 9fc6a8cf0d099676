//! How a connection's queue reaches its client: one variant per transport. A `Link`
//! (see `link`) keeps the queue and its bounds; its transport only writes what it is
//! offered and says how much the client's side took. Both are written straight to their
//! socket by whoever sends. The frames are encoded once for
//! every transport (see `encode`); each transport adds its own framing.

pub mod sse;
pub mod ws;

use std::io;
use std::sync::Arc;

use tokio::net::TcpStream;

use crate::encode::Frame;
use crate::socket::HttpSocket;

/// Where a connection's frames go.
#[derive(Debug)]
pub enum Transport {
    /// A WebSocket: the upgraded TCP socket itself, written with `send` and `sendmsg`.
    WebSocket(TcpStream),
    /// An HTTP stream of events (`text/event-stream`): the socket its answer is written
    /// on, once hyper has handed it over (see `sse`).
    Stream(Arc<HttpSocket>),
}

impl Transport {
    /// Writes as much as the client's side takes now of `front` (the queue's front frame,
    /// of which `offset` bytes were written already) and the frames after it, `rest`.
    /// Returns the bytes taken and the bytes offered: fewer taken means the client's side
    /// is full for now. The bytes are the transport's own (see [`Transport::wire_len`]).
    ///
    /// Inlined into `Link::write_out` with the WebSocket's own (so is [`Transport::write_one`]):
    /// a broadcast writes once per member, and as calls across the crate's codegen units
    /// they cost 52 of the server's 570 instructions per delivery (callgrind, bench/TUNING.md).
    #[inline]
    pub fn write<'a>(
        &self,
        front: &Frame,
        offset: usize,
        rest: impl ExactSizeIterator<Item = &'a Frame>,
    ) -> io::Result<(usize, usize)> {
        match self {
            Self::WebSocket(socket) => ws::write(socket, &front[offset..], rest),
            Self::Stream(socket) => sse::write(socket, front, offset, rest),
        }
    }

    /// [`Transport::write`] with nothing behind `front`: the usual case, a broadcast to a
    /// member with nothing queued, which needs no view of the rest of the queue.
    #[inline]
    pub fn write_one(&self, front: &Frame, offset: usize) -> io::Result<(usize, usize)> {
        match self {
            Self::WebSocket(socket) => ws::write_one(socket, &front[offset..]),
            Self::Stream(socket) => sse::write_one(socket, front, offset),
        }
    }

    /// The bytes `frame` takes on this transport: a WebSocket writes the frame itself, a
    /// stream its event in a chunk.
    #[inline]
    pub fn wire_len(&self, frame: &Frame) -> usize {
        match self {
            Self::WebSocket(_) => frame.len(),
            Self::Stream(socket) => sse::wire_len(frame, socket.is_chunked()),
        }
    }

    /// Resolves when the client's side may take more.
    pub async fn writable(&self) -> io::Result<()> {
        match self {
            Self::WebSocket(socket) => ws::writable(socket).await,
            Self::Stream(socket) => sse::writable(socket).await,
        }
    }
}
