//! The scenarios' plans and the judging of phases, checked without running anything.

use super::*;

#[test]
fn every_plan_is_well_formed() {
    for s in Scenario::ALL.into_iter().chain(Scenario::EXTRA) {
        for quick in [true, false] {
            let plan = s.plan(quick);
            assert!(!plan.phases.is_empty(), "{s:?}");
            let slow_readers = plan.phases.iter().any(|p| {
                matches!(p, PhaseSpec::Steady { slow: Some(SlowAsk { readers: 1.., burst: 1.. }), .. })
            });
            assert_eq!(slow_readers, plan.fill.is_some(), "slow readers need a filled room: {s:?}");
            assert_eq!(slow_readers, s.needs_history(), "{s:?}");
            let alone = s.is_idle()
                || s.storm().is_some()
                || matches!(s, Scenario::Reconnect10k | Scenario::Reconnect10kRooms);
            assert_eq!(alone, plan.layout.is_none(), "{s:?}");
            if let Some(l) = plan.layout {
                assert!(l.senders + l.stoppers <= l.conns(), "{s:?}");
                assert!(l.text_len >= 40, "room for the marker: {s:?}");
            }
        }
    }
}

#[test]
fn the_generator_is_judged_by_its_limits() {
    let ok = GenHealth { cpu: 0.5, late_p99_us: 1_000, late_max_us: 9_000, dropped_sends: 0 };
    assert_eq!(PhaseResult::judge_generator(&ok), None);
    let busy = GenHealth { cpu: 0.95, ..ok };
    assert!(PhaseResult::judge_generator(&busy).unwrap().contains("CPU 95%"));
    let late = GenHealth { late_p99_us: 7_500, ..ok };
    assert!(PhaseResult::judge_generator(&late).unwrap().contains("7.5 ms late"));
}

#[test]
fn names_match_the_command_line_and_the_json() {
    use clap::ValueEnum;
    for s in Scenario::ALL.into_iter().chain(Scenario::EXTRA) {
        assert_eq!(s.to_possible_value().unwrap().get_name(), s.name());
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.name()));
    }
}

#[test]
fn slow_history_runs_the_same_load_without_then_with_its_slow_readers() {
    let plan = Scenario::SlowHistory.plan(true);
    let [
        PhaseSpec::Steady { rate: r0, secs: s0, stop_readers: false, slow: None },
        PhaseSpec::Steady { rate: r1, secs: s1, stop_readers: false, slow: Some(bursts) },
        PhaseSpec::Steady { rate: r2, secs: s2, stop_readers: false, slow: Some(steady) },
    ] = plan.phases.as_slice()
    else {
        panic!("{:?}", plan.phases)
    };
    assert!(r0 == r1 && r1 == r2 && s0 == s1 && s1 == s2, "only the slow readers differ");
    assert_eq!((bursts.burst, steady.burst), (HISTORY_BURST, 1));
    let fill = plan.fill.expect("a filled room");
    assert!(fill.msgs >= HISTORY_LIMIT, "every answer is a full page");
    assert_eq!(fill.text_len, BIG_TEXT);
    let names: Vec<String> = plan.phases.iter().map(PhaseSpec::name).collect();
    assert_eq!(
        names,
        ["20k/s", "20k/s + 10 slow readers, bursts of 40 history", "20k/s + 10 slow readers, 20 history/s"]
    );
}

#[test]
fn the_storms_of_issue_15_compare_like_with_like() {
    // v2 and v1 at each size, and the bare upgrades they are held against.
    for (v2, v1, bare, n) in [
        (Scenario::Join2k, Scenario::Join2kV1, Scenario::Bare2k, 2_000),
        (Scenario::Join5k, Scenario::Join5kV1, Scenario::Bare5k, 5_000),
        (Scenario::Join10k, Scenario::Join10kV1, Scenario::Bare10k, 10_000),
    ] {
        let concurrency = STORM_CONCURRENCY;
        assert_eq!(v2.plan(true).phases, [PhaseSpec::Storm { conns: n, join: true, concurrency }]);
        assert_eq!(v1.plan(false).phases, v2.plan(false).phases);
        assert_eq!(bare.plan(true).phases, [PhaseSpec::Storm { conns: n, join: false, concurrency }]);
        assert_eq!((v2.ours_proto(), v1.ours_proto(), bare.ours_proto()), (Proto::V2, Proto::V1, Proto::V2));
    }
    assert_eq!(Scenario::Join10k.plan(true).phases[0].name(), "10000 joins");
    assert_eq!(Scenario::Bare10k.plan(true).phases[0].name(), "10000 bare upgrades");
    let room = Scenario::Room10k.plan(true);
    assert_eq!(room.layout.map(|l| (l.rooms, l.members, l.senders)), Some((1, 10_000, 10)));
    assert!(matches!(room.phases[..], [PhaseSpec::Steady { rate: 50_000.0, .. }]));
    assert_eq!((Scenario::Churn.ours_proto(), Scenario::ChurnV1.ours_proto()), (Proto::V2, Proto::V1));
    let churn = Scenario::Churn.plan(true);
    assert_eq!(churn.layout.map(|l| (l.rooms, l.conns(), l.senders)), Some((1_000, 1_000, 0)));
    assert_eq!(churn.phases[0].name(), "500 joins and leaves/s");
    // The old scenarios keep version 1, so their figures compare with earlier runs.
    assert_eq!(Scenario::Room1000.ours_proto(), Proto::V1);
}

