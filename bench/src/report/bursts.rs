//! Bursts and slow readers: a burst's drain time and memory, slow readers of history
//! (ratios within each run), and members that stop reading.

use std::fmt::Write;

use super::*;

/// A burst of 500 messages within a second: drain time, latency, loss and memory.
pub(super) fn burst(r: &Report, out: &mut String) {
    let _ = writeln!(out, "## Burst: 500 messages within 1 s to one room of 1000 members\n");
    let mut rows = Vec::new();
    for phase in r.phase_names(Scenario::Burst) {
        for server in &r.servers {
            let runs = r.runs(server, Scenario::Burst, &phase);
            if runs.is_empty() {
                continue;
            }
            let fig = |f: fn(&PhaseResult) -> Option<f64>| r.burst_figure(server, &phase, f);
            let drain = fig(|p| p.drain_ms);
            let mut valid = validity(&runs);
            if drain.is_some_and(|(_, bound)| bound == Bound::AtMost) {
                let busy = runs.iter().filter(|p| p.generator_busy_only()).count();
                let _ = write!(valid, "; {busy} with the generator busy: figures are upper bounds");
            }
            rows.push(vec![
                server.clone(),
                show_bound(drain, 1.0, 0),
                show_bound(fig(|p| p.latency.map(|l| l.p99_us as f64)), 1e-3, 1),
                show_bound(fig(|p| p.latency.map(|l| l.max_us as f64)), 1e-3, 1),
                show_bound(fig(|p| Some(p.lost() as f64)), 1.0, 0),
                // Before the burst, the generator's load had no part in it.
                show(fig(|p| Some(p.server.rss_start_kb as f64)).map(|(s, _)| s), 1.0 / 1024.0, 1),
                show_bound(fig(|p| Some(p.server.rss_peak_kb as f64)), 1.0 / 1024.0, 1),
                show_bound(fig(|p| Some(growth_mb(p))), 1.0, 1),
                // Not bounded by a busy reader (it lets the server coalesce more): valid rounds only.
                show(r.figure(server, Scenario::Burst, &phase, |p| p.cpu_per_delivery_us), 1.0, 2),
                valid,
            ]);
        }
    }
    table(
        out,
        &[
            "server",
            "drain ms (last send → last delivery)",
            "p99 ms",
            "max ms",
            "lost",
            "RSS before MB",
            "RSS peak MB",
            "growth MB",
            "CPU µs/delivery",
            "valid rounds",
        ],
        &rows,
    );
}

/// The rounds of the slow-history scenario on `server`, each as its phase without the slow
/// readers and its phase named `with`, from the same run of the same server.
fn slow_history_rounds<'a>(
    r: &'a Report,
    server: &str,
    with: &str,
) -> Vec<(&'a PhaseResult, &'a PhaseResult)> {
    r.results(server, Scenario::SlowHistory)
        .into_iter()
        .filter_map(|res| {
            let without = res.phases.iter().find(|p| p.slow_readers.is_none())?;
            let with = res.phases.iter().find(|p| p.name == with)?;
            Some((without, with))
        })
        .collect()
}

/// A figure of the rounds of slow-history where both phases are valid.
fn paired(
    rounds: &[(&PhaseResult, &PhaseResult)],
    f: impl Fn(&PhaseResult, &PhaseResult) -> Option<f64>,
) -> Option<Spread> {
    let values: Vec<f64> = rounds
        .iter()
        .filter(|(a, b)| a.invalid.is_none() && b.invalid.is_none())
        .filter_map(|(a, b)| f(a, b))
        .collect();
    Spread::of(&values)
}

fn p99_ms(p: &PhaseResult) -> Option<f64> {
    p.latency.map(|l| l.p99_us as f64 / 1e3)
}

fn peak_mb(p: &PhaseResult) -> f64 {
    p.server.rss_peak_kb as f64 / 1024.0
}

