//! A private PostgreSQL on loopback, for the tests and `cargo xtask cluster`: `initdb` into
//! a folder of its own (once; a folder that already holds a cluster is reused), a free
//! port (or a given one), trust authentication for the user `postgres`, no Unix socket.
//! It can be stopped as a crash would stop it and started again on the same folder and
//! port, as an operator would restart a PostgreSQL that went down.
//!
//! PostgreSQL refuses to run as root, so when this process is root the server and
//! `initdb` run as the `postgres` system user (Debian's `postgresql` package creates it),
//! and the folder is handed to that user. Like `redis_server`, the server itself never
//! uses this module.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running (or stopped) PostgreSQL of our own.
#[derive(Debug)]
pub struct PostgresServer {
    addr: SocketAddr,
    data: PathBuf,
    bin: PathBuf,
    /// The `postgres` user's uid and gid when this process is root.
    user: Option<(u32, u32)>,
    child: Option<Child>,
}

impl PostgresServer {
    /// Creates a cluster in `dir/data` (unless one is there) and starts it on a free port
    /// of 127.0.0.1.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        Self::start_on(dir, port)
    }

    /// As [`PostgresServer::start`], on a given port.
    pub fn start_on(dir: &Path, port: u16) -> anyhow::Result<Self> {
        let bin = bin_dir()?;
        let user = if is_root() { Some(postgres_user()?) } else { None };
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let data = dir.join("data");
        if let Some((uid, gid)) = user {
            // The server's user must be able to reach its folder: the folder and the one
            // that holds it (a temporary folder is private to root) may be passed through.
            for d in [dir, dir.parent().unwrap_or(dir)] {
                let mode = std::fs::metadata(d)?.permissions().mode();
                if mode & 0o011 != 0o011 {
                    std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode | 0o011))?;
                }
            }
            // Any folder further up must already let others through: it is not ours to open.
            for d in dir.ancestors().skip(2) {
                let mode = std::fs::metadata(d)?.permissions().mode();
                if mode & 0o001 == 0 {
                    bail!(
                        "PostgreSQL runs as the user postgres, who cannot reach {} through {}                          (mode {mode:o}): put the data elsewhere or allow others through it",
                        dir.display(),
                        d.display()
                    );
                }
            }
            std::fs::create_dir_all(&data)?;
            if std::fs::metadata(&data)?.uid() != uid {
                std::os::unix::fs::chown(&data, Some(uid), Some(gid))?;
            }
        }
        if !data.join("PG_VERSION").exists() {
            let mut initdb = Command::new(bin.join("initdb"));
            initdb
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            if let Some((uid, gid)) = user {
                initdb.uid(uid).gid(gid);
            }
            let out = initdb.output().context("running initdb")?;
            if !out.status.success() {
                bail!("initdb in {} failed: {}", data.display(), String::from_utf8_lossy(&out.stderr).trim());
            }
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = Self { addr, data, bin, user, child: None };
        server.restart()?;
        Ok(server)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`
    pub fn url(&self) -> String {
        format!("postgres://postgres@{}/postgres", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its postmaster's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How it ended, if it is no longer running.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Stops it at once, as a crash would: SIGQUIT, PostgreSQL's immediate shutdown (the
    /// postmaster ends its backends without a checkpoint, and the next start replays the
    /// write-ahead log). A SIGKILL would leave its backends running for a while, holding
    /// the folder, and the restart would have to wait for them.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-QUIT", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same folder and port, and waits until it takes
    /// connections (after replaying its log).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-p", &self.addr.port().to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="])
            // What these servers see is a process stopped, never a power cut: the operating
            // system keeps what was written, so flushing each commit to the disk is not
            // needed (and would slow every test down on a shared disk).
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => return Err(e).context("starting postgres"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.ready() {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                bail!("postgres on {} exited at start ({status})", self.addr);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("postgres on {} did not take connections within 30 s", self.addr)
    }

    /// Whether it takes connections now (`pg_isready`).
    fn ready(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &self.addr.port().to_string(), "-t", "1"])
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The folder of PostgreSQL's programs: Debian's newest `/usr/lib/postgresql/<version>/bin`,
/// else wherever `initdb` is on the `PATH`.
fn bin_dir() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("postgres").exists())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).find(|d| d.join("initdb").exists() && d.join("postgres").exists()).context(
        "PostgreSQL is not installed: `cargo xtask test` installs it (Debian's postgresql), \
         or run `apt-get install postgresql`",
    )
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The uid and gid of the `postgres` user, from `/etc/passwd`.
fn postgres_user() -> anyhow::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"postgres") && f.len() > 3)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .context("PostgreSQL refuses to run as root and there is no `postgres` user to run it as")
}
