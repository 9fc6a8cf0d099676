//! The load generator: opens the connections of one scenario against one server, runs its
//! phases, and measures every delivery at every receiver.
//!
//! The receivers run on one thread (a current-thread runtime and a `LocalSet`; the suite
//! pins the process to its own core), so the counters are plain `Cell`s shared by `Rc`.
//! Each connection is one task that owns its socket's read half: it reads into a buffer
//! allocated once, splits frames in place (`conn`), finds the marker by a substring search
//! (no JSON parsing), records the latency and counts the delivery. The senders' write
//! halves and the schedule live on a second thread (`sender`), so the schedule is kept
//! while the receivers are busy.
//!
//! Latency is measured from the moment the scheduler hands a message to its sender's
//! queue, so time a frame waits for a server that does not read its socket counts. The
//! scheduler never waits for the server (it drops and flags a send rather than block), so
//! a slow server cannot slow the schedule down and hide its own delay (no coordinated
//! omission). How late the hand-offs were against the schedule is reported (tokio's
//! timer has a 1 ms grain), and a phase where the generator was the bottleneck (its CPU
//! > 90% or hand-offs > 5 ms late at p99) is marked invalid.
//!
//! By job: `connect.rs` sets a scenario's connections up and reads them, `meter.rs` counts
//! and times what they receive and samples the servers' CPU and memory, `phases.rs` runs a
//! phase of traffic and the idle connections, `slow.rs` the slow readers of a filled
//! room's history, `storms.rs` the join storms and directory churn, `reconnect.rs`
//! the storm of clients coming back after the server restarts, and `scrape.rs` a
//! Prometheus reading `/metrics` during a phase; this file holds
//! the options and runs a scenario's phases in order.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::conn::{Framing, Inbox, Msg, Outbox, Setup};
use crate::proto::{self, Proto};
use crate::scenario::{
    CHURNERS, ClusterUse, Fill, GenHealth, HISTORY_LIMIT, HISTORY_RATE, Layout, PhaseResult, PhaseSpec,
    STORM_CONCURRENCY, STORM_ROOM, Scenario, ScenarioResult, ServerUse, SlowAsk, SlowReaders,
};
use crate::sender::{Job, Out, SendSide};
use crate::stats::{self, Latency};
use crate::{procfs, ws};

mod connect;
mod meter;
mod phases;
mod reconnect;
mod scrape;
mod slow;
mod storms;

use connect::*;
use meter::*;
use phases::*;
use reconnect::*;
use scrape::*;
use slow::*;
use storms::*;

/// Handshakes in flight at once while a layout connects.
const CONNECT_CONCURRENCY: usize = STORM_CONCURRENCY as usize;
/// How long one connection may take to connect, be welcomed and join.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The receive buffer of a reader that will stop reading: small, so what it does not take
/// backs up into the server soon instead of into the kernel.
const STOPPER_RCVBUF: u32 = 4096;
/// Quiet time after set-up, so join floods and directory pushes are over before measuring.
const SETTLE: Duration = Duration::from_millis(500);
/// How often the server's RSS is sampled during a phase.
const MEM_SAMPLE: Duration = Duration::from_millis(20);
/// A drain with no delivery for this long is over: what is missing is lost.
const DRAIN_STALL: Duration = Duration::from_secs(2);
/// How long a slow reader asks without reading before it looks whether it was dropped.
/// The server keeps a dropped client's socket for 10 s (for its `too_slow` to reach it),
/// so the look comes well within that.
const SLOW_READER_LIFE: Duration = Duration::from_secs(1);
/// How long a slow reader reads, once it looks, for the `too_slow` that says it was
/// dropped; a server still sending answers by then has kept them.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(3);

/// One run of the generator.
#[derive(Debug, Clone)]
pub struct Options {
    pub proto: Proto,
    /// The server's address, or each node's: connection `i` goes to `addrs[i % n]`.
    pub addrs: Vec<SocketAddr>,
    /// The process of each address, for their CPU time and memory (summed).
    pub server_pids: Vec<u32>,
    /// The Redis the nodes share, when they do: its CPU is reported on its own.
    pub redis_pid: Option<u32>,
    pub scenario: Scenario,
    pub quick: bool,
}

impl Options {
    /// The first (or only) server: where the clients that are not the layout's go.
    fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The server connection `i` of a layout goes to.
    fn addr_of(&self, i: usize) -> SocketAddr {
        self.addrs[i % self.addrs.len()]
    }
}

/// Runs the scenario on a current-thread runtime and returns what it measured; a run
/// that breaks off keeps the phases done so far and says why in `error`.
pub fn run(opts: &Options) -> Result<ScenarioResult> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    Ok(local.block_on(&rt, scenario(opts)))
}

