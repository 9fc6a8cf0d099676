//! The real `chat-server` binary as a process of its own, on the built app: for the tests
//! that must kill a node outright (SIGKILL: no shutdown code runs, its sockets simply
//! vanish), which a server inside the test's process cannot stand for.
//!
//! The binary is `CHAT_SERVER_BIN` (`cargo xtask test` names the one it built), or else
//! the `chat-server` that cargo built beside this test's executable
//! (`cargo build -p backend`); it refuses to run, loudly, without one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A `chat-server` process on 127.0.0.1, killed when dropped.
#[derive(Debug)]
pub struct Node {
    pub port: u16,
    child: Child,
    /// Where its log (stderr) goes, for when a test fails.
    pub log: PathBuf,
}

impl Node {
    /// Starts the binary on a free port of 127.0.0.1 with the built app, its database and
    /// media in `dir`, and `args` (`--redis <url>`, `--admin-token <t>`), and waits until it
    /// accepts connections.
    pub fn start(dir: &Path, args: &[&str]) -> Result<Self> {
        let dist = crate::dist()?;
        let bin = binary()?;
        std::fs::create_dir_all(dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = dir.join(format!("chat-server-{port}.log"));
        let child = Command::new(&bin)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .arg("--web-dir")
            .arg(&dist)
            .arg("--db")
            .arg(dir.join(format!("chat-{port}.db")))
            // Nodes of one cluster share one media folder, as a deployment must.
            .arg("--media-dir")
            .arg(dir.join("media"))
            .args(args)
            .env_remove("CHAT_STORE")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map_or_else(|_| Stdio::null(), Stdio::from))
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut node = Self { port, child, log };
        let deadline = Instant::now() + crate::WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = node.child.try_wait()? {
                bail!("chat-server exited at start ({status}); its log: {}", node.log.display());
            }
            if Instant::now() > deadline {
                bail!("chat-server does not listen on {port} after {:?}", crate::WAIT);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(node)
    }

    pub fn url(&self, host: &str) -> String {
        format!("http://{host}:{}/", self.port)
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// SIGKILL, and waits until the process is gone.
    pub fn sigkill(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// What the node has logged so far.
    pub fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// This node's `/metrics` (loopback may read them without a token).
    pub async fn metrics(&self) -> Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.addr()).await?;
        let req =
            format!("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", self.port);
        s.write_all(req.as_bytes()).await?;
        let mut text = String::new();
        s.read_to_string(&mut text).await?;
        Ok(text)
    }

    /// How many connections of `transport` (`websocket`, `http`) this node holds now.
    pub async fn connections(&self, transport: &str) -> Result<u64> {
        let text = self.metrics().await?;
        let name = format!("chat_connections{{transport=\"{transport}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v as u64)
            .with_context(|| format!("no {name} in the metrics:\n{text}"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `chat-server` binary to run.
fn binary() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("CHAT_SERVER_BIN") {
        return Ok(PathBuf::from(bin));
    }
    // A test runs from `<target>/<profile>/deps/`; cargo puts the binaries one folder up.
    let exe = std::env::current_exe()?;
    let beside = exe.parent().and_then(Path::parent).map(|profile| profile.join("chat-server"));
    match beside {
        Some(bin) if bin.exists() => Ok(bin),
        _ => bail!(
            "no chat-server binary: set CHAT_SERVER_BIN, or build it with `cargo build -p backend` \
             (`cargo xtask test` does)"
        ),
    }
}
