//! What one run of a scenario measured: each phase's [`PhaseResult`] (the server's and the
//! cluster's use of the machine, the slow readers, the load generator's own health) and the
//! run's [`ScenarioResult`], which the load generator prints as JSON for the suite.

use serde::{Deserialize, Serialize};

use super::{GEN_CPU_LIMIT, GEN_LATE_P99_LIMIT_US, STEP_P99_LIMIT_US, Scenario};
use crate::stats::Latency;

/// The server's use of the machine during a phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerUse {
    /// CPU time (user + system, every thread) spent during the phase.
    pub cpu_ms: f64,
    pub rss_start_kb: u64,
    pub rss_end_kb: u64,
    /// The largest RSS sampled (every 20 ms) during the phase.
    pub rss_peak_kb: u64,
    /// VmHWM at the end: the peak since the server started.
    pub hwm_kb: u64,
}

impl ServerUse {
    /// A phase's use measured by its memory before and after (no sampling in between: the
    /// peak is the high-water mark at the end) and the CPU spent.
    pub fn between(cpu_ms: f64, before: &crate::procfs::Mem, after: &crate::procfs::Mem) -> Self {
        Self {
            cpu_ms,
            rss_start_kb: before.rss_kb,
            rss_end_kb: after.rss_kb,
            rss_peak_kb: after.hwm_kb,
            hwm_kb: after.hwm_kb,
        }
    }
}

/// What the slow readers of a phase met. Each opens a connection, asks for history
/// (a burst of requests at once, then `HISTORY_RATE` per second) without reading for
/// about a second, then reads what is there to learn whether the server dropped it, and
/// starts over with a new connection until the phase's sending ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlowReaders {
    /// Their connections during the phase.
    pub conns: u32,
    /// `history` requests they sent.
    pub requests: u64,
    /// Connections the server dropped with `too_slow` (the bound in bytes).
    pub too_slow: u32,
    /// Connections the server kept: when read, every request had its answer, a page or a
    /// refusal (or answers were still coming after a while).
    pub kept: u32,
    /// Pages of history they were sent (each one the server read and encoded)...
    #[serde(default)]
    pub answers: u64,
    /// ...and requests refused with `rate_limited` instead.
    #[serde(default)]
    pub refused: u64,
    /// Connections refused, or closed without `too_slow`.
    pub failed: u32,
    /// The size of one answer as read once before the phases, in bytes.
    pub answer_bytes: u64,
}

/// The generator's own health during a phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct GenHealth {
    /// Its CPU time over wall time (1.0 = its whole core).
    pub cpu: f64,
    /// How late its sends were against the schedule.
    pub late_p99_us: u64,
    pub late_max_us: u64,
    /// Sends refused because a sender's queue was full (the generator fell behind).
    pub dropped_sends: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseResult {
    pub name: String,
    pub conns: u32,
    /// Offered deliveries per second (messages per second times room members).
    pub offered: f64,
    pub secs: f64,
    pub sent: u64,
    /// Deliveries due to the receivers that read (stoppers excluded).
    pub expected: u64,
    pub received: u64,
    /// Receivers that got fewer messages than were sent to their room.
    pub lossy_receivers: u32,
    /// Deliveries per second actually received, over the sending window and the drain.
    pub rate: f64,
    pub latency: Option<Latency>,
    pub server: ServerUse,
    pub cpu_per_delivery_us: Option<f64>,
    /// Idle phases: the server's RSS growth per connection, in bytes.
    pub mem_per_conn_bytes: Option<f64>,
    /// From the last send to the last delivery.
    pub drain_ms: Option<f64>,
    pub generator: GenHealth,
    /// Connections the server closed (or that failed) by the end of the phase.
    pub closed: u32,
    /// Error frames received (`rate_limited`, `too_slow`, ...).
    pub errors: u64,
    /// Deliveries of an earlier phase that came after that phase gave up waiting.
    pub stale: u64,
    /// Why this phase does not measure the server, if it does not.
    pub invalid: Option<String>,
    /// The slow readers of history, in the phases that have them.
    #[serde(default)]
    pub slow_readers: Option<SlowReaders>,
    /// Storms: bytes the server sent per connection (the upgrade's answer, `welcome`,
    /// `joined`, and every `presence`, count or directory update the storm caused, until
    /// a second after the last join). Churn: bytes per connection per second.
    #[serde(default)]
    pub bytes_per_conn: Option<f64>,
    /// A deployment of several processes (`--redis` nodes and their Redis): each one's
    /// share of the CPU. `server.cpu_ms` and `cpu_per_delivery_us` are the nodes' sum.
    #[serde(default)]
    pub cluster: Option<ClusterUse>,
    /// Storms: connections the kernel dropped because a listen queue was full
    /// (`TcpExtListenOverflows`, counted for the whole machine over the phase).
    #[serde(default)]
    pub listen_overflows: Option<u64>,
    /// Churn: the bytes of a fresh version 2 connection's `welcome` before the churn (the
    /// directory as a newcomer gets it). Reconnect: the largest `welcome` any client got
    /// when it came back.
    #[serde(default)]
    pub welcome_bytes: Option<u64>,
}

