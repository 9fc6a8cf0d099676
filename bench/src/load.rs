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

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};

use crate::conn::{Framing, Inbox, Msg, Outbox, Setup};
use crate::proto::{self, Proto};
use crate::scenario::{GenHealth, Layout, PhaseResult, PhaseSpec, Scenario, ScenarioResult, ServerUse};
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

/// One run of the generator.
#[derive(Debug, Clone)]
pub struct Options {
    pub proto: Proto,
    pub addr: SocketAddr,
    pub server_pid: u32,
    pub scenario: Scenario,
    pub quick: bool,
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
        (None, Some(PhaseSpec::Idle { conns })) => *conns,
        (None, _) => 0,
    };
    let counted: Vec<bool> = match &plan.layout {
        // Stoppers are not counted: what they receive before they stop is not a result.
        Some(l) => (0..l.conns()).map(|i| i < l.conns() - l.stoppers).collect(),
        None => vec![true; conns as usize],
    };
    let meter = Rc::new(Meter::new(opts.proto, counted));
    let ctx = match plan.layout {
        Some(layout) => {
            let started = Instant::now();
            let ctx = connect_layout(&meter, opts, layout).await;
            result.setup_ms = ms(started.elapsed());
            match ctx {
                Ok(ctx) => ctx,
                Err(e) => {
                    result.error = Some(format!("set-up failed: {e:#}"));
                    return result;
                }
            }
        }
        None => Ctx::idle(meter.clone(), opts.server_pid),
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
            PhaseSpec::Steady { rate, secs, stop_readers } => {
                let layout = ctx.layout.expect("steady phases have a layout");
                let msg_rate = rate / f64::from(layout.members);
                let msgs = (msg_rate * secs).round() as u64;
                let load = Load { msgs, msg_rate, offered: *rate, stop_readers: *stop_readers };
                ctx.phase(id, spec.name(), load, drain_timeout(opts.quick)).await
            }
            PhaseSpec::Burst { msgs, secs } => {
                let layout = ctx.layout.expect("bursts have a layout");
                let msg_rate = *msgs as f64 / secs;
                let offered = msg_rate * f64::from(layout.members);
                let load = Load { msgs: *msgs, msg_rate, offered, stop_readers: false };
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
    server_pid: u32,
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
}

async fn connect_layout(meter: &Rc<Meter>, opts: &Options, layout: Layout) -> Result<Ctx> {
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
                tokio::time::timeout(CONNECT_TIMEOUT, connect(meter, opts.addr, role, Some(join), Some(side)))
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
        server_pid: opts.server_pid,
        layout: Some(layout),
        rooms: rooms.len(),
        side: Some(side),
        members,
    })
}

impl Ctx {
    fn idle(meter: Rc<Meter>, server_pid: u32) -> Self {
        Self { meter, server_pid, layout: None, rooms: 0, side: None, members: Vec::new() }
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
        let pid = self.server_pid;
        let mem_start = procfs::mem(pid).unwrap_or_default();
        let peak = Rc::new(Cell::new(mem_start.rss_kb));
        let sampling = Rc::new(Cell::new(true));
        tokio::task::spawn_local(sample_rss(pid, peak.clone(), sampling.clone()));
        let cpu_start = procfs::cpu_time(pid).unwrap_or_default();
        let own_start = procfs::own_cpu_time().unwrap_or_default();
        let started = Instant::now();

        let job = Job { phase: id, msgs: load.msgs, msg_rate: load.msg_rate, text_len: layout.text_len };
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
        let cpu = procfs::cpu_time(pid).unwrap_or_default().saturating_sub(cpu_start);
        let own = procfs::own_cpu_time().unwrap_or_default().saturating_sub(own_start);
        sampling.set(false);
        let mem_end = procfs::mem(pid).unwrap_or_default();

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
        })
    }
}

/// Keeps the largest RSS seen in `peak` until `running` turns false.
async fn sample_rss(pid: u32, peak: Rc<Cell<u64>>, running: Rc<Cell<bool>>) {
    let mut tick = tokio::time::interval(MEM_SAMPLE);
    while running.get() {
        tick.tick().await;
        if let Ok(m) = procfs::mem(pid) {
            peak.set(peak.get().max(m.rss_kb));
        }
    }
}

/// Connects `conns` connections that join nothing, and measures the server's RSS growth.
async fn idle(ctx: &Ctx, opts: &Options, conns: u32, result: &mut ScenarioResult) -> Result<PhaseResult> {
    let pid = ctx.server_pid;
    let before = procfs::mem(pid)?;
    let cpu_start = procfs::cpu_time(pid)?;
    let started = Instant::now();
    let outcomes: Vec<Result<()>> = futures_util::stream::iter(0..conns as usize)
        .map(|i| {
            let meter = ctx.meter.clone();
            let role = Role { idx: i, room: 0, sender: false, stopper: false };
            async move {
                tokio::time::timeout(CONNECT_TIMEOUT, connect(meter, opts.addr, role, None, None))
                    .await
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")))
                    .with_context(|| format!("connection {i}"))
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    result.setup_ms = ms(started.elapsed());
    let failed = outcomes.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = outcomes.into_iter().find(Result::is_err) {
        bail!("{failed} of {conns} connections failed, the first: {e:#}");
    }
    // Let the server finish whatever it does after a connect (and Node its GC).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = procfs::mem(pid)?;
    let cpu = procfs::cpu_time(pid)?.saturating_sub(cpu_start);
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
    })
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
    if let Some(path) = proto.path() {
        crate::conn::upgrade(&mut tcp, &mut inbox, &addr.to_string(), path).await?;
    }
    Setup { tcp: &mut tcp, inbox: &mut inbox, outbox: &mut outbox }.greet(proto, room.as_deref()).await?;
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
                    Ok(n) => inbox.filled(n),
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