async fn scenario(opts: &Options) -> ScenarioResult {
    let plan = opts.scenario.plan(opts.quick);
    let mut result =
        ScenarioResult { scenario: opts.scenario, setup_ms: 0.0, phases: Vec::new(), error: None };
    let conns = match (&plan.layout, plan.phases.first()) {
        (Some(layout), _) => layout.conns(),
        (
            None,
            Some(
                PhaseSpec::Idle { conns }
                | PhaseSpec::Storm { conns, .. }
                | PhaseSpec::Reconnect { conns, .. },
            ),
        ) => *conns,
        (None, _) => 0,
    };
    let counted: Vec<bool> = match &plan.layout {
        // Stoppers are not counted: what they receive before they stop is not a result.
        Some(l) => (0..l.conns()).map(|i| i < l.conns() - l.stoppers).collect(),
        None => vec![true; conns as usize],
    };
    let meter = Rc::new(Meter::new(opts.proto, counted));
    // Before the members connect, so the fill's room coming and going is pushed to no one.
    let big = match plan.fill {
        Some(fill) => match fill_room(opts, fill).await {
            Ok(big) => Some(big),
            Err(e) => {
                result.error = Some(format!("filling room {}: {e:#}", fill.room));
                return result;
            }
        },
        None => None,
    };
    let ctx = match plan.layout {
        Some(layout) => {
            let started = Instant::now();
            let ctx = connect_layout(&meter, opts, layout, big).await;
            result.setup_ms = ms(started.elapsed());
            match ctx {
                Ok(ctx) => ctx,
                Err(e) => {
                    result.error = Some(format!("set-up failed: {e:#}"));
                    return result;
                }
            }
        }
        None => Ctx::idle(meter.clone(), opts),
    };
    tokio::time::sleep(SETTLE).await;
    profile_mark("setup").await;
    // `BENCH_RATE` sets every steady phase's rate, in deliveries a second: under a
    // profiler the server runs tens of times slower, and at the scenario's own rates it
    // would fall behind and write several messages per `sendmsg`, as it does not natively.
    let rate_override: Option<f64> = std::env::var("BENCH_RATE").ok().and_then(|r| r.parse().ok());
    let mut next_id = 0u32;
    let mut retried = false;
    let mut specs = plan.phases.iter().peekable();
    while let Some(spec) = specs.peek() {
        next_id += 1;
        let id = next_id;
        let phase = match spec {
            PhaseSpec::Idle { conns } => idle(&ctx, opts, *conns, &mut result).await,
            PhaseSpec::Storm { .. } => storm(&ctx, opts, spec, &mut result).await,
            PhaseSpec::Reconnect { .. } => reconnect(&ctx, opts, spec, &mut result).await,
            PhaseSpec::Churn { rate, secs } => ctx.churn(id, spec.name(), *rate, *secs).await,
            PhaseSpec::Steady { rate, secs, stop_readers, slow } => {
                let rate = &rate_override.unwrap_or(*rate);
                let layout = ctx.layout.expect("steady phases have a layout");
                let msg_rate = rate / f64::from(layout.members);
                let msgs = (msg_rate * secs).round() as u64;
                let load = Load { msgs, msg_rate, offered: *rate, stop_readers: *stop_readers, slow: *slow };
                ctx.phase(id, spec.name(), load, drain_timeout(opts.quick)).await
            }
            PhaseSpec::Scraped { rate, secs, scraped } => {
                let rate = &rate_override.unwrap_or(*rate);
                let layout = ctx.layout.expect("steady phases have a layout");
                let msg_rate = rate / f64::from(layout.members);
                let msgs = (msg_rate * secs).round() as u64;
                let load = Load { msgs, msg_rate, offered: *rate, stop_readers: false, slow: None };
                let scraper = scraped.then(|| tokio::task::spawn_local(scrape(opts.addrs.clone())));
                let phase = ctx.phase(id, spec.name(), load, drain_timeout(opts.quick)).await;
                if let Some(scraper) = scraper {
                    scraper.abort();
                    match scraper.await {
                        Ok(Err(e)) => Err(e),
                        _ => phase,
                    }
                } else {
                    phase
                }
            }
            PhaseSpec::Burst { msgs, secs } => {
                let layout = ctx.layout.expect("bursts have a layout");
                let msg_rate = *msgs as f64 / secs;
                let offered = msg_rate * f64::from(layout.members);
                let load = Load { msgs: *msgs, msg_rate, offered, stop_readers: false, slow: None };
                ctx.phase(id, spec.name(), load, Duration::from_secs(10)).await
            }
        };
        match phase {
            // On a shared machine a step can catch a moment when another program had the
            // core; a step fails only when it fails twice in a row.
            Ok(p) if plan.until_failure && !p.sustained() && !retried => {
                eprintln!("    retrying {} once ({})", p.name, crate::report::why_not_sustained(&p));
                retried = true;
            }
            Ok(p) => {
                let stop = plan.until_failure && !p.sustained();
                result.phases.push(p);
                specs.next();
                retried = false;
                if stop {
                    break;
                }
            }
            Err(e) => {
                result.error = Some(format!("{}: {e:#}", spec.name()));
                break;
            }
        }
    }
    profile_mark("phases").await;
    result
}

/// For a profile of the server over the phases alone (bench/TUNING.md): with
/// `BENCH_PAUSE_AT=PREFIX`, the generator creates `PREFIX.setup` once every client is
/// connected and `PREFIX.phases` once the phases are done, and each time waits (a minute
/// at most) until the file is removed, so that a profiler's counters can be zeroed and
/// dumped at those points, before the clients' leaving is counted.
async fn profile_mark(point: &str) {
    let Some(prefix) = std::env::var_os("BENCH_PAUSE_AT") else { return };
    let mut path = prefix;
    path.push(format!(".{point}"));
    let path = std::path::PathBuf::from(path);
    if std::fs::write(&path, point).is_err() {
        return;
    }
    let until = Instant::now() + Duration::from_secs(60);
    while path.exists() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn drain_timeout(quick: bool) -> Duration {
    Duration::from_secs(if quick { 3 } else { 5 })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
