//! The way everything reaches one connection: the bounded queue of encoded frames its
//! client has not taken yet, its writer (the connection's `Transport`), and the request to
//! close it.
//!
//! A frame is written straight to the socket by whoever sends it, when nothing is queued
//! before it: a broadcast to 1000 members is 1000 `send`s from the sender's task, with
//! no task woken per delivery. Only when a socket's kernel buffer is full does the frame
//! wait in the queue, and then the connection's own handler writes it out as the socket
//! drains (frames queued by then leave together, in one `sendmsg`). Under a lock, frames
//! are only queued: the [`Deliveries`] that name the links to write are flushed by the
//! caller once the lock is released.
//!
//! The queue is bounded twice: in frames, and in bytes (a client that asks for big
//! answers and never reads them would otherwise hold megabytes per frame). When the queue
//! is full either way the client cannot keep up: rather than block the sender (which
//! would slow every other member of the room) or grow without bound, the connection is
//! told to close with `too_slow`; the client resumes with `join.after` and loses nothing.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

use super::transport::Transport;
pub use crate::encode::Frame;

/// Frames queued past this many (a backlog) have their buffer given back once written.
const BACKLOG: usize = 64;

/// The links given frames by one operation that are not written yet, named by the hub's
/// operations for their caller: it writes them with [`Deliveries::flush`] once it holds no
/// lock, one `send` per link (a `sendmsg` when several frames wait). Only the frame that
/// finds a link's queue empty lists the link, so the frames queued after it, by anyone,
/// ride along with that one write.
///
/// A connection's handler holds what one read of its client brought for one yield before
/// it flushes (see `handler`): under load each member's queue then holds several messages,
/// from every sender, and they leave in one `sendmsg`.
#[derive(Debug, Default)]
#[must_use = "the frames wait in their queues until these deliveries are flushed"]
pub struct Deliveries(Vec<Link>, Counted);

/// Frames and bytes queued through one [`Deliveries`], for the metrics: plain integers
/// added up per frame, handed to the metrics' atomics once per operation.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counted {
    pub frames: u64,
    pub bytes: u64,
}

impl Deliveries {
    /// Queues `frame` on `link` (see [`Link::push`]), listing the link if it is to be
    /// written.
    pub fn queue(&mut self, link: &Link, frame: Frame) {
        self.1.frames += 1;
        self.1.bytes += frame.len() as u64;
        if link.push(frame) == Pushed::Flush {
            self.0.push(link.clone());
        }
    }

    /// What was queued through these since the last call (counted once, then zero).
    pub fn take_counted(&mut self) -> Counted {
        std::mem::take(&mut self.1)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes `other`'s links, to be flushed with these, after them.
    pub fn append(&mut self, mut other: Deliveries) {
        if self.0.is_empty() {
            // The usual case (one request in a read): the list of a broadcast to 10,000
            // members changes hands without being copied.
            std::mem::swap(&mut self.0, &mut other.0);
        } else {
            self.0.append(&mut other.0);
        }
    }

    /// Writes the links, in the order they were given their first frame.
    pub fn flush(mut self) {
        for link in self.0.drain(..) {
            link.flush();
        }
    }
}

impl Drop for Deliveries {
    /// Every path flushes its deliveries explicitly; only a panic between the queueing and
    /// the flush gets here with links left. They are written then all the same: a link
    /// whose first frame is never flushed would hold every later frame back for good.
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        debug_assert!(std::thread::panicking(), "deliveries dropped without a flush");
        for link in self.0.drain(..) {
            link.flush();
        }
    }
}

/// For tests: `.flushed()` on what a hub operation returns flushes its deliveries and
/// gives the rest.
#[cfg(test)]
pub trait Flushed<T> {
    fn flushed(self) -> T;
}

#[cfg(test)]
impl<T> Flushed<T> for (T, Deliveries) {
    fn flushed(self) -> T {
        self.1.flush();
        self.0
    }
}

