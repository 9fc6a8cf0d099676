//! `cargo xtask bench [--quick] [suite flags]`: builds the release chat server and the
//! benchmark harness, installs the Node peers (`npm ci` in `bench/peers`, pinned by its
//! package-lock.json), and runs the suite, which writes BENCHMARKS.md at the root.
//!
//! Measuring and reporting are the `bench` crate's job; this module only builds,
//! installs and starts it. Everything it runs talks to 127.0.0.1 only.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::tasks::{self, root, step};

/// Builds what the suite needs, then runs it with `args` (try `--quick`, `--rounds 1`,
/// `--servers ours,ws`, `--scenarios room1000`, `--out PATH`).
pub fn run(args: &[String]) -> Result<()> {
    step("building the chat server and the benchmark harness (release)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    tasks::run(Command::new(cargo).current_dir(root()).args([
        "build",
        "--release",
        "-p",
        "backend",
        "-p",
        "bench",
    ]))?;
    ensure_peers()?;
    let release = target_dir().join("release");
    let quick = args.iter().any(|a| a == "--quick");
    step(if quick {
        "benchmarking (quick: one round, about two to three minutes; server on core 0, load on core 1)"
    } else {
        "benchmarking (three rounds, about 15 to 20 minutes; server on core 0, load on core 1)"
    });
    tasks::run(
        Command::new(release.join("bench"))
            .current_dir(root())
            .arg("suite")
            .arg("--root")
            .arg(root())
            .arg("--server-bin")
            .arg(release.join("chat-server"))
            .args(args),
    )
}

/// Where cargo puts the binaries: `CARGO_TARGET_DIR` (relative to the root) or `target/`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

/// `npm ci` in bench/peers unless node_modules is newer than the lockfile.
fn ensure_peers() -> Result<()> {
    let dir = root().join("bench").join("peers");
    Command::new("node")
        .arg("--version")
        .output()
        .context("node is not installed: the Node peers (ws, Socket.IO) need Node.js 18 or later")?;
    let marker = dir.join("node_modules").join(".package-lock.json");
    if newer(&marker, &dir.join("package-lock.json")) {
        return Ok(());
    }
    step("installing the Node peers: ws and socket.io (npm ci in bench/peers)");
    tasks::run(
        Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&dir),
    )
}

fn newer(product: &Path, source: &Path) -> bool {
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    matches!((modified(product), modified(source)), (Some(a), Some(b)) if a >= b)
}
