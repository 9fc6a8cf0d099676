//! The suite: runs every server through every scenario, servers in turn (A B C, A B C)
//! for several rounds, each server pinned to core 0 and each load generator to core 1,
//! and collects what the generators report. A fresh server process serves each
//! scenario, so one scenario's leftovers (memory, backlog) never weigh on the next.
//!
//! It starts processes and reads their output; the measuring is done by the generator
//! (`load`) and the rendering by `report`.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::procfs;
use crate::proto::Proto;
use crate::report::{self, Report};
use crate::scenario::{Scenario, ScenarioResult};
use crate::web::{self, FirstLoad, SlowPhone};

/// The core the server under test runs on, and the generator's.
const SERVER_CORE: &str = "0";
const GEN_CORE: &str = "1";
/// How long a server may take to accept connections after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest one generator run may take (its phases are bounded far below this).
const RUN_TIMEOUT: Duration = Duration::from_secs(240);
/// The nice value of the servers and generators: on a shared machine, other work on the
/// same core must not preempt what is measured. Every server gets the same.
const NICE: &str = "-10";
/// File descriptors the processes need: 10k connections on each side, and spare.
const NOFILE: u64 = 12_000;

/// What to run and where things are.
#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub rounds: u32,
    /// The workspace root: `bench/peers`, `dist/` and where BENCHMARKS.md goes.
    pub root: PathBuf,
    pub out: PathBuf,
    /// The release `chat-server` binary.
    pub server_bin: PathBuf,
    /// Only the servers with these labels (all when empty).
    pub servers: Vec<String>,
    /// Only these scenarios (the mode's list when empty).
    pub scenarios: Vec<Scenario>,
    /// The slow-phone timing the end-to-end suite wrote, when it ran.
    pub slow_phone: Option<PathBuf>,
    /// The same phone's timing with its WebSocket refused (on the HTTP stream).
    pub slow_phone_http: Option<PathBuf>,
}

/// One server configuration under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub label: String,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ours(Ours),
    /// `nodes` processes of ours with `--redis`, sharing a Redis of their own (issue 13).
    Redis {
        nodes: u16,
        ours: Ours,
    },
    Ws,
    SocketIo,
    Floor,
}

/// The labels of the `--redis` deployments: one node alone (what Redis costs), and the
/// cluster of two nodes that the issue's targets are about.
pub const OURS_REDIS: &str = "ours+redis";
pub const CLUSTER: &str = "cluster";
/// The nodes of the cluster.
pub const CLUSTER_NODES: u16 = 2;

/// How our server is started, by the flags its binary has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Ours {
    /// `--store`, when the binary takes it.
    store: Option<&'static str>,
    /// `--sync` with SQLite, when the binary takes it (its default is `full`).
    sync: Option<&'static str>,
    /// The binary limits connections per address (`--max-per-ip`): every connection of
    /// the generator comes from 127.0.0.1, so the limit is lifted.
    per_ip_limit: bool,
}

impl Variant {
    fn new(label: &str, kind: Kind) -> Self {
        Self { label: label.to_owned(), kind }
    }

    fn proto(&self, s: Scenario) -> Proto {
        match self.kind {
            Kind::Ours(_) | Kind::Redis { .. } => s.ours_proto(),
            Kind::Ws => Proto::V1,
            Kind::SocketIo => Proto::SocketIo,
            Kind::Floor => Proto::Line,
        }
    }

    fn applies(&self, s: Scenario) -> bool {
        match self.kind {
            Kind::Floor => s.floor_applies(),
            // The cluster is held against one node as `ours` runs (the memory store).
            // So are the HTTP stream's figures (against `ours` on WebSockets).
            Kind::Ours(ours) if s == Scenario::Cluster || s.ours_proto() == Proto::Stream => {
                ours.store != Some("sqlite")
            }
            Kind::Ours(_) => true,
            Kind::Redis { .. } => s == Scenario::Cluster,
            // The reconnect storm is held against `ws` alone, as the other storms are.
            Kind::SocketIo if s == Scenario::Reconnect10k => false,
            Kind::Ws | Kind::SocketIo => s.node_peers_apply(),
        }
    }

