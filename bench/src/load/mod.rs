//! The load generator: opens the connections of one scenario against one server, runs its
//! phases, and measures every delivery at every receiver.
//!
//! The receivers run on one thread (a current-thread runtime and a `LocalSet`; the suite
//! pins the process to its own core), so the counters are plain `Cell`s shared by `Rc`.
//! Each connection is one task that owns its socket's read half: it reads into a buffer
//! allocated once, splits frames in place (`conn`), finds the marker by a substring search
//! (no JSON parsing), records the latency and counts the delivery. The senders' write
//! halves and the schedule live on a second thread (`sender`), so the schedule is kept
//! while the receivers are busy.
//!
//! Latency is measured from the moment the scheduler hands a message to its sender's
//! queue, so time a frame waits for a server that does not read its socket counts. The
//! scheduler never waits for the server (it drops and flags a send rather than block), so
//! a slow server cannot slow the schedule down and hide its own delay (no coordinated
//! omission). How late the hand-offs were against the schedule is reported (tokio's
//! timer has a 1 ms grain), and a phase where the generator was the bottleneck (its CPU
//! > 90% or hand-offs > 5 ms late at p99) is marked invalid.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::conn::{Framing, Inbox, Msg, Outbox, Setup};
use crate::proto::{self, Proto};
use crate::scenario::{
    CHURNERS, ClusterUse, Fill, GenHealth, HISTORY_LIMIT, HISTORY_RATE, Layout, PhaseResult, PhaseSpec,
    STORM_ROOM, Scenario, ScenarioResult, ServerUse, SlowAsk, SlowReaders,
};
use crate::sender::{Job, Out, SendSide};
use crate::stats::{self, Latency};
use crate::{procfs, ws};

/// Handshakes in flight at once while connecting.
const CONNECT_CONCURRENCY: usize = 64;
/// How long one connection may take to connect, be welcomed and join.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The receive buffer of a reader that will stop reading: small, so what it does not take
/// backs up into the server soon instead of into the kernel.
const STOPPER_RCVBUF: u32 = 4096;
/// Quiet time after set-up, so join floods and directory pushes are over before measuring.
const SETTLE: Duration = Duration::from_millis(500);
/// How often the server's RSS is sampled during a phase.
const MEM_SAMPLE: Duration = Duration::from_millis(20);
/// A drain with no delivery for this long is over: what is missing is lost.
const DRAIN_STALL: Duration = Duration::from_secs(2);
/// How long a slow reader asks without reading before it looks whether it was dropped.
/// The server keeps a dropped client's socket for 10 s (for its `too_slow` to reach it),
/// so the look comes well within that.
const SLOW_READER_LIFE: Duration = Duration::from_secs(1);
/// How long a slow reader reads, once it looks, for the `too_slow` that says it was
/// dropped; a server still sending answers by then has kept them.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(3);

/// One run of the generator.
#[derive(Debug, Clone)]
pub struct Options {
    pub proto: Proto,
    /// The server's address, or each node's: connection `i` goes to `addrs[i % n]`.
    pub addrs: Vec<SocketAddr>,
    /// The process of each address, for their CPU time and memory (summed).
    pub server_pids: Vec<u32>,
    /// The Redis the nodes share, when they do: its CPU is reported on its own.
    pub redis_pid: Option<u32>,
    pub scenario: Scenario,
    pub quick: bool,
}

impl Options {
    /// The first (or only) server: where the clients that are not the layout's go.
    fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The server connection `i` of a layout goes to.
    fn addr_of(&self, i: usize) -> SocketAddr {
        self.addrs[i % self.addrs.len()]
    }
}

/// Runs the scenario on a current-thread runtime and returns what it measured; a run
/// that breaks off keeps the phases done so far and says why in `error`.
pub fn run(opts: &Options) -> Result<ScenarioResult> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    Ok(local.block_on(&rt, scenario(opts)))
}

async fn scenario(opts: &Options) -> ScenarioResult {
    let plan = opts.scenario.plan(opts.quick);
    let mut result =
        ScenarioResult { scenario: opts.scenario, setup_ms: 0.0, phases: Vec::new(), error: None };
    let conns = match (&plan.layout, plan.phases.first()) {
        (Some(layout), _) => layout.conns(),
        (None, Some(PhaseSpec::Idle { conns } | PhaseSpec::Storm { conns, .. })) => *conns,
        (None, _) => 0,
    };
    let counted: Vec<bool> = match &plan.layout {
        // Stoppers are not counted: what they receive before they stop is not a result.
        Some(l) => (0..l.conns()).map(|i| i < l.conns() - l.stoppers).collect(),
        None => vec![true; conns as usize],
    };
    let meter = Rc::new(Meter::new(opts.proto, counted));
    // Before the members connect, so the fill's room coming and going is pushed to no one.
    let big = match plan.fill {
        Some(fill) => match fill_room(opts, fill).await {
            Ok(big) => Some(big),
            Err(e) => {
                result.error = Some(format!("filling room {}: {e:#}", fill.room));
                return result;
            }
        },
        None => None,
    };
    let ctx = match plan.layout {
        Some(layout) => {
            let started = Instant::now();
            let ctx = connect_layout(&meter, opts, layout, big).await;
            result.setup_ms = ms(started.elapsed());
            match ctx {
                Ok(ctx) => ctx,
                Err(e) => {
                    result.error = Some(format!("set-up failed: {e:#}"));
                    return result;
                }
            }
        }
        None => Ctx::idle(meter.clone(), opts),
    };
    tokio::time::sleep(SETTLE).await;
    let mut next_id = 0u32;
    let mut retried = false;
    let mut specs = plan.phases.iter().peekable();
    while let Some(spec) = specs.peek() {
        next_id += 1;
        let id = next_id;
        let phase = match spec {
            PhaseSpec::Idle { conns } => idle(&ctx, opts, *conns, &mut result).await,
            PhaseSpec::Storm { conns, join } => storm(&ctx, opts, *conns, *join, &mut result).await,
            PhaseSpec::Churn { rate, secs } => ctx.churn(id, spec.name(), *rate, *secs).await,
            PhaseSpec::Steady { rate, secs, stop_readers, slow } => {
                let layout = ctx.layout.expect("steady phases have a layout");
                let msg_rate = rate / f64::from(layout.members);
                let msgs = (msg_rate * secs).round() as u64;
                let load = Load { msgs, msg_rate, offered: *rate, stop_readers: *stop_readers, slow: *slow };
                ctx.phase(id, spec.name(), load, drain_timeout(opts.quick)).await
            }
            PhaseSpec::Burst { msgs, secs } => {
                let layout = ctx.layout.expect("bursts have a layout");
                let msg_rate = *msgs as f64 / secs;
                let offered = msg_rate * f64::from(layout.members);
                let load = Load { msgs: *msgs, msg_rate, offered, stop_readers: false, slow: None };
                ctx.phase(id, spec.name(), load, Duration::from_secs(10)).await
            }
        };
        match phase {
            // On a shared machine a step can catch a moment when another program had the
            // core; a step fails only when it fails twice in a row.
            Ok(p) if plan.until_failure && !p.sustained() && !retried => {
                eprintln!("    retrying {} once ({})", p.name, crate::report::why_not_sustained(&p));
                retried = true;
            }
            Ok(p) => {
                let stop = plan.until_failure && !p.sustained();
                result.phases.push(p);
                specs.next();
                retried = false;
                if stop {
                    break;
                }
            }
            Err(e) => {
                result.error = Some(format!("{}: {e:#}", spec.name()));
                break;
            }
        }
    }
    result
}

