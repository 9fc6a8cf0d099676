//! `cargo xtask bench [--quick] [suite flags]`: builds the release web app, the release
//! chat server and the benchmark harness, installs the Node peers (`npm ci` in
//! `bench/peers`, pinned by its package-lock.json), times a first load on an emulated slow
//! phone (the end-to-end test `e2e/tests/load.rs`, in headless Chromium; on its WebSocket
//! and with the WebSocket refused, on the HTTP stream), and runs the
//! suite, which measures the app's first load on the wire and writes BENCHMARKS.md at the
//! root.
//!
//! Measuring and reporting are the `bench` crate's job; this module only builds,
//! installs and starts it. Everything it runs talks to 127.0.0.1 only.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::setup::{self, CHROMEDRIVER};
use crate::tasks::{self, root, step};

/// Builds what the suite needs, then runs it with `args` (try `--quick`, `--rounds 1`,
/// `--servers ours,ws`, `--scenarios room1000`, `--out PATH`).
pub fn run(args: &[String]) -> Result<()> {
    setup::ensure_all()?;
    // The suite measures the first load of the app in dist/, as `cargo xtask serve` serves it.
    tasks::build_web()?;
    let slow_phone = slow_phone()?;
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
        "benchmarking (three rounds, about 20 minutes; server on core 0, load on core 1)"
    });
    tasks::run(
        Command::new(release.join("bench"))
            .current_dir(root())
            .arg("suite")
            .arg("--root")
            .arg(root())
            .arg("--server-bin")
            .arg(release.join("chat-server"))
            .arg("--slow-phone")
            .arg(slow_phone.0)
            .arg("--slow-phone-http")
            .arg(slow_phone.1)
            .args(args),
    )
}

/// Times the release app's first load on an emulated slow phone (the end-to-end test
/// does it, see `e2e/tests/load.rs`), on its WebSocket and with the WebSocket refused,
/// and returns the files it wrote for the report.
fn slow_phone() -> Result<(PathBuf, PathBuf)> {
    step(
        "timing a first load on a slow phone (headless Chromium, throttled network and CPU), on a WebSocket and on the HTTP stream",
    );
    let artifacts = root().join("artifacts");
    let out = (artifacts.join("slow-phone.json"), artifacts.join("slow-phone-http.json"));
    // A figure from an earlier run must never pass for this one's.
    let _ = std::fs::remove_file(&out.0);
    let _ = std::fs::remove_file(&out.1);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    tasks::run(
        Command::new(cargo)
            .current_dir(root())
            .env("CHAT_DIST", root().join("dist"))
            .env("CHROMEDRIVER", CHROMEDRIVER)
            .env("CHAT_ARTIFACTS", &artifacts)
            .args(["test", "-p", "e2e", "--test", "load", "--", "--exact", "--test-threads=1"])
            .arg("a_slow_phone_is_timed_from_navigation_to_connected")
            .arg("a_slow_phone_without_websockets_is_timed_from_navigation_to_connected"),
    )?;
    Ok(out)
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