    /// The command line that starts this server on `port`, `scratch` a fresh folder; for
    /// a `--redis` deployment, one of its nodes, given the Redis URL.
    fn command(&self, env: &Env, port: u16, scratch: &Path, redis: Option<&str>) -> Command {
        let addr = format!("127.0.0.1:{port}");
        match self.kind {
            Kind::Ours(ours) => ours_command(env, ours, &addr, scratch),
            Kind::Redis { ours, .. } => {
                let mut cmd = ours_command(env, ours, &addr, scratch);
                // A node keeps its messages in Redis: no --store, nothing in `scratch`.
                // (`run_one` starts the Redis first and always names it.)
                if let Some(url) = redis {
                    cmd.arg("--redis").arg(url);
                }
                cmd
            }
            Kind::Ws | Kind::SocketIo => {
                let script = if self.kind == Kind::Ws { "ws-server.js" } else { "sio-server.js" };
                let mut cmd = Command::new("node");
                cmd.arg(env.peers.join(script)).env("PORT", port.to_string());
                cmd
            }
            Kind::Floor => {
                let mut cmd = Command::new(&env.bench_bin);
                cmd.args(["floor", "--addr", &addr]);
                cmd
            }
        }
    }
}

/// Our server on `addr`, with the flags that lift its limits for the generator.
fn ours_command(env: &Env, ours: Ours, addr: &str, scratch: &Path) -> Command {
    let Ours { store, sync, per_ip_limit } = ours;
    let mut cmd = Command::new(&env.server_bin);
    cmd.args(["--addr", addr, "--web-dir", "/nonexistent", "--rate-limit", "1000000"])
        .args(["--max-connections", "20000"])
        // Logging each connect is not what we measure; warnings still show.
        .env("RUST_LOG", "warn");
    if per_ip_limit {
        cmd.args(["--max-per-ip", "0"]);
    }
    if let Some(sync) = sync {
        cmd.args(["--sync", sync]);
    }
    match store {
        Some("sqlite") => {
            cmd.args(["--store", "sqlite", "--db"]).arg(scratch.join("bench.db"));
        }
        Some(other) => {
            cmd.args(["--store", other]);
        }
        None => {}
    }
    cmd
}

/// A Redis of the suite's own on `port`, its files in `dir`: the append-only file fsynced
/// on every write, as the cluster's no-loss promise needs (and as `cargo xtask cluster`
/// runs it), no snapshots.
fn redis_command(port: u16, dir: &Path) -> Command {
    let mut cmd = Command::new(REDIS_SERVER);
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()]).arg("--dir").arg(dir).args([
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
        "--daemonize",
        "no",
    ]);
    cmd
}

/// Debian's redis-server (`cargo xtask bench` installs it).
const REDIS_SERVER: &str = "redis-server";

/// Where the programs are.
#[derive(Debug, Clone)]
struct Env {
    server_bin: PathBuf,
    bench_bin: PathBuf,
    peers: PathBuf,
    logs: PathBuf,
    /// `taskset` is there and there are two cores to pin to.
    pin: bool,
    /// We may raise the priority of what we measure (we are root).
    nice: bool,
    /// The `prlimit` prefix that raises the open files limit, when needed and possible.
    prlimit: Option<String>,
}

impl Env {
    /// `cmd`, run on `core` with the raised file limit.
    fn wrap(&self, core: &str, cmd: Command) -> Command {
        let mut argv: Vec<std::ffi::OsString> = Vec::new();
        if let Some(nofile) = &self.prlimit {
            argv.extend(["prlimit".into(), nofile.into(), "--".into()]);
        }
        if self.pin {
            argv.extend(["taskset".into(), "-c".into(), core.into()]);
        }
        if self.nice {
            argv.extend(["nice".into(), "-n".into(), NICE.into()]);
        }
        if argv.is_empty() {
            return cmd;
        }
        argv.push(cmd.get_program().to_owned());
        argv.extend(cmd.get_args().map(ToOwned::to_owned));
        let mut out = Command::new(&argv[0]);
        out.args(&argv[1..]);
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => out.env(k, v),
                None => out.env_remove(k),
            };
        }
        out
    }
}