fn drain_timeout(quick: bool) -> Duration {
    Duration::from_secs(if quick { 3 } else { 5 })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// What the receivers share: the phase being measured and its counters.
#[derive(Debug)]
struct Meter {
    proto: Proto,
    /// The generator's clock: send times in the texts are microseconds since this.
    base: Instant,
    phase: Cell<u32>,
    /// Whether each connection's deliveries count (stoppers' do not).
    counted: Vec<bool>,
    /// Deliveries of the current phase, per connection.
    received: RefCell<Vec<u64>>,
    delivered: Cell<u64>,
    latency: RefCell<Histogram<u64>>,
    last_delivery_us: Cell<u64>,
    stale: Cell<u64>,
    errors: Cell<u64>,
    closed: Cell<u32>,
    /// Bytes the server sent to the connections, from the upgrade on.
    bytes: Cell<u64>,
    /// Set to true to make the stoppers stop reading.
    stop_reading: watch::Sender<bool>,
}

/// What a connection must do after a frame.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    None,
    /// Answer an Engine.IO ping.
    Pong,
}

impl Meter {
    fn new(proto: Proto, counted: Vec<bool>) -> Self {
        let conns = counted.len();
        Self {
            proto,
            base: Instant::now(),
            phase: Cell::new(0),
            counted,
            received: RefCell::new(vec![0; conns]),
            delivered: Cell::new(0),
            latency: RefCell::new(stats::histogram()),
            last_delivery_us: Cell::new(0),
            stale: Cell::new(0),
            errors: Cell::new(0),
            closed: Cell::new(0),
            bytes: Cell::new(0),
            stop_reading: watch::Sender::new(false),
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn at_us(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX)
    }

    fn begin(&self, phase: u32) {
        self.received.borrow_mut().fill(0);
        self.delivered.set(0);
        self.latency.borrow_mut().reset();
        self.last_delivery_us.set(0);
        self.phase.set(phase);
    }

    /// Accounts one received frame of connection `idx`.
    fn on_frame(&self, idx: usize, frame: &[u8]) -> Reply {
        if let Some((phase, sent_us)) = proto::find_marker(frame) {
            if phase != self.phase.get() {
                self.stale.set(self.stale.get() + 1);
            } else if self.counted[idx] {
                let now = self.now_us();
                self.received.borrow_mut()[idx] += 1;
                self.delivered.set(self.delivered.get() + 1);
                stats::record(&mut self.latency.borrow_mut(), now.saturating_sub(sent_us));
                self.last_delivery_us.set(now);
            }
            return Reply::None;
        }
        if self.proto == Proto::SocketIo && frame == b"2" {
            return Reply::Pong;
        }
        if self.proto.is_error(frame) {
            self.errors.set(self.errors.get() + 1);
        }
        Reply::None
    }

    fn on_closed(&self) {
        self.closed.set(self.closed.get() + 1);
    }
}

/// A scenario's connections once set up.
#[derive(Debug)]
struct Ctx {
    meter: Rc<Meter>,
    /// The server's process, or the nodes'.
    pids: Vec<u32>,
    redis_pid: Option<u32>,
    addr: SocketAddr,
    /// The filled room the slow readers ask about, when the scenario has one.
    big: Option<Big>,
    layout: Option<Layout>,
    rooms: usize,
    side: Option<SendSide>,
    /// Room of each connection, and whether it counts as a receiver (stoppers do not).
    members: Vec<(usize, bool)>,
}

/// The traffic of one phase.
#[derive(Debug, Clone, Copy)]
struct Load {
    msgs: u64,
    msg_rate: f64,
    offered: f64,
    stop_readers: bool,
    /// Clients that ask for the filled room's history meanwhile and never read.
    slow: Option<SlowAsk>,
}

async fn connect_layout(meter: &Rc<Meter>, opts: &Options, layout: Layout, big: Option<Big>) -> Result<Ctx> {
    let conns = layout.conns() as usize;
    let rooms: Vec<String> = (0..layout.rooms).map(|r| format!("r{r}")).collect();
    let side = SendSide::start(opts.proto, meter.base, rooms.clone())?;
    let role = |i: usize| Role {
        idx: i,
        room: i % layout.rooms as usize,
        sender: i < layout.senders as usize,
        stopper: i >= conns - layout.stoppers as usize,
    };
    let results: Vec<Result<()>> = futures_util::stream::iter(0..conns)
        .map(|i| {
            let role = role(i);
            let join = rooms[role.room].clone();
            let meter = meter.clone();
            let side = side.clone();
            async move {
                tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    connect(meter, opts.addr_of(i), role, Some(join), Some(side)),
                )
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")))
                .with_context(|| format!("connection {i}"))
            }
        })
        .buffered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    let members = (0..conns).map(|i| (role(i).room, !role(i).stopper)).collect();
    Ok(Ctx {
        meter: meter.clone(),
        pids: opts.server_pids.clone(),
        redis_pid: opts.redis_pid,
        addr: opts.addr(),
        big,
        layout: Some(layout),
        rooms: rooms.len(),
        side: Some(side),
        members,
    })
}