/// Why and how the connection is to be closed.
#[derive(Debug, Clone)]
pub struct Close {
    pub code: u16,
    pub reason: &'static str,
    /// Sent just before the close frame, if any.
    pub last_frame: Option<Frame>,
    /// The server drops the client for falling behind (not the same as a client that
    /// closes with 1013 itself): its queue is freed, and its goodbye waits longer.
    pub too_slow: bool,
}

/// A cheap handle to one connection's outgoing side.
#[derive(Debug, Clone)]
pub struct Link {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Who writes the queue to the client: `None` only for the hub's unit tests, whose
    /// frames stay queued for the test to take ([`Link::sent`]).
    writer: Option<Transport>,
    out: Mutex<Out>,
    /// Wakes the handler: the socket is backed up, failed, or a close was requested.
    wake: Notify,
    capacity: Capacity,
}

/// How much one connection's queue holds at most.
#[derive(Debug, Clone, Copy)]
pub struct Capacity {
    pub frames: usize,
    /// Bytes of queued frames (a frame shared with other receivers counts in full at each:
    /// the bound is on what this connection holds alive). One frame over it still goes
    /// into an empty queue, so no answer is too big to send at all.
    pub bytes: usize,
}

#[derive(Debug, Default)]
struct Out {
    queue: Frames,
    /// The bytes of every frame in `queue`, the front one whole.
    bytes: usize,
    /// How much of the front frame the socket has already taken, in the transport's own
    /// bytes (a stream writes each frame as an event in a chunk).
    offset: usize,
    /// The socket took less than it was given: only the handler writes until it drains.
    blocked: bool,
    /// A close was requested: the handler says goodbye and nothing more is queued.
    close: Option<Close>,
    /// The socket failed: nothing more can be sent.
    dead: bool,
    /// Bytes of the frames ever queued, and of those the socket has taken whole:
    /// positions in the connection's stream of frames.
    pushed: u64,
    taken: u64,
    /// Where the last answer queued with [`Link::send_answer`] ends in that stream: until
    /// the socket has taken it, the client has not had it.
    answer_end: u64,
}

/// A queue of frames whose first one is kept inline, beside the rest of [`Out`]: a
/// broadcast queues one frame per member and writes it at once, and a `VecDeque`'s
/// separate buffer cost a cache miss per member on each of those two steps (in a room of
/// 10,000 the members' state does not stay in the cache between them).
#[derive(Debug, Default)]
struct Frames {
    /// `None` only when the queue is empty.
    head: Option<Frame>,
    rest: VecDeque<Frame>,
}

impl Frames {
    fn len(&self) -> usize {
        usize::from(self.head.is_some()) + self.rest.len()
    }

    fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    fn front(&self) -> Option<&Frame> {
        self.head.as_ref()
    }

    fn push_back(&mut self, frame: Frame) {
        match self.head {
            None => self.head = Some(frame),
            Some(_) => self.rest.push_back(frame),
        }
    }

    fn pop_front(&mut self) -> Option<Frame> {
        let front = self.head.take();
        self.head = self.rest.pop_front();
        front
    }

    fn iter(&self) -> impl Iterator<Item = &Frame> {
        self.head.iter().chain(&self.rest)
    }

    /// Whether no frame waits behind the front one (if any).
    fn is_single(&self) -> bool {
        self.rest.is_empty()
    }

    /// The frames behind the front one.
    fn rest(&self) -> std::collections::vec_deque::Iter<'_, Frame> {
        self.rest.iter()
    }

    /// Keeps the front frame (`keep`) or nothing, and frees the rest's buffer.
    fn truncate_to_front(&mut self, keep: bool) {
        if !keep {
            self.head = None;
        }
        self.rest = VecDeque::new();
    }

    /// Frees the buffer behind the front frame if it grew past `max` frames.
    fn shrink_past(&mut self, max: usize) {
        if self.rest.capacity() > max {
            self.rest = VecDeque::new();
        }
    }
}

/// What happened to a pushed frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued behind a frame the socket has not taken yet; it goes out after it.
    Queued,
    /// Queued first: the caller must [`Link::flush`] (after releasing its locks).
    Flush,
    /// The queue was full: the connection is being closed as too slow.
    TooSlow,
    /// The connection is closing or gone; the frame was dropped.
    Gone,
}

