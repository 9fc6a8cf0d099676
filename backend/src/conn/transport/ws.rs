//! The WebSocket's transport: the upgraded TCP socket, written straight from whoever
//! sends (`send` for one frame, `sendmsg` for several), read by its connection's handler.
//! The frames are already whole WebSocket frames (see `ws` and `encode`).

use std::io::{self, IoSlice};

use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::encode::Frame;
use crate::ws::Decoder;

/// At most this many queued frames go out in one `sendmsg`.
const WRITEV_MAX: usize = 64;

/// The room made in the decoder's buffer for one read of the socket (the buffer is given
/// back once everything in it is decoded, so an idle connection holds none).
const READ_CHUNK: usize = 4096;

/// See [`super::Transport::write`] (inlined there, and so into `Link::write_out`).
#[inline]
pub fn write<'a>(
    socket: &TcpStream,
    first: &[u8],
    rest: impl ExactSizeIterator<Item = &'a Frame>,
) -> io::Result<(usize, usize)> {
    // `send` and `sendmsg`, not `write` and `writev`: a socket's own calls skip the file
    // layer (`vfs_writev`, `fdget_pos`): 8% less CPU per delivery in a room of 10,000
    // (bench/TUNING.md).
    if rest.len() == 0 {
        return write_one(socket, first);
    }
    let mut slices = [IoSlice::new(&[]); WRITEV_MAX];
    slices[0] = IoSlice::new(first);
    let mut offered = first.len();
    let mut n = 1;
    for frame in rest.take(WRITEV_MAX - 1) {
        slices[n] = IoSlice::new(frame);
        offered += frame.len();
        n += 1;
    }
    let send = || SockRef::from(socket).send_vectored(&slices[..n]);
    Ok((socket.try_io(Interest::WRITABLE, send)?, offered))
}

/// See [`super::Transport::write_one`]: one `send`.
#[inline]
pub fn write_one(socket: &TcpStream, first: &[u8]) -> io::Result<(usize, usize)> {
    Ok((socket.try_write(first)?, first.len()))
}

/// Waits until the socket may be written. Through `poll_write_ready`, not `writable()`:
/// see [`readable`].
pub async fn writable(socket: &TcpStream) -> io::Result<()> {
    std::future::poll_fn(|cx| socket.poll_write_ready(cx)).await
}

/// Waits until the socket may be read. Through `poll_read_ready`, not `readable()`: the
/// socket keeps the waker of the last task that polled it this way, and until the handler
/// does, that is the HTTP task that upgraded it, whose memory (about 1 KB) it would pin
/// for the connection's whole life.
pub async fn readable(socket: &TcpStream) -> io::Result<()> {
    std::future::poll_fn(|cx| socket.poll_read_ready(cx)).await
}

/// One read into the decoder: `Some(0)` at the end of the stream, `None` if there was
/// nothing to read after all.
pub fn read_some(socket: &TcpStream, decoder: &mut Decoder) -> io::Result<Option<usize>> {
    // Straight into the decoder's buffer, whose spare room is not zeroed first: a zeroed
    // 4 KiB buffer per read was 11% of the server's instructions while 10k clients joined
    // one room (callgrind, bench/TUNING.md).
    let read = decoder.read_with(|buf| {
        buf.reserve(READ_CHUNK);
        socket.try_read_buf(buf)
    });
    match read {
        Ok(n) => Ok(Some(n)),
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => Ok(None),
        Err(e) => Err(e),
    }
}
