//! The `bench` binary: `suite` runs everything and writes BENCHMARKS.md (this is what
//! `cargo xtask bench` calls), `load` is one generator run (the suite starts it pinned to
//! its own core), `floor` is the floor server. Only argument parsing lives here.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use bench::proto::Proto;
use bench::scenario::Scenario;
use bench::{archive, floor, load, suite};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "bench", about = "Chat server benchmarks: ours, Node ws, Socket.IO and the floor")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run every server through the scenarios and write BENCHMARKS.md.
    Suite {
        /// About two minutes: one round, shorter phases, fewer idle sizes.
        #[arg(long)]
        quick: bool,
        /// Rounds of the servers in turn (default: 1 with --quick, else 3).
        #[arg(long)]
        rounds: Option<u32>,
        /// The workspace root (bench/peers, dist/).
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Where to write the report (default: ROOT/BENCHMARKS.md).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The release chat-server binary.
        #[arg(long)]
        server_bin: PathBuf,
        /// Only these servers (ours, ours+sqlite, ours+sqlite-normal, ws, socket.io, floor).
        #[arg(long, value_delimiter = ',')]
        servers: Vec<String>,
        /// Only these scenarios.
        #[arg(long, value_enum, value_delimiter = ',')]
        scenarios: Vec<Scenario>,
        /// The slow-phone timing written by the end-to-end suite (`e2e/tests/load.rs`).
        #[arg(long)]
        slow_phone: Option<PathBuf>,
        /// The same timing with the WebSocket refused (the app on its HTTP stream).
        #[arg(long)]
        slow_phone_http: Option<PathBuf>,
    },
    /// The web app's first load from the release server on ROOT/dist, in bytes on the wire.
    FirstLoad {
        #[arg(long, default_value = ".")]
        root: PathBuf,
        #[arg(long)]
        server_bin: PathBuf,
    },
    /// One scenario against one running server; prints the result as one JSON line.
    Load {
        #[arg(long, value_enum)]
        proto: Proto,
        /// The server's address; several, comma-separated, for the nodes of a cluster
        /// (connection i goes to the (i mod n)-th).
        #[arg(long, value_delimiter = ',', required = true)]
        addr: Vec<SocketAddr>,
        /// The server's process id, for its CPU time and memory; one per address.
        #[arg(long, value_delimiter = ',', required = true)]
        server_pid: Vec<u32>,
        /// The process id of the Redis the nodes share, for its CPU time.
        #[arg(long)]
        redis_pid: Option<u32>,
        #[arg(long, value_enum)]
        scenario: Scenario,
        #[arg(long)]
        quick: bool,
    },
    /// Out of the suite: two `--redis` nodes with their history in PostgreSQL
    /// (`--database`) against Redis alone: Redis's memory, cross-node latency, the nodes',
    /// Redis's and PostgreSQL's CPU. Keep the sizes small on a shared machine.
    Archive {
        /// The chat-server binary.
        #[arg(long)]
        server_bin: PathBuf,
        /// Messages to send.
        #[arg(long, default_value_t = 5_000)]
        messages: u64,
        /// Messages a second.
        #[arg(long, default_value_t = 1_000)]
        rate: u64,
        /// `--redis-history` of the run with PostgreSQL.
        #[arg(long, default_value_t = 1_000)]
        window: u64,
        /// Members of the room besides the sender, one on node 2 timed, the others
        /// alternating between the nodes and only read: each message reaches all of
        /// them and the sender's echo (499 at 100 messages a second: 50k deliveries/s).
        #[arg(long, default_value_t = 1)]
        members: u32,
        /// Only the run with PostgreSQL (for large --messages: Redis alone keeps them all).
        #[arg(long)]
        database_only: bool,
    },
    /// The floor server: one write() per delivery over plain TCP.
    Floor {
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Suite {
            quick,
            rounds,
            root,
            out,
            server_bin,
            servers,
            scenarios,
            slow_phone,
            slow_phone_http,
        } => {
            let out = out.unwrap_or_else(|| root.join("BENCHMARKS.md"));
            let rounds = rounds.unwrap_or(if quick { 1 } else { 3 });
            let opts = suite::Options {
                quick,
                rounds,
                root,
                out,
                server_bin,
                servers,
                scenarios,
                slow_phone,
                slow_phone_http,
            };
            let written = suite::run(&opts)?;
            eprintln!("wrote {}", written.display());
            Ok(())
        }
        Cmd::FirstLoad { root, server_bin } => {
            let opts = suite::Options {
                quick: true,
                rounds: 0,
                out: PathBuf::new(),
                root,
                server_bin,
                servers: Vec::new(),
                scenarios: Vec::new(),
                slow_phone: None,
                slow_phone_http: None,
            };
            let load = suite::first_load(&opts)?;
            for f in &load.files {
                let encoding = if f.encoding.is_empty() { "none" } else { f.encoding.as_str() };
                println!("{:>9} B  {encoding:<5} {}", f.wire_bytes, f.path);
            }
            println!("{:>9} B  total ({:.1} KiB)", load.total(), load.total() as f64 / 1024.0);
            Ok(())
        }
        Cmd::Load { proto, addr, server_pid, redis_pid, scenario, quick } => {
            anyhow::ensure!(
                addr.iter().all(|a| a.ip().is_loopback()),
                "the generator only targets loopback addresses"
            );
            anyhow::ensure!(addr.len() == server_pid.len(), "one --server-pid per --addr");
            anyhow::ensure!(
                scenario.ours_proto() != Proto::Stream || proto == Proto::Stream,
                "{} runs with --proto stream",
                scenario.name()
            );
            let opts =
                load::Options { proto, addrs: addr, server_pids: server_pid, redis_pid, scenario, quick };
            let result = load::run(&opts)?;
            println!("{}", serde_json::to_string(&result)?);
            Ok(())
        }
        Cmd::Archive { server_bin, messages, rate, window, members, database_only } => {
            archive::run(&archive::Options { server_bin, messages, rate, window, members, database_only })
        }
        Cmd::Floor { addr } => {
            anyhow::ensure!(addr.ip().is_loopback(), "the floor only listens on loopback");
            floor::run(addr)
        }
    }
}
