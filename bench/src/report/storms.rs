//! Connect storms (issue 21): many clients connecting at once, as browsers do when they
//! come back after a restart. The join storms at 200 and 1,000 handshakes in flight
//! against `ws`'s bare accepts at the same concurrency, with the listen queue's overflows,
//! and the reconnect storm after a restart, in one room and over 10,000 (issue 26).

use std::fmt::Write;

use super::*;
use crate::scenario::{PhaseSpec, RECONNECT_ROOMS, RECONNECTS};

/// Issue 21: 8,000 joins at most this many times `ws`'s bare accepts at the same
/// concurrency (and no listen overflow); the reconnect storm at most this many times
/// `ws`'s.
const CONNECT_VS_WS_BARE: f64 = 1.2;
const RECONNECT_VS_WS: f64 = 2.0;
/// Issue 26: the reconnect storm over 10,000 rooms at most this many times the same storm
/// in one room, and the largest `welcome` a client got back at most this many bytes.
const ROOMS_VS_ONE_ROOM: f64 = 1.2;
const ROOMS_WELCOME_MAX: f64 = 8.0 * 1024.0;
/// The connect storms: handshakes in flight, ours joining, and the bare storm of each.
const CONNECT_STORMS: [(u32, Scenario, Scenario); 2] = [
    (200, Scenario::Join8kBy200, Scenario::Bare8kBy200),
    (1_000, Scenario::Join8kBy1000, Scenario::Bare8kBy1000),
];

/// The reconnect storm's phase name.
fn reconnects() -> String {
    PhaseSpec::Reconnect { conns: RECONNECTS, rooms: 1 }.name()
}

/// The phase name of the reconnect storm over [`RECONNECT_ROOMS`].
fn reconnects_in_rooms() -> String {
    PhaseSpec::Reconnect { conns: RECONNECTS, rooms: RECONNECT_ROOMS }.name()
}

impl Report {
    /// The most listen overflows of any valid round.
    fn worst_overflows(&self, server: &str, scenario: Scenario, phase: &str) -> Option<f64> {
        self.figure(server, scenario, phase, |p| p.listen_overflows.map(|n| n as f64)).map(|s| s.max)
    }

    /// The targets of issue 21.
    pub(super) fn connect_storm_targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        for (concurrency, join, bare) in CONNECT_STORMS {
            let ours = self.storm(OURS, join, |p| Some(p.secs));
            let ws = self.storm(WS, bare, |p| Some(p.secs));
            let phase = join.storm().expect("a storm").name();
            let overflows = self.worst_overflows(OURS, join, &phase);
            let r = ratio(ours, ws);
            out.push(Target {
                what: format!(
                    "8k clients of version 2 join one room, {concurrency} connecting at a time, vs `ws` \
                     accepting 8k bare connections alike; listen overflows"
                ),
                goal: format!("≤ {CONNECT_VS_WS_BARE:.2}×, none"),
                measured: match (r, ours, ws) {
                    (Some(r), Some(a), Some(b)) => format!(
                        "{r:.2}× ({a:.2} s vs {b:.2} s), {} overflows",
                        overflows.map_or("?".into(), |n| format!("{n:.0}"))
                    ),
                    _ => "–".into(),
                },
                status: match overflows {
                    Some(n) if n > 0.0 => Status::Missed,
                    _ => Status::of(r, |r| r <= CONNECT_VS_WS_BARE),
                },
            });
        }
        let back =
            |server: &str| self.median(server, Scenario::Reconnect10k, &reconnects(), |p| Some(p.secs));
        let (ours, ws) = (back(OURS_SQLITE), back(WS));
        let r = ratio(ours, ws);
        out.push(Target {
            what:
                "10k clients of version 2 come back after a restart (SQLite), resume and rejoin, vs `ws`'s \
                   bare reconnects"
                    .into(),
            goal: format!("≤ {RECONNECT_VS_WS:.2}×"),
            measured: match (r, ours, ws) {
                (Some(r), Some(a), Some(b)) => format!("{r:.2}× ({a:.2} s vs {b:.2} s)"),
                _ => "–".into(),
            },
            status: Status::of(r, |r| r <= RECONNECT_VS_WS),
        });
        out.push(self.reconnect_rooms_target());
        out
    }

    /// Issue 26: the reconnect storm while the server holds 10,000 rooms, against the same
    /// storm in one room on the same server in the same run; and the largest `welcome`.
    fn reconnect_rooms_target(&self) -> Target {
        let rooms =
            self.median(OURS_SQLITE, Scenario::Reconnect10kRooms, &reconnects_in_rooms(), |p| Some(p.secs));
        let one = self.median(OURS_SQLITE, Scenario::Reconnect10k, &reconnects(), |p| Some(p.secs));
        let welcome = self
            .figure(OURS_SQLITE, Scenario::Reconnect10kRooms, &reconnects_in_rooms(), |p| {
                p.welcome_bytes.map(|b| b as f64)
            })
            .map(|s| s.max);
        let r = ratio(rooms, one);
        Target {
            what: "10k clients of version 2 come back after a restart (SQLite) to 10k rooms, one each, vs \
                   the same storm in one room; the largest `welcome` they got"
                .into(),
            goal: format!("≤ {ROOMS_VS_ONE_ROOM:.2}×, ≤ {:.0} KB", ROOMS_WELCOME_MAX / 1024.0),
            measured: match (r, rooms, one) {
                (Some(r), Some(a), Some(b)) => format!(
                    "{r:.2}× ({a:.2} s vs {b:.2} s), {}",
                    welcome.map_or("?".into(), |b| format!("{:.1} KB", b / 1024.0))
                ),
                _ => "–".into(),
            },
            status: match welcome {
                Some(b) if b > ROOMS_WELCOME_MAX => Status::Missed,
                _ => Status::of(r, |r| r <= ROOMS_VS_ONE_ROOM),
            },
        }
    }
}

