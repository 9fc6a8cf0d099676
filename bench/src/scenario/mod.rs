//! The scenarios of the suite and what one run of each measured.
//!
//! A [`Scenario`] turns into a [`Plan`]: the shape of the connections (rooms, members,
//! senders, readers that stop) and a list of phases run one after the other on the same
//! connections. A phase yields a [`PhaseResult`]; the load generator prints a
//! [`ScenarioResult`] as JSON and the suite collects them. This module only describes;
//! `load` runs.

use serde::{Deserialize, Serialize};

use crate::proto::Proto;

mod result;
pub use result::*;

/// The fastest p99 a step of the rate ramp may have and still count as sustained.
pub const STEP_P99_LIMIT_US: u64 = 50_000;
/// The generator's own limits: past these a run measures the generator, not the server.
pub const GEN_CPU_LIMIT: f64 = 0.90;
pub const GEN_LATE_P99_LIMIT_US: u64 = 5_000;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// A smoke test: one room of 100 members at 5k deliveries/s (not in any default list).
    Room100,
    /// Issue 22: room1000's load with its 990 receivers on the
    /// HTTP stream (version 2; the 10 senders on version 2 WebSockets), against room1000
    /// on WebSockets: the CPU per delivery.
    Room1000Stream,
    /// Issue 22: 1000 HTTP streams that only connect (the server's memory per stream).
    Idle1kStream,
    /// 1000 connections that only connect (the server's memory per connection).
    Idle1k,
    Idle5k,
    Idle10k,
    /// One room of 1000 members, 10 senders, at 10k, 20k and 50k deliveries/s.
    Room1000,
    /// One room of 1000 members, rising rates until p99 > 50 ms or a loss.
    Step,
    /// 100 rooms of 10 members, one sender each.
    Rooms100,
    /// 500 messages in 1 s to one room of 1000 members.
    Burst,
    /// One room of 1000 members where 10 stop reading.
    Slow,
    /// One room of 1000 members at 20k/s, then the same while 10 clients that never read
    /// ask for 200 messages of 4000 characters at a time (`history`): in bursts, then at
    /// a steady rate.
    SlowHistory,
    /// Join storms (issue 15): N clients connect and join one room, version 2 on ours.
    Join2k,
    Join5k,
    Join10k,
    /// The same storms in version 1, for comparison (every join told to every member).
    Join2kV1,
    Join5kV1,
    Join10kV1,
    /// N bare upgrades (welcome, no join), timed: what the join storms are held against
    /// (Node `ws` accepting N bare connections), and our handshake path alone.
    Bare2k,
    Bare5k,
    Bare10k,
    /// Connect storms (issue 21): 8,000 clients of version 2 join one room, 200 and then
    /// 1,000 connecting at a time (browsers coming back after a restart), with the listen
    /// queue's overflows counted...
    Join8kBy200,
    Join8kBy1000,
    /// ...and the bare upgrades at the same concurrency: what they are held against.
    Bare8kBy200,
    Bare8kBy1000,
    /// 10,000 clients of version 2 in one room; the server restarts (SIGTERM, then
    /// started again) and each comes back within a second with its resume token and
    /// rejoins with `after` (bare upgrades on the Node peer).
    Reconnect10k,
    /// Issue 26: the same storm while the server holds 10,000 rooms: each client is in a
    /// room of its own and rejoins it, so version 2's `welcome` must stay the bounded
    /// first view however many rooms come back. Held against `reconnect10k` (one room).
    Reconnect10kRooms,
    /// One room of 10,000 members (version 2 on ours), 10 senders at 50k deliveries/s.
    Room10k,
    /// 1000 rooms of one member, 500 joins and 500 leaves a second elsewhere: what the
    /// directory's updates cost every connection (version 2's `rooms_delta`).
    Churn,
    /// The same in version 1 (the whole directory on every change).
    ChurnV1,
    /// Issue 26: version 2's directory at any size: 10 rooms and 10,000 rooms of one
    /// member, with the same churn; each reports a newcomer's `welcome` bytes too.
    Churn10,
    Churn10k,
    /// Issue 13: one room of 1000 members, 10 senders, at 50k deliveries/s and then at
    /// rising rates until p99 > 50 ms or a loss, on one node alone and on `--redis`
    /// deployments (one node, and two nodes with 500 members each).
    Cluster,
    /// Issue 24: what Prometheus costs. One room of 1000 members at 20k deliveries/s, the
    /// same load four times after a warm-up, without and with `/metrics` scraped every
    /// second: the CPU per delivery of the two, and their ratio (ours only).
    MetricsScrape,
}