/// One scenario run of one server in one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub round: u32,
    pub server: String,
    pub result: ScenarioResult,
}

/// The servers to compare: ours (both stores when it has them, SQLite with both
/// durabilities when it has `--sync`, one and two `--redis` nodes when it has `--redis`),
/// the Node peers, the floor.
pub fn variants(server_help: &str) -> Vec<Variant> {
    let mut out = Vec::new();
    let ours = Ours { per_ip_limit: server_help.contains("--max-per-ip"), ..Ours::default() };
    if server_help.contains("--store") {
        out.push(Variant::new("ours", Kind::Ours(Ours { store: Some("memory"), ..ours })));
        if server_help.contains("sqlite") {
            let sqlite = Ours { store: Some("sqlite"), ..ours };
            if server_help.contains("--sync") {
                // Named outright, so the figure stays FULL's if the default ever changes.
                out.push(Variant::new("ours+sqlite", Kind::Ours(Ours { sync: Some("full"), ..sqlite })));
                out.push(Variant::new(
                    "ours+sqlite-normal",
                    Kind::Ours(Ours { sync: Some("normal"), ..sqlite }),
                ));
            } else {
                out.push(Variant::new("ours+sqlite", Kind::Ours(sqlite)));
            }
        }
    } else {
        out.push(Variant::new("ours", Kind::Ours(ours)));
    }
    if server_help.contains("--redis") {
        out.push(Variant::new(OURS_REDIS, Kind::Redis { nodes: 1, ours }));
        out.push(Variant::new(CLUSTER, Kind::Redis { nodes: CLUSTER_NODES, ours }));
    }
    out.push(Variant::new("ws", Kind::Ws));
    out.push(Variant::new("socket.io", Kind::SocketIo));
    out.push(Variant::new("floor", Kind::Floor));
    out
}

