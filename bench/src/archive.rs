//! The cluster's history in PostgreSQL against Redis alone (issue 25), out of the suite:
//! `bench archive` starts a Redis of its own, two `--redis` nodes of the given binary,
//! and for the second run a PostgreSQL of its own (`--database`, a hot window of
//! `--window`), sends `--messages` messages at `--rate` a second from a client on the
//! first node to a room that a client of the second node is in, and prints per run:
//! Redis's `used_memory` grown, in all and per message; the delivery latency from the
//! sender's write to the other node's receiver (p50, p99); the nodes' CPU per delivery
//! (each message reaches its sender's echo and every member: with `--members` above one,
//! the others alternate between the nodes and are only read, so that the deliveries a
//! second can reach the cluster's figures, 50k/s);
//! Redis's and PostgreSQL's own CPU per message (from `/proc`: PostgreSQL's is its
//! postmaster and every process it started, those that ended included).
//!
//! Small sizes only on a shared machine (the defaults take a few seconds a run). It is a
//! measurement, not a check, and no test runs it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::procfs;
use crate::stats::{self, Latency};

#[path = "../../backend/src/postgres_server.rs"]
#[allow(dead_code)] // The tests' helpers (`kill`, `restart`) are not used here.
mod postgres_server;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub server_bin: PathBuf,
    pub messages: u64,
    pub rate: u64,
    pub window: u64,
    /// Members of the room besides the sender (the first timed, on node 2).
    pub members: u32,
    /// Only the run with PostgreSQL (Redis alone keeps every message, which at a million
    /// takes long and shows nothing new).
    pub database_only: bool,
}

/// What one run measured.
#[derive(Debug)]
struct Run {
    label: &'static str,
    redis_grew: u64,
    /// When a tenth, a quarter, half and all of the messages were sent: `used_memory`
    /// grown (flat when the hot window bounds Redis), and of it what the room's stream
    /// holds (entries) and Redis's buffers for its clients (bytes, the fan-out's readers
    /// that lag behind).
    samples: Vec<Sample>,
    /// Commands Redis ran (`total_commands_processed`: each of a pipeline's and each its
    /// scripts called), and the reads it took them in (`total_reads_processed`: about one
    /// a round trip, a pipeline being one), the archiver's included.
    redis_commands: u64,
    redis_reads: u64,
    latency: Option<Latency>,
    received: u64,
    /// The sender's `error` frames by code.
    refused: std::collections::BTreeMap<String, u64>,
    nodes_cpu: Duration,
    redis_cpu: Duration,
    postgres_cpu: Option<Duration>,
}

/// Runs Redis alone, then Redis with PostgreSQL, and prints both.
pub fn run(opts: &Options) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut runs = Vec::new();
    let modes: &[bool] = if opts.database_only { &[true] } else { &[false, true] };
    for &database in modes {
        runs.push(rt.block_on(one(opts, database))?);
    }
    let n = opts.messages as f64;
    let deliveries = n * f64::from(opts.members + 1);
    println!(
        "{} messages of 100 characters at {}/s, sender on node 1, timed receiver on node 2, {} members \
         ({:.0} deliveries/s); hot window {}",
        opts.messages,
        opts.rate,
        opts.members,
        opts.rate as f64 * f64::from(opts.members + 1),
        opts.window
    );
    for r in &runs {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let (p50, p99) = r.latency.as_ref().map_or((0, 0), |l| (l.p50_us, l.p99_us));
        println!(
            "{:<16} Redis used_memory +{} B ({:.1} B/msg), {:.2} commands and {:.2} reads/msg; received {}/{} (refused {:?}); cross-node p50 {:.2} ms, p99 {:.2} ms; \
             nodes {:.1} µs CPU/delivery; Redis {:.1} µs CPU/msg{}",
            r.label,
            r.redis_grew,
            r.redis_grew as f64 / n,
            r.redis_commands as f64 / n,
            r.redis_reads as f64 / n,
            r.received,
            opts.messages,
            r.refused,
            p50 as f64 / 1000.0,
            p99 as f64 / 1000.0,
            us(r.nodes_cpu) / deliveries,
            us(r.redis_cpu) / n,
            r.postgres_cpu.map_or(String::new(), |c| format!("; PostgreSQL {:.1} µs CPU/msg", us(c) / n)),
        );
        let samples: Vec<String> = r
            .samples
            .iter()
            .map(|s| {
                format!("{}: +{} B ({} in the stream, {} B clients)", s.sent, s.grew, s.stream, s.clients)
            })
            .collect();
        println!("{:<16} used_memory along the way: {}", "", samples.join(", "));
    }
    Ok(())
}

/// Redis along the way (see [`Run::samples`]).
#[derive(Debug)]
struct Sample {
    sent: u64,
    grew: u64,
    stream: u64,
    clients: u64,
}

