//! The cluster (issue 13): two nodes against one node alone and one `--redis` node in the
//! same run, their targets and their section.

use std::fmt::Write;

use super::*;

impl Report {
    /// A figure of the cluster scenario's phase at its target rate.
    fn cluster_figure(&self, server: &str, f: impl Fn(&PhaseResult) -> Option<f64>) -> Option<Spread> {
        self.figure(server, Scenario::Cluster, &rate_name(CLUSTER_RATE), f)
    }

    /// The targets of issue 13: the cluster of two nodes against one node alone, in the
    /// same run, at 50k deliveries/s to one room of 1000 (500 members on each node).
    pub(super) fn cluster_targets(&self) -> Vec<Target> {
        let p99 = |server: &str| {
            self.cluster_figure(server, |p| p.latency.map(|l| l.p99_us as f64 / 1e3)).map(|s| s.median)
        };
        let (cluster, single) = (p99(CLUSTER), p99(OURS));
        let over = cluster.zip(single).map(|(c, s)| c - s);
        let cpu = |server: &str| self.cluster_figure(server, |p| p.cpu_per_delivery_us).map(|s| s.median);
        let (cluster_cpu, single_cpu) = (cpu(CLUSTER), cpu(OURS));
        let r = ratio(cluster_cpu, single_cpu);
        // The same with Redis on both sides: what the hop to the other node costs alone.
        let redis_one = p99(OURS_REDIS);
        let hop = cluster.zip(redis_one).map(|(c, s)| c - s);
        vec![
            Target {
                what: format!(
                    "cluster of {CLUSTER_NODES} nodes sharing Redis: p99 across nodes vs one node \
                     (1000 members, 500 per node, {})",
                    rate_name(CLUSTER_RATE)
                ),
                goal: format!("≤ one node's + {CLUSTER_P99_OVER_MS} ms"),
                measured: match (over, cluster, single) {
                    (Some(d), Some(c), Some(s)) => format!("{c:.2} ms vs {s:.2} ms ({d:+.2} ms)"),
                    _ => "–".into(),
                },
                status: Status::of(over, |d| d <= CLUSTER_P99_OVER_MS),
            },
            Target {
                what: format!(
                    "cluster of {CLUSTER_NODES}: p99 vs one `--redis` node (Redis's own latency, its \
                     fsync included, on both sides: the hop to the other node alone), {}",
                    rate_name(CLUSTER_RATE)
                ),
                goal: "–".into(),
                measured: match (hop, cluster, redis_one) {
                    (Some(d), Some(c), Some(s)) => format!("{c:.2} ms vs {s:.2} ms ({d:+.2} ms)"),
                    _ => "–".into(),
                },
                status: Status::Reported,
            },
            Target {
                what: format!(
                    "cluster of {CLUSTER_NODES}: CPU per delivery (the nodes' sum; Redis apart) vs one node, {}",
                    rate_name(CLUSTER_RATE)
                ),
                goal: format!("≤ {CLUSTER_CPU_VS_ONE:.2}×"),
                measured: match (r, cluster_cpu, single_cpu) {
                    (Some(r), Some(a), Some(b)) => format!("{r:.2}× ({a:.2} µs vs {b:.2} µs)"),
                    _ => "–".into(),
                },
                status: Status::of(r, |r| r <= CLUSTER_CPU_VS_ONE),
            },
        ]
    }
}