/// Runs the suite and writes the report; returns its path.
pub fn run(opts: &Options) -> Result<PathBuf> {
    let started = Instant::now();
    let help = output(Command::new(&opts.server_bin).arg("--help"))
        .with_context(|| format!("running {} --help", opts.server_bin.display()))?;
    let mut variants = variants(&help);
    if !opts.servers.is_empty() {
        variants.retain(|v| opts.servers.contains(&v.label));
    }
    let scenarios: Vec<Scenario> = if !opts.scenarios.is_empty() {
        opts.scenarios.clone()
    } else if opts.quick {
        Scenario::QUICK.to_vec()
    } else {
        Scenario::ALL.to_vec()
    };
    let env = environment(opts)?;
    let mut notes = Vec::new();
    if !env.pin {
        notes.push(
            "No pinning: `taskset` is missing or fewer than two cores; figures are noisier.".to_owned(),
        );
    }
    let first_load = match first_load(opts) {
        Ok(load) => Some(load),
        Err(e) => {
            notes.push(format!("The web app's first load was not measured: {e:#}."));
            None
        }
    };
    let mut slow_phone = |file: Option<&Path>, what: &str| {
        file.and_then(|path| match read_slow_phone(path) {
            Ok(phone) => Some(phone),
            Err(e) => {
                notes.push(format!("No slow-phone timing{what}: {e:#}."));
                None
            }
        })
    };
    let slow_phone_http = slow_phone(opts.slow_phone_http.as_deref(), " with the WebSocket refused");
    let slow_phone = slow_phone(opts.slow_phone.as_deref(), "");
    let load_start = load_average();
    let mut records = Vec::new();
    for round in 1..=opts.rounds {
        for &scenario in &scenarios {
            for v in variants.iter().filter(|v| v.applies(scenario)) {
                eprintln!("[round {round}/{}] {} on {}", opts.rounds, scenario.name(), v.label);
                let result = match run_one(&env, v, scenario, opts.quick, round) {
                    Ok(r) => r,
                    Err(e) => ScenarioResult {
                        scenario,
                        setup_ms: 0.0,
                        phases: Vec::new(),
                        error: Some(format!("{e:#}")),
                    },
                };
                eprintln!("    {}", report::one_line(&result));
                records.push(Record { round, server: v.label.clone(), result });
            }
        }
    }
    let raw = env.logs.join("results.json");
    std::fs::write(&raw, serde_json::to_string_pretty(&records)?)?;
    let report = Report {
        date: report::utc_date(std::time::SystemTime::now()),
        quick: opts.quick,
        rounds: opts.rounds,
        machine: procfs::machine(),
        versions: versions(opts, &env),
        servers: variants.iter().map(|v| v.label.clone()).collect(),
        records,
        first_load,
        slow_phone,
        slow_phone_http,
        elapsed_s: started.elapsed().as_secs_f64(),
        command: command_line(opts),
        load: (load_start, load_average()),
        notes,
    };
    let mut text = report::render(&report);
    // What each tuning change bought is history, not a measurement of this run: it is
    // kept by hand in bench/TUNING.md and carried into every report.
    if let Ok(log) = std::fs::read_to_string(opts.root.join("bench").join("TUNING.md")) {
        text.push('\n');
        text.push_str(&log);
    }
    std::fs::write(&opts.out, text)?;
    eprintln!("raw results: {}", raw.display());
    Ok(opts.out.clone())
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The xtask command that reruns this suite.
fn command_line(opts: &Options) -> String {
    let mut cmd = "cargo xtask bench".to_owned();
    if opts.quick {
        cmd.push_str(" --quick");
    }
    if opts.rounds != if opts.quick { 1 } else { 3 } {
        cmd.push_str(&format!(" --rounds {}", opts.rounds));
    }
    if !opts.servers.is_empty() {
        cmd.push_str(&format!(" --servers {}", opts.servers.join(",")));
    }
    if !opts.scenarios.is_empty() {
        let names: Vec<&str> = opts.scenarios.iter().map(|s| s.name()).collect();
        cmd.push_str(&format!(" --scenarios {}", names.join(",")));
    }
    cmd
}

fn environment(opts: &Options) -> Result<Env> {
    let logs = opts.root.join("target").join("bench-logs");
    std::fs::create_dir_all(&logs)?;
    let pin = std::thread::available_parallelism().map(|n| n.get() >= 2).unwrap_or(false)
        && Command::new("taskset").arg("-V").output().is_ok_and(|o| o.status.success());
    Ok(Env {
        server_bin: opts.server_bin.clone(),
        bench_bin: std::env::current_exe()?,
        peers: opts.root.join("bench").join("peers"),
        logs,
        pin,
        nice: Command::new("nice")
            .args(["-n", NICE, "true"])
            .output()
            .is_ok_and(|o| o.status.success() && o.stderr.is_empty()),
        prlimit: nofile_prefix(),
    })
}

/// `--nofile=N:N` for prlimit when the soft limit is below what 10k connections need and
/// the hard limit allows more.
fn nofile_prefix() -> Option<String> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut nums = line.split_whitespace().filter_map(|w| w.parse::<u64>().ok());
    let (soft, hard) = (nums.next()?, nums.next().unwrap_or(u64::MAX));
    if soft >= NOFILE {
        return None;
    }
    let want = NOFILE.min(hard);
    (want > soft).then(|| format!("--nofile={want}:{want}"))
}