/// Where the CPU of a deployment went during a phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterUse {
    /// Each node's CPU time (user + system), in the order of the generator's addresses.
    pub node_cpu_ms: Vec<f64>,
    /// Redis's CPU time over the same window, when the deployment has one.
    pub redis_cpu_ms: Option<f64>,
}

impl ClusterUse {
    /// Redis's CPU per delivery, in microseconds.
    pub fn redis_per_delivery_us(&self, received: u64) -> Option<f64> {
        let ms = self.redis_cpu_ms?;
        (received > 0).then(|| ms * 1e3 / received as f64)
    }
}

impl PhaseResult {
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }

    /// Whether the server kept up: valid, nothing lost, p99 within the step limit.
    pub fn sustained(&self) -> bool {
        self.invalid.is_none()
            && self.lost() == 0
            && self.latency.is_some_and(|l| l.p99_us <= STEP_P99_LIMIT_US)
    }

    /// Whether this phase is invalid only because the generator's CPU was at its limit: it
    /// sent on schedule and dropped nothing, it was just busy reading. In a burst, a reader
    /// that is slow can only make the server hold more for longer, so such a phase's drain
    /// time, latency, loss and memory are upper bounds of the server's own (its CPU per
    /// delivery is not: a slow reader lets the server coalesce more).
    pub fn generator_busy_only(&self) -> bool {
        self.invalid.is_some()
            && self.closed == 0
            && Self::judge_generator(&GenHealth { cpu: 0.0, ..self.generator }).is_none()
            && self.generator.cpu > GEN_CPU_LIMIT
    }

    /// The reason the generator, not the server, limited this phase.
    pub fn judge_generator(generator: &GenHealth) -> Option<String> {
        if generator.cpu > GEN_CPU_LIMIT {
            return Some(format!(
                "load generator CPU {:.0}% > {:.0}%",
                generator.cpu * 100.0,
                GEN_CPU_LIMIT * 100.0
            ));
        }
        if generator.late_p99_us > GEN_LATE_P99_LIMIT_US {
            return Some(format!(
                "sends {:.1} ms late at p99 > {} ms",
                generator.late_p99_us as f64 / 1e3,
                GEN_LATE_P99_LIMIT_US / 1000
            ));
        }
        if generator.dropped_sends > 0 {
            return Some(format!("{} sends dropped by the load generator", generator.dropped_sends));
        }
        None
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    /// Time to connect (and join) every connection.
    pub setup_ms: f64,
    pub phases: Vec<PhaseResult>,
    /// Set when the run broke off (a connection refused, a timeout).
    pub error: Option<String>,
}