impl Sample {
    async fn take(redis_url: &str, sent: u64, used_before: u64) -> Result<Self> {
        let out = Command::new("redis-cli").args(["-u", redis_url, "XLEN", "chat:log:bench"]).output()?;
        Ok(Self {
            sent,
            grew: used_memory(redis_url).await?.saturating_sub(used_before),
            stream: String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0),
            clients: info_field(redis_url, "memory", "mem_clients_normal").await?,
        })
    }
}

/// A child process killed when dropped.
struct Owned(Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_listening(port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > deadline {
            bail!("nothing listens on port {port} after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A fresh folder of this run's own.
fn scratch(label: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("bench-archive-{}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn one(opts: &Options, database: bool) -> Result<Run> {
    let label = if database { "redis+postgres" } else { "redis" };
    let dir = scratch(label)?;
    let redis_port = free_port()?;
    let redis = Owned(
        Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &redis_port.to_string(), "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .context("starting redis-server")?,
    );
    wait_listening(redis_port).await?;
    let redis_url = format!("redis://127.0.0.1:{redis_port}/");
    let pg = if database {
        Some(postgres_server::PostgresServer::start(&dir.join("pg")).context("starting PostgreSQL")?)
    } else {
        None
    };
    let mut nodes = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..2 {
        let port = free_port()?;
        let mut cmd = Command::new(&opts.server_bin);
        cmd.args(["--addr", &format!("127.0.0.1:{port}"), "--web-dir", "/nonexistent"])
            .args(["--rate-limit", "1000000", "--max-per-ip", "0", "--redis", &redis_url])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        if let Some(pg) = &pg {
            cmd.args(["--database", &pg.url(), "--redis-history", &opts.window.to_string()]);
        }
        nodes.push(Owned(cmd.spawn().context("starting the server")?));
        ports.push(port);
    }
    for port in &ports {
        wait_listening(*port).await?;
    }
    let node_pids: Vec<u32> = nodes.iter().map(|n| n.0.id()).collect();
    let postgres_cpu = || pg.as_ref().and_then(|pg| pg.pid()).map(postgres_cpu_time);

    // Both in the room before anything is said.
    let (mut sender, mut sender_reader) = client(ports[0], "sender").await?;
    let (_receiver_writer, mut receiver) = client(ports[1], "receiver").await?;
    // The other members: in the room too, alternating between the nodes, only read.
    let mut readers = Vec::new();
    for m in 1..opts.members {
        let (writer, mut reader) = client(ports[(m % 2) as usize], &format!("m{m}")).await?;
        readers.push((writer, tokio::spawn(async move { while let Some(Ok(_)) = reader.next().await {} })));
    }
    let used_before = used_memory(&redis_url).await?;
    let commands_before = info_field(&redis_url, "stats", "total_commands_processed").await?;
    let reads_before = info_field(&redis_url, "stats", "total_reads_processed").await?;
    let cpu_before = (procfs::cpu_time_all(&node_pids)?, procfs::cpu_time(redis.0.id())?, postgres_cpu());
    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; opts.messages as usize]));
    // The sender's own echoes are read (and dropped) so its queue never fills; refusals
    // are counted.
    let refused = Arc::new(Mutex::new(std::collections::BTreeMap::<String, u64>::new()));
    let refusals = refused.clone();
    let drain = tokio::spawn(async move {
        let count =
            |code: String| *refusals.lock().unwrap_or_else(|e| e.into_inner()).entry(code).or_default() += 1;
        while let Some(frame) = sender_reader.next().await {
            match frame {
                Ok(Message::Text(text)) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&text)
                        && v["type"] == "error"
                    {
                        count(v["code"].as_str().unwrap_or("?").to_owned());
                    }
                }
                // The server closed the sender's connection: what it sent after is lost.
                Ok(Message::Close(close)) => count(format!("close {:?}", close.map(|c| c.code))),
                Ok(_) => {}
                Err(e) => count(format!("socket {e}")),
            }
        }
    });
    let times = sent_at.clone();
    let want = opts.messages;
    let receive = tokio::spawn(async move {
        let mut h = stats::histogram();
        let mut got = 0;

        while got < want {
            let text = match tokio::time::timeout(Duration::from_secs(20), receiver.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => text,
                // The server's pings (tungstenite answers them).
                Ok(Some(Ok(_))) => continue,
                _ => break,
            };
            let frame: Value = serde_json::from_str(&text).unwrap_or_default();
            if frame["type"] != "message" {
                continue;
            }
            let i: Option<usize> = frame["cid"].as_str().and_then(|c| c.strip_prefix('c')?.parse().ok());
            if let Some(at) =
                i.and_then(|i| times.lock().unwrap_or_else(|e| e.into_inner()).get(i).copied().flatten())
            {
                stats::record(&mut h, u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            got += 1;
        }
        (got, Latency::of(&h))
    });
    let text = "x".repeat(100);
    let tick = Duration::from_millis(10);
    let per_tick = (opts.rate / 100).max(1);
    let start = Instant::now();
    let mut i = 0u64;
    let mut checkpoints = [opts.messages / 10, opts.messages / 4, opts.messages / 2].into_iter().peekable();
    let mut samples = Vec::new();
    while i < opts.messages {
        if checkpoints.next_if(|at| i >= *at).is_some() {
            samples.push(Sample::take(&redis_url, i, used_before).await?);
        }
        for _ in 0..per_tick.min(opts.messages - i) {
            let say = json!({"type": "say", "room": "bench", "text": text, "cid": format!("c{i}")});
            sent_at.lock().unwrap_or_else(|e| e.into_inner())[i as usize] = Some(Instant::now());
            sender.send(Message::text(say.to_string())).await?;
            i += 1;
        }
        let next = start + tick * u32::try_from(i / per_tick).unwrap_or(u32::MAX);
        tokio::time::sleep_until(next.into()).await;
    }
    let (received, latency) = receive.await?;
    // What the archiver does after the last message counts too: it copies and trims.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used_after = used_memory(&redis_url).await?;
    samples.push(Sample::take(&redis_url, opts.messages, used_before).await?);
    let commands_after = info_field(&redis_url, "stats", "total_commands_processed").await?;
    let reads_after = info_field(&redis_url, "stats", "total_reads_processed").await?;
    let refused = refused.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let run = Run {
        label,
        refused,
        redis_grew: used_after.saturating_sub(used_before),
        samples,
        // Less our `INFO`s (one connection each).
        redis_commands: commands_after.saturating_sub(commands_before).saturating_sub(3),
        redis_reads: reads_after.saturating_sub(reads_before).saturating_sub(4),
        latency,
        received,
        nodes_cpu: procfs::cpu_time_all(&node_pids)?.saturating_sub(cpu_before.0),
        redis_cpu: procfs::cpu_time(redis.0.id())?.saturating_sub(cpu_before.1),
        postgres_cpu: postgres_cpu().zip(cpu_before.2).map(|(after, before)| after.saturating_sub(before)),
    };
    drain.abort();
    for (_, reader) in &readers {
        reader.abort();
    }
    drop(nodes);
    drop(pg);
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(run)
}

type Reader = futures_util::stream::SplitStream<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
>;
type Writer = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

/// A client of the node on `port` with `nick`, in the room.
async fn client(port: u16, nick: &str) -> Result<(Writer, Reader)> {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")).await?;
    let (mut w, mut r) = ws.split();
    until(&mut r, "welcome").await?;
    w.send(Message::text(json!({"type": "nick", "nick": nick}).to_string())).await?;
    w.send(Message::text(json!({"type": "join", "room": "bench"}).to_string())).await?;
    until(&mut r, "joined").await?;
    Ok((w, r))
}

/// Reads frames until one of type `kind`.
async fn until(r: &mut Reader, kind: &str) -> Result<Value> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), r.next())
            .await
            .with_context(|| format!("no {kind} within 10 s"))?
            .with_context(|| format!("closed before {kind}"))??;
        if let Message::Text(text) = frame {
            let v: Value = serde_json::from_str(&text)?;
            if v["type"] == kind {
                return Ok(v);
            }
        }
    }
}

