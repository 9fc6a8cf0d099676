//! The report's shared test helpers (made-up results) and the tests of the whole report.

use super::*;
use crate::scenario::{GenHealth, ServerUse};
use crate::stats::Latency;
use crate::web::Fetched;

pub(super) fn phase(name: &str, offered: f64, cpu_us: f64, p99_us: u64) -> PhaseResult {
    PhaseResult {
        name: name.into(),
        conns: 1000,
        offered,
        secs: 2.0,
        sent: 100,
        expected: 100_000,
        received: 100_000,
        lossy_receivers: 0,
        rate: offered,
        latency: Some(Latency {
            count: 100_000,
            p50_us: p99_us / 4,
            p99_us,
            p999_us: p99_us * 2,
            max_us: p99_us * 3,
        }),
        server: ServerUse {
            cpu_ms: 100.0,
            rss_start_kb: 10_240,
            rss_end_kb: 12_288,
            rss_peak_kb: 20_480,
            hwm_kb: 20_480,
        },
        cpu_per_delivery_us: Some(cpu_us),
        mem_per_conn_bytes: None,
        drain_ms: Some(120.0),
        generator: GenHealth { cpu: 0.4, late_p99_us: 900, late_max_us: 1500, dropped_sends: 0 },
        closed: 0,
        errors: 0,
        stale: 0,
        invalid: None,
        slow_readers: None,
        bytes_per_conn: None,
        cluster: None,
        listen_overflows: None,
        welcome_bytes: None,
    }
}

pub(super) fn record(round: u32, server: &str, scenario: Scenario, phases: Vec<PhaseResult>) -> Record {
    Record {
        round,
        server: server.into(),
        result: ScenarioResult { scenario, setup_ms: 900.0, phases, error: None },
    }
}

pub(super) fn report(records: Vec<Record>) -> Report {
    Report {
        date: "2026-11-02 10:00 UTC".into(),
        quick: true,
        rounds: 3,
        machine: Machine {
            cpu_model: "Test CPU".into(),
            nproc: 2,
            mem_total_kb: 24 << 20,
            kernel: "6.1".into(),
        },
        versions: vec![("node".into(), "v20.20.2".into())],
        servers: vec![OURS.into(), WS.into(), SIO.into(), FLOOR.into()],
        records,
        first_load: Some(FirstLoad {
            files: vec![
                Fetched { path: "/".into(), encoding: "br".into(), wire_bytes: 1024 },
                Fetched { path: "/app_bg.wasm".into(), encoding: "br".into(), wire_bytes: 90 * 1024 },
                Fetched { path: "/icon-192.png".into(), encoding: String::new(), wire_bytes: 512 },
            ],
        }),
        slow_phone: Some(SlowPhone {
            conditions: "a slow phone".into(),
            runs_ms: vec![2600.0, 1900.0, 2100.0],
        }),
        slow_phone_http: None,
        elapsed_s: 118.0,
        command: "cargo xtask bench --quick".into(),
        load: ("0.10 0.20 0.30".into(), "1.00 0.50 0.40".into()),
        notes: vec![],
    }
}

/// Three rounds of room1000 at 50k/s with these CPU costs per server.
pub(super) fn room_rounds(costs: &[(&str, [f64; 3])]) -> Vec<Record> {
    let mut out = Vec::new();
    for round in 0..3 {
        for (server, c) in costs {
            let p = phase("50k/s", 50_000.0, c[round], 2_000 + round as u64 * 100);
            out.push(record(round as u32 + 1, server, Scenario::Room1000, vec![p]));
        }
    }
    out
}

pub(super) fn target<'a>(targets: &'a [Target], what: &str) -> &'a Target {
    targets.iter().find(|t| t.what.contains(what)).unwrap_or_else(|| panic!("no target {what}"))
}

