//! How a connection's queue reaches its client: one variant per transport. A `Link`
//! (see `link`) keeps the queue and its bounds; its transport only writes what it is
//! offered and says how much the client's side took. The frames are encoded once for
//! every transport (see `encode`); each transport adds its own framing.

pub mod sse;
pub mod ws;

use std::io;
use std::sync::Arc;

use tokio::net::TcpStream;

use crate::encode::Frame;

/// Where a connection's frames go.
#[derive(Debug)]
pub enum Transport {
    /// A WebSocket: the upgraded TCP socket itself, written with `send` and `sendmsg`.
    WebSocket(TcpStream),
    /// An HTTP stream of events (`text/event-stream`): its answer's body takes the
    /// queue's frames when the HTTP server can write them (see `sse`).
    Stream(Arc<sse::Sse>),
}

impl Transport {
    /// Writes as much as the client's side takes now of `first` (what is left of the
    /// queue's front frame) and the frames after it, `rest`. Returns the bytes taken and
    /// the bytes offered: fewer taken means the client's side is full for now.
    ///
    /// Inlined into `Link::write_out` with the WebSocket's own (so is [`Transport::write_one`]):
    /// a broadcast writes once per member, and as calls across the crate's codegen units
    /// they cost 52 of the server's 570 instructions per delivery (callgrind, bench/TUNING.md).
    #[inline]
    pub fn write<'a>(
        &self,
        first: &[u8],
        rest: impl ExactSizeIterator<Item = &'a Frame>,
    ) -> io::Result<(usize, usize)> {
        match self {
            Self::WebSocket(socket) => ws::write(socket, first, rest),
            Self::Stream(sse) => sse::write(sse, first.len() + rest.map(|f| f.len()).sum::<usize>()),
        }
    }

    /// [`Transport::write`] with nothing behind `first`: the usual case, a broadcast to a
    /// member with nothing queued, which needs no view of the rest of the queue.
    #[inline]
    pub fn write_one(&self, first: &[u8]) -> io::Result<(usize, usize)> {
        match self {
            Self::WebSocket(socket) => ws::write_one(socket, first),
            Self::Stream(sse) => sse::write(sse, first.len()),
        }
    }

    /// For a transport that takes the queue itself when it can (an HTTP stream's body):
    /// wakes it and returns `true`. A WebSocket is written to instead (`false`).
    #[inline]
    pub fn wake_puller(&self) -> bool {
        match self {
            Self::WebSocket(_) => false,
            Self::Stream(sse) => {
                sse.wake_body();
                true
            }
        }
    }

    /// Resolves when the client's side may take more.
    pub async fn writable(&self) -> io::Result<()> {
        match self {
            Self::WebSocket(socket) => ws::writable(socket).await,
            Self::Stream(sse) => sse::writable(sse).await,
        }
    }
}
