//! A private `redis-server` on loopback, for the tests of the cluster: a free port, a
//! folder of its own, the append-only file fsynced on every write (as the cluster's
//! promise needs), killed by its process id when dropped. It can be SIGKILLed and started
//! again on the same folder and port, as a crashed Redis would be restarted.
//!
//! Not used by the server itself; it lives in the library so that the unit tests of the
//! store and the integration tests share it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running (or killed) `redis-server` of our own.
#[derive(Debug)]
pub struct RedisServer {
    addr: SocketAddr,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one in `dir` (created) on a free port of 127.0.0.1.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut server = Self { addr, dir: dir.to_owned(), child: None };
        server.restart()?;
        Ok(server)
    }

    /// `redis://127.0.0.1:<port>/`
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id while it runs (a test may stop it with SIGSTOP, as a hung Redis).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills it at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same folder and port, and waits until it answers: it
    /// replays its append-only file first.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.addr.port().to_string()])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "redis-server is not installed: `cargo xtask test` installs it (Debian's redis-server), \
                 or run `apt-get install redis-server`"
            ),
            Err(e) => return Err(e).context("starting redis-server"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.answers() {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                bail!("redis-server on {} exited at start ({status})", self.addr);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("redis-server on {} did not answer PING within 10 s", self.addr)
    }

    /// Whether it answers `PING` now.
    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