/// Issue 13's section: one node alone, one `--redis` node, and the cluster of two, at the
/// target rate (latency, each process's CPU) and in the rate ramp.
pub(super) fn section(r: &Report, out: &mut String) {
    let servers: Vec<&String> =
        r.servers.iter().filter(|s| !r.results(s, Scenario::Cluster).is_empty()).collect();
    if servers.is_empty() {
        return;
    }
    let _ =
        writeln!(out, "## A cluster: one room of 1000 members over {CLUSTER_NODES} nodes sharing Redis\n");
    let _ = writeln!(
        out,
        "`{OURS}` is one node alone (the memory store); `{OURS_REDIS}` one node with `--redis` (every \
         member on it: what Redis costs); `{CLUSTER}` {CLUSTER_NODES} nodes with `--redis`, connection i \
         on node i mod {CLUSTER_NODES}, so 500 members and 5 of the 10 senders on each, and every \
         message crosses Redis to the other node. Redis is the suite's own (append-only file, \
         `appendfsync always`), and every process of a deployment runs on core 0, as the single \
         node does. Node CPU is the nodes' sum per delivery; Redis's CPU (`/proc/<pid>/stat`) is \
         shown apart. Then the rates rise as in the step ramp, until p99 > {} ms or a loss (a step \
         must fail twice).\n",
        STEP_P99_LIMIT_US / 1000
    );
    let phase = rate_name(CLUSTER_RATE);
    let single_cpu = r.cluster_figure(OURS, |p| p.cpu_per_delivery_us).map(|s| s.median);
    let mut rows = Vec::new();
    for server in &servers {
        let runs = r.runs(server, Scenario::Cluster, &phase);
        if runs.is_empty() {
            continue;
        }
        let fig = |f: &dyn Fn(&PhaseResult) -> Option<f64>| r.cluster_figure(server, f);
        let ms =
            |f: fn(&crate::stats::Latency) -> u64| move |p: &PhaseResult| p.latency.map(|l| f(&l) as f64);
        let nodes = runs.iter().filter_map(|p| p.cluster.as_ref().map(|c| c.node_cpu_ms.len())).max();
        let per_node = match nodes {
            Some(n) if n > 1 => (0..n)
                .map(|i| {
                    let node = fig(&|p| {
                        let c = p.cluster.as_ref()?;
                        (p.received > 0).then(|| {
                            c.node_cpu_ms.get(i).copied().unwrap_or(f64::NAN) * 1e3 / p.received as f64
                        })
                    });
                    show(node, 1.0, 2)
                })
                .collect::<Vec<_>>()
                .join(" + "),
            _ => "–".into(),
        };
        let redis = |p: &PhaseResult| p.cluster.as_ref()?.redis_per_delivery_us(p.received);
        let cpu = fig(&|p| p.cpu_per_delivery_us);
        rows.push(vec![
            (*server).clone(),
            show(fig(&|p| Some(p.rate)), 1e-3, 1),
            show(fig(&ms(|l| l.p50_us)), 1e-3, 2),
            show(fig(&ms(|l| l.p99_us)), 1e-3, 2),
            show(fig(&ms(|l| l.max_us)), 1e-3, 1),
            show(cpu, 1.0, 2),
            per_node,
            show(fig(&|p| p.cluster.as_ref()?.redis_cpu_ms), 1.0, 0),
            show(fig(&redis), 1.0, 2),
            show(fig(&|p| Some(p.cpu_per_delivery_us? + redis(p).unwrap_or(0.0))), 1.0, 2),
            ratio(cpu.map(|s| s.median), single_cpu).map_or("–".into(), |x| format!("{x:.2}×")),
            show(fig(&|p| Some(p.lost() as f64)), 1.0, 0),
            validity(&runs),
        ]);
    }
    let _ = writeln!(out, "At {phase}:\n");
    table(
        out,
        &[
            "deployment",
            "received k/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "node CPU µs/delivery",
            "each node µs/delivery",
            "Redis CPU ms",
            "Redis CPU µs/delivery",
            "all processes µs/delivery",
            "node CPU vs ours",
            "lost",
            "valid rounds",
        ],
        &rows,
    );
    if r.quick {
        let _ = writeln!(out, "The rate ramp runs in full runs only (not with `--quick`).\n");
        return;
    }
    let mut rows = Vec::new();
    for server in &servers {
        for (round, res) in r.results(server, Scenario::Cluster).into_iter().enumerate() {
            let o = step_outcome(res);
            let (at, why) = o.stopped.unwrap_or_else(|| ("–".into(), "every step passed".into()));
            rows.push(vec![
                (*server).clone(),
                (round + 1).to_string(),
                o.max_rate.map_or("none".into(), rate_name),
                at,
                why,
            ]);
        }
    }
    let medians: Vec<String> = servers
        .iter()
        .map(|s| {
            let max = r.max_sustained(s, Scenario::Cluster);
            format!("{s} {}", max.map_or("none".into(), |m| rate_name(m.median)))
        })
        .collect();
    let _ = writeln!(out, "Highest sustained rate (median over rounds): {}.\n", medians.join(", "));
    table(out, &["deployment", "round", "highest sustained", "first failed step", "why"], &rows);
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;
    use crate::scenario::ClusterUse;

    /// Rounds of the cluster scenario: per deployment, its CPU per delivery and p99 at
    /// 50k/s, each node's and Redis's CPU, and the rate ramp's steps after it.
    fn cluster_rounds(figures: &[(&str, f64, u64, Option<ClusterUse>)]) -> Vec<Record> {
        let mut out = Vec::new();
        for round in 1..=3 {
            for (server, cpu, p99, parts) in figures {
                let mut at_50k = phase("50k/s", 50_000.0, *cpu, *p99);
                at_50k.cluster = parts.clone();
                let mut lossy = phase("100k/s", 100_000.0, *cpu, *p99);
                lossy.received -= 5;
                lossy.lossy_receivers = 2;
                let phases = vec![at_50k, phase("75k/s", 75_000.0, *cpu, *p99), lossy];
                out.push(record(round, server, Scenario::Cluster, phases));
            }
        }
        out
    }

    /// A quick report of `records`, the servers those of the cluster scenario.
    fn cluster_report(records: Vec<Record>) -> Report {
        let mut r = report(records);
        r.servers = [OURS, OURS_REDIS, CLUSTER]
            .into_iter()
            .filter(|s| r.records.iter().any(|rec| rec.server == *s))
            .map(str::to_owned)
            .collect();
        r
    }

    fn parts(nodes: &[f64], redis: f64) -> Option<ClusterUse> {
        Some(ClusterUse { node_cpu_ms: nodes.to_vec(), redis_cpu_ms: Some(redis) })
    }

    #[test]
    fn the_cluster_is_held_against_one_node_of_the_same_run() {
        let mut r = cluster_report(cluster_rounds(&[
            (OURS, 2.0, 3_000, None),
            (OURS_REDIS, 2.2, 3_500, parts(&[220.0], 60.0)),
            (CLUSTER, 2.3, 4_500, parts(&[120.0, 110.0], 50.0)),
        ]));
        r.quick = false;
        let t = r.targets();
        let p99 = target(&t, "p99 across nodes");
        assert_eq!(p99.measured, "4.50 ms vs 3.00 ms (+1.50 ms)");
        assert_eq!((p99.goal.as_str(), p99.status), ("≤ one node's + 2 ms", Status::Met));
        let hop = target(&t, "p99 vs one `--redis` node");
        assert_eq!((hop.measured.as_str(), hop.status), ("4.50 ms vs 3.50 ms (+1.00 ms)", Status::Reported));
        let cpu = target(&t, "CPU per delivery (the nodes' sum");
        assert_eq!(cpu.measured, "1.15× (2.30 µs vs 2.00 µs)");
        assert_eq!((cpu.goal.as_str(), cpu.status), ("≤ 1.20×", Status::Met));
        let md = render(&r);
        assert!(md.contains("## A cluster: one room of 1000 members over 2 nodes sharing Redis"), "{md}");
        // The cluster's row: each node's CPU per delivery (120 and 110 ms over 100k
        // deliveries), Redis's (50 ms: 0.50 µs), all processes, and the ratio to ours.
        assert!(
            md.contains("| cluster | 50.0 | 1.12 | 4.50 | 13.5 | 2.30 | 1.20 + 1.10 | 50 | 0.50 | 2.80 | 1.15× | 0 | 3/3 |"),
            "{md}"
        );
        assert!(
            md.contains("| ours+redis | 50.0 | 0.88 | 3.50 | 10.5 | 2.20 | – | 60 | 0.60 | 2.80 | 1.10× |"),
            "{md}"
        );
        // One node alone has no parts: no Redis figures.
        assert!(md.contains("| ours | 50.0 | 0.75 | 3.00 | 9.0 | 2.00 | – | – | – | 2.00 | 1.00× |"), "{md}");
        // The ramp: 75k/s sustained, 100k/s lost messages.
        assert!(md.contains("| cluster | 2 | 75k/s | 100k/s | 5 lost at 2 receivers |"), "{md}");
        assert!(
            md.contains(
                "Highest sustained rate (median over rounds): ours 75k/s, ours+redis 75k/s, cluster 75k/s."
            ),
            "{md}"
        );

        // 2.5 ms over one node, and 1.3× its CPU: both missed.
        let r = cluster_report(cluster_rounds(&[
            (OURS, 2.0, 3_000, None),
            (CLUSTER, 2.6, 5_500, parts(&[1.0, 1.0], 1.0)),
        ]));
        let t = r.targets();
        assert_eq!(target(&t, "p99 across nodes").status, Status::Missed);
        assert_eq!(target(&t, "CPU per delivery (the nodes' sum").status, Status::Missed);
        // A quick run has no ramp to show.
        assert!(render(&r).contains("The rate ramp runs in full runs only"));
        // Without the single node in the run there is nothing to hold the cluster against.
        let r = cluster_report(cluster_rounds(&[(CLUSTER, 2.0, 3_000, parts(&[1.0, 1.0], 1.0))]));
        assert_eq!(target(&r.targets(), "p99 across nodes").status, Status::NotMeasured);
        assert_eq!(target(&r.targets(), "CPU per delivery (the nodes' sum").measured, "–");
    }

    #[test]
    fn a_cluster_round_the_generator_invalidated_does_not_count() {
        let mut records =
            cluster_rounds(&[(OURS, 2.0, 3_000, None), (CLUSTER, 2.2, 3_500, parts(&[1.0, 1.0], 1.0))]);
        for rec in records.iter_mut().filter(|r| r.server == CLUSTER && r.round != 2) {
            rec.result.phases[0].invalid = Some("load generator CPU 95% > 90%".into());
            rec.result.phases[0].latency.as_mut().unwrap().p99_us = 90_000;
        }
        let r = cluster_report(records);
        assert_eq!(target(&r.targets(), "p99 across nodes").measured, "3.50 ms vs 3.00 ms (+0.50 ms)");
        assert!(render(&r).contains("| 1/3 (load generator CPU 95% > 90%) |"));
    }
}
