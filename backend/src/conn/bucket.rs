//! A connection's rate limit: a token bucket, one token per frame, with big answers of
//! stored history charged by their size.

use tokio::time::Instant;

/// The bytes of stored history a request may be answered with for the price of one frame.
const BYTES_PER_TOKEN: usize = 32 * 1024;

/// A token bucket: `rate` frames a second, bursts up to twice that.
#[derive(Debug)]
pub(super) struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(super) fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Self { rate, tokens: rate * 2.0, last: Instant::now() }
    }

    /// Charges what a request sent from the store, one token per [`BYTES_PER_TOKEN`]: a
    /// page of short messages costs nothing more, but a client asking for page after page
    /// of 4000-character messages gets about one a second, not forty at once. The debt is
    /// bounded, so one huge answer never locks a client out for long.
    pub(super) fn charge(&mut self, bytes: usize) {
        let tokens = (bytes / BYTES_PER_TOKEN) as f64;
        self.tokens = (self.tokens - tokens).max(-self.rate * 2.0);
    }

    pub(super) fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate * 2.0);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn big_answers_are_charged_by_their_size() {
        let mut b = TokenBucket::new(20);
        assert!(b.take());
        // A page of 200 messages of 4000 characters: 25 tokens more.
        b.charge(800 * 1024);
        assert_eq!((0..40).filter(|_| b.take()).count(), 14);
        // A page of short messages costs nothing more.
        tokio::time::advance(Duration::from_secs(2)).await;
        b.charge(10 * 1024);
        assert_eq!((0..60).filter(|_| b.take()).count(), 40);
        // The debt is bounded: twice a second's worth at most.
        b.charge(100 * 1024 * 1024);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(b.take());
    }

    #[tokio::test(start_paused = true)]
    async fn token_bucket_allows_bursts_then_the_rate() {
        let mut b = TokenBucket::new(5);
        assert_eq!((0..20).filter(|_| b.take()).count(), 10);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!((0..20).filter(|_| b.take()).count(), 5);
    }
}