/// Redis's `used_memory`.
async fn used_memory(url: &str) -> Result<u64> {
    info_field(url, "memory", "used_memory").await
}

/// A number of Redis's `INFO section`.
async fn info_field(url: &str, section: &str, field: &str) -> Result<u64> {
    let out = Command::new("redis-cli").args(["-u", url, "INFO", section]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no {field} in INFO {section}"))
}

/// The CPU time of PostgreSQL: its postmaster's own and that of the children it waited
/// for (`cutime`, `cstime`), and of every process it started that still runs.
fn postgres_cpu_time(postmaster: u32) -> Duration {
    let mut total = Duration::ZERO;
    let Ok(entries) = std::fs::read_dir("/proc") else { return total };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(after) = stat.rfind(')').map(|at| &stat[at + 1..]) else { continue };
        let fields: Vec<&str> = after.split_whitespace().collect();
        // After the name: state is index 0, ppid 1, utime 11, stime 12, cutime 13, cstime 14.
        let ppid: u32 = fields.get(1).and_then(|f| f.parse().ok()).unwrap_or(0);
        let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        let ticks = if pid == postmaster {
            tick(11) + tick(12) + tick(13) + tick(14)
        } else if ppid == postmaster {
            tick(11) + tick(12)
        } else {
            continue;
        };
        total += Duration::from_micros(ticks * (1_000_000 / procfs::CLK_TCK));
    }
    total
}