#[test]
fn ratios_use_medians_and_mark_targets() {
    let r = report(room_rounds(&[
        (OURS, [3.0, 2.0, 100.0]),
        (WS, [9.0, 8.0, 10.0]),
        (SIO, [12.0, 13.0, 14.0]),
        (FLOOR, [1.0, 1.0, 1.0]),
    ]));
    let t = r.targets();
    // Median 3.0 vs 9.0: the outlier round does not move it.
    assert_eq!(target(&t, "vs ws").measured, "0.33× (3.00 µs vs 9.00 µs)");
    // Issue 15: the peers' ratios are shown without a target; the floor's is 1.3×.
    assert_eq!(target(&t, "vs ws").status, Status::Reported);
    assert_eq!(target(&t, "vs socket.io").status, Status::Reported);
    assert_eq!(target(&t, "vs floor (1000").goal, "≤ 1.30×");
    assert_eq!(target(&t, "vs floor (1000").status, Status::Missed);
    // With the floor's own figure of the same run beside it.
    assert_eq!(target(&t, "p99").measured, "2.10 ms (the floor: 2.10 ms)");
    assert_eq!(target(&t, "p99").status, Status::Met);
    assert_eq!(target(&t, "idle").status, Status::NotMeasured);
    assert_eq!(target(&t, "first load").measured, "91.5 KiB");
    assert_eq!(target(&t, "first load").status, Status::Met);
    // The median of three runs, not the slowest.
    assert_eq!(target(&t, "slow phone").measured, "2.10 s");
    assert_eq!(target(&t, "slow phone").status, Status::Met);
    assert!(target(&t, "`--sync full`").measured.contains("no --store sqlite"));
    assert!(target(&t, "`--sync normal`").measured.contains("not run"));
    assert_eq!(target(&t, "`--sync normal`").status, Status::NotMeasured);
}

#[test]
fn invalid_rounds_do_not_count() {
    let mut records = room_rounds(&[(OURS, [2.0, 2.0, 2.0]), (FLOOR, [1.8, 1.8, 1.8])]);
    assert_eq!(target(&report(records.clone()).targets(), "vs floor (1000").status, Status::Met);
    for rec in records.iter_mut().filter(|r| r.server == FLOOR) {
        rec.result.phases[0].invalid = Some("load generator CPU 95% > 90%".into());
    }
    let r = report(records);
    assert_eq!(target(&r.targets(), "vs floor (1000").status, Status::NotMeasured);
    let md = render(&r);
    assert!(md.contains("0/3 (load generator CPU 95% > 90%)"), "{md}");
    assert!(md.contains("invalid: load generator CPU 95%"), "{md}");
}

#[test]
fn the_report_has_every_section_and_the_spread() {
    let mut records = room_rounds(&[(OURS, [2.0, 2.5, 3.0]), (WS, [9.0, 9.0, 9.0])]);
    let mut idle = phase("10000 idle", 0.0, 0.0, 0);
    idle.latency = None;
    idle.cpu_per_delivery_us = None;
    idle.mem_per_conn_bytes = Some(3_000.0);
    records.push(record(1, OURS, Scenario::Idle10k, vec![idle]));
    records.push(record(1, OURS, Scenario::Burst, vec![phase("500 msgs in 1 s", 500_000.0, 2.0, 90_000)]));
    let md = render(&report(records));
    for section in [
        "## Machine and versions",
        "## Targets",
        "## One room of 1000",
        "## Idle",
        "## Burst",
        "## Web app: first load",
        "## Web app: a slow phone",
    ] {
        assert!(md.contains(section), "missing {section}:\n{md}");
    }
    // Ours at 50k/s: the median 2.50 with the range of the three rounds.
    assert!(md.contains("| 2.50 (2.00–3.00) |"), "{md}");
    assert!(md.contains("| 0.28× |"), "ours / ws at 50k/s:\n{md}");
    assert!(
        md.contains("| memory per idle connection at 10k connections | ≤ 4 KB | 2.9 KB | **met** |"),
        "{md}"
    );
    // Burst: 120 ms drain, 10 MB growth.
    assert!(md.contains("| 120 ms, 0 lost | **met** |"), "{md}");
    assert!(md.contains("| 10.0 MB | **met** |"), "{md}");
    assert!(md.contains("| `/app_bg.wasm` | br | 90.0 |"), "{md}");
    assert!(md.contains("| `/icon-192.png` | none | 0.5 |"), "{md}");
    assert!(md.contains("| **total** |  | **91.5** |"), "{md}");
    assert!(md.contains("median 2.10 s (runs: 2.60 s, 1.90 s, 2.10 s)"), "{md}");
}