/// What the handler needs to know about its link.
#[derive(Debug)]
pub struct Status {
    pub close: Option<Close>,
    pub blocked: bool,
    pub dead: bool,
    pub queued: usize,
}

impl Link {
    pub fn new(transport: Transport, capacity: Capacity) -> Self {
        Self::with_writer(Some(transport), capacity)
    }

    fn with_writer(writer: Option<Transport>, capacity: Capacity) -> Self {
        let capacity = Capacity { frames: capacity.frames.max(1), bytes: capacity.bytes };
        let inner = Inner { writer, out: Mutex::default(), wake: Notify::new(), capacity };
        Self { inner: Arc::new(inner) }
    }

    fn out(&self) -> MutexGuard<'_, Out> {
        // Nothing under this lock can leave it half-done in a way a retry would not mend.
        self.inner.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame without writing it (the hub calls this under its lock, and flushes
    /// after). A full queue closes the connection as too slow.
    pub fn push(&self, frame: Frame) -> Pushed {
        self.push_marked(frame, false)
    }

    /// [`Link::push`], and for an `answer` its end remembered (see [`Link::answer_unread`]).
    fn push_marked(&self, frame: Frame, answer: bool) -> Pushed {
        let mut out = self.out();
        if out.close.is_some() || out.dead {
            return Pushed::Gone;
        }
        let cap = self.inner.capacity;
        let over_bytes = !out.queue.is_empty() && out.bytes.saturating_add(frame.len()) > cap.bytes;
        if out.queue.len() >= cap.frames || over_bytes {
            drop(out);
            self.too_slow();
            return Pushed::TooSlow;
        }
        out.bytes += frame.len();
        out.pushed += frame.len() as u64;
        if answer {
            out.answer_end = out.pushed;
        }
        out.queue.push_back(frame);
        if out.queue.len() == 1 && !out.blocked { Pushed::Flush } else { Pushed::Queued }
    }

    /// Sends an answer the client asked for (a page of history), from a caller that holds
    /// no lock, and remembers where it ends: see [`Link::answer_unread`].
    pub fn send_answer(&self, frame: Frame) -> Pushed {
        let pushed = self.push_marked(frame, true);
        if pushed == Pushed::Flush {
            self.flush();
        }
        pushed
    }

    /// Whether the last answer given with [`Link::send_answer`] is still (partly) in the
    /// queue: the socket has not taken it, because the client does not read. A client that
    /// asks for the next page once it has the last one never sees this; one that asks for
    /// page after page without reading them would otherwise have each encoded and queued
    /// until the bound in bytes drops it.
    pub fn answer_unread(&self) -> bool {
        let out = self.out();
        out.taken < out.answer_end
    }

    /// Closes the connection as too slow: it gets `too_slow` and 1013, and can resume.
    pub fn too_slow(&self) {
        self.close(Close {
            code: common::close::TRY_AGAIN_LATER,
            reason: "too slow",
            last_frame: Some(crate::encode::too_slow()),
            too_slow: true,
        });
    }

    /// Sends a frame now, from a caller that holds no lock.
    pub fn send(&self, frame: Frame) -> Pushed {
        let pushed = self.push(frame);
        if pushed == Pushed::Flush {
            self.flush();
        }
        pushed
    }

    /// Writes what is queued, unless the socket is backed up (then its handler does).
    pub fn flush(&self) {
        let mut out = self.out();
        if !out.blocked {
            self.write_out(&mut out);
        }
    }

    /// For the handler, once the socket is writable again.
    pub fn flush_blocked(&self) {
        let mut out = self.out();
        out.blocked = false;
        self.write_out(&mut out);
    }

    /// Requests a close; the first request wins. Frames still queued are dropped for a
    /// too-slow client (it cannot take them) and sent first otherwise.
    pub fn close(&self, close: Close) -> Close {
        let mut out = self.out();
        if let Some(c) = &out.close {
            return c.clone();
        }
        if close.too_slow {
            // Free them now; keep a frame the socket took part of, or the stream breaks.
            let keep = out.offset > 0;
            out.queue.truncate_to_front(keep);
            out.bytes = out.queue.iter().map(Bytes::len).sum();
        }
        out.close = Some(close.clone());
        drop(out);
        self.inner.wake.notify_one();
        close
    }

    /// Queues the goodbye (past the queue's bound: the close request stops everything
    /// else) and writes what it can.
    pub fn goodbye(&self, frames: impl IntoIterator<Item = Frame>) {
        let mut out = self.out();
        if out.dead {
            return;
        }
        for frame in frames {
            out.bytes += frame.len();
            out.pushed += frame.len() as u64;
            out.queue.push_back(frame);
        }
        if !out.blocked {
            self.write_out(&mut out);
        }
    }

    /// Whether a close was requested or the socket failed: nothing more will be sent.
    pub fn is_closing(&self) -> bool {
        let out = self.out();
        out.close.is_some() || out.dead
    }

    pub fn status(&self) -> Status {
        let out = self.out();
        Status { close: out.close.clone(), blocked: out.blocked, dead: out.dead, queued: out.queue.len() }
    }

    /// Resolves when [`Status`] may have changed.
    pub async fn changed(&self) {
        self.inner.wake.notified().await;
    }

    /// The connection's transport, for its handler's reads and waits.
    pub fn transport(&self) -> &Transport {
        self.inner.writer.as_ref().expect("only a test's link has no writer")
    }

    /// The client's side is gone (an HTTP stream's answer was dropped): nothing more can
    /// be sent, and the handler is woken to end the connection.
    pub fn lost(&self) {
        let mut out = self.out();
        out.dead = true;
        out.queue = Frames::default();
        out.bytes = 0;
        drop(out);
        self.inner.wake.notify_one();
    }

    /// Writes queued frames until the client's side takes no more.
    fn write_out(&self, out: &mut Out) {
        let Some(writer) = &self.inner.writer else { return };
        while let Some(front) = out.queue.front() {
            // A lone frame (a broadcast to a member with nothing queued: once per member)
            // needs no view of the rest of the queue; making one cost 17 instructions per
            // delivery, 3% of the server's own (callgrind, bench/TUNING.md).
            let written = if out.queue.is_single() {
                writer.write_one(front, out.offset)
            } else {
                writer.write(front, out.offset, out.queue.rest())
            };
            match written {
                Ok((written, offered)) => {
                    out.advance(written, writer);
                    if written < offered {
                        // The kernel buffer is full: the next write would not take more.
                        self.block(out);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.block(out);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    out.dead = true;
                    out.queue = Frames::default();
                    out.bytes = 0;
                    self.inner.wake.notify_one();
                    return;
                }
            }
        }
        // A backlog's queue is given back once it is written: a connection that once fell
        // behind must not keep its peak's memory for life.
        out.queue.shrink_past(BACKLOG);
    }

    fn block(&self, out: &mut Out) {
        out.blocked = true;
        self.inner.wake.notify_one();
    }

    /// A link without a writer: what it is sent stays queued, for tests to take with
    /// [`Link::sent`].
    #[cfg(test)]
    pub fn detached(frames: usize) -> Self {
        Self::with_writer(None, Capacity { frames, bytes: usize::MAX })
    }

    /// The frames queued on a link without a writer since the last call.
    #[cfg(test)]
    pub fn sent(&self) -> Vec<Frame> {
        assert!(self.inner.writer.is_none(), "only a detached link keeps its frames");
        let mut out = self.out();
        out.taken = out.pushed;
        out.bytes = 0;
        std::iter::from_fn(|| out.queue.pop_front()).collect()
    }
}

impl Out {
    /// Drops what the socket has taken from the front of the queue: `written` bytes of
    /// `writer`'s own (see [`Transport::wire_len`]).
    #[inline]
    fn advance(&mut self, mut written: usize, writer: &Transport) {
        while written > 0 {
            let Some(front) = self.queue.front() else { return };
            let left = writer.wire_len(front) - self.offset;
            if written < left {
                self.offset += written;
                return;
            }
            written -= left;
            self.offset = 0;
            self.bytes -= front.len();
            self.taken += front.len() as u64;
            self.queue.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// A link on a real socket (the server's end), its client's end, and the capacity.
    async fn pair_with(capacity: Capacity) -> (Link, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (Link::new(Transport::WebSocket(server), capacity), client)
    }

    async fn pair(frames: usize) -> (Link, TcpStream) {
        pair_with(Capacity { frames, bytes: usize::MAX }).await
    }

    /// Reads exactly `n` bytes from the client's end.
    async fn read(client: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut got = vec![0u8; n];
        tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut got)).await.unwrap().unwrap();
        got
    }

    #[test]
    fn a_full_queue_closes_as_too_slow_and_frees_it() {
        // No writer: frames stay queued, as behind a backed-up socket.
        let link = Link::detached(2);
        assert_eq!(link.push("a".into()), Pushed::Flush);
        assert_eq!(link.push("b".into()), Pushed::Queued);
        assert_eq!(link.push("c".into()), Pushed::TooSlow);
        let status = link.status();
        assert_eq!(status.close.unwrap().code, common::close::TRY_AGAIN_LATER);
        assert_eq!(status.queued, 0);
        assert_eq!(link.push("d".into()), Pushed::Gone);
    }

    #[tokio::test]
    async fn a_queue_over_its_bytes_closes_as_too_slow_whatever_its_frames() {
        let capacity = Capacity { frames: 100, bytes: 1000 };
        let link = Link::with_writer(None, capacity);
        // One frame bigger than the bound still goes into an empty queue...
        assert_eq!(link.push(Frame::from(vec![0u8; 1500])), Pushed::Flush);
        // ...but nothing more after it.
        assert_eq!(link.push(Frame::from_static(b"x")), Pushed::TooSlow);
        let link = Link::with_writer(None, capacity);
        for _ in 0..4 {
            link.push(Frame::from(vec![0u8; 250]));
        }
        assert_eq!(link.push(Frame::from_static(b"x")), Pushed::TooSlow);
        assert_eq!(link.out().bytes, 0, "freed with the queue");
        // Written frames give their bytes back.
        let (link, mut client) = pair_with(capacity).await;
        for _ in 0..20 {
            assert_eq!(link.send(Frame::from(vec![0u8; 600])), Pushed::Flush);
        }
        assert_eq!(read(&mut client, 20 * 600).await.len(), 20 * 600);
    }

    #[tokio::test]
    async fn an_answer_is_unread_until_the_socket_has_taken_all_of_it() {
        let (link, mut client) = pair(8).await;
        assert!(!link.answer_unread());
        // Pretend the socket is backed up: the answer waits in the queue.
        link.out().blocked = true;
        assert_eq!(link.send_answer(Frame::from_static(b"page")), Pushed::Queued);
        assert!(link.answer_unread());
        // Frames queued after it change nothing.
        link.push(Frame::from_static(b"message"));
        assert!(link.answer_unread());
        link.flush_blocked();
        assert!(!link.answer_unread());
        assert_eq!(read(&mut client, 11).await, b"pagemessage");
        // Taken at once: never unread.
        assert_eq!(link.send_answer(Frame::from_static(b"next")), Pushed::Flush);
        assert!(!link.answer_unread());
    }

    #[tokio::test]
    async fn deliveries_write_each_link_once_with_everything_queued_by_then() {
        let ((a, mut ca), (b, mut cb)) = (pair(8).await, pair(8).await);
        let mut out = Deliveries::default();
        out.queue(&a, Frame::from("a1"));
        out.queue(&b, Frame::from("b1"));
        // Behind a frame not written yet: it rides along, the link is not listed twice.
        out.queue(&a, Frame::from("a2"));
        assert_eq!(out.0.len(), 2);
        assert_eq!((a.status().queued, b.status().queued), (2, 1), "nothing written before the flush");
        out.flush();
        assert_eq!((a.status().queued, b.status().queued), (0, 0));
        assert_eq!(read(&mut ca, 4).await, b"a1a2");
        assert_eq!(read(&mut cb, 2).await, b"b1");
    }

    #[tokio::test]
    async fn a_panic_before_the_flush_still_writes() {
        let (link, mut client) = pair(8).await;
        let l = link.clone();
        let panicked = std::panic::catch_unwind(move || {
            let mut out = Deliveries::default();
            out.queue(&l, Frame::from("a"));
            panic!("a bug in a handler");
        });
        assert!(panicked.is_err());
        assert_eq!(read(&mut client, 1).await, b"a");
        // The link is not left waiting: the next frame is written at once.
        assert_eq!(link.send(Frame::from("b")), Pushed::Flush);
        assert_eq!(read(&mut client, 1).await, b"b");
    }

    #[test]
    fn frames_keep_their_order_through_the_inline_slot() {
        let frame = |n: u8| Frame::from(vec![n]);
        let mut q = Frames::default();
        assert!(q.is_empty() && q.front().is_none());
        q.push_back(frame(1));
        q.push_back(frame(2));
        assert_eq!(q.pop_front(), Some(frame(1)));
        q.push_back(frame(3));
        assert_eq!(q.len(), 2);
        assert_eq!(q.iter().cloned().collect::<Vec<_>>(), [frame(2), frame(3)]);
        assert_eq!(q.rest().cloned().collect::<Vec<_>>(), [frame(3)]);
        assert_eq!((q.pop_front(), q.pop_front(), q.pop_front()), (Some(frame(2)), Some(frame(3)), None));
        assert!(q.is_empty());
        q.push_back(frame(4));
        q.push_back(frame(5));
        q.truncate_to_front(true);
        assert_eq!(q.iter().cloned().collect::<Vec<_>>(), [frame(4)]);
        q.truncate_to_front(false);
        assert!(q.is_empty());
        assert_eq!(q.iter().count(), 0);
    }

    #[test]
    fn the_first_close_wins() {
        let link = Link::detached(2);
        link.close(Close { code: 4000, reason: "first", last_frame: None, too_slow: false });
        let c = link.close(Close { code: 1001, reason: "second", last_frame: None, too_slow: false });
        assert_eq!((c.code, c.reason), (4000, "first"));
    }

    #[tokio::test]
    async fn frames_go_straight_to_the_socket_in_order() {
        let (link, mut client) = pair(8).await;
        assert_eq!(link.send("one ".into()), Pushed::Flush);
        assert_eq!(link.send("two".into()), Pushed::Flush);
        assert_eq!(link.status().queued, 0, "written without any task's help");
        assert_eq!(read(&mut client, 7).await, b"one two");
    }

    #[tokio::test]
    async fn a_backed_up_socket_queues_then_drains_in_order_when_writable() {
        let (link, mut client) = pair(100_000).await;
        let chunk = Bytes::from(vec![7u8; 64 * 1024]);
        // Fill the kernel's buffers: the client reads nothing yet.
        let mut sent = 0;
        while !link.status().blocked {
            link.send(chunk.clone());
            sent += chunk.len();
            assert!(sent < 512 * 1024 * 1024, "the socket never filled up");
        }
        link.send(Bytes::from_static(b"end"));
        assert!(link.status().queued > 0);
        let drain = async {
            let mut total = 0;
            let mut buf = vec![0u8; 256 * 1024];
            let mut tail = Vec::new();
            while total < sent + 3 {
                let n = client.read(&mut buf).await.unwrap();
                total += n;
                tail.extend_from_slice(&buf[..n]);
                let keep = tail.len().saturating_sub(3);
                tail.drain(..keep);
            }
            tail
        };
        // The handler's part: write again whenever the socket can take more.
        let handler = async {
            while link.status().queued > 0 {
                link.transport().writable().await.unwrap();
                link.flush_blocked();
            }
        };
        let (tail, ()) =
            tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(drain, handler) })
                .await
                .unwrap();
        assert_eq!(tail, b"end");
    }
}