/// The slow readers asking for big answers: the server's memory and the members' latency
/// with them against without them, as ratios within each run, and what became of them.
pub(super) fn slow_history(r: &Report, out: &mut String) {
    let phases: Vec<String> = r
        .records
        .iter()
        .filter(|rec| rec.result.scenario == Scenario::SlowHistory)
        .flat_map(|rec| rec.result.phases.iter().filter(|p| p.slow_readers.is_some()))
        .map(|p| p.name.clone())
        .fold(Vec::new(), |mut names, name| {
            if !names.contains(&name) {
                names.push(name);
            }
            names
        });
    let mut rows = Vec::new();
    let mut answer_kb = None;
    for phase in &phases {
        for server in &r.servers {
            let rounds = slow_history_rounds(r, server, phase);
            if rounds.is_empty() {
                continue;
            }
            answer_kb = answer_kb.or_else(|| {
                rounds.iter().find_map(|(_, with)| with.slow_readers.map(|s| s.answer_bytes as f64 / 1024.0))
            });
            let slow = |f: fn(&crate::scenario::SlowReaders) -> u32| {
                paired(&rounds, |_, with| with.slow_readers.map(|s| f64::from(f(&s))))
            };
            let per_conn = |f: fn(&crate::scenario::SlowReaders) -> u64| {
                paired(&rounds, |_, with| {
                    with.slow_readers.filter(|s| s.conns > 0).map(|s| f(&s) as f64 / f64::from(s.conns))
                })
            };
            let valid = rounds.iter().filter(|(a, b)| a.invalid.is_none() && b.invalid.is_none()).count();
            let why = rounds.iter().find_map(|(a, b)| a.invalid.as_ref().or(b.invalid.as_ref()));
            rows.push(vec![
                phase.clone(),
                server.clone(),
                show(paired(&rounds, |a, _| p99_ms(a)), 1.0, 2),
                show(paired(&rounds, |_, b| p99_ms(b)), 1.0, 2),
                show(paired(&rounds, |a, b| ratio(p99_ms(b), p99_ms(a))), 1.0, 2),
                show(paired(&rounds, |_, b| Some(b.lost() as f64)), 1.0, 0),
                show(paired(&rounds, |a, _| Some(peak_mb(a))), 1.0, 1),
                show(paired(&rounds, |_, b| Some(peak_mb(b))), 1.0, 1),
                show(paired(&rounds, |a, b| Some(peak_mb(b) - peak_mb(a))), 1.0, 1),
                show(paired(&rounds, |_, b| Some(growth_mb(b))), 1.0, 1),
                show(slow(|s| s.conns), 1.0, 0),
                show(slow(|s| s.too_slow), 1.0, 0),
                show(slow(|s| s.kept), 1.0, 0),
                show(per_conn(|s| s.answers), 1.0, 1),
                show(per_conn(|s| s.refused), 1.0, 1),
                show(slow(|s| s.failed), 1.0, 0),
                match why {
                    None => format!("{valid}/{}", rounds.len()),
                    Some(why) => format!("{valid}/{} ({why})", rounds.len()),
                },
            ]);
        }
    }
    if rows.is_empty() {
        return;
    }
    let answer_kb = answer_kb.unwrap_or(0.0);
    let bound_mb = f64::from(SLOW_READERS) * DEFAULT_QUEUE_BYTES / 1024.0 / 1024.0;
    let _ = writeln!(
        out,
        "## Slow readers asking for big answers: {SLOW_READERS} clients that never read ask for \
         history during 20k deliveries/s to one room of 1000\n\n\
         A room is first filled with messages of 4000 characters; one `history` answer holds \
         {HISTORY_LIMIT} of them, {answer_kb:.0} KB. Each slow reader connects with a small receive \
         window and asks, within the default rate limit: in one phase {HISTORY_BURST} requests at once \
         (the limit's burst, {:.0} MB of answers) then {HISTORY_RATE:.0} a second, in the other \
         {HISTORY_RATE:.0} a second only. It reads nothing for a second, then reads to learn whether the \
         server dropped it with `too_slow`, and starts again on a new connection until the phase ends. \
         Before them, the same run measures the same load without them: latency and loss are the 1000 \
         members', and each ratio is taken within one run. The server's default `--queue-bytes` \
         (4 MiB) lets {SLOW_READERS} slow readers hold {bound_mb:.0} MB of answers at most. \
         A slow reader's connection ends one of three ways: \"dropped as too_slow\" by the bound in \
         bytes; \"kept\" when, read at last, every request it sent had its answer, a page or a \
         refusal (`rate_limited`: the server refuses `history` while the last page it sent is \
         still unread), or answers were still coming 3 s after it stopped asking; \"failed\" when \
         refused or closed without `too_slow`. \"Pages sent\" counts, per connection, the pages the \
         server read, encoded and sent (its cost), \"refused\" the requests it answered with \
         `rate_limited` instead.\n",
        f64::from(HISTORY_BURST) * answer_kb / 1024.0,
    );
    table(
        out,
        &[
            "phase",
            "server",
            "p99 ms without",
            "p99 ms with",
            "p99 with / without",
            "lost with",
            "RSS peak MB without",
            "RSS peak MB with",
            "peak with − without MB",
            "growth within the phase MB",
            "slow-reader connections",
            "dropped as too_slow",
            "kept",
            "pages sent / connection",
            "refused / connection",
            "failed",
            "valid rounds",
        ],
        &rows,
    );
}