impl Scenario {
    pub const ALL: [Self; 31] = [
        Self::Idle1k,
        Self::Idle5k,
        Self::Idle10k,
        Self::Idle1kStream,
        Self::Room1000,
        Self::Room1000Stream,
        Self::Step,
        Self::Rooms100,
        Self::Burst,
        Self::Slow,
        Self::SlowHistory,
        Self::Bare2k,
        Self::Bare5k,
        Self::Bare10k,
        Self::Join2k,
        Self::Join5k,
        Self::Join10k,
        Self::Join2kV1,
        Self::Join5kV1,
        Self::Join10kV1,
        Self::Bare8kBy200,
        Self::Join8kBy200,
        Self::Bare8kBy1000,
        Self::Join8kBy1000,
        Self::Reconnect10k,
        Self::Reconnect10kRooms,
        Self::Room10k,
        Self::Churn,
        Self::ChurnV1,
        Self::Cluster,
        Self::MetricsScrape,
    ];

    /// Runnable by name, in no default list: the smoke test, and the directory's churn
    /// with 10 and with 10,000 rooms (issue 26's figures).
    pub const EXTRA: [Self; 3] = [Self::Room100, Self::Churn10, Self::Churn10k];

    /// What `--quick` runs: enough for every target, in about two minutes.
    /// Version 1's storms are quadratic (each join told to every member), so quick runs
    /// compare the versions at 2k only.
    /// The cluster runs only its 50k phase there (no rate ramp).
    pub const QUICK: [Self; 24] = [
        Self::Idle10k,
        Self::Idle1kStream,
        Self::Room1000,
        Self::Room1000Stream,
        Self::Step,
        Self::Rooms100,
        Self::Burst,
        Self::Slow,
        Self::SlowHistory,
        Self::Bare10k,
        Self::Join2k,
        Self::Join10k,
        Self::Join2kV1,
        Self::Bare8kBy200,
        Self::Join8kBy200,
        Self::Bare8kBy1000,
        Self::Join8kBy1000,
        Self::Reconnect10k,
        Self::Reconnect10kRooms,
        Self::Room10k,
        Self::Churn,
        Self::ChurnV1,
        Self::Cluster,
        Self::MetricsScrape,
    ];

