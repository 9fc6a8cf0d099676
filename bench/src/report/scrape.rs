//! What a Prometheus scraping `/metrics` every second costs (issue 24): the CPU per
//! delivery of the same load with and without it, as a target.

use super::*;
use crate::scenario::{PhaseSpec, SCRAPE_EVERY, SCRAPE_RATE};

/// The most the scraped phases' CPU per delivery may exceed the others'.
pub const SCRAPE_COST: f64 = 0.02;

impl Report {
    /// The CPU per delivery with `/metrics` scraped against without, as a ratio: the
    /// median over every valid phase of each kind (two of each per round).
    pub(super) fn scrape_target(&self) -> Target {
        let cpu = |scraped: bool| {
            let name = PhaseSpec::Scraped { rate: SCRAPE_RATE, secs: 0.0, scraped }.name();
            self.median(OURS, Scenario::MetricsScrape, &name, |p| p.cpu_per_delivery_us)
        };
        let (with, without) = (cpu(true), cpu(false));
        let more = ratio(with, without).map(|r| r - 1.0);
        Target {
            what: format!(
                "CPU per delivery with /metrics scraped every {} s vs without (1000 members, {})",
                SCRAPE_EVERY.as_secs(),
                rate_name(SCRAPE_RATE)
            ),
            goal: format!("≤ +{:.0}%", SCRAPE_COST * 100.0),
            measured: match (more, with, without) {
                (Some(m), Some(a), Some(b)) => format!("{:+.1}% ({a:.3} µs vs {b:.3} µs)", m * 100.0),
                _ => "–".into(),
            },
            status: Status::of(more, |m| m <= SCRAPE_COST),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{phase, record, report};
    use super::*;

    #[test]
    fn the_cost_of_scraping_is_the_ratio_of_the_two_kinds_of_phase() {
        let name = |scraped| PhaseSpec::Scraped { rate: SCRAPE_RATE, secs: 2.0, scraped }.name();
        let round = |off: f64, on: f64| {
            let phases = [(false, off), (true, on), (false, off), (true, on)]
                .map(|(s, cpu)| phase(&name(s), SCRAPE_RATE, cpu, 2_000))
                .to_vec();
            record(1, OURS, Scenario::MetricsScrape, phases)
        };
        let met = report(vec![round(1.0, 1.01)]).scrape_target();
        assert_eq!(met.status, Status::Met, "{}", met.measured);
        assert!(met.measured.starts_with("+1.0% (1.010 µs vs 1.000 µs)"), "{}", met.measured);
        let missed = report(vec![round(1.0, 1.05)]).scrape_target();
        assert_eq!(missed.status, Status::Missed, "{}", missed.measured);
        assert_eq!(report(vec![]).scrape_target().status, Status::NotMeasured);
    }
}
