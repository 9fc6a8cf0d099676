//! A private nginx on loopback in front of a cluster's nodes, for the tests (integration
//! and end to end): round-robin with no stickiness, WebSocket upgrades passed, the HTTP
//! stream unbuffered. Its configuration, `nginx.conf` beside this file, is the one
//! `cargo xtask cluster` runs too (it renders the same text with [`render`]'s
//! placeholders), so the tests hold the balancer people try to the chat's promises.
//!
//! It needs Debian's `nginx` (`cargo xtask setup` installs it) and no root: its prefix,
//! pid file and temporary folders are in a folder of the caller's, its errors go to
//! stderr. Killed by its process id when dropped. Not used by the server itself.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Where Debian's package puts nginx.
pub const NGINX: &str = "/usr/sbin/nginx";

/// The configuration's text, with `@LISTEN@`, `@PREFIX@` and `@SERVERS@` to fill in.
pub const TEMPLATE: &str = include_str!("nginx.conf");

/// The configuration for nginx listening on `listen` (`127.0.0.1:8000`, `8000`), its
/// files under `prefix`, in front of `nodes`.
pub fn render(listen: &str, prefix: &Path, nodes: &[SocketAddr]) -> String {
    let servers: Vec<String> = nodes.iter().map(|n| format!("        server {n};")).collect();
    TEMPLATE
        .replace("@LISTEN@", listen)
        .replace("@PREFIX@", &prefix.display().to_string())
        .replace("@SERVERS@", &servers.join("\n"))
}

/// A running nginx of our own.
#[derive(Debug)]
pub struct Balancer {
    addr: SocketAddr,
    child: Child,
}

impl Balancer {
    /// Starts nginx on a free port of 127.0.0.1, in front of `nodes`, its files in `dir`
    /// (created), and waits until it accepts connections.
    pub fn start(dir: &Path, nodes: &[SocketAddr]) -> anyhow::Result<Self> {
        if !Path::new(NGINX).exists() {
            bail!("{NGINX} is missing: install Debian's nginx (`cargo xtask setup` does)");
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, render(&addr.to_string(), &dir, nodes))
            .with_context(|| format!("writing {}", conf.display()))?;
        let mut child = command(&dir, &conf).stdout(Stdio::null()).spawn().context("starting nginx")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = child.try_wait()? {
                bail!("nginx exited ({status}); its errors are above");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("nginx does not accept connections on {addr} after 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self { addr, child })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>/`
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

/// nginx with its prefix and configuration: `-e stderr` so that nothing, not even the
/// first error before the configuration is read, goes to a root-owned log.
pub fn command(prefix: &Path, conf: &Path) -> Command {
    let mut c = Command::new(NGINX);
    c.arg("-p").arg(prefix).arg("-c").arg(conf).args(["-e", "stderr"]);
    c
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_filled_in_completely() {
        let nodes = ["127.0.0.1:3000".parse().unwrap(), "127.0.0.1:3001".parse().unwrap()];
        let conf = render("127.0.0.1:8000", Path::new("/tmp/lb"), &nodes);
        assert!(!conf.contains('@'), "{conf}");
        assert!(conf.contains("server 127.0.0.1:3000;\n        server 127.0.0.1:3001;"), "{conf}");
        assert!(conf.contains("listen 127.0.0.1:8000;"));
        assert!(conf.contains("pid /tmp/lb/nginx.pid;"));
        // No directive that would make it sticky.
        let directives: Vec<&str> = conf.lines().map(str::trim).filter(|l| !l.starts_with('#')).collect();
        assert!(directives.iter().all(|l| !l.contains("hash") && !l.contains("sticky")), "{conf}");
    }
}