    /// The name on the command line and in the JSON (clap's and serde's spelling).
    pub fn name(self) -> &'static str {
        match self {
            Self::Room100 => "room100",
            Self::Room1000Stream => "room1000-stream",
            Self::Idle1kStream => "idle1k-stream",
            Self::Idle1k => "idle1k",
            Self::Idle5k => "idle5k",
            Self::Idle10k => "idle10k",
            Self::Room1000 => "room1000",
            Self::Step => "step",
            Self::Rooms100 => "rooms100",
            Self::Burst => "burst",
            Self::Slow => "slow",
            Self::SlowHistory => "slow-history",
            Self::Join2k => "join2k",
            Self::Join5k => "join5k",
            Self::Join10k => "join10k",
            Self::Join2kV1 => "join2k-v1",
            Self::Join5kV1 => "join5k-v1",
            Self::Join10kV1 => "join10k-v1",
            Self::Bare2k => "bare2k",
            Self::Bare5k => "bare5k",
            Self::Bare10k => "bare10k",
            Self::Join8kBy200 => "join8k-by200",
            Self::Join8kBy1000 => "join8k-by1000",
            Self::Bare8kBy200 => "bare8k-by200",
            Self::Bare8kBy1000 => "bare8k-by1000",
            Self::Reconnect10k => "reconnect10k",
            Self::Reconnect10kRooms => "reconnect10k-rooms",
            Self::Room10k => "room10k",
            Self::Churn => "churn",
            Self::ChurnV1 => "churn-v1",
            Self::Churn10 => "churn10",
            Self::Churn10k => "churn10k",
            Self::Cluster => "cluster",
            Self::MetricsScrape => "metrics-scrape",
        }
    }

    /// The protocol our server is driven with: version 2 in the scenarios of issue 15
    /// (except their `-v1` twins), version 1 in the older ones, so their figures stay
    /// comparable with earlier runs.
    pub fn ours_proto(self) -> Proto {
        match self {
            Self::Join2k
            | Self::Join5k
            | Self::Join10k
            | Self::Bare2k
            | Self::Bare5k
            | Self::Bare10k
            | Self::Join8kBy200
            | Self::Join8kBy1000
            | Self::Bare8kBy200
            | Self::Bare8kBy1000
            | Self::Reconnect10k
            | Self::Reconnect10kRooms
            | Self::Room10k
            | Self::Churn
            | Self::Churn10
            | Self::Churn10k => Proto::V2,
            Self::Room1000Stream | Self::Idle1kStream => Proto::Stream,
            _ => Proto::V1,
        }
    }

    /// Whether the Node peers run this scenario. They have no `history`, `leave`, version
    /// 2 or directory updates; they run the bare storms (what the join storms are held
    /// against) but not the join storms (that comparison is version 1's, in ours). And
    /// they answer every `join` with the whole member list, so a room of 10,000 would
    /// measure that list, not the fan-out.
    pub fn node_peers_apply(self) -> bool {
        !matches!(
            self,
            Self::SlowHistory
                | Self::Join2k
                | Self::Join5k
                | Self::Join10k
                | Self::Join2kV1
                | Self::Join5kV1
                | Self::Join10kV1
                | Self::Join8kBy200
                | Self::Join8kBy1000
                | Self::Reconnect10kRooms
                | Self::Room10k
                | Self::Churn
                | Self::ChurnV1
                | Self::Churn10
                | Self::Churn10k
                | Self::Cluster
                | Self::Room1000Stream
                | Self::Idle1kStream
                | Self::MetricsScrape
        )
    }

    /// Whether the floor (which only relays to readers, and drops what a socket cannot
    /// take at once) means anything here: only the steady fan-outs.
    pub fn floor_applies(self) -> bool {
        matches!(self, Self::Room100 | Self::Room1000 | Self::Step | Self::Rooms100 | Self::Room10k)
    }

    pub fn is_idle(self) -> bool {
        matches!(self, Self::Idle1k | Self::Idle5k | Self::Idle10k | Self::Idle1kStream)
    }

    /// Whether the scenario needs protocol v1's `history`, which only our server answers
    /// (the Node peers speak the subset without it).
    pub fn needs_history(self) -> bool {
        self == Self::SlowHistory
    }

    /// The phase of a join or bare storm: its size, whether its clients join, and how
    /// many connect at a time.
    pub fn storm(self) -> Option<PhaseSpec> {
        let (conns, join, concurrency) = match self {
            Self::Join2k | Self::Join2kV1 => (2_000, true, STORM_CONCURRENCY),
            Self::Join5k | Self::Join5kV1 => (5_000, true, STORM_CONCURRENCY),
            Self::Join10k | Self::Join10kV1 => (10_000, true, STORM_CONCURRENCY),
            Self::Bare2k => (2_000, false, STORM_CONCURRENCY),
            Self::Bare5k => (5_000, false, STORM_CONCURRENCY),
            Self::Bare10k => (10_000, false, STORM_CONCURRENCY),
            Self::Join8kBy200 => (8_000, true, 200),
            Self::Join8kBy1000 => (8_000, true, 1_000),
            Self::Bare8kBy200 => (8_000, false, 200),
            Self::Bare8kBy1000 => (8_000, false, 1_000),
            _ => return None,
        };
        Some(PhaseSpec::Storm { conns, join, concurrency })
    }

    pub fn plan(self, quick: bool) -> Plan {
        // Full runs take three rounds of every server: about 15 minutes in all.
        let secs = if quick { 2.0 } else { 4.0 };
        let one_room = Layout { rooms: 1, members: 1000, senders: 10, stoppers: 0, text_len: 64 };
        let steady = |rate: f64, secs: f64| PhaseSpec::Steady { rate, secs, stop_readers: false, slow: None };
        match self {
            Self::Room100 => Plan {
                layout: Some(Layout { members: 100, ..one_room }),
                phases: vec![steady(5_000.0, secs)],
                until_failure: false,
                fill: None,
            },
            Self::Join2k
            | Self::Join5k
            | Self::Join10k
            | Self::Join2kV1
            | Self::Join5kV1
            | Self::Join10kV1
            | Self::Bare2k
            | Self::Bare5k
            | Self::Bare10k
            | Self::Join8kBy200
            | Self::Join8kBy1000
            | Self::Bare8kBy200
            | Self::Bare8kBy1000 => Plan {
                layout: None,
                phases: vec![self.storm().expect("a storm")],
                until_failure: false,
                fill: None,
            },
            Self::Reconnect10k => Plan {
                layout: None,
                phases: vec![PhaseSpec::Reconnect { conns: RECONNECTS, rooms: 1 }],
                until_failure: false,
                fill: None,
            },
            Self::Reconnect10kRooms => Plan {
                layout: None,
                phases: vec![PhaseSpec::Reconnect { conns: RECONNECTS, rooms: RECONNECT_ROOMS }],
                until_failure: false,
                fill: None,
            },
            Self::Room10k => Plan {
                layout: Some(Layout { members: 10_000, ..one_room }),
                phases: vec![steady(50_000.0, secs)],
                until_failure: false,
                fill: None,
            },
            Self::Churn | Self::ChurnV1 => Plan {
                layout: Some(Layout { rooms: 1_000, members: 1, senders: 0, stoppers: 0, text_len: 64 }),
                phases: vec![PhaseSpec::Churn { rate: CHURN_RATE, secs: secs * 2.0 }],
                until_failure: false,
                fill: None,
            },
            Self::Churn10 | Self::Churn10k => Plan {
                layout: Some(Layout {
                    rooms: if self == Self::Churn10 { 10 } else { 10_000 },
                    members: 1,
                    senders: 0,
                    stoppers: 0,
                    text_len: 64,
                }),
                phases: vec![PhaseSpec::Churn { rate: CHURN_RATE, secs: secs * 2.0 }],
                until_failure: false,
                fill: None,
            },
            Self::Idle1k | Self::Idle1kStream => Plan::idle(1_000),
            Self::Idle5k => Plan::idle(5_000),
            Self::Idle10k => Plan::idle(10_000),
            Self::Room1000 | Self::Room1000Stream => Plan {
                layout: Some(one_room),
                phases: [10_000.0, 20_000.0, 50_000.0].map(|r| steady(r, secs)).to_vec(),
                until_failure: false,
                fill: None,
            },
            Self::Step => {
                let step_secs = if quick { 1.5 } else { 2.5 };
                Plan {
                    layout: Some(one_room),
                    phases: STEP_RATES.iter().map(|&r| steady(r, step_secs)).collect(),
                    until_failure: true,
                    fill: None,
                }
            }
            // The 50k phase the targets are read at, as long as room1000's; then, in full
            // runs, the step ramp's rates above it, until the first that is not sustained.
            Self::Cluster => Plan {
                layout: Some(one_room),
                phases: std::iter::once(steady(CLUSTER_RATE, secs))
                    .chain(
                        STEP_RATES.iter().filter(|&&r| !quick && r > CLUSTER_RATE).map(|&r| steady(r, 2.5)),
                    )
                    .collect(),
                until_failure: true,
                fill: None,
            },
            // A phase to warm up (the first after set-up costs more, scraped or not), then
            // off, on, on, off: a steady drift of the machine over the run (another
            // program on the core, the CPU's clock) weighs on both sides alike. Long
            // phases: the kernel counts CPU time in ticks of 10 ms, and a 2% difference
            // must stand out of that grain.
            Self::MetricsScrape => Plan {
                layout: Some(one_room),
                phases: std::iter::once(steady(SCRAPE_RATE, secs))
                    .chain([false, true, true, false].map(|scraped| PhaseSpec::Scraped {
                        rate: SCRAPE_RATE,
                        secs: secs * 2.5,
                        scraped,
                    }))
                    .collect(),
                until_failure: false,
                fill: None,
            },
            Self::Rooms100 => Plan {
                layout: Some(Layout { rooms: 100, members: 10, senders: 100, stoppers: 0, text_len: 64 }),
                phases: vec![steady(20_000.0, secs)],
                until_failure: false,
                fill: None,
            },
            Self::Burst => Plan {
                layout: Some(one_room),
                phases: vec![PhaseSpec::Burst { msgs: 500, secs: 1.0 }],
                until_failure: false,
                fill: None,
            },
            Self::Slow => Plan {
                // The largest texts and readers with a tiny receive buffer, so what the
                // stopped readers do not take piles up in the server soon.
                layout: Some(Layout { stoppers: 10, text_len: 4000, ..one_room }),
                phases: vec![
                    steady(20_000.0, secs),
                    PhaseSpec::Steady { rate: 20_000.0, secs: secs * 2.0, stop_readers: true, slow: None },
                ],
                until_failure: false,
                fill: None,
            },
            Self::SlowHistory => Plan {
                // The same load in one run, without and then with the slow readers, so the
                // phases differ only by them. Each is long enough for several of their
                // connections (about a second each) to be dropped and replaced, and no
                // longer in a full run: its three rounds give the spread, and it runs on
                // every variant of ours. Bursts (all the rate limit allows
                // at once) arrive in one read, so they test how long the server's work for
                // one client can hold up the others; the steady rate fills each queue up
                // to its bound, so it tests the memory.
                layout: Some(one_room),
                phases: [None, Some(HISTORY_BURST), Some(1)]
                    .map(|burst| PhaseSpec::Steady {
                        rate: 20_000.0,
                        secs: 4.0,
                        stop_readers: false,
                        slow: burst.map(|burst| SlowAsk { readers: SLOW_READERS, burst }),
                    })
                    .to_vec(),
                until_failure: false,
                fill: Some(Fill { room: BIG_ROOM, msgs: FILL_MSGS, text_len: BIG_TEXT }),
            },
        }
    }
}