impl Ctx {
    fn idle(meter: Rc<Meter>, opts: &Options) -> Self {
        Self {
            meter,
            pids: opts.server_pids.clone(),
            redis_pid: opts.redis_pid,
            addr: opts.addr(),
            big: None,
            layout: None,
            rooms: 0,
            side: None,
            members: Vec::new(),
        }
    }

    /// Runs a churn: [`CHURNERS`] clients move from room to room, `rate` moves a second
    /// in all for `secs`, and what every layout connection receives meanwhile (and for
    /// [`CHURN_TAIL`] after) is counted, per connection and second.
    async fn churn(&self, id: u32, name: String, rate: f64, secs: f64) -> Result<PhaseResult> {
        let meter = &self.meter;
        let layout = self.layout.context("a churn needs rooms")?;
        let proto = meter.proto;
        let mut churners = Vec::new();
        for c in 0..CHURNERS {
            churners.push(Churner::connect(proto, self.addr, 1_000_000 + c as usize).await?);
        }
        // Their own arrival is not the churn: let its directory updates pass.
        tokio::time::sleep(SETTLE).await;
        meter.begin(id);
        let pids = &self.pids;
        let mem_start = procfs::mem_all(pids).unwrap_or_default();
        let cpu_start = procfs::cpu_time_all(pids).unwrap_or_default();
        let own_start = procfs::own_cpu_time().unwrap_or_default();
        let bytes_start = meter.bytes.get();
        let errors = Rc::new(Cell::new(0u64));
        let per_churner = rate / f64::from(CHURNERS);
        let ticks = (per_churner * secs).round() as u32;
        let interval = Duration::from_secs_f64(1.0 / per_churner);
        let started = Instant::now();
        let tasks: Vec<_> = churners
            .into_iter()
            .zip(0..)
            .map(|(churner, c)| {
                // Staggered, so the moves are spread evenly over each interval.
                let start = started + interval.mul_f64(f64::from(c) / f64::from(CHURNERS));
                let moves = Moves { rooms: layout.rooms, first: c, step: CHURNERS, ticks, start, interval };
                tokio::task::spawn_local(churner.run(proto, moves, errors.clone()))
            })
            .collect();
        let mut late = Duration::ZERO;
        let mut kept = Vec::new();
        for task in tasks {
            let (l, wr) = task.await.context("a churner panicked")??;
            late = late.max(l);
            kept.push(wr);
        }
        let sending = started.elapsed();
        tokio::time::sleep(CHURN_TAIL).await;
        let window = started.elapsed();
        let cpu = procfs::cpu_time_all(pids).unwrap_or_default().saturating_sub(cpu_start);
        let own = procfs::own_cpu_time().unwrap_or_default().saturating_sub(own_start);
        let mem_end = procfs::mem_all(pids).unwrap_or_default();
        let bytes = meter.bytes.get().saturating_sub(bytes_start);
        drop(kept);
        let late_us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        let health = GenHealth {
            cpu: own.as_secs_f64() / window.as_secs_f64().max(1e-3),
            late_p99_us: 0,
            late_max_us: late_us,
            dropped_sends: 0,
        };
        let closed = meter.closed.get();
        let refused = errors.get();
        // A move a few milliseconds late changes nothing at 50 a second per churner; a
        // schedule that fell behind by a tenth of the phase would offer less than the rate.
        let behind = (sending.as_secs_f64() > secs * 1.1)
            .then(|| format!("the moves took {:.1} s instead of {secs} s", sending.as_secs_f64()));
        let invalid = PhaseResult::judge_generator(&health)
            .or(behind)
            .or_else(|| (refused > 0).then(|| format!("{refused} joins or leaves refused")))
            .or_else(|| (closed > 0).then(|| format!("{closed} connections closed")));
        Ok(PhaseResult {
            name,
            conns: layout.conns(),
            offered: rate,
            secs: window.as_secs_f64(),
            sent: u64::from(ticks) * u64::from(CHURNERS),
            // The window the bytes and the CPU were counted over, not only the sending.
            expected: 0,
            received: 0,
            lossy_receivers: 0,
            rate: 0.0,
            latency: None,
            server: ServerUse {
                cpu_ms: ms(cpu),
                rss_start_kb: mem_start.rss_kb,
                rss_end_kb: mem_end.rss_kb,
                rss_peak_kb: mem_end.rss_kb.max(mem_start.rss_kb),
                hwm_kb: mem_end.hwm_kb,
            },
            cpu_per_delivery_us: None,
            mem_per_conn_bytes: None,
            drain_ms: None,
            generator: health,
            closed,
            errors: refused,
            stale: 0,
            invalid,
            slow_readers: None,
            bytes_per_conn: Some(bytes as f64 / f64::from(layout.conns().max(1)) / window.as_secs_f64()),
            cluster: None,
        })
    }