#[test]
fn the_connect_storms_of_issue_21_compare_like_with_like() {
    for (join, bare, concurrency) in [
        (Scenario::Join8kBy200, Scenario::Bare8kBy200, 200),
        (Scenario::Join8kBy1000, Scenario::Bare8kBy1000, 1_000),
    ] {
        assert_eq!(join.storm(), Some(PhaseSpec::Storm { conns: 8_000, join: true, concurrency }));
        assert_eq!(bare.storm(), Some(PhaseSpec::Storm { conns: 8_000, join: false, concurrency }));
        assert_eq!((join.ours_proto(), bare.ours_proto()), (Proto::V2, Proto::V2));
        assert!(bare.node_peers_apply() && !join.node_peers_apply());
        assert!(Scenario::QUICK.contains(&join) && Scenario::QUICK.contains(&bare));
    }
    assert_eq!(Scenario::Join8kBy1000.plan(true).phases[0].name(), "8000 joins, 1000 at a time");
    let reconnect = Scenario::Reconnect10k;
    assert_eq!(reconnect.plan(true).phases, [PhaseSpec::Reconnect { conns: 10_000, rooms: 1 }]);
    assert_eq!(reconnect.ours_proto(), Proto::V2);
    assert!(reconnect.node_peers_apply() && Scenario::QUICK.contains(&reconnect));
    // Issue 26: the same storm over 10,000 rooms, ours only, held against the one above.
    let rooms = Scenario::Reconnect10kRooms;
    assert_eq!(rooms.plan(true).phases, [PhaseSpec::Reconnect { conns: 10_000, rooms: 10_000 }]);
    assert_eq!(rooms.plan(true).phases[0].name(), "10000 reconnects, 10000 rooms");
    assert_eq!(reconnect.plan(true).phases[0].name(), "10000 reconnects");
    assert_eq!(rooms.ours_proto(), Proto::V2);
    assert!(!rooms.node_peers_apply() && Scenario::QUICK.contains(&rooms));
}

#[test]
fn the_cluster_reads_its_targets_at_50k_then_ramps_in_full_runs_only() {
    let quick = Scenario::Cluster.plan(true);
    assert!(matches!(quick.phases[..], [PhaseSpec::Steady { rate: CLUSTER_RATE, .. }]));
    let full = Scenario::Cluster.plan(false);
    assert_eq!(full.layout, Scenario::Room1000.plan(false).layout, "room1000's layout");
    assert!(full.until_failure);
    let rates: Vec<f64> = full
        .phases
        .iter()
        .map(|p| match p {
            PhaseSpec::Steady { rate, stop_readers: false, slow: None, .. } => *rate,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(rates[0], CLUSTER_RATE);
    assert!(rates.windows(2).all(|w| w[0] < w[1]), "{rates:?}");
    assert_eq!(rates.last(), STEP_RATES.last());
    assert_eq!(Scenario::Cluster.ours_proto(), Proto::V1);
    assert!(!Scenario::Cluster.node_peers_apply() && !Scenario::Cluster.floor_applies());
    assert!(Scenario::QUICK.contains(&Scenario::Cluster));
}

#[test]
fn rate_names() {
    assert_eq!(rate_name(50_000.0), "50k/s");
    assert_eq!(rate_name(2_500_000.0), "2.5M/s");
    assert_eq!(PhaseSpec::Burst { msgs: 500, secs: 1.0 }.name(), "500 msgs in 1 s");
}