/// How the connections of a scenario are arranged. Connection `i` is in room
/// `i % rooms`; the first `senders` connections send (so with as many senders as rooms,
/// one per room); the last `stoppers` connections stop reading when told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub rooms: u32,
    pub members: u32,
    pub senders: u32,
    pub stoppers: u32,
    /// The length of every sent text (the marker, then padding).
    pub text_len: usize,
}

impl Layout {
    pub fn conns(&self) -> u32 {
        self.rooms * self.members
    }
}

/// The rates of the step ramp, deliveries per second.
pub const STEP_RATES: [f64; 12] = [
    25_000.0,
    50_000.0,
    75_000.0,
    100_000.0,
    150_000.0,
    200_000.0,
    250_000.0,
    300_000.0,
    400_000.0,
    500_000.0,
    700_000.0,
    1_000_000.0,
];
/// The rate the cluster's targets are read at (issue 13).
pub const CLUSTER_RATE: f64 = 50_000.0;

/// The rate of the scraping scenario's phases, deliveries per second, and how often the
/// generator reads `/metrics` in its scraped phases (Prometheus's usual interval is 15 s;
/// every second is the harder case).
pub const SCRAPE_RATE: f64 = 20_000.0;
pub const SCRAPE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Directory churn: joins a second (each with a leave of the room joined before), spread
/// over [`CHURNERS`] clients that each hold one room at a time.
pub const CHURN_RATE: f64 = 500.0;
pub const CHURNERS: u32 = 10;
/// The room every client of a join storm joins.
pub const STORM_ROOM: &str = "r0";
/// Handshakes in flight at once in the storms of issue 15 (and while a layout connects).
pub const STORM_CONCURRENCY: u32 = 64;
/// The clients of the reconnect storm.
pub const RECONNECTS: u32 = 10_000;
/// The rooms they are spread over in `reconnect10k-rooms` (one each).
pub const RECONNECT_ROOMS: u32 = 10_000;