    /// Runs one phase: sends `load` on schedule, waits for the fan-out to drain (or
    /// `drain_timeout`), and measures.
    async fn phase(&self, id: u32, name: String, load: Load, drain_timeout: Duration) -> Result<PhaseResult> {
        let meter = &self.meter;
        let layout = self.layout.context("phases with traffic need a layout")?;
        let side = self.side.as_ref().context("phases with traffic need senders")?;
        if load.stop_readers {
            // Nobody listening is fine: then there are no stoppers.
            let _ = meter.stop_reading.send(true);
        }
        meter.begin(id);
        let pids = &self.pids;
        let mem_start = procfs::mem_all(pids).unwrap_or_default();
        let peak = Rc::new(Cell::new(mem_start.rss_kb));
        let sampling = Rc::new(Cell::new(true));
        tokio::task::spawn_local(sample_rss(pids.clone(), peak.clone(), sampling.clone()));
        let cpu_start = procfs::cpu_time_all(pids).unwrap_or_default();
        let parts_start = self.cpu_parts();
        let own_start = procfs::own_cpu_time().unwrap_or_default();
        let started = Instant::now();

        let job = Job { phase: id, msgs: load.msgs, msg_rate: load.msg_rate, text_len: layout.text_len };
        let slow = match load.slow {
            Some(ask) => {
                let big = self.big.context("slow readers need a filled room")?;
                // They ask while the senders send, and stop when the sending does.
                let until = started + Duration::from_secs_f64(load.msgs as f64 / load.msg_rate);
                let proto = self.meter.proto;
                let tasks: Vec<_> = (0..ask.readers)
                    .map(|i| {
                        let one =
                            SlowConn { proto, addr: self.addr, big, burst: ask.burst, seed: i as usize };
                        tokio::task::spawn_local(slow_reader(one, until))
                    })
                    .collect();
                Some((big, tasks))
            }
            None => None,
        };
        let sent = side.run(job).await?;
        debug_assert_eq!(sent.per_room.len(), self.rooms);
        let end_send = Instant::now();
        let expected: u64 =
            self.members.iter().filter(|(_, counts)| *counts).map(|(room, _)| sent.per_room[*room]).sum();
        // Wait for every delivery, for a stall, or for the deadline.
        let deadline = end_send + drain_timeout;
        loop {
            let now = Instant::now();
            if meter.delivered.get() >= expected || now >= deadline {
                break;
            }
            let last = meter.last_delivery_us.get().max(meter.at_us(end_send));
            if meter.now_us().saturating_sub(last) > DRAIN_STALL.as_micros() as u64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let ended = Instant::now();
        let cpu = procfs::cpu_time_all(pids).unwrap_or_default().saturating_sub(cpu_start);
        let cluster = self.cluster_use(parts_start);
        let own = procfs::own_cpu_time().unwrap_or_default().saturating_sub(own_start);
        sampling.set(false);
        let mem_end = procfs::mem_all(pids).unwrap_or_default();
        let slow_readers = match slow {
            Some((big, tasks)) => {
                let mut total = SlowReaders { answer_bytes: big.answer_bytes, ..SlowReaders::default() };
                for task in tasks {
                    let one = task.await.context("a slow reader failed")?;
                    total.conns += one.conns;
                    total.requests += one.requests;
                    total.too_slow += one.too_slow;
                    total.kept += one.kept;
                    total.answers += one.answers;
                    total.refused += one.refused;
                    total.failed += one.failed;
                }
                Some(total)
            }
            None => None,
        };

        let received = meter.delivered.get();
        let lossy = {
            let counts = meter.received.borrow();
            self.members
                .iter()
                .zip(counts.iter())
                .filter(|((room, counts_it), got)| *counts_it && **got < sent.per_room[*room])
                .count()
        };
        let last_us = meter.last_delivery_us.get();
        let window_us = last_us.max(meter.at_us(end_send)).saturating_sub(meter.at_us(started)).max(1);
        let health = GenHealth {
            cpu: own.as_secs_f64() / ended.duration_since(started).as_secs_f64().max(1e-3),
            late_p99_us: sent.late.value_at_quantile(0.99),
            late_max_us: sent.late.max(),
            dropped_sends: sent.dropped,
        };
        let cpu_us = cpu.as_secs_f64() * 1e6;
        Ok(PhaseResult {
            name,
            conns: layout.conns(),
            offered: load.offered,
            secs: load.msgs as f64 / load.msg_rate,
            sent: sent.per_room.iter().sum(),
            expected,
            received,
            lossy_receivers: u32::try_from(lossy).unwrap_or(u32::MAX),
            rate: received as f64 / (window_us as f64 / 1e6),
            latency: Latency::of(&meter.latency.borrow()),
            server: ServerUse {
                cpu_ms: cpu_us / 1e3,
                rss_start_kb: mem_start.rss_kb,
                rss_end_kb: mem_end.rss_kb,
                rss_peak_kb: peak.get().max(mem_end.rss_kb),
                hwm_kb: mem_end.hwm_kb,
            },
            cpu_per_delivery_us: (received > 0).then(|| cpu_us / received as f64),
            mem_per_conn_bytes: None,
            drain_ms: (received > 0).then(|| last_us.saturating_sub(meter.at_us(end_send)) as f64 / 1e3),
            invalid: PhaseResult::judge_generator(&health),
            generator: health,
            closed: meter.closed.get(),
            errors: meter.errors.get(),
            stale: meter.stale.get(),
            slow_readers,
            bytes_per_conn: None,
            cluster,
        })
    }

    /// Each node's CPU time and Redis's, when there is more than one process to tell
    /// apart (`None` for a single server).
    fn cpu_parts(&self) -> Option<(Vec<Duration>, Option<Duration>)> {
        if self.pids.len() < 2 && self.redis_pid.is_none() {
            return None;
        }
        let nodes = self.pids.iter().map(|&pid| procfs::cpu_time(pid).unwrap_or_default()).collect();
        Some((nodes, self.redis_pid.map(|pid| procfs::cpu_time(pid).unwrap_or_default())))
    }

    /// What each process of a deployment spent since `start` (from [`Self::cpu_parts`]).
    fn cluster_use(&self, start: Option<(Vec<Duration>, Option<Duration>)>) -> Option<ClusterUse> {
        let (nodes_start, redis_start) = start?;
        let (nodes_end, redis_end) = self.cpu_parts()?;
        let node_cpu_ms =
            nodes_end.iter().zip(&nodes_start).map(|(end, start)| ms(end.saturating_sub(*start))).collect();
        let redis_cpu_ms = redis_end.zip(redis_start).map(|(end, start)| ms(end.saturating_sub(start)));
        Some(ClusterUse { node_cpu_ms, redis_cpu_ms })
    }
}

/// The filled room, as the slow readers ask for it.
#[derive(Debug, Clone, Copy)]
struct Big {
    room: &'static str,
    /// Asking for messages before this id gets the newest page.
    before: u64,
    /// The size of that page's `history` frame.
    answer_bytes: u64,
}

/// Stores `fill.msgs` messages of `fill.text_len` characters in `fill.room` from one
/// connection, then asks for one page of history as the slow readers will, and checks it
/// is as big as the server gives.
async fn fill_room(opts: &Options, fill: Fill) -> Result<Big> {
    let proto = opts.proto;
    ensure!(proto.is_v1_family(), "history needs protocol v1");
    let mut tcp = TcpStream::connect(opts.addr()).await?;
    tcp.set_nodelay(true)?;
    let mut inbox = Inbox::new(Framing::WebSocket);
    let mut outbox = Outbox::new(Framing::WebSocket, usize::MAX);
    crate::conn::upgrade(&mut tcp, &mut inbox, &opts.addr().to_string(), proto).await?;
    let mut setup = Setup { tcp: &mut tcp, inbox: &mut inbox, outbox: &mut outbox };
    setup.greet(proto, Some(fill.room)).await?;
    // No benchmark marker: these are never deliveries of a phase.
    let mut text = "fill ".to_owned();
    text.extend(std::iter::repeat_n('x', fill.text_len.saturating_sub(text.len())));
    // The echoes wait in the server's queue for this connection (about 1 MB, far below
    // its bound) until they are read below.
    for k in 0..fill.msgs {
        setup.send(&proto.say(fill.room, &text, u64::from(k))).await?;
    }
    let mut newest = 0;
    for _ in 0..fill.msgs {
        let frame = loop {
            let frame = setup.next_text().await?;
            ensure!(!proto::v1_is(&frame, "error"), "refused: {}", head(&frame));
            if proto::v1_is(&frame, "message") {
                break frame;
            }
        };
        let id = serde_json::from_str::<serde_json::Value>(&frame)?["id"].as_u64();
        newest = newest.max(id.with_context(|| format!("a message without an id: {}", head(&frame)))?);
    }
    let before = newest + 1;
    let ask = proto.history(fill.room, before, HISTORY_LIMIT).context("history needs protocol v1")?;
    setup.send(&ask).await?;
    let answer = loop {
        let frame = setup.next_text().await?;
        ensure!(!proto::v1_is(&frame, "error"), "history refused: {}", head(&frame));
        if proto::v1_is(&frame, "history") {
            break frame;
        }
    };
    let page: serde_json::Value = serde_json::from_str(&answer)?;
    let got = page["messages"].as_array().map_or(0, Vec::len);
    ensure!(got == HISTORY_LIMIT as usize, "history answered {got} messages, not {HISTORY_LIMIT}");
    Ok(Big { room: fill.room, before, answer_bytes: answer.len() as u64 })
}

/// The start of a frame, for an error message.
fn head(frame: &str) -> &str {
    let mut end = frame.len().min(200);
    while !frame.is_char_boundary(end) {
        end -= 1;
    }
    &frame[..end]
}

/// What a slow reader found when it looked at its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The server's `too_slow`: it dropped the connection.
    TooSlow,
    /// The connection ended without one.
    Closed,
    /// Every request answered, with a page or a refusal (`rate_limited`), and the
    /// connection kept; or still answers coming after [`VERDICT_TIMEOUT`].
    Kept,
}