/// The connect storms and the reconnect storm.
pub(super) fn section(r: &Report, out: &mut String) {
    let _ = writeln!(out, "## Connect storms: 8,000 clients, 200 and 1,000 connecting at a time\n");
    out.push_str(
        "As the join storms above, with 200 or 1,000 handshakes in flight (each client that is in \
         makes room for the next). Listen overflows are the connections the kernel dropped because \
         a listen queue was full (`nstat`'s `TcpExtListenOverflows`, over the storm, counted for \
         the whole machine): each such client waits a second for its SYN's retransmit.\n\n",
    );
    let mut rows = Vec::new();
    for (concurrency, join, bare) in CONNECT_STORMS {
        let yardstick = r.storm(WS, bare, |p| Some(p.secs));
        for (scenario, what) in [(join, "join, v2"), (bare, "bare upgrade")] {
            r.storm_rows(
                &mut rows,
                (&concurrency.to_string(), what, scenario),
                yardstick,
                &[(|p| p.listen_overflows.map(|n| n as f64), 1.0, 0), (|p| Some(p.server.cpu_ms), 1.0, 0)],
            );
        }
    }
    table(
        out,
        &[
            "at a time",
            "what",
            "server",
            "all in s",
            "vs ws bare",
            "listen overflows",
            "server CPU ms",
            "valid rounds",
        ],
        &rows,
    );

    let _ = writeln!(out, "## Reconnect storm: 10,000 clients come back after a restart\n");
    out.push_str(
        "10,000 clients of version 2 in one room (bare upgrades on `ws`); the server gets SIGTERM, \
         and once it has exited it is started again with the same command. Every client, when its \
         connection ends, comes back at a moment spread evenly over the next second (retrying \
         every 50–150 ms while refused), with its resume token, and rejoins with `after` the \
         last message it saw. \"back\" is the time from the new server's start until the last \
         client has its `joined` (`welcome` on `ws`); \"stop\" is how long the old server took to \
         exit; CPU is the new server's.\n\n",
    );
    let phase = reconnects();
    let yardstick = r.median(WS, Scenario::Reconnect10k, &phase, |p| Some(p.secs));
    let mut rows = Vec::new();
    for server in &r.servers {
        let runs = r.runs(server, Scenario::Reconnect10k, &phase);
        if runs.is_empty() {
            continue;
        }
        let fig = |f: fn(&PhaseResult) -> Option<f64>| r.figure(server, Scenario::Reconnect10k, &phase, f);
        let secs = fig(|p| Some(p.secs));
        rows.push(vec![
            server.clone(),
            show(secs, 1.0, 2),
            ratio(secs.map(|s| s.median), yardstick).map_or("–".into(), |x| format!("{x:.2}×")),
            show(fig(|p| p.drain_ms), 1e-3, 2),
            show(fig(|p| p.listen_overflows.map(|n| n as f64)), 1.0, 0),
            show(fig(|p| Some(p.server.cpu_ms)), 1.0, 0),
            validity(&runs),
        ]);
    }
    table(
        out,
        &["server", "back s", "vs ws", "stop s", "listen overflows", "server CPU ms", "valid rounds"],
        &rows,
    );

    let _ = writeln!(out, "## Reconnect storm with 10,000 rooms (issue 26)\n");
    out.push_str(
        "The same storm with each client in a room of its own, so the server holds 10,000 rooms \
         again as they come back: version 2's `welcome` must stay a first view (the lobby, the \
         session's rooms, the busiest few) and the storm as fast as in one room. \"vs 1 room\" is \
         the storm above on the same server in the same run; \"welcome\" is the largest any \
         client got back.\n\n",
    );
    let phase = reconnects_in_rooms();
    let mut rows = Vec::new();
    for server in &r.servers {
        let runs = r.runs(server, Scenario::Reconnect10kRooms, &phase);
        if runs.is_empty() {
            continue;
        }
        let fig =
            |f: fn(&PhaseResult) -> Option<f64>| r.figure(server, Scenario::Reconnect10kRooms, &phase, f);
        let secs = fig(|p| Some(p.secs));
        let one = r.median(server, Scenario::Reconnect10k, &reconnects(), |p| Some(p.secs));
        rows.push(vec![
            server.clone(),
            show(secs, 1.0, 2),
            ratio(secs.map(|s| s.median), one).map_or("–".into(), |x| format!("{x:.2}×")),
            show(fig(|p| p.welcome_bytes.map(|b| b as f64)), 1.0 / 1024.0, 1),
            show(fig(|p| p.listen_overflows.map(|n| n as f64)), 1.0, 0),
            show(fig(|p| Some(p.server.cpu_ms)), 1.0, 0),
            validity(&runs),
        ]);
    }
    table(
        out,
        &["server", "back s", "vs 1 room", "welcome KB", "listen overflows", "server CPU ms", "valid rounds"],
        &rows,
    );
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;

    fn storm_record(server: &str, scenario: Scenario, secs: f64, overflows: u64) -> Record {
        let name = match scenario {
            Scenario::Reconnect10kRooms => reconnects_in_rooms(),
            _ => scenario.storm().map_or_else(reconnects, |s| s.name()),
        };
        let mut p = phase(&name, 0.0, 0.0, 0);
        p.latency = None;
        p.cpu_per_delivery_us = None;
        p.secs = secs;
        p.listen_overflows = Some(overflows);
        record(1, server, scenario, vec![p])
    }

    #[test]
    fn connect_storms_are_held_against_ws_at_the_same_concurrency_and_without_overflows() {
        let records = vec![
            storm_record(OURS, Scenario::Join8kBy200, 1.1, 0),
            storm_record(WS, Scenario::Bare8kBy200, 1.0, 0),
            storm_record(OURS, Scenario::Join8kBy1000, 0.9, 12),
            storm_record(WS, Scenario::Bare8kBy1000, 1.0, 0),
            storm_record(OURS_SQLITE, Scenario::Reconnect10k, 3.0, 0),
            storm_record(WS, Scenario::Reconnect10k, 1.2, 0),
        ];
        let mut r = report(records);
        r.servers.insert(1, OURS_SQLITE.into());
        let t = r.connect_storm_targets();
        let at200 = target(&t, "200 connecting at a time");
        assert_eq!(
            (at200.measured.as_str(), at200.status),
            ("1.10× (1.10 s vs 1.00 s), 0 overflows", Status::Met)
        );
        // Fast, but with overflows: missed.
        let at1000 = target(&t, "1000 connecting at a time");
        assert_eq!(
            (at1000.measured.as_str(), at1000.status),
            ("0.90× (0.90 s vs 1.00 s), 12 overflows", Status::Missed)
        );
        let back = target(&t, "come back after a restart");
        assert_eq!((back.measured.as_str(), back.status), ("2.50× (3.00 s vs 1.20 s)", Status::Missed));
        let md = render(&r);
        assert!(md.contains("| 1000 | join, v2 | ours | 0.90 | 0.90× | 12 |"), "{md}");
        assert!(md.contains("| 200 | bare upgrade | ws | 1.00 | 1.00× | 0 |"), "{md}");
        assert!(md.contains("| ours+sqlite | 3.00 | 2.50× |"), "{md}");

        let none = report(Vec::new());
        for what in ["200 connecting", "1000 connecting", "after a restart"] {
            assert_eq!(target(&none.connect_storm_targets(), what).status, Status::NotMeasured, "{what}");
        }
    }
}

