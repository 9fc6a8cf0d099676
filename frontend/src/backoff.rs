//! How long to wait before the next connection attempt: exponential backoff with random
//! jitter, capped. A plain value: the caller supplies the random number and does the
//! waiting, so this module holds no timer and no browser API.

/// The first wait, in milliseconds.
const FIRST_MS: f64 = 500.0;
/// No wait is longer than this, jitter included.
pub const CAP_MS: f64 = 10_000.0;
/// Each wait is randomly up to this fraction shorter or longer, so that many clients
/// dropped at once (a server restart) do not all come back in the same instant.
const JITTER: f64 = 0.2;

/// The backoff schedule: 0.5 s, 1, 2, 4, 8, then 10 s, each ±20 %.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// A connection worked: the next wait is short again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The wait before the next attempt, in milliseconds, given `random` in `[0, 1)`.
    pub fn next_delay(&mut self, random: f64) -> f64 {
        // 2^5 * 0.5 s is already past the cap: stop counting there.
        let exp = self.failures.min(5);
        self.failures = self.failures.saturating_add(1);
        let base = (FIRST_MS * f64::from(1u32 << exp)).min(CAP_MS);
        let jitter = 1.0 + JITTER * (2.0 * random.clamp(0.0, 1.0) - 1.0);
        (base * jitter).min(CAP_MS)
    }
}

/// Whole seconds shown in "Reconnecting in N s" while `remaining_ms` are left.
pub fn seconds_left(remaining_ms: f64) -> u32 {
    // Rounded up, so the count never shows 0 while still waiting.
    (remaining_ms / 1000.0).ceil().max(1.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_then_resets() {
        let mut b = Backoff::default();
        let middle: Vec<f64> = (0..8).map(|_| b.next_delay(0.5)).collect();
        assert_eq!(middle, [500.0, 1000.0, 2000.0, 4000.0, 8000.0, 10_000.0, 10_000.0, 10_000.0]);
        b.reset();
        assert_eq!(b.next_delay(0.5), 500.0);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut low = Backoff::default();
        let mut high = Backoff::default();
        assert_eq!(low.next_delay(0.0), 400.0);
        assert_eq!(high.next_delay(1.0), 600.0);
        for _ in 0..10 {
            assert!(high.next_delay(1.0) <= CAP_MS);
            assert!(low.next_delay(0.0) >= 400.0);
        }
    }

    #[test]
    fn countdown_rounds_up() {
        assert_eq!(seconds_left(2400.0), 3);
        assert_eq!(seconds_left(2000.0), 2);
        assert_eq!(seconds_left(1.0), 1);
        assert_eq!(seconds_left(0.0), 1);
    }
}
