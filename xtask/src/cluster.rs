//! `cargo xtask cluster [N] [server args]`: a local cluster to try the scale-out on one
//! machine. Builds the release app and server, starts a Redis of its own (its folder under
//! `target/cluster/redis`, the append-only file fsynced on every write, as the no-loss
//! promise needs), a PostgreSQL of its own that archives the history (its folder under
//! `target/cluster/postgres`, a free port; Redis keeps each room's newest messages), N
//! nodes (default 2) on consecutive ports from 3000, all sharing both, and nginx in front
//! of them on port 8000: one URL, each request to any node
//! (round-robin, no stickiness), WebSocket upgrades passed, the HTTP stream unbuffered.
//! nginx runs without root, everything of its own under `target/cluster/nginx`; its
//! configuration is the one the tests run (`backend/src/balancer/nginx.conf`). Prints the
//! URLs. Ctrl-C stops everything; a node, Redis, PostgreSQL or nginx that exits stops the
//! rest.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::setup;
use crate::tasks::{self, root, step};

/// The tests' private PostgreSQL, the same file (it needs only `std` and `anyhow`), so
/// that `cargo xtask` does not build the server to start one.
#[path = "../../backend/src/postgres_server.rs"]
#[allow(dead_code)] // The tests' helpers (`pid`, `restart` from outside) are not used here.
mod postgres_server;

use postgres_server::PostgresServer;

/// The first node's port; the others follow.
const FIRST_PORT: u16 = 3000;
/// The balancer's port: the one URL to open.
const BALANCER_PORT: u16 = 8000;
/// The balancer's configuration, the tests' own (`backend::balancer` fills in the same
/// placeholders).
const NGINX_TEMPLATE: &str = include_str!("../../backend/src/balancer/nginx.conf");

pub fn run(args: &[String]) -> Result<()> {
    let (n, server_args) = match args.first().map(|a| a.parse::<u16>()) {
        Some(Ok(n)) if n >= 1 => (n, &args[1..]),
        Some(Ok(_)) => bail!("a cluster needs at least one node"),
        _ => (2, args),
    };
    setup::ensure_redis()?;
    setup::ensure_nginx()?;
    setup::ensure_postgres()?;
    tasks::build(&[])?;
    let pg_dir = root().join("target").join("cluster").join("postgres");
    step(&format!("starting PostgreSQL (its data in {})", pg_dir.display()));
    let mut postgres = PostgresServer::start(&pg_dir).context("starting PostgreSQL")?;
    let database = postgres.url();
    let dir = root().join("target").join("cluster").join("redis");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // A free port, so a Redis already running on this machine is never touched.
    let redis_port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    step(&format!("starting Redis on 127.0.0.1:{redis_port} (its data in {})", dir.display()));
    let mut children = vec![Guard(
        Command::new(setup::REDIS_SERVER)
            .args(["--bind", "127.0.0.1", "--port", &redis_port.to_string()])
            .arg("--dir")
            .arg(&dir)
            .args(["--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no"])
            .stdout(Stdio::null())
            .spawn()
            .context("starting redis-server")?,
    )];
    wait_for_port(redis_port)?;
    let url = format!("redis://127.0.0.1:{redis_port}/");
    let bin = root().join("target").join("release").join("chat-server");
    let dist = root().join("dist");
    let mut urls = Vec::new();
    for i in 0..n {
        let port = FIRST_PORT + i;
        step(&format!("starting node {} on port {port}", i + 1));
        children.push(Guard(
            Command::new(&bin)
                .args(["--addr", &format!("0.0.0.0:{port}"), "--redis", &url, "--database", &database])
                // The balancer on this machine: its X-Forwarded-For names the clients.
                .args(["--trusted-proxy", "127.0.0.1"])
                .arg("--web-dir")
                .arg(&dist)
                .args(server_args)
                // Each node's own SQLite file is not used with --redis; its banner is
                // replaced by the summary below.
                .stdout(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", bin.display()))?,
        ));
        wait_for_port(port)?;
        urls.push(format!("http://127.0.0.1:{port}/"));
    }
    let nginx_dir = root().join("target").join("cluster").join("nginx");
    std::fs::create_dir_all(&nginx_dir).with_context(|| format!("creating {}", nginx_dir.display()))?;
    let servers: Vec<String> =
        (0..n).map(|i| format!("        server 127.0.0.1:{};", FIRST_PORT + i)).collect();
    let conf = NGINX_TEMPLATE
        .replace("@LISTEN@", &BALANCER_PORT.to_string())
        .replace("@PREFIX@", &nginx_dir.display().to_string())
        .replace("@SERVERS@", &servers.join("\n"));
    let conf_path = nginx_dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).with_context(|| format!("writing {}", conf_path.display()))?;
    step(&format!("starting nginx on port {BALANCER_PORT} in front of the nodes ({})", conf_path.display()));
    children.push(Guard(
        Command::new(setup::NGINX)
            .arg("-p")
            .arg(&nginx_dir)
            .arg("-c")
            .arg(&conf_path)
            // Even its first error, before the configuration is read, to stderr.
            .args(["-e", "stderr"])
            .stdout(Stdio::null())
            .spawn()
            .context("starting nginx")?,
    ));
    wait_for_port(BALANCER_PORT)?;
    eprintln!("\nA cluster of {n} nodes sharing Redis at {url} and PostgreSQL at {database}:");
    for u in &urls {
        eprintln!("  {u}");
    }
    eprintln!("and in front of them, nginx sending each request to any node (no sticky sessions):");
    eprintln!("  http://127.0.0.1:{BALANCER_PORT}/");
    eprintln!("Open pages there (or one on each node): they are one chat. Ctrl-C stops them all.");
    loop {
        for child in &mut children {
            if let Some(status) = child.0.try_wait()? {
                bail!("a process of the cluster exited ({status}); stopping the others");
            }
        }
        if let Some(status) = postgres.exited() {
            bail!("PostgreSQL exited ({status}); stopping the others");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Waits until something accepts connections on `port` of loopback.
fn wait_for_port(port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nothing listens on port {port} after 20 s")
}

/// Kills a process of the cluster when dropped, so a failure never leaks one.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
