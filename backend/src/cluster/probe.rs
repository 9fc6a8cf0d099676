//! The cluster's publish lag, as `chat_redis_publish_lag_seconds` shows it: once a second
//! each node PUBLISHes a probe on [`CHANNEL`] through the connection its messages are
//! published on, and its subscription, which receives the probe as every node receives a
//! published message (behind whatever pushes wait before it), measures how long it took.
//!
//! A node measures only its own probes, on its own monotonic clock: the nodes' clocks may
//! differ by more than the lag itself (NTP keeps machines within milliseconds, a Redis
//! beside them answers in a fraction of one), so a timestamp read on another node's clock
//! would measure the skew. What a message from node A takes to reach node B is A's leg to
//! Redis plus Redis's push to B and B's queue: each node's figure holds both legs of its
//! own, so the worst node's figure bounds the cluster's. A probe of another node is
//! ignored; a lost one is not counted (the histogram's count stops growing: an alert on
//! its rate sees a subscription that stopped receiving).

use std::time::{Duration, Instant};

/// The channel the probes cross.
pub const CHANNEL: &str = "chat:lag";

/// The probe a node publishes: its origin and the time since `start` in microseconds.
pub fn payload(origin: &str, start: Instant) -> String {
    format!("{origin} {}", start.elapsed().as_micros())
}

/// How long this node's probe took to come back (`None` for another node's, or one that
/// cannot be read).
pub fn lag(payload: &str, origin: &str, start: Instant) -> Option<Duration> {
    let (from, sent) = payload.split_once(' ')?;
    if from != origin {
        return None;
    }
    let sent = Duration::from_micros(sent.parse().ok()?);
    Some(start.elapsed().saturating_sub(sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_measures_its_own_probes_only() {
        let start = Instant::now() - Duration::from_secs(10);
        let sent = payload("abc", start);
        std::thread::sleep(Duration::from_millis(5));
        let took = lag(&sent, "abc", start).expect("its own probe");
        assert!(took >= Duration::from_millis(5) && took < Duration::from_secs(5), "{took:?}");
        assert_eq!(lag(&sent, "def", start), None);
        assert_eq!(lag("abc x", "abc", start), None);
    }
}
