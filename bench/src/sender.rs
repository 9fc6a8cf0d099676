//! The senders' side of the generator, on a thread of its own: the scheduler that hands
//! out messages at their due times, and one writer task per sending connection.
//!
//! Why a thread: on the receivers' runtime the scheduler would wait its turn behind up to
//! a thousand receiver tasks woken by the same fan-out, and be milliseconds late for no
//! fault of the server. As its own thread (pinned to the same core), the kernel wakes it
//! on time, and its lateness says what it should: whether the generator's core is
//! saturated (it runs real-time for this, see `make_real_time`). The receivers own the read halves; this thread owns the senders' write
//! halves, and answers their pings on the receivers' behalf.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot};

use crate::conn::Outbox;
use crate::proto::{self, Proto, sio};
use crate::stats;
use crate::ws;

/// Frames waiting for one sender's socket. The scheduler never waits on it: a full queue
/// means the generator fell behind, and the phase is marked invalid.
const SEND_QUEUE: usize = 256;

/// What a sender's writer writes.
#[derive(Debug)]
pub enum Out {
    /// A text frame (a `say`, or an Engine.IO pong).
    Text(String),
    /// A WebSocket pong with the ping's payload.
    Pong(Vec<u8>),
}

impl Out {
    pub fn eio_pong() -> Self {
        Self::Text(sio::PONG.to_owned())
    }
}

/// What one phase sent.
#[derive(Debug)]
pub struct Sent {
    pub per_room: Vec<u64>,
    /// How late each hand-off was against the schedule, in microseconds.
    pub late: Histogram<u64>,
    /// Hand-offs refused because the sender's queue was full.
    pub dropped: u64,
}

/// The traffic of one phase: `msgs` messages at `msg_rate` per second, senders in turn.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    pub phase: u32,
    pub msgs: u64,
    pub msg_rate: f64,
    pub text_len: usize,
}

#[derive(Debug)]
enum Cmd {
    Add { room: usize, wr: OwnedWriteHalf, outbox: Outbox, reply: oneshot::Sender<mpsc::Sender<Out>> },
    Run { job: Job, done: oneshot::Sender<Sent> },
}

/// A handle to the senders' thread; the thread ends when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct SendSide {
    cmd: mpsc::Sender<Cmd>,
}

impl SendSide {
    /// Starts the thread. `base` is the generator's clock; `rooms` the room names.
    pub fn start(proto: Proto, base: Instant, rooms: Vec<String>) -> Result<Self> {
        // Commands come one at a time from the receivers' side, which awaits each.
        let (tx, rx) = mpsc::channel(16);
        std::thread::Builder::new()
            .name("senders".into())
            .spawn(move || thread(proto, base, rooms, rx))
            .context("starting the senders' thread")?;
        Ok(Self { cmd: tx })
    }

    /// Hands a sender's write half to the thread; returns the queue of its writer, where
    /// the receivers' side puts the pongs it owes.
    pub async fn add(&self, room: usize, wr: OwnedWriteHalf, outbox: Outbox) -> Result<mpsc::Sender<Out>> {
        let (reply, answer) = oneshot::channel();
        self.cmd
            .send(Cmd::Add { room, wr, outbox, reply })
            .await
            .ok()
            .context("the senders' thread ended")?;
        answer.await.context("the senders' thread ended")
    }

    /// Runs one phase's schedule and returns what was sent.
    pub async fn run(&self, job: Job) -> Result<Sent> {
        let (done, answer) = oneshot::channel();
        self.cmd.send(Cmd::Run { job, done }).await.ok().context("the senders' thread ended")?;
        answer.await.context("the senders' thread ended")
    }
}

fn thread(proto: Proto, base: Instant, rooms: Vec<String>, mut rx: mpsc::Receiver<Cmd>) {
    if let Err(e) = make_real_time() {
        eprintln!("senders' thread stays a normal thread ({e:#}): its sends may be late by a time slice");
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            // The handles see the thread gone and report it as an error of the run.
            eprintln!("senders' thread: no runtime: {e}");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let mut senders: Vec<(usize, mpsc::Sender<Out>)> = Vec::new();
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Cmd::Add { room, wr, outbox, reply } => {
                    let (tx, queue) = mpsc::channel(SEND_QUEUE);
                    tokio::task::spawn_local(write(wr, outbox, queue));
                    senders.push((room, tx.clone()));
                    // The caller gone means the run is over; nothing to do.
                    let _ = reply.send(tx);
                }
                Cmd::Run { job, done } => {
                    let sent = schedule(proto, base, &rooms, &senders, job).await;
                    let _ = done.send(sent);
                }
            }
        }
    });
}

/// Puts this thread in SCHED_FIFO (priority 1) with `chrt`, so that its timer wake-ups
/// preempt the receivers' thread at once. Without it, the kernel (EEVDF) lets the busy
/// receivers run to the end of their slice first, and sends are about 4 ms late whenever
/// a fan-out is being read. The thread does little work, so it cannot starve anything.
fn make_real_time() -> Result<()> {
    let link = std::fs::read_link("/proc/thread-self").context("no /proc/thread-self")?;
    let tid = link.file_name().and_then(|t| t.to_str()).context("no thread id")?.to_owned();
    let status = std::process::Command::new("chrt")
        .args(["--fifo", "-p", "1", &tid])
        .stderr(std::process::Stdio::null())
        .status()
        .context("running chrt")?;
    anyhow::ensure!(status.success(), "chrt failed ({status})");
    Ok(())
}

/// Writes what the scheduler and the receivers hand it, until the socket fails or the
/// queue closes.
async fn write(mut wr: OwnedWriteHalf, mut outbox: Outbox, mut queue: mpsc::Receiver<Out>) {
    while let Some(out) = queue.recv().await {
        let frame = match &out {
            Out::Text(text) => outbox.frame(ws::op::TEXT, text.as_bytes()),
            Out::Pong(payload) => outbox.frame(ws::op::PONG, payload),
        };
        if wr.write_all(frame).await.is_err() {
            // The receivers' side sees the connection end and counts it.
            return;
        }
    }
}

/// Hands `job.msgs` messages to the senders in turn, each at its due time, stamped with
/// the moment of the hand-off.
async fn schedule(
    proto: Proto,
    base: Instant,
    rooms: &[String],
    senders: &[(usize, mpsc::Sender<Out>)],
    job: Job,
) -> Sent {
    let mut sent = Sent { per_room: vec![0; rooms.len()], late: stats::histogram(), dropped: 0 };
    if senders.is_empty() || job.msgs == 0 {
        return sent;
    }
    let interval = 1.0 / job.msg_rate;
    let start = Instant::now() + Duration::from_millis(5);
    let mut text = String::with_capacity(job.text_len + 32);
    for k in 0..job.msgs {
        let due = start + Duration::from_secs_f64(k as f64 * interval);
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        let now = Instant::now();
        let late = now.saturating_duration_since(due);
        stats::record(&mut sent.late, u64::try_from(late.as_micros()).unwrap_or(u64::MAX));
        let (room, tx) = &senders[(k % senders.len() as u64) as usize];
        let stamp = u64::try_from(now.saturating_duration_since(base).as_micros()).unwrap_or(u64::MAX);
        proto::body(&mut text, job.phase, stamp, k, job.text_len);
        // A cid must never repeat for a sender: the server would take it for a retry.
        let cid = (u64::from(job.phase) << 32) | k;
        match tx.try_send(Out::Text(proto.say(&rooms[*room], &text, cid))) {
            Ok(()) => sent.per_room[*room] += 1,
            Err(_) => sent.dropped += 1,
        }
    }
    sent
}
