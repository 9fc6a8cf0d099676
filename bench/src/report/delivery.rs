//! The delivery sections: the room of 1000 (latency, CPU, ours against each peer), SQLite's
//! two durabilities against the memory store, and the rate ramp's highest sustained rate.

use std::fmt::Write;

use super::*;

/// How a rate ramp ended in one round.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutcome {
    /// The highest offered rate sustained before the first failure.
    pub max_rate: Option<f64>,
    /// The first rate not sustained, and why; `None` if every step passed.
    pub stopped: Option<(String, String)>,
}

pub fn step_outcome(r: &ScenarioResult) -> StepOutcome {
    let mut max_rate = None;
    for p in &r.phases {
        if !p.sustained() {
            return StepOutcome { max_rate, stopped: Some((p.name.clone(), why_not_sustained(p))) };
        }
        max_rate = Some(p.offered);
    }
    let stopped = r.error.as_ref().map(|e| ("–".to_owned(), e.clone()));
    StepOutcome { max_rate, stopped }
}

/// Why a step of a rate ramp did not pass, for people.
pub fn why_not_sustained(p: &PhaseResult) -> String {
    if let Some(why) = &p.invalid {
        return format!("{why} (the generator's limit, not the server's)");
    }
    let mut why = Vec::new();
    if p.lost() > 0 {
        why.push(format!("{} lost at {} receivers", p.lost(), p.lossy_receivers));
    }
    match p.latency {
        Some(l) if l.p99_us > STEP_P99_LIMIT_US => why.push(format!("p99 {:.1} ms", l.p99_us as f64 / 1e3)),
        None => why.push("nothing delivered".into()),
        _ => {}
    }
    why.join(", ")
}

/// The latency and CPU rows of a fan-out scenario, one per server and phase.
pub(super) fn fanout_rows(r: &Report, scenario: Scenario) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for phase in r.phase_names(scenario) {
        for server in &r.servers {
            let runs = r.runs(server, scenario, &phase);
            if runs.is_empty() {
                continue;
            }
            let fig = |f: &dyn Fn(&PhaseResult) -> Option<f64>| r.figure(server, scenario, &phase, f);
            let ms =
                |f: fn(&crate::stats::Latency) -> u64| move |p: &PhaseResult| p.latency.map(|l| f(&l) as f64);
            rows.push(vec![
                phase.clone(),
                server.clone(),
                show(fig(&|p| Some(p.rate)), 1e-3, 1),
                show(fig(&ms(|l| l.p50_us)), 1e-3, 2),
                show(fig(&ms(|l| l.p99_us)), 1e-3, 2),
                show(fig(&ms(|l| l.p999_us)), 1e-3, 2),
                show(fig(&ms(|l| l.max_us)), 1e-3, 1),
                show(fig(&|p| p.cpu_per_delivery_us), 1.0, 2),
                show(fig(&|p| Some(p.lost() as f64)), 1.0, 0),
                show(fig(&|p| Some(p.generator.cpu)), 100.0, 0),
                show(fig(&|p| Some(p.generator.late_p99_us as f64)), 1e-3, 2),
                validity(&runs),
            ]);
        }
    }
    rows
}

pub(super) const FANOUT_HEADER: [&str; 12] = [
    "offered",
    "server",
    "received k/s",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "max ms",
    "server CPU µs/delivery",
    "lost",
    "generator CPU %",
    "generator late p99 ms",
    "valid rounds",
];

/// The room of 1000: every server's latency and CPU, and ours as a ratio to each other.
pub(super) fn room1000(r: &Report, out: &mut String) {
    let _ = writeln!(out, "## One room of 1000 members, 10 senders\n");
    table(out, &FANOUT_HEADER, &fanout_rows(r, Scenario::Room1000));
    let _ = writeln!(out, "Ours relative to each of the others, server CPU per delivery:\n");
    let others: Vec<&String> =
        r.servers.iter().filter(|s| ![OURS, OURS_SQLITE, OURS_SQLITE_NORMAL].contains(&s.as_str())).collect();
    let mut header = vec!["offered".to_owned()];
    header.extend(others.iter().map(|s| format!("ours / {s}")));
    if r.has(OURS_SQLITE) {
        header.push("ours+sqlite / ours".into());
    }
    if r.has(OURS_SQLITE_NORMAL) {
        header.push("ours+sqlite-normal / ours".into());
    }
    let rows: Vec<Vec<String>> = r
        .phase_names(Scenario::Room1000)
        .into_iter()
        .map(|phase| {
            let cpu = |s: &str| r.median(s, Scenario::Room1000, &phase, |p| p.cpu_per_delivery_us);
            let mut row = vec![phase.clone()];
            let show_ratio = |x: Option<f64>| x.map_or("–".into(), |x| format!("{x:.2}×"));
            row.extend(others.iter().map(|s| show_ratio(ratio(cpu(OURS), cpu(s)))));
            if r.has(OURS_SQLITE) {
                row.push(show_ratio(ratio(cpu(OURS_SQLITE), cpu(OURS))));
            }
            if r.has(OURS_SQLITE_NORMAL) {
                row.push(show_ratio(ratio(cpu(OURS_SQLITE_NORMAL), cpu(OURS))));
            }
            row
        })
        .collect();
    table(out, &header.iter().map(String::as_str).collect::<Vec<_>>(), &rows);
}