/// An idle phase of `conns` connections at `bytes` each.
fn idle_phase(conns: u32, bytes: f64) -> PhaseResult {
    let mut idle = phase(&format!("{conns} idle"), 0.0, 0.0, 0);
    idle.latency = None;
    idle.cpu_per_delivery_us = None;
    idle.mem_per_conn_bytes = Some(bytes);
    idle
}

#[test]
fn the_stream_is_held_against_websockets_of_the_same_run() {
    let mut records = room_rounds(&[(OURS, [2.0; 3])]);
    for (round, cpu) in [2.4, 2.8, 2.5].into_iter().enumerate() {
        let p = phase("50k/s", 50_000.0, cpu, 3_000);
        records.push(record(round as u32 + 1, OURS, Scenario::Room1000Stream, vec![p]));
    }
    let r = report(records.clone());
    assert_eq!(target(&r.targets(), "idle HTTP stream").status, Status::NotMeasured);
    assert_eq!(target(&r.targets(), "WebSocket refused").status, Status::NotMeasured);
    records.push(record(1, OURS, Scenario::Idle1kStream, vec![idle_phase(1000, 3_500.0)]));
    records.push(record(1, OURS, Scenario::Idle10k, vec![idle_phase(10_000, 3_000.0)]));
    let mut r = report(records);
    r.slow_phone_http = Some(SlowPhone {
        conditions: "a slow phone, WebSocket refused".into(),
        runs_ms: vec![4200.0, 6100.0, 3900.0],
    });
    let t = r.targets();
    assert_eq!(target(&t, "HTTP stream clients vs").measured, "1.25× (2.50 µs vs 2.00 µs)");
    assert_eq!(target(&t, "HTTP stream clients vs").goal, "≤ 1.30×");
    assert_eq!(target(&t, "HTTP stream clients vs").status, Status::Met);
    assert_eq!(target(&t, "idle HTTP stream").measured, "3.4 KB (a WebSocket: 2.9 KB, 10000 idle)");
    assert_eq!(target(&t, "idle HTTP stream").status, Status::Reported);
    // The median of three, against 5 s.
    assert_eq!(target(&t, "WebSocket refused").measured, "4.20 s");
    assert_eq!(target(&t, "WebSocket refused").status, Status::Met);
    let md = render(&r);
    assert!(md.contains("## Over plain HTTP"), "{md}");
    assert!(md.contains("| 50k/s | 2.50 | 2.00 | 1.25× |"), "{md}");
    assert!(md.contains("| 1000 idle | ours | 10.0 | 12.0 | 3.42 | 1/1 |"), "{md}");
    assert!(md.contains("median 4.20 s (runs: 4.20 s, 6.10 s, 3.90 s)"), "{md}");
    // Costlier than 1.3x is missed.
    let mut slow = r.clone();
    for rec in slow.records.iter_mut().filter(|x| x.result.scenario == Scenario::Room1000Stream) {
        rec.result.phases[0].cpu_per_delivery_us = Some(2.7);
    }
    assert_eq!(target(&slow.targets(), "HTTP stream clients vs").status, Status::Missed);
}

#[test]
fn the_floor_bounds_the_ratios_to_the_peers() {
    let r = report(room_rounds(&[(OURS, [5.0; 3]), (WS, [7.8; 3]), (FLOOR, [5.1; 3])]));
    let note = r.floor_bound().expect("a floor and a peer were measured");
    assert!(note.contains("costs 0.65× ws at 50k/s"), "{note}");
    assert!(!note.contains("socket.io"), "not measured: {note}");
    assert!(render(&r).contains(&note));
    let r = report(room_rounds(&[(OURS, [5.0; 3]), (WS, [7.8; 3])]));
    assert_eq!(r.floor_bound(), None, "no floor, no bound");
}

#[test]
fn dates_are_utc_calendar_dates() {
    let at = |s: u64| utc_date(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s));
    assert_eq!(at(0), "1970-01-01 00:00 UTC");
    assert_eq!(at(951_782_400), "2000-02-29 00:00 UTC");
    assert_eq!(at(1_763_760_000 + 3_661), "2025-11-21 22:21 UTC");
}