#[cfg(test)]
mod rooms_tests {
    use super::super::tests::*;
    use super::*;

    fn reconnect_record(round: u32, scenario: Scenario, secs: f64, welcome: u64) -> Record {
        let name = if scenario == Scenario::Reconnect10kRooms { reconnects_in_rooms() } else { reconnects() };
        let mut p = phase(&name, 0.0, 0.0, 0);
        (p.latency, p.cpu_per_delivery_us, p.secs) = (None, None, secs);
        p.listen_overflows = Some(0);
        p.welcome_bytes = Some(welcome);
        record(round, OURS_SQLITE, scenario, vec![p])
    }

    fn rooms_report(records: Vec<Record>) -> Report {
        let mut r = report(records);
        r.servers = vec![OURS_SQLITE.into()];
        r
    }

    #[test]
    fn the_storm_over_10k_rooms_is_held_against_one_room_and_its_welcome_bounded() {
        let r = rooms_report(vec![
            reconnect_record(1, Scenario::Reconnect10k, 2.0, 150),
            reconnect_record(1, Scenario::Reconnect10kRooms, 2.2, 700),
        ]);
        let targets = r.connect_storm_targets();
        let t = target(&targets, "to 10k rooms");
        assert_eq!((t.measured.as_str(), t.status), ("1.10× (2.20 s vs 2.00 s), 0.7 KB", Status::Met));
        let md = render(&r);
        assert!(md.contains("## Reconnect storm with 10,000 rooms"), "{md}");
        assert!(md.contains("| ours+sqlite | 2.20 | 1.10× | 0.7 |"), "{md}");

        // Slower than the bound: missed.
        let slow = rooms_report(vec![
            reconnect_record(1, Scenario::Reconnect10k, 2.0, 150),
            reconnect_record(1, Scenario::Reconnect10kRooms, 3.0, 700),
        ]);
        assert_eq!(target(&slow.connect_storm_targets(), "to 10k rooms").status, Status::Missed);
        // Fast, but a client was sent the whole directory: missed.
        let whole = rooms_report(vec![
            reconnect_record(1, Scenario::Reconnect10k, 2.0, 150),
            reconnect_record(1, Scenario::Reconnect10kRooms, 2.0, 340_000),
        ]);
        let targets = whole.connect_storm_targets();
        let t = target(&targets, "to 10k rooms");
        assert_eq!((t.measured.as_str(), t.status), ("1.00× (2.00 s vs 2.00 s), 332.0 KB", Status::Missed));
        // Without the one-room storm there is nothing to hold it against.
        let alone = rooms_report(vec![reconnect_record(1, Scenario::Reconnect10kRooms, 2.0, 700)]);
        assert_eq!(target(&alone.connect_storm_targets(), "to 10k rooms").status, Status::NotMeasured);
    }
}