/// The slow-history scenario: how many clients ask for big answers and never read them.
pub const SLOW_READERS: u32 = 10;
/// The room they ask about, filled before the phases with messages of the largest size.
pub const BIG_ROOM: &str = "big";
/// Enough for every `history` answer to hold the most the server gives (200 messages).
pub const FILL_MSGS: u32 = 250;
/// The longest text protocol v1 allows.
pub const BIG_TEXT: usize = 4000;
/// Messages per `history` request: the most the server answers at once.
pub const HISTORY_LIMIT: u32 = 200;
/// A slow reader's requests keep within the server's default rate limit: at most this
/// many at once when it connects (the bucket's burst), then `HISTORY_RATE` per second.
pub const HISTORY_BURST: u32 = 40;
pub const HISTORY_RATE: f64 = 20.0;

/// Clients that ask for the filled room's history and never read the answers: each sends
/// `burst` requests at once when it connects, then [`HISTORY_RATE`] a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowAsk {
    pub readers: u32,
    pub burst: u32,
}

/// Messages written to one room before the phases: what `history` will answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub room: &'static str,
    pub msgs: u32,
    pub text_len: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PhaseSpec {
    /// Connect this many, join nothing, measure the server's memory.
    Idle { conns: u32 },
    /// Send at `rate` deliveries per second for `secs`; `stop_readers` first tells the
    /// stoppers to stop reading; meanwhile the `slow` clients ask for the filled room's
    /// history and never read the answers.
    Steady { rate: f64, secs: f64, stop_readers: bool, slow: Option<SlowAsk> },
    /// `msgs` messages evenly within `secs`, then measure how long the fan-out drains.
    Burst { msgs: u64, secs: f64 },
    /// Connect `conns` clients as fast as the server takes them, `concurrency` at a time,
    /// each joining [`STORM_ROOM`] if `join`: the time until all are in, what the server
    /// sent them, its CPU and memory, and the listen queue's overflows.
    Storm { conns: u32, join: bool, concurrency: u32 },
    /// `conns` clients spread over `rooms` rooms (client `i` in room `i % rooms`, the first
    /// [`STORM_ROOM`]; bare, on a server without resuming); the server restarts and every
    /// client comes back within a second, with its resume token and `join.after`: the time
    /// from the restarted server's start until all are in again.
    Reconnect { conns: u32, rooms: u32 },
    /// [`CHURNERS`] extra clients join and leave rooms, `rate` joins (and as many leaves)
    /// a second for `secs`, while the layout's clients only read.
    Churn { rate: f64, secs: f64 },
    /// As `Steady` (no stopped or slow readers), with `/metrics` of every node read each
    /// [`SCRAPE_EVERY`] meanwhile when `scraped`.
    Scraped { rate: f64, secs: f64, scraped: bool },
}