/// SQLite's two durabilities side by side with the memory store, at the rates of the one
/// room of 1000: CPU per delivery and p99, with what each costs over the memory store.
pub(super) fn durability(r: &Report, out: &mut String) {
    if !r.has(OURS_SQLITE) && !r.has(OURS_SQLITE_NORMAL) {
        return;
    }
    let _ = writeln!(
        out,
        "## SQLite durability: `--sync full` (the default) and `--sync normal`\n\n\
         `full` waits for the disk at every commit, so an acknowledged message survives a power cut; \
         `normal` survives a crash of the server but may lose the last commits to a power cut. \
         One room of 1000 members, as above; in parentheses, each against the memory store.\n"
    );
    let servers = [OURS, OURS_SQLITE, OURS_SQLITE_NORMAL];
    let mut rows = Vec::new();
    for phase in r.phase_names(Scenario::Room1000) {
        let fig = |server: &str, f: fn(&PhaseResult) -> Option<f64>| {
            r.median(server, Scenario::Room1000, &phase, f)
        };
        let mut row = vec![phase.clone()];
        for f in [
            (|p: &PhaseResult| p.cpu_per_delivery_us) as fn(&PhaseResult) -> Option<f64>,
            |p: &PhaseResult| p.latency.map(|l| l.p99_us as f64 / 1e3),
        ] {
            let base = fig(OURS, f);
            for server in servers {
                row.push(match (fig(server, f), server) {
                    (None, _) => "–".into(),
                    (Some(v), OURS) => format!("{v:.2}"),
                    (Some(v), _) => match ratio(Some(v), base) {
                        Some(x) => format!("{v:.2} ({:+.1}%)", (x - 1.0) * 100.0),
                        None => format!("{v:.2}"),
                    },
                });
            }
        }
        rows.push(row);
    }
    table(
        out,
        &[
            "offered",
            "ours CPU µs/delivery",
            "sqlite full CPU µs/delivery",
            "sqlite normal CPU µs/delivery",
            "ours p99 ms",
            "sqlite full p99 ms",
            "sqlite normal p99 ms",
        ],
        &rows,
    );
}

/// The rate ramp: per server and round, the highest rate sustained and why the next was not.
pub(super) fn step(r: &Report, out: &mut String) {
    let _ = writeln!(
        out,
        "## Highest sustained rate: one room of 1000, rising rates until p99 > {} ms or a loss\n",
        STEP_P99_LIMIT_US / 1000
    );
    let mut rows = Vec::new();
    for server in &r.servers {
        for (round, res) in r.results(server, Scenario::Step).into_iter().enumerate() {
            let o = step_outcome(res);
            let (at, why) = o.stopped.unwrap_or_else(|| ("–".into(), "every step passed".into()));
            rows.push(vec![
                server.clone(),
                (round + 1).to_string(),
                o.max_rate.map_or("none".into(), rate_name),
                at,
                why,
            ]);
        }
    }
    table(out, &["server", "round", "highest sustained", "first failed step", "why"], &rows);
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;

    #[test]
    fn a_rate_ramp_stops_at_its_first_failure() {
        let mut lossy = phase("100k/s", 100_000.0, 2.0, 3_000);
        lossy.received -= 7;
        lossy.lossy_receivers = 3;
        let res = ScenarioResult {
            scenario: Scenario::Step,
            setup_ms: 0.0,
            phases: vec![phase("25k/s", 25_000.0, 2.0, 1_000), phase("50k/s", 50_000.0, 2.0, 2_000), lossy],
            error: None,
        };
        let o = step_outcome(&res);
        assert_eq!(o.max_rate, Some(50_000.0));
        assert_eq!(o.stopped, Some(("100k/s".into(), "7 lost at 3 receivers".into())));
        let mut slow = phase("25k/s", 25_000.0, 2.0, 80_000);
        assert_eq!(why_not_sustained(&slow), "p99 80.0 ms");
        slow.invalid = Some("sends 6.0 ms late at p99 > 5 ms".into());
        assert!(why_not_sustained(&slow).contains("generator's limit"));
    }

    #[test]
    fn both_sqlite_durabilities_are_shown_against_the_memory_store() {
        let mut r = report(room_rounds(&[
            (OURS, [2.0, 2.0, 2.0]),
            (OURS_SQLITE, [2.2, 2.3, 2.2]),
            (OURS_SQLITE_NORMAL, [2.1, 2.0, 2.1]),
        ]));
        r.servers = vec![OURS.into(), OURS_SQLITE.into(), OURS_SQLITE_NORMAL.into()];
        let t = r.targets();
        assert_eq!(target(&t, "`--sync full`").measured, "+10.0%");
        assert_eq!(target(&t, "`--sync normal`").measured, "+5.0%");
        assert_eq!(target(&t, "`--sync normal`").status, Status::Met);
        let md = render(&r);
        assert!(md.contains("| ours+sqlite / ours | ours+sqlite-normal / ours |"), "{md}");
        assert!(md.contains("| 50k/s | 1.10× | 1.05× |"), "{md}");
        assert!(md.contains("## SQLite durability"), "{md}");
        // CPU, then p99 (2.0, 2.1 and 2.2 ms over the rounds: the median 2.1 for each).
        assert!(
            md.contains(
                "| 50k/s | 2.00 | 2.20 (+10.0%) | 2.10 (+5.0%) | 2.10 | 2.10 (+0.0%) | 2.10 (+0.0%) |"
            ),
            "{md}"
        );
        // No SQLite run, no section.
        assert!(!render(&report(room_rounds(&[(OURS, [2.0; 3])]))).contains("## SQLite durability"));
    }
}
