//! Summaries of measurements: latency percentiles from an HDR histogram, and the median
//! and spread of one figure across the rounds of a suite. Pure arithmetic, no I/O.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The largest value a latency histogram holds: one minute, in microseconds. Anything
/// slower is recorded as this (saturated), which no scenario gets near when it passes.
pub const MAX_US: u64 = 60_000_000;

/// A histogram of microseconds, 3 significant figures (0.1% error) from 1 us to a minute.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// Records one value in microseconds, clamped into the histogram's range.
pub fn record(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.clamp(1, MAX_US));
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Latency {
    /// The summary of a histogram, or `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        Some(Self {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        })
    }
}

/// One figure across rounds: its median, and the smallest and largest value seen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    /// The spread of `values` (NaN ignored), or `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Some(Self { median, min: v[0], max: v[n - 1], n })
    }

    /// The spread as a share of the median: (max - min) / median.
    pub fn relative(&self) -> f64 {
        if self.median == 0.0 { 0.0 } else { (self.max - self.min) / self.median }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = histogram();
        // 1..=1000 us, once each: p50 is 500, p99 990, p99.9 999, max 1000.
        for us in 1..=1000 {
            record(&mut h, us);
        }
        let l = Latency::of(&h).unwrap();
        assert_eq!(l.count, 1000);
        assert_eq!(l.p50_us, 500);
        assert_eq!(l.p99_us, 990);
        assert_eq!(l.p999_us, 999);
        assert_eq!(l.max_us, 1000);
    }

    #[test]
    fn a_tail_shows_in_the_high_percentiles_only() {
        let mut h = histogram();
        // 0.2% of the values are slow: above p99, below p99.9.
        for _ in 0..9_980 {
            record(&mut h, 200);
        }
        for _ in 0..20 {
            record(&mut h, 50_000);
        }
        let l = Latency::of(&h).unwrap();
        assert_eq!(l.p50_us, 200);
        assert_eq!(l.p99_us, 200);
        // 50 ms within the histogram's 0.1% precision.
        assert!((49_950..=50_050).contains(&l.p999_us), "{l:?}");
        assert!((49_950..=50_050).contains(&l.max_us), "{l:?}");
    }

    #[test]
    fn out_of_range_values_saturate_and_empty_has_no_summary() {
        let mut h = histogram();
        assert_eq!(Latency::of(&h), None);
        record(&mut h, 0);
        record(&mut h, u64::MAX);
        let l = Latency::of(&h).unwrap();
        assert_eq!(l.count, 2);
        assert!(l.max_us >= MAX_US - MAX_US / 1000, "{l:?}");
    }

    #[test]
    fn median_and_spread_across_rounds() {
        let s = Spread::of(&[9.0, 7.0, 8.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (8.0, 7.0, 9.0, 3));
        assert!((s.relative() - 0.25).abs() < 1e-9);
        let even = Spread::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(even.median, 2.5);
        let with_nan = Spread::of(&[f64::NAN, 5.0]).unwrap();
        assert_eq!((with_nan.median, with_nan.n), (5.0, 1));
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[0.0]).unwrap().relative(), 0.0);
    }
}
