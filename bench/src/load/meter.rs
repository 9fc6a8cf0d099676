//! Measurement: the receivers' shared counters and clocks, the servers' CPU per process
//! and their memory, sampled.

use super::*;

/// What the receivers share: the phase being measured and its counters.
#[derive(Debug)]
pub(super) struct Meter {
    pub(super) proto: Proto,
    /// The generator's clock: send times in the texts are microseconds since this.
    pub(super) base: Instant,
    pub(super) phase: Cell<u32>,
    /// Whether each connection's deliveries count (stoppers' do not).
    pub(super) counted: Vec<bool>,
    /// Deliveries of the current phase, per connection.
    pub(super) received: RefCell<Vec<u64>>,
    pub(super) delivered: Cell<u64>,
    pub(super) latency: RefCell<Histogram<u64>>,
    pub(super) last_delivery_us: Cell<u64>,
    pub(super) stale: Cell<u64>,
    pub(super) errors: Cell<u64>,
    pub(super) closed: Cell<u32>,
    /// Bytes the server sent to the connections, from the upgrade on.
    pub(super) bytes: Cell<u64>,
    /// Set to true to make the stoppers stop reading.
    pub(super) stop_reading: watch::Sender<bool>,
}

/// What a connection must do after a frame.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reply {
    None,
    /// Answer an Engine.IO ping.
    Pong,
}

impl Meter {
    pub(super) fn new(proto: Proto, counted: Vec<bool>) -> Self {
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

    pub(super) fn now_us(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    pub(super) fn at_us(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX)
    }

    pub(super) fn begin(&self, phase: u32) {
        self.received.borrow_mut().fill(0);
        self.delivered.set(0);
        self.latency.borrow_mut().reset();
        self.last_delivery_us.set(0);
        self.phase.set(phase);
    }

    /// Accounts one received frame of connection `idx`.
    pub(super) fn on_frame(&self, idx: usize, frame: &[u8]) -> Reply {
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

    pub(super) fn on_closed(&self) {
        self.closed.set(self.closed.get() + 1);
    }
}

impl Ctx {
    /// Each node's CPU time and Redis's, when there is more than one process to tell
    /// apart (`None` for a single server).
    pub(super) fn cpu_parts(&self) -> Option<(Vec<Duration>, Option<Duration>)> {
        if self.pids.len() < 2 && self.redis_pid.is_none() {
            return None;
        }
        let nodes = self.pids.iter().map(|&pid| procfs::cpu_time(pid).unwrap_or_default()).collect();
        Some((nodes, self.redis_pid.map(|pid| procfs::cpu_time(pid).unwrap_or_default())))
    }

    /// What each process of a deployment spent since `start` (from [`Self::cpu_parts`]).
    pub(super) fn cluster_use(&self, start: Option<(Vec<Duration>, Option<Duration>)>) -> Option<ClusterUse> {
        let (nodes_start, redis_start) = start?;
        let (nodes_end, redis_end) = self.cpu_parts()?;
        let node_cpu_ms =
            nodes_end.iter().zip(&nodes_start).map(|(end, start)| ms(end.saturating_sub(*start))).collect();
        let redis_cpu_ms = redis_end.zip(redis_start).map(|(end, start)| ms(end.saturating_sub(start)));
        Some(ClusterUse { node_cpu_ms, redis_cpu_ms })
    }
}

/// Keeps the largest RSS seen in `peak` until `running` turns false.
pub(super) async fn sample_rss(pids: Vec<u32>, peak: Rc<Cell<u64>>, running: Rc<Cell<bool>>) {
    let mut tick = tokio::time::interval(MEM_SAMPLE);
    while running.get() {
        tick.tick().await;
        if let Ok(m) = procfs::mem_all(&pids) {
            peak.set(peak.get().max(m.rss_kb));
        }
    }
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