impl PhaseSpec {
    pub fn name(&self) -> String {
        match self {
            Self::Idle { conns } => format!("{conns} idle"),
            Self::Steady { rate, stop_readers: false, slow: None, .. } => rate_name(*rate),
            Self::Steady { rate, stop_readers: true, .. } => {
                format!("{} (stopped readers)", rate_name(*rate))
            }
            Self::Steady { rate, slow: Some(SlowAsk { readers, burst: 1 }), .. } => {
                format!("{} + {readers} slow readers, {HISTORY_RATE} history/s", rate_name(*rate))
            }
            Self::Steady { rate, slow: Some(SlowAsk { readers, burst }), .. } => {
                format!("{} + {readers} slow readers, bursts of {burst} history", rate_name(*rate))
            }
            Self::Burst { msgs, secs } => format!("{msgs} msgs in {secs} s"),
            Self::Storm { conns, join, concurrency } => {
                let what = if *join { "joins" } else { "bare upgrades" };
                if *concurrency == STORM_CONCURRENCY {
                    format!("{conns} {what}")
                } else {
                    format!("{conns} {what}, {concurrency} at a time")
                }
            }
            Self::Reconnect { conns, rooms: 1 } => format!("{conns} reconnects"),
            Self::Reconnect { conns, rooms } => format!("{conns} reconnects, {rooms} rooms"),
            Self::Churn { rate, .. } => format!("{rate} joins and leaves/s"),
            Self::Scraped { rate, scraped: true, .. } => {
                format!("{}, /metrics every {} s", rate_name(*rate), SCRAPE_EVERY.as_secs())
            }
            Self::Scraped { rate, scraped: false, .. } => format!("{}, not scraped", rate_name(*rate)),
        }
    }
}

/// `50k/s`, `1.5M/s`: the offered rate as the tables show it.
pub fn rate_name(rate: f64) -> String {
    if rate >= 1e6 { format!("{}M/s", rate / 1e6) } else { format!("{}k/s", rate / 1e3) }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub layout: Option<Layout>,
    pub phases: Vec<PhaseSpec>,
    /// Stop after the first phase that does not [`PhaseResult::sustained`] (a rate ramp).
    pub until_failure: bool,
    /// Messages to store before the phases, for `history` to answer with.
    pub fill: Option<Fill>,
}

impl Plan {
    fn idle(conns: u32) -> Self {
        Self { layout: None, phases: vec![PhaseSpec::Idle { conns }], until_failure: false, fill: None }
    }
}

#[cfg(test)]
mod tests;