/// Starts `variant`, runs one generator against it, stops it.
fn run_one(
    env: &Env,
    variant: &Variant,
    scenario: Scenario,
    quick: bool,
    round: u32,
) -> Result<ScenarioResult> {
    let port = free_port()?;
    let scratch = env.logs.join(format!("scratch-{}-{}-{round}", variant.label, scenario.name()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let log =
        std::fs::File::create(env.logs.join(format!("{}-{}-{round}.log", variant.label, scenario.name())))?;
    let start = |cmd: Command, what: &str| -> Result<Server> {
        Ok(Server(
            env.wrap(SERVER_CORE, cmd)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log.try_clone()?)
                .spawn()
                .with_context(|| format!("starting {what}"))?,
        ))
    };
    // Declared first, dropped last: the nodes stop before their Redis.
    let mut redis = None;
    let mut nodes: Vec<(Server, SocketAddr)> = Vec::new();
    let redis_url = match variant.kind {
        Kind::Redis { .. } => {
            // Pinned with the nodes: a deployment has core 0 as the single server has.
            let redis_port = free_port()?;
            let dir = scratch.join("redis");
            std::fs::create_dir_all(&dir)?;
            let mut server = start(redis_command(redis_port, &dir), "redis-server (is it installed?)")?;
            wait_ready(&mut server.0, SocketAddr::from(([127, 0, 0, 1], redis_port)))?;
            redis = Some(server);
            Some(format!("redis://127.0.0.1:{redis_port}/"))
        }
        _ => None,
    };
    let count = match variant.kind {
        Kind::Redis { nodes, .. } => nodes,
        _ => 1,
    };
    for _ in 0..count {
        let port = if nodes.is_empty() { port } else { free_port()? };
        let mut server = start(variant.command(env, port, &scratch, redis_url.as_deref()), &variant.label)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_ready(&mut server.0, addr)?;
        nodes.push((server, addr));
    }
    let join =
        |f: &dyn Fn(&(Server, SocketAddr)) -> String| nodes.iter().map(f).collect::<Vec<_>>().join(",");
    let mut load = Command::new(&env.bench_bin);
    load.args(["load", "--proto", proto_name(variant.proto(scenario))])
        .args(["--addr", &join(&|(_, addr)| addr.to_string())])
        .args(["--server-pid", &join(&|(server, _)| server.0.id().to_string())])
        .args(["--scenario", scenario.name()]);
    if let Some(redis) = &redis {
        load.args(["--redis-pid", &redis.0.id().to_string()]);
    }
    if quick {
        load.arg("--quick");
    }
    let stdout = run_with_timeout(env.wrap(GEN_CORE, load), RUN_TIMEOUT)?;
    let line =
        stdout.lines().rev().find(|l| l.starts_with('{')).context("the generator printed no result")?;
    let result = serde_json::from_str(line).context("reading the generator's result")?;
    drop(nodes);
    drop(redis);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(result)
}

fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::V1 => "v1",
        Proto::V2 => "v2",
        Proto::Stream => "stream",
        Proto::SocketIo => "socket-io",
        Proto::Line => "line",
    }
}

