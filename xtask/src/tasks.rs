//! The commands themselves: build, serve, dev and test, plus the small process helpers
//! they share. Each one calls into [`crate::setup`] first so it works on a fresh machine.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::setup::{self, CHROMEDRIVER};

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask has a parent").to_path_buf()
}

/// Announces a step, so long installs and builds never look like a hang.
pub fn step(what: &str) {
    eprintln!("\n==> {what}");
}

/// Runs a command with the tool PATH, failing with the command line when it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    cmd.env("PATH", setup::tool_path());
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cmd.current_dir(root());
    cmd
}

fn trunk() -> Command {
    let mut cmd = Command::new("trunk");
    cmd.current_dir(root()).env("TRUNK_SKIP_VERSION_CHECK", "true");
    cmd
}

/// The release web app into `dist/` and the release server binary.
pub fn build() -> Result<()> {
    build_web()?;
    step("building the chat server (release)");
    run(cargo().args(["build", "--release", "-p", "backend"]))
}

/// The release web app into `dist/`.
fn build_web() -> Result<()> {
    setup::ensure_build_tools()?;
    step("building the web app (release, wasm-opt) into dist/");
    run(trunk().args(["build", "--release"]))?;
    report_wasm_size()
}

fn report_wasm_size() -> Result<()> {
    for entry in std::fs::read_dir(root().join("dist"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let raw = std::fs::metadata(&path)?.len();
            // gzip -9 is what a web server would send; the size target is stated in it.
            let gzip = Command::new("gzip").args(["-9", "-c"]).arg(&path).output().map(|o| o.stdout.len());
            let gzip = gzip.map_or_else(|_| "gzip not found".to_owned(), |n| format!("{} KB gzip", n / 1024));
            eprintln!("    web app: {} ({} KB raw, {gzip})", path.display(), raw / 1024);
        }
    }
    Ok(())
}

/// Builds everything, then runs the server in the foreground on the built app.
pub fn serve(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return run(cargo().args(["run", "--quiet", "--release", "-p", "backend", "--"]).args(args));
    }
    build()?;
    step("starting the chat server (Ctrl-C stops it)");
    let dist = root().join("dist");
    run(cargo()
        .args(["run", "--quiet", "--release", "-p", "backend", "--", "--web-dir"])
        .arg(dist)
        .args(args))
}

/// The development loop: the server on :3000 and `trunk serve` on :8080 proxying /ws.
pub fn dev(args: &[String]) -> Result<()> {
    setup::ensure_build_tools()?;
    step("starting the chat server on 127.0.0.1:3000 (debug build)");
    let mut server = Guard(
        cargo()
            .env("PATH", setup::tool_path())
            .args(["run", "-p", "backend", "--", "--addr", "127.0.0.1:3000"])
            .args(args)
            .spawn()?,
    );
    step("starting `trunk serve` on http://127.0.0.1:8080 (rebuilds on save)");
    let status =
        trunk().env("PATH", setup::tool_path()).args(["serve", "--dist", "target/serve-dist"]).status()?;
    server.0.kill().ok();
    if !status.success() {
        bail!("trunk serve failed ({status})");
    }
    Ok(())
}

/// Kills a background process when dropped, so a failing step never leaks a server.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every check and every test. Fails on the first failing stage.
pub fn test() -> Result<()> {
    let started = Instant::now();
    setup::ensure_all()?;
    step("formatting (cargo fmt --check)");
    run(cargo().args(["fmt", "--all", "--check"]))?;
    step("lints, native (cargo clippy --all-targets -D warnings)");
    run(cargo().args([
        "clippy",
        "--workspace",
        "--exclude",
        "frontend",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    step("lints, wasm32 (the web app)");
    run(cargo().args([
        "clippy",
        "-p",
        "frontend",
        "-p",
        "common",
        "--all-targets",
        "--target",
        "wasm32-unknown-unknown",
        "--",
        "-D",
        "warnings",
    ]))?;
    step("unit and integration tests (protocol, server with real WebSocket clients)");
    run(cargo().args(["test", "--workspace", "--exclude", "frontend", "--exclude", "e2e"]))?;
    step("the web app's state, on the host (cargo test -p frontend --lib)");
    run(cargo().args(["test", "-p", "frontend", "--lib"]))?;
    browser_tests()?;
    // The end-to-end tests run the server in-process; they need only the release app.
    build_web()?;
    step("end-to-end: the release app on the real server, two Chromium pages (desktop and phone)");
    run(cargo()
        .env("CHAT_DIST", root().join("dist"))
        .env("CHROMEDRIVER", CHROMEDRIVER)
        .env("CHAT_ARTIFACTS", root().join("artifacts"))
        .args(["test", "-p", "e2e", "--", "--test-threads=1"]))?;
    eprintln!("\nall checks and tests passed in {:.0?}", started.elapsed());
    Ok(())
}

/// The web app's own tests in headless Chromium, against a real server: the tests read
/// its URL at compile time (`CHAT_TEST_WS`).
fn browser_tests() -> Result<()> {
    step("browser tests: the web app in headless Chromium (wasm-pack test) against a real server");
    run(cargo().args(["build", "-p", "backend"]))?;
    let port = free_port()?;
    let db = std::env::temp_dir().join(format!("chat-wasm-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&db);
    let _server = Guard(
        Command::new(root().join("target/debug/chat-server"))
            .args([
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--web-dir",
                "/nonexistent",
                "--rate-limit",
                "1000",
            ])
            .arg("--db")
            .arg(db.join("chat.db"))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("starting the chat server for the browser tests")?,
    );
    wait_for_port(port)?;
    run(Command::new("wasm-pack")
        .current_dir(root())
        .env("CHAT_TEST_WS", format!("ws://127.0.0.1:{port}/ws"))
        .args([
            "test",
            "--headless",
            "--chrome",
            "--mode",
            "no-install",
            "--chromedriver",
            CHROMEDRIVER,
            "frontend",
        ]))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16) -> Result<()> {
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("the chat server did not start listening on {port}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(())
}
