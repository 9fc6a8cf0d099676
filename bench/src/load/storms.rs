//! Join storms (at a given number of handshakes in flight) and directory churn.

use super::*;

/// How long a storm may take in all: past it, the run says how far it got instead of
/// running into the suite's time limit.
pub(super) const STORM_LIMIT: Duration = Duration::from_secs(150);
/// After the last join of a storm: long enough for the counts (one a second per room) and
/// directory updates (one every 100 ms) it caused to arrive and be counted.
pub(super) const STORM_TAIL: Duration = Duration::from_millis(1_500);
/// After the last join or leave of a churn, for its last directory update.
pub(super) const CHURN_TAIL: Duration = Duration::from_millis(300);

/// Connects `conns` clients, `concurrency` handshakes at a time, each joining
/// [`STORM_ROOM`] if `join`, and measures the time until all are in, what the server sent
/// them (then and through [`STORM_TAIL`]), its CPU, its memory per connection and the
/// listen queue's overflows meanwhile.
pub(super) async fn storm(
    ctx: &Ctx,
    opts: &Options,
    spec: &PhaseSpec,
    result: &mut ScenarioResult,
) -> Result<PhaseResult> {
    let &PhaseSpec::Storm { conns, join, concurrency } = spec else { bail!("not a storm: {spec:?}") };
    let pids = &ctx.pids;
    let meter = &ctx.meter;
    let before = procfs::mem_all(pids)?;
    let cpu_start = procfs::cpu_time_all(pids)?;
    let own_start = procfs::own_cpu_time().unwrap_or_default();
    let bytes_start = meter.bytes.get();
    let overflows_start = procfs::listen_overflows().ok();
    let started = Instant::now();
    let room = join.then_some(STORM_ROOM);
    let connecting = connect_many(meter, opts.addr(), conns, room, concurrency as usize);
    let outcomes = tokio::time::timeout(STORM_LIMIT, connecting).await;
    let elapsed = started.elapsed();
    result.setup_ms = ms(elapsed);
    let cpu_in = procfs::cpu_time_all(pids)?.saturating_sub(cpu_start);
    let own = procfs::own_cpu_time().unwrap_or_default().saturating_sub(own_start);
    let overflows = overflows_start.zip(procfs::listen_overflows().ok()).map(|(a, b)| b.saturating_sub(a));
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
        name: spec.name(),
        conns,
        offered: 0.0,
        secs: elapsed.as_secs_f64(),
        sent: 0,
        expected: 0,
        received: 0,
        lossy_receivers: 0,
        rate: f64::from(conns) / elapsed.as_secs_f64().max(1e-6),
        latency: None,
        // The CPU of the storm itself, not of the quiet tail after it.
        server: ServerUse::between(ms(cpu_in), &before, &after),
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
        listen_overflows: overflows,
        welcome_bytes: None,
    })
}

/// The moves of one churner: `ticks` of them, one every `interval` from `start`; move `k`
/// goes to the room numbered from `first + k * step`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Moves {
    pub(super) rooms: u32,
    pub(super) first: u32,
    pub(super) step: u32,
    pub(super) ticks: u32,
    pub(super) start: Instant,
    pub(super) interval: Duration,
}

/// One client of a churn: joins a room, then at each tick leaves it and joins the next.
pub(super) struct Churner {
    pub(super) tcp: TcpStream,
    pub(super) inbox: Inbox,
    pub(super) outbox: Outbox,
}

impl Churner {
    pub(super) async fn connect(proto: Proto, addr: SocketAddr, seed: usize) -> Result<Self> {
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
    pub(super) async fn run(
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

/// The bytes of a fresh connection's `welcome` (its payload): the directory as a
/// newcomer gets it.
async fn welcome_bytes(proto: Proto, addr: SocketAddr) -> Result<u64> {
    let mut tcp = TcpStream::connect(addr).await?;
    let mut inbox = Inbox::new(Framing::WebSocket);
    let mut outbox = Outbox::new(Framing::WebSocket, 2_000_000);
    crate::conn::upgrade(&mut tcp, &mut inbox, &addr.to_string(), proto).await?;
    let welcome = Setup { tcp: &mut tcp, inbox: &mut inbox, outbox: &mut outbox }.next_text().await?;
    ensure!(proto::v1_is(&welcome, "welcome"), "expected welcome, got {welcome}");
    Ok(welcome.len() as u64)
}

impl Ctx {
    /// Runs a churn: [`CHURNERS`] clients move from room to room, `rate` moves a second
    /// in all for `secs`, and what every layout connection receives meanwhile (and for
    /// [`CHURN_TAIL`] after) is counted, per connection and second.
    pub(super) async fn churn(&self, id: u32, name: String, rate: f64, secs: f64) -> Result<PhaseResult> {
        let meter = &self.meter;
        let layout = self.layout.context("a churn needs rooms")?;
        let proto = meter.proto;
        let mut churners = Vec::new();
        for c in 0..CHURNERS {
            churners.push(Churner::connect(proto, self.addr, 1_000_000 + c as usize).await?);
        }
        // Their own arrival is not the churn: let its directory updates pass.
        tokio::time::sleep(SETTLE).await;
        let welcome_bytes = match proto {
            Proto::V2 => Some(welcome_bytes(proto, self.addr).await?),
            _ => None,
        };
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
            listen_overflows: None,
            welcome_bytes,
        })
    }
}