/// Kills the server when dropped, so an error never leaves one running.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    // The port is free when we look; the server binds it a moment later.
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_ready(child: &mut Child, addr: SocketAddr) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("the server exited at start ({status}); see target/bench-logs");
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the server did not listen on {addr} within {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `cmd`, its stderr shown, and returns its stdout; kills it past `limit`.
fn run_with_timeout(mut cmd: Command, limit: Duration) -> Result<String> {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    // Read on a thread so a large output can never fill the pipe and stall the child.
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the generator took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        bail!("the generator failed ({status})");
    }
    Ok(out)
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

fn versions(opts: &Options, env: &Env) -> Vec<(String, String)> {
    let first_line = |cmd: &mut Command| {
        output(cmd).ok().and_then(|s| s.lines().next().map(str::to_owned)).unwrap_or_else(|| "?".into())
    };
    let npm_version = |path: &[&str]| {
        let mut p = env.peers.join("node_modules");
        for part in path {
            p = p.join(part);
        }
        std::fs::read_to_string(p.join("package.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["version"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "?".into())
    };
    vec![
        ("chat-server".into(), first_line(Command::new(&opts.server_bin).arg("--version"))),
        ("rustc".into(), first_line(Command::new("rustc").arg("--version"))),
        ("node".into(), first_line(Command::new("node").arg("--version"))),
        ("ws (the ws peer)".into(), npm_version(&["ws"])),
        ("socket.io".into(), npm_version(&["socket.io"])),
        ("engine.io".into(), npm_version(&["engine.io"])),
        ("ws (inside engine.io)".into(), npm_version(&["engine.io", "node_modules", "ws"])),
        ("load generator".into(), "Rust, tokio current-thread, tokio-tungstenite 0.29".into()),
    ]
}

/// The release app in `ROOT/dist` as a browser first loads it from our server.
pub fn first_load(opts: &Options) -> Result<FirstLoad> {
    let dist = opts.root.join("dist");
    if !dist.join("index.html").exists() {
        bail!("no {}/index.html: run `cargo xtask build`", dist.display());
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let mut child = Command::new(&opts.server_bin)
        .args(["--addr", &addr.to_string(), "--store", "memory", "--web-dir"])
        .arg(&dist)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", opts.server_bin.display()))?;
    wait_ready(&mut child, addr)?;
    let _server = Server(child);
    web::first_load(addr)
}

/// The file `e2e/tests/load.rs` writes.
fn read_slow_phone(path: &Path) -> Result<SlowPhone> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_runs_both_ways_when_it_has_stores() {
        let labels = |help: &str| variants(help).into_iter().map(|v| v.label).collect::<Vec<_>>();
        assert_eq!(labels("--addr <ADDR>\n--queue <QUEUE>"), ["ours", "ws", "socket.io", "floor"]);
        assert_eq!(
            labels("--store <STORE>  [possible values: memory, sqlite]\n--db <PATH>"),
            ["ours", "ours+sqlite", "ws", "socket.io", "floor"]
        );
        assert_eq!(
            labels("--store <STORE>  [possible values: memory, sqlite]\n--sync <SYNC>"),
            ["ours", "ours+sqlite", "ours+sqlite-normal", "ws", "socket.io", "floor"]
        );
    }

    /// The command line of the variant labelled `label`, for a binary with `help`.
    fn argv_of(help: &str, label: &str) -> Vec<String> {
        let env = Env {
            server_bin: "chat-server".into(),
            bench_bin: "bench".into(),
            peers: "peers".into(),
            logs: "logs".into(),
            pin: false,
            nice: false,
            prlimit: None,
        };
        let v = variants(help).into_iter().find(|v| v.label == label).expect("the variant");
        let cmd = v.command(&env, 4000, Path::new("/tmp/x"), Some("redis://127.0.0.1:6390/"));
        cmd.get_args().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn the_sqlite_variants_differ_only_by_their_durability() {
        let help = "--store <STORE> [possible values: sqlite, memory]\n--sync <SYNC>\n--max-per-ip <N>";
        let full = argv_of(help, "ours+sqlite");
        let normal = argv_of(help, "ours+sqlite-normal");
        assert!(full.windows(2).any(|w| w == ["--sync", "full"]), "{full:?}");
        assert!(normal.windows(2).any(|w| w == ["--sync", "normal"]), "{normal:?}");
        let without_sync = |argv: &[String]| {
            let at = argv.iter().position(|a| a == "--sync").expect("--sync");
            [&argv[..at], &argv[at + 2..]].concat()
        };
        assert_eq!(without_sync(&full), without_sync(&normal));
        assert!(!argv_of(help, "ours").contains(&"--sync".to_owned()), "the memory store has no --sync");
    }

    #[test]
    fn the_per_address_limit_is_lifted_only_where_the_server_has_it() {
        // The generator opens up to 10k connections from 127.0.0.1.
        let lifted = |argv: Vec<String>| argv.windows(2).any(|w| w == ["--max-per-ip", "0"]);
        assert!(lifted(argv_of("--store <STORE> [possible values: memory]\n--max-per-ip <N>", "ours")));
        assert!(!lifted(argv_of("--store <STORE> [possible values: memory]", "ours")));
    }

    #[test]
    fn the_cluster_runs_one_and_two_redis_nodes_beside_one_node_alone() {
        let help = "--store <STORE> [possible values: memory, sqlite]\n--sync <SYNC>\n--max-per-ip <N>\n--redis <URL>";
        let all = variants(help);
        let labels: Vec<&str> = all.iter().map(|v| v.label.as_str()).collect();
        assert_eq!(
            labels,
            ["ours", "ours+sqlite", "ours+sqlite-normal", OURS_REDIS, CLUSTER, "ws", "socket.io", "floor"]
        );
        let running = |s: Scenario| -> Vec<&str> {
            all.iter().filter(|v| v.applies(s)).map(|v| v.label.as_str()).collect()
        };
        assert_eq!(running(Scenario::Cluster), ["ours", OURS_REDIS, CLUSTER]);
        assert!(!running(Scenario::Room1000).contains(&CLUSTER), "the deployments run only the cluster");
        assert!(!running(Scenario::Room1000).contains(&OURS_REDIS));
        let node = argv_of(help, CLUSTER);
        assert!(node.windows(2).any(|w| w == ["--redis", "redis://127.0.0.1:6390/"]), "{node:?}");
        assert!(!node.contains(&"--store".to_owned()), "a node keeps nothing but in Redis: {node:?}");
        assert!(node.windows(2).any(|w| w == ["--max-per-ip", "0"]), "{node:?}");
        // The same flags as the single node, but the store.
        let single = argv_of(help, "ours");
        assert_eq!(single[..single.len() - 2], node[..node.len() - 2]);
        let redis = redis_command(6390, Path::new("/tmp/r"));
        let argv: Vec<String> = redis.get_args().map(|s| s.to_string_lossy().into_owned()).collect();
        assert!(argv.windows(2).any(|w| w == ["--appendfsync", "always"]), "{argv:?}");
        assert!(argv.windows(2).any(|w| w == ["--appendonly", "yes"]), "{argv:?}");
        assert!(argv.windows(2).any(|w| w == ["--dir", "/tmp/r"]), "{argv:?}");
        // Without --redis in the binary, no deployments.
        assert!(variants("--store <STORE> [possible values: memory]").iter().all(|v| v.label != CLUSTER));
    }

    #[test]
    fn the_floor_runs_only_the_fan_outs() {
        let floor = Variant::new("floor", Kind::Floor);
        assert!(floor.applies(Scenario::Room1000));
        assert!(!floor.applies(Scenario::Idle10k));
        assert!(Variant::new("ws", Kind::Ws).applies(Scenario::Idle10k));
        // Only ours answers `history`.
        assert!(!floor.applies(Scenario::SlowHistory));
        assert!(!Variant::new("ws", Kind::Ws).applies(Scenario::SlowHistory));
        assert!(!Variant::new("socket.io", Kind::SocketIo).applies(Scenario::SlowHistory));
        assert!(Variant::new("ours", Kind::Ours(Ours::default())).applies(Scenario::SlowHistory));
        // Issue 15: the joins of version 2 are ours; `ws` accepts the bare storm they are held
        // against; the floor bounds the room of 10,000.
        let ws = Variant::new("ws", Kind::Ws);
        assert!(ws.applies(Scenario::Bare10k) && !ws.applies(Scenario::Join10k));
        assert!(!ws.applies(Scenario::Churn) && !ws.applies(Scenario::Room10k));
        assert!(floor.applies(Scenario::Room10k) && !floor.applies(Scenario::Join10k));
        let ours = Variant::new("ours", Kind::Ours(Ours::default()));
        assert_eq!(ours.proto(Scenario::Join10k), Proto::V2);
        assert_eq!(ours.proto(Scenario::Join10kV1), Proto::V1);
        assert_eq!(ws.proto(Scenario::Bare10k), Proto::V1);
    }

    #[test]
    fn wrapping_pins_and_keeps_the_environment() {
        let env = Env {
            server_bin: "chat-server".into(),
            bench_bin: "bench".into(),
            peers: "peers".into(),
            logs: "logs".into(),
            pin: true,
            nice: false,
            prlimit: Some("--nofile=12000:12000".into()),
        };
        let v = Variant::new("ours", Kind::Ours(Ours { store: Some("sqlite"), ..Ours::default() }));
        let cmd = env.wrap(SERVER_CORE, v.command(&env, 4000, Path::new("/tmp/x"), None));
        let argv: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        assert_eq!(argv[..6], ["prlimit", "--nofile=12000:12000", "--", "taskset", "-c", "0"]);
        assert_eq!(argv[6], "chat-server");
        assert!(argv.windows(2).any(|w| w == ["--store", "sqlite"]));
        assert!(argv.windows(2).any(|w| w == ["--db", "/tmp/x/bench.db"]));
        assert!(cmd.get_envs().any(|(k, v)| k == "RUST_LOG" && v == Some("warn".as_ref())));
    }
}