/// What a slow reader's connections do.
#[derive(Debug, Clone, Copy)]
struct SlowConn {
    proto: Proto,
    addr: SocketAddr,
    big: Big,
    /// Requests sent at once when it connects.
    burst: u32,
    seed: usize,
}

/// One slow reader: connection after connection until `until`, each asking for history
/// without reading for [`SLOW_READER_LIFE`], then looked at.
async fn slow_reader(conn: SlowConn, until: Instant) -> SlowReaders {
    let mut out = SlowReaders::default();
    while Instant::now() < until {
        out.conns += 1;
        let verdict = slow_connection(conn, until, &mut out).await;
        if out.failed == 0 {
            // The first failure of each reader says why, on the suite's terminal.
            match &verdict {
                Err(e) => eprintln!("    slow reader {}: {e:#}", conn.seed),
                Ok(Verdict::Closed) => eprintln!("    slow reader {}: closed without too_slow", conn.seed),
                Ok(_) => {}
            }
        }
        match verdict {
            Ok(Verdict::TooSlow) => out.too_slow += 1,
            Ok(Verdict::Kept) => out.kept += 1,
            Ok(Verdict::Closed) | Err(_) => {
                out.failed += 1;
                // A server that refuses connections must not be hammered in a loop.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    out
}

/// Connects, asks for the big room's history within the default rate limit (a burst,
/// then a steady rate) for [`SLOW_READER_LIFE`] or until `until`, never reading; then
/// reads to learn what the server did with it.
async fn slow_connection(conn: SlowConn, until: Instant, out: &mut SlowReaders) -> Result<Verdict> {
    let SlowConn { proto, addr, big, burst, seed } = conn;
    let socket = TcpSocket::new_v4()?;
    // A small window, as the stoppers have: what it does not read stays in the server.
    socket.set_recv_buffer_size(STOPPER_RCVBUF)?;
    let mut tcp = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(addr)).await??;
    tcp.set_nodelay(true)?;
    let mut inbox = Inbox::new(Framing::WebSocket);
    let mut outbox = Outbox::new(Framing::WebSocket, seed);
    crate::conn::upgrade(&mut tcp, &mut inbox, &addr.to_string(), proto).await?;
    let mut setup = Setup { tcp: &mut tcp, inbox: &mut inbox, outbox: &mut outbox };
    setup.greet(proto, None).await?;
    let ask = proto.history(big.room, big.before, HISTORY_LIMIT).context("history needs protocol v1")?;
    let end = (Instant::now() + SLOW_READER_LIFE).min(until);
    let interval = Duration::from_secs_f64(1.0 / HISTORY_RATE);
    let mut next = Instant::now();
    let mut requests = 0u64;
    // A failed write means the server is gone; what it said is read below either way.
    for _ in 0..burst {
        if setup.send(&ask).await.is_err() {
            break;
        }
        requests += 1;
    }
    loop {
        next += interval;
        if next >= end {
            break;
        }
        tokio::time::sleep_until(next.into()).await;
        if setup.send(&ask).await.is_err() {
            break;
        }
        requests += 1;
    }
    out.requests += requests;
    let (mut answers, mut refused) = (0u64, 0u64);
    let look = async {
        loop {
            let n = setup.tcp.read(setup.inbox.space()).await?;
            if n == 0 {
                return Ok(Verdict::Closed);
            }
            setup.inbox.filled(n);
            let mut seen = None;
            setup.inbox.drain(|msg| match msg {
                Msg::Text(t) if proto.is_too_slow(t) => seen = Some(Verdict::TooSlow),
                Msg::Text(t) if t.starts_with(br#"{"type":"history""#) => answers += 1,
                Msg::Text(t) if proto.is_error(t) && memchr::memmem::find(t, b"rate_limited").is_some() => {
                    refused += 1;
                }
                Msg::Close => {
                    seen.get_or_insert(Verdict::Closed);
                }
                Msg::Text(_) | Msg::Ping(_) => {}
            })?;
            if let Some(v) = seen {
                return Ok::<_, anyhow::Error>(v);
            }
            if answers + refused >= requests {
                return Ok(Verdict::Kept);
            }
        }
    };
    let verdict = tokio::time::timeout(VERDICT_TIMEOUT, look).await.unwrap_or(Ok(Verdict::Kept));
    out.answers += answers;
    out.refused += refused;
    verdict
}

/// Connects `conns` clients that send nothing, `CONNECT_CONCURRENCY` handshakes at a time,
/// each joining `room` when given: one outcome per client.
async fn connect_many(
    meter: &Rc<Meter>,
    addr: SocketAddr,
    conns: u32,
    room: Option<&str>,
) -> Vec<Result<()>> {
    futures_util::stream::iter(0..conns as usize)
        .map(|i| {
            let meter = meter.clone();
            let role = Role { idx: i, room: 0, sender: false, stopper: false };
            let room = room.map(str::to_owned);
            async move {
                tokio::time::timeout(CONNECT_TIMEOUT, connect(meter, addr, role, room, None))
                    .await
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")))
                    .with_context(|| format!("connection {i}"))
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await
}

/// Keeps the largest RSS seen in `peak` until `running` turns false.
async fn sample_rss(pids: Vec<u32>, peak: Rc<Cell<u64>>, running: Rc<Cell<bool>>) {
    let mut tick = tokio::time::interval(MEM_SAMPLE);
    while running.get() {
        tick.tick().await;
        if let Ok(m) = procfs::mem_all(&pids) {
            peak.set(peak.get().max(m.rss_kb));
        }
    }
}

/// Connects `conns` connections that join nothing, and measures the server's RSS growth.
async fn idle(ctx: &Ctx, opts: &Options, conns: u32, result: &mut ScenarioResult) -> Result<PhaseResult> {
    let pids = &ctx.pids;
    let before = procfs::mem_all(pids)?;
    let cpu_start = procfs::cpu_time_all(pids)?;
    let started = Instant::now();
    let outcomes = connect_many(&ctx.meter, opts.addr(), conns, None).await;
    result.setup_ms = ms(started.elapsed());
    let failed = outcomes.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = outcomes.into_iter().find(Result::is_err) {
        bail!("{failed} of {conns} connections failed, the first: {e:#}");
    }
    // Let the server finish whatever it does after a connect (and Node its GC).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = procfs::mem_all(pids)?;
    let cpu = procfs::cpu_time_all(pids)?.saturating_sub(cpu_start);
    let growth = after.rss_kb.saturating_sub(before.rss_kb) as f64 * 1024.0;
    let closed = ctx.meter.closed.get();
    Ok(PhaseResult {
        name: format!("{conns} idle"),
        conns,
        offered: 0.0,
        secs: started.elapsed().as_secs_f64(),
        sent: 0,
        expected: 0,
        received: 0,
        lossy_receivers: 0,
        rate: 0.0,
        latency: None,
        server: ServerUse {
            cpu_ms: ms(cpu),
            rss_start_kb: before.rss_kb,
            rss_end_kb: after.rss_kb,
            rss_peak_kb: after.hwm_kb,
            hwm_kb: after.hwm_kb,
        },
        cpu_per_delivery_us: None,
        mem_per_conn_bytes: Some(growth / f64::from(conns.max(1))),
        drain_ms: None,
        generator: GenHealth::default(),
        closed,
        errors: ctx.meter.errors.get(),
        stale: 0,
        invalid: (closed > 0).then(|| format!("{closed} connections closed")),
        slow_readers: None,
        bytes_per_conn: None,
        cluster: None,
    })
}

/// How long a storm may take in all: past it, the run says how far it got instead of
/// running into the suite's time limit.
const STORM_LIMIT: Duration = Duration::from_secs(150);
/// After the last join of a storm: long enough for the counts (one a second per room) and
/// directory updates (one every 100 ms) it caused to arrive and be counted.
const STORM_TAIL: Duration = Duration::from_millis(1_500);
/// After the last join or leave of a churn, for its last directory update.
const CHURN_TAIL: Duration = Duration::from_millis(300);

/// Connects `conns` clients, `CONNECT_CONCURRENCY` handshakes at a time, each joining
/// [`STORM_ROOM`] if `join`, and measures the time until all are in, what the server sent
/// them (then and through [`STORM_TAIL`]), its CPU and its memory per connection.
async fn storm(
    ctx: &Ctx,
    opts: &Options,
    conns: u32,
    join: bool,
    result: &mut ScenarioResult,
) -> Result<PhaseResult> {
    let pids = &ctx.pids;
    let meter = &ctx.meter;
    let before = procfs::mem_all(pids)?;
    let cpu_start = procfs::cpu_time_all(pids)?;
    let own_start = procfs::own_cpu_time().unwrap_or_default();
    let bytes_start = meter.bytes.get();
    let started = Instant::now();
    let connecting = connect_many(meter, opts.addr(), conns, join.then_some(STORM_ROOM));
    let outcomes = tokio::time::timeout(STORM_LIMIT, connecting).await;
    let elapsed = started.elapsed();
    result.setup_ms = ms(elapsed);
    let cpu_in = procfs::cpu_time_all(pids)?.saturating_sub(cpu_start);
    let own = procfs::own_cpu_time().unwrap_or_default().saturating_sub(own_start);
    let mut invalid = match &outcomes {
        Err(_) => Some(format!("not all in within {} s", STORM_LIMIT.as_secs())),
        Ok(outcomes) => {
            let failed = outcomes.iter().filter(|r| r.is_err()).count();
            outcomes
                .iter()
                .find_map(|r| r.as_ref().err())
                .map(|e| format!("{failed} of {conns} connections failed, the first: {e:#}"))
        }
    };
    tokio::time::sleep(STORM_TAIL).await;
    let after = procfs::mem_all(pids)?;
    let bytes = meter.bytes.get().saturating_sub(bytes_start);
    let closed = meter.closed.get();
    if invalid.is_none() && closed > 0 {
        invalid = Some(format!("{closed} connections closed"));
    }
    let health =
        GenHealth { cpu: own.as_secs_f64() / elapsed.as_secs_f64().max(1e-3), ..GenHealth::default() };
    let growth = after.rss_kb.saturating_sub(before.rss_kb) as f64 * 1024.0;
    Ok(PhaseResult {
        name: PhaseSpec::Storm { conns, join }.name(),
        conns,
        offered: 0.0,
        secs: elapsed.as_secs_f64(),
        sent: 0,
        expected: 0,
        received: 0,
        lossy_receivers: 0,
        rate: f64::from(conns) / elapsed.as_secs_f64().max(1e-6),
        latency: None,
        server: ServerUse {
            // The CPU of the storm itself, not of the quiet tail after it.
            cpu_ms: ms(cpu_in),
            rss_start_kb: before.rss_kb,
            rss_end_kb: after.rss_kb,
            rss_peak_kb: after.hwm_kb,
            hwm_kb: after.hwm_kb,
        },
        cpu_per_delivery_us: None,
        mem_per_conn_bytes: Some(growth / f64::from(conns.max(1))),
        drain_ms: None,
        // The generator's CPU is not judged here: a storm is as fast as the slower side,
        // and the report holds ours against `ws` measured by the same generator.
        generator: health,
        closed,
        errors: meter.errors.get(),
        stale: 0,
        invalid,
        slow_readers: None,
        bytes_per_conn: Some(bytes as f64 / f64::from(conns.max(1))),
        cluster: None,
    })
}

/// The moves of one churner: `ticks` of them, one every `interval` from `start`; move `k`
/// goes to the room numbered from `first + k * step`.
#[derive(Debug, Clone, Copy)]
struct Moves {
    rooms: u32,
    first: u32,
    step: u32,
    ticks: u32,
    start: Instant,
    interval: Duration,
}

/// One client of a churn: joins a room, then at each tick leaves it and joins the next.
struct Churner {
    tcp: TcpStream,
    inbox: Inbox,
    outbox: Outbox,
}

impl Churner {
    async fn connect(proto: Proto, addr: SocketAddr, seed: usize) -> Result<Self> {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let mut inbox = Inbox::new(Framing::WebSocket);
        let mut outbox = Outbox::new(Framing::WebSocket, seed);
        crate::conn::upgrade(&mut tcp, &mut inbox, &addr.to_string(), proto).await?;
        Setup { tcp: &mut tcp, inbox: &mut inbox, outbox: &mut outbox }.greet(proto, None).await?;
        Ok(Self { tcp, inbox, outbox })
    }

    /// Makes its `moves`; what the server answers is read
    /// and dropped (its refusals counted in `errors`). Returns how late the ticks were at
    /// worst, and the socket, kept open until the phase is measured.
    async fn run(
        self,
        proto: Proto,
        moves: Moves,
        errors: Rc<Cell<u64>>,
    ) -> Result<(Duration, OwnedWriteHalf)> {
        let Moves { rooms, first, step, ticks, start, interval } = moves;
        let Self { tcp, mut inbox, mut outbox } = self;
        let (mut rd, mut wr) = tcp.into_split();
        tokio::task::spawn_local(async move {
            while let Ok(n @ 1..) = rd.read(inbox.space()).await {
                inbox.filled(n);
                let drained = inbox.drain(|msg| {
                    if let Msg::Text(t) = msg
                        && proto.is_error(t)
                    {
                        errors.set(errors.get() + 1);
                    }
                });
                if drained.is_err() {
                    break;
                }
            }
        });
        let mut late = Duration::ZERO;
        let mut held: Option<String> = None;
        let mut frames = Vec::new();
        for k in 0..ticks {
            let due = start + interval * k;
            tokio::time::sleep_until(due.into()).await;
            late = late.max(Instant::now().saturating_duration_since(due));
            // A prime step visits every room before any comes back.
            let room = format!("r{}", (first + k * step) as u64 * 7919 % u64::from(rooms));
            frames.clear();
            if let Some(old) = held.take() {
                let leave = proto.leave(&old).context("churn needs our protocol")?;
                frames.extend_from_slice(outbox.frame(ws::op::TEXT, leave.as_bytes()));
            }
            frames.extend_from_slice(outbox.frame(ws::op::TEXT, proto.join(&room).as_bytes()));
            wr.write_all(&frames).await?;
            held = Some(room);
        }
        Ok((late, wr))
    }
}

/// Which connection a task runs, and its part in the scenario.
#[derive(Debug, Clone, Copy)]
struct Role {
    idx: usize,
    room: usize,
    sender: bool,
    /// Stops reading when told.
    stopper: bool,
}

/// Where a connection's pongs go: its own write half, or the senders' thread that owns it.
#[derive(Debug)]
enum Writer {
    Own(OwnedWriteHalf, Outbox),
    Sender(mpsc::Sender<Out>),
}

impl Writer {
    /// Sends a pong; false when the connection is gone.
    async fn pong(&mut self, out: Out) -> bool {
        match self {
            Self::Own(wr, outbox) => {
                let frame = match &out {
                    Out::Text(t) => outbox.frame(ws::op::TEXT, t.as_bytes()),
                    Out::Pong(p) => outbox.frame(ws::op::PONG, p),
                };
                wr.write_all(frame).await.is_ok()
            }
            // A full queue drops this pong; the next ping gets the next one.
            Self::Sender(tx) => !matches!(tx.try_send(out), Err(mpsc::error::TrySendError::Closed(_))),
        }
    }
}

/// Opens one connection, upgrades it, waits for the server's greeting, joins `room` if
/// any, and leaves a task reading it. A sender's write half goes to `side`.
async fn connect(
    meter: Rc<Meter>,
    addr: SocketAddr,
    role: Role,
    room: Option<String>,
    side: Option<SendSide>,
) -> Result<()> {
    let socket = TcpSocket::new_v4()?;
    if role.stopper {
        socket.set_recv_buffer_size(STOPPER_RCVBUF)?;
    }
    let mut tcp = socket.connect(addr).await?;
    tcp.set_nodelay(true)?;
    let proto = meter.proto;
    let framing = if proto == Proto::Line { Framing::Lines } else { Framing::WebSocket };
    let mut inbox = Inbox::new(framing);
    let mut outbox = Outbox::new(framing, role.idx);
    if proto.path().is_some() {
        crate::conn::upgrade(&mut tcp, &mut inbox, &addr.to_string(), proto).await?;
    }
    Setup { tcp: &mut tcp, inbox: &mut inbox, outbox: &mut outbox }.greet(proto, room.as_deref()).await?;
    // From here on `drive` counts what it reads.
    meter.bytes.set(meter.bytes.get() + inbox.total());
    let (rd, wr) = tcp.into_split();
    let writer = match side {
        Some(side) if role.sender => Writer::Sender(side.add(role.room, wr, outbox).await?),
        _ => Writer::Own(wr, outbox),
    };
    tokio::task::spawn_local(drive(meter, role, rd, inbox, writer));
    Ok(())
}

/// Reads a connection until it closes: accounts every message and answers pings.
async fn drive(meter: Rc<Meter>, role: Role, mut rd: OwnedReadHalf, mut inbox: Inbox, mut writer: Writer) {
    let mut stop = meter.stop_reading.subscribe();
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s), if role.stopper => {
                // Hold the socket and never read again, until the process ends.
                std::future::pending::<()>().await;
            }
            n = rd.read(inbox.space()) => {
                match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        inbox.filled(n);
                        meter.bytes.set(meter.bytes.get() + n as u64);
                    }
                }
                let mut ping: Option<Vec<u8>> = None;
                let mut eio_pong = false;
                let mut closed = false;
                let drained = inbox.drain(|msg| match msg {
                    Msg::Text(t) => eio_pong |= meter.on_frame(role.idx, t) == Reply::Pong,
                    Msg::Ping(p) => ping = Some(p.to_vec()),
                    Msg::Close => closed = true,
                });
                if drained.is_err() || closed {
                    break;
                }
                if let Some(p) = ping && !writer.pong(Out::Pong(p)).await {
                    break;
                }
                if eio_pong && !writer.pong(Out::eio_pong()).await {
                    break;
                }
            }
        }
    }
    meter.on_closed();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_count_per_phase_and_connection() {
        let meter = Meter::new(Proto::V1, vec![true, true]);
        meter.begin(1);
        let mut text = String::new();
        proto::body(&mut text, 1, meter.now_us(), 0, 40);
        let frame = format!(r#"{{"type":"message","text":"{text}"}}"#);
        assert_eq!(meter.on_frame(1, frame.as_bytes()), Reply::None);
        assert_eq!(*meter.received.borrow(), [0, 1]);
        assert_eq!(meter.latency.borrow().len(), 1);
        // A late delivery of phase 1 during phase 2 is stale, not a delivery.
        meter.begin(2);
        meter.on_frame(0, frame.as_bytes());
        assert_eq!((meter.delivered.get(), meter.stale.get()), (0, 1));
        meter.on_frame(0, br#"{"type":"error","code":"too_slow"}"#);
        assert_eq!(meter.errors.get(), 1);
    }

    #[test]
    fn socket_io_pings_are_answered() {
        let meter = Meter::new(Proto::SocketIo, vec![true]);
        assert_eq!(meter.on_frame(0, b"2"), Reply::Pong);
        assert_eq!(meter.on_frame(0, b"3"), Reply::None);
    }
}