/// Slow readers: 10 of 1000 members stop reading; the others' latency and loss.
pub(super) fn slow_readers(r: &Report, out: &mut String) {
    let _ = writeln!(
        out,
        "## Slow readers: 10 of 1000 members stop reading (4000-byte texts, 20k deliveries/s)\n\n\
         The second phase runs after the 10 stopped; latency and loss are those of the 990 that read.\n"
    );
    let mut rows = Vec::new();
    for phase in r.phase_names(Scenario::Slow) {
        for server in &r.servers {
            let runs = r.runs(server, Scenario::Slow, &phase);
            if runs.is_empty() {
                continue;
            }
            let fig = |f: fn(&PhaseResult) -> Option<f64>| r.figure(server, Scenario::Slow, &phase, f);
            rows.push(vec![
                phase.clone(),
                server.clone(),
                show(fig(|p| p.latency.map(|l| l.p99_us as f64)), 1e-3, 2),
                show(fig(|p| p.latency.map(|l| l.max_us as f64)), 1e-3, 1),
                show(fig(|p| Some(p.lost() as f64)), 1.0, 0),
                show(fig(|p| Some(f64::from(p.closed))), 1.0, 0),
                show(fig(|p| Some(p.server.rss_start_kb as f64)), 1.0 / 1024.0, 1),
                show(fig(|p| Some(p.server.rss_end_kb as f64)), 1.0 / 1024.0, 1),
                validity(&runs),
            ]);
        }
    }
    table(
        out,
        &[
            "phase",
            "server",
            "p99 ms",
            "max ms",
            "lost",
            "connections closed",
            "RSS start MB",
            "RSS end MB",
            "valid rounds",
        ],
        &rows,
    );
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;

    /// Three burst rounds of ours, each changed by `f`.
    fn burst_rounds(f: impl Fn(&mut PhaseResult)) -> Report {
        let records = (1..=3)
            .map(|round| {
                let mut p = phase("500 msgs in 1 s", 500_000.0, 2.0, 9_000);
                p.drain_ms = Some(f64::from(round) * 4.0);
                f(&mut p);
                record(round, OURS, Scenario::Burst, vec![p])
            })
            .collect();
        report(records)
    }

    #[test]
    fn a_burst_the_generator_was_only_busy_reading_gives_upper_bounds() {
        let busy = |p: &mut PhaseResult| {
            p.generator.cpu = 0.94;
            p.invalid = PhaseResult::judge_generator(&p.generator);
        };
        let r = burst_rounds(busy);
        let t = r.targets();
        let drain = target(&t, "drain time");
        assert!(drain.measured.starts_with("≤ 8 ms, 0 lost (upper bound"), "{}", drain.measured);
        assert_eq!(drain.status, Status::Met);
        assert_eq!(
            target(&t, "extra memory").measured,
            "≤ 10.0 MB (upper bound: the generator was at its CPU limit in every round)"
        );
        let md = render(&r);
        assert!(
            md.contains("| ours | ≤ 8 (4–12) | ≤ 9.0 | ≤ 27.0 | ≤ 0 | 10.0 | ≤ 20.0 | ≤ 10.0 | – | 0/3"),
            "{md}"
        );
        assert!(md.contains("3 with the generator busy: figures are upper bounds"), "{md}");

        // One valid round: only it counts, exactly.
        let r = burst_rounds(|p| {
            if p.drain_ms != Some(8.0) {
                busy(p);
            }
        });
        assert_eq!(target(&r.targets(), "drain time").measured, "8 ms, 0 lost");

        // Late sends spread the burst out: no bound then.
        let r = burst_rounds(|p| {
            busy(p);
            p.generator.late_p99_us = 6_000;
        });
        assert_eq!(target(&r.targets(), "drain time").status, Status::NotMeasured);
        assert_eq!(target(&r.targets(), "extra memory").status, Status::NotMeasured);
    }

    /// One round of slow-history: members' p99 and the server's peak RSS (MB) without and
    /// with bursting slow readers, how many of their connections were dropped, and a
    /// phase of steady slow readers that fill their queues (40 MB more, the same p99).
    fn slow_history_round(round: u32, without: (u64, u64), with: (u64, u64), dropped: u32) -> Record {
        let at = |name: &str, p99_us: u64, peak_mb: u64| {
            let mut p = phase(name, 20_000.0, 2.0, p99_us);
            p.server.rss_peak_kb = peak_mb * 1024;
            p
        };
        let slow = |too_slow: u32, kept: u32| crate::scenario::SlowReaders {
            conns: 30,
            requests: 1800,
            too_slow,
            kept,
            failed: 30 - too_slow - kept,
            answer_bytes: 820_000,
            answers: 150,
            refused: 1650,
        };
        let base = at("20k/s", without.0, without.1);
        let mut bursts = at("20k/s + 10 slow readers, bursts of 40 history", with.0, with.1);
        bursts.slow_readers = Some(slow(dropped, 30 - dropped));
        let mut steady = at("20k/s + 10 slow readers, 20 history/s", without.0, without.1 + 40);
        steady.slow_readers = Some(slow(20, 9));
        record(round, OURS, Scenario::SlowHistory, vec![base, bursts, steady])
    }

    #[test]
    fn slow_readers_of_history_are_compared_within_each_run() {
        let mut records = vec![
            slow_history_round(1, (2_000, 20), (3_000, 30), 30),
            slow_history_round(2, (2_000, 20), (2_200, 22), 30),
            slow_history_round(3, (4_000, 40), (4_400, 44), 28),
        ];
        let md = render(&report(records.clone()));
        assert!(md.contains("## Slow readers asking for big answers"), "{md}");
        assert!(md.contains("one `history` answer holds 200 of them, 801 KB"), "{md}");
        assert!(md.contains("hold 40 MB of answers at most"), "{md}");
        // The median of the ratios within each run is 1.10; the ratio of the medians
        // (3.00 / 2.00) would say 1.50, mixing a quick run's figure with a slow run's.
        // The phase's own growth is its peak over its start (10 MB).
        assert!(
            md.contains(
                "| 20k/s + 10 slow readers, bursts of 40 history | ours | 2.00 (2.00–4.00) \
                 | 3.00 (2.20–4.40) | 1.10 (1.10–1.50) | 0 | 20.0 (20.0–40.0) | 30.0 (22.0–44.0) \
                 | 4.0 (2.0–10.0) | 20.0 (12.0–34.0) | 30 | 30 (28–30) | 0 (0–2) | 5.0 | 55.0 | 0 | 3/3 |"
            ),
            "{md}"
        );
        // The steady phase is compared with the same phase without them.
        assert!(
            md.contains(
                "| 20k/s + 10 slow readers, 20 history/s | ours | 2.00 (2.00–4.00) | 2.00 (2.00–4.00) \
                 | 1.00 | 0 | 20.0 (20.0–40.0) | 60.0 (60.0–80.0) | 40.0 | 50.0 (50.0–70.0) | 30 | 20 | 9 | 5.0 | 55.0 | 1 |"
            ),
            "{md}"
        );
        // A round whose generator was not valid counts for nothing, in either phase.
        records[0].result.phases[0].invalid = Some("load generator CPU 95% > 90%".into());
        let md = render(&report(records));
        assert!(md.contains("| 1.10 | 0 |"), "{md}");
        assert!(md.contains("| 2/3 (load generator CPU 95% > 90%) |"), "{md}");
        // Without the scenario, no section.
        assert!(!render(&report(room_rounds(&[(OURS, [2.0; 3])]))).contains("asking for big answers"));
    }
}
