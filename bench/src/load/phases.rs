//! The phases: a phase of traffic sent on schedule and measured, and the idle connections.

use super::*;

/// The traffic of one phase.
#[derive(Debug, Clone, Copy)]
pub(super) struct Load {
    pub(super) msgs: u64,
    pub(super) msg_rate: f64,
    pub(super) offered: f64,
    pub(super) stop_readers: bool,
    /// Clients that ask for the filled room's history meanwhile and never read.
    pub(super) slow: Option<SlowAsk>,
}

impl Ctx {
    /// Runs one phase: sends `load` on schedule, waits for the fan-out to drain (or
    /// `drain_timeout`), and measures.
    pub(super) async fn phase(
        &self,
        id: u32,
        name: String,
        load: Load,
        drain_timeout: Duration,
    ) -> Result<PhaseResult> {
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
            listen_overflows: None,
            welcome_bytes: None,
        })
    }
}

/// Connects `conns` connections that join nothing, and measures the server's RSS growth.
pub(super) async fn idle(
    ctx: &Ctx,
    opts: &Options,
    conns: u32,
    result: &mut ScenarioResult,
) -> Result<PhaseResult> {
    let pids = &ctx.pids;
    let before = procfs::mem_all(pids)?;
    let cpu_start = procfs::cpu_time_all(pids)?;
    let started = Instant::now();
    let outcomes = connect_many(&ctx.meter, opts.addr(), conns, None, CONNECT_CONCURRENCY).await;
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
        server: ServerUse::between(ms(cpu), &before, &after),
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
        listen_overflows: None,
        welcome_bytes: None,
    })
}
