//! The commands themselves: build, serve, dev and test, plus the small process helpers
//! they share. Each one calls into [`crate::setup`] first so it works on a fresh machine.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::setup::{self, CHROMEDRIVER};
use crate::{compress, imports, minify};

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

/// The release web app into `dist/` and the release server binary; with
/// `--release-binary`, the app (its compressed copies too) built into the binary, the one
/// file an operator copies (`--web-dir` still overrides it).
pub fn build(args: &[String]) -> Result<()> {
    let one_file = match args {
        [] => false,
        [flag] if flag == "--release-binary" => true,
        _ => bail!("`build` takes only --release-binary, not {args:?}"),
    };
    build_web()?;
    let mut cargo = cargo();
    cargo.args(["build", "--release", "-p", "backend"]);
    if one_file {
        step("building the chat server (release) with the web app inside");
        // Read by backend/build.rs, which embeds every file of the folder.
        cargo.env("CHAT_EMBED_WEB", root().join("dist"));
    } else {
        step("building the chat server (release)");
    }
    run(&mut cargo)?;
    if one_file {
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
        let binary = target.join("release").join("chat-server");
        let size = std::fs::metadata(&binary).with_context(|| format!("no {}", binary.display()))?.len();
        eprintln!(
            "    {}: {:.1} MB, the web app inside: copy this one file and run it",
            binary.display(),
            size as f64 / 1e6
        );
    }
    Ok(())
}

/// The release web app into `dist/`, with a Brotli and a gzip copy beside each file.
pub fn build_web() -> Result<()> {
    setup::ensure_build_tools()?;
    step("building the web app (release, wasm-opt) into dist/");
    run(trunk().args(["build", "--release"]))?;
    let renamed = imports::shorten(&root().join("dist"))?;
    step(&format!("{renamed} imports of the wasm named without wasm-bindgen's hashes"));
    let scripts = minify::minify_scripts(&root().join("dist"))?;
    step(&format!("{scripts} more scripts minified (terser)"));
    step("compressing the web app (Brotli and gzip, best quality)");
    let files = compress::compress_dir(&root().join("dist"))?;
    report_sizes(&files);
    Ok(())
}

/// What each file costs a browser: raw, and as the server sends it to one that accepts
/// Brotli (gzip in parentheses).
fn report_sizes(files: &[compress::Compressed]) {
    let kb = |n: u64| format!("{:.1} KB", n as f64 / 1024.0);
    let dist = root().join("dist");
    let mut total = (0, 0);
    for f in files {
        let sent = f.brotli.unwrap_or(f.raw);
        total = (total.0 + f.raw, total.1 + sent);
        let name = f.file.strip_prefix(&dist).unwrap_or(&f.file).display();
        let gzip = f.gzip.map_or_else(|| "not smaller".to_owned(), kb);
        eprintln!("    {name}: {} raw, {} brotli ({gzip} gzip)", kb(f.raw), kb(sent));
    }
    eprintln!("    all of dist/: {} raw, {} as sent with Brotli", kb(total.0), kb(total.1));
}

/// Builds everything, then runs the server in the foreground on the built app.
pub fn serve(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return run(cargo().args(["run", "--quiet", "--release", "-p", "backend", "--"]).args(args));
    }
    build(&[])?;
    step("starting the chat server (Ctrl-C stops it)");
    let dist = root().join("dist");
    run(cargo()
        .args(["run", "--quiet", "--release", "-p", "backend", "--", "--web-dir"])
        .arg(dist)
        .args(args))
}

/// Where `trunk serve` serves the page in the development loop.
const DEV_PAGE_PORT: u16 = 8080;

/// The dev server's arguments. trunk's proxy forwards the browser's `Origin` (the page on
/// :8080) and replaces `Host` with the server's: the server must allow that page's origin,
/// or it refuses the socket as another site's.
fn dev_server_args() -> Vec<String> {
    let mut args = vec!["--addr".to_owned(), "127.0.0.1:3000".to_owned()];
    for host in ["127.0.0.1", "localhost"] {
        args.push("--allowed-origin".to_owned());
        args.push(format!("http://{host}:{DEV_PAGE_PORT}"));
    }
    args
}

/// The development loop: the server on :3000 and `trunk serve` on :8080 proxying /ws.
pub fn dev(args: &[String]) -> Result<()> {
    setup::ensure_build_tools()?;
    step("starting the chat server on 127.0.0.1:3000 (debug build)");
    let mut server = Guard(
        cargo()
            .env("PATH", setup::tool_path())
            .args(["run", "-p", "backend", "--"])
            .args(dev_server_args())
            .args(args)
            .spawn()?,
    );
    step(&format!("starting `trunk serve` on http://127.0.0.1:{DEV_PAGE_PORT} (rebuilds on save)"));
    let status = trunk()
        .env("PATH", setup::tool_path())
        .args(["serve", "--port", &DEV_PAGE_PORT.to_string(), "--dist", "target/serve-dist"])
        .status()?;
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

/// A fresh folder under the system's temp dir, removed when dropped (also on an error or
/// a panic). Derefs to its path.
#[derive(Debug)]
pub struct TempFolder(PathBuf);

impl TempFolder {
    /// `<temp>/<prefix>-<pid>`, emptied first: a run's name is its own.
    pub fn new(prefix: &str) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl std::ops::Deref for TempFolder {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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
    // The end-to-end tests run the server in-process, on the release app; those that kill
    // a node run the binary (built above for the browser tests; again here, in case).
    build_web()?;
    run(cargo().args(["build", "-p", "backend", "--bin", "chat-server"]))?;
    step("end-to-end: the release app on the real server, two Chromium pages (desktop and phone)");
    run(cargo()
        .env("CHAT_DIST", root().join("dist"))
        .env("CHROMEDRIVER", CHROMEDRIVER)
        .env("CHAT_ARTIFACTS", root().join("artifacts"))
        .args(["test", "-p", "e2e", "--", "--test-threads=1"]))?;
    // The test only measures (a timed assertion would fail on a busy machine): show the figure.
    if let Ok(timing) = std::fs::read_to_string(root().join("artifacts").join("slow-phone.json")) {
        eprintln!(
            "\nslow-phone first load, navigation to \"Connected\" (artifacts/slow-phone.json):\n{timing}"
        );
    }
    eprintln!("\nall checks and tests passed in {:.0?}", started.elapsed());
    Ok(())
}

/// The web app's own tests in headless Chromium, against a real server: the tests read
/// its URL at compile time (`CHAT_TEST_WS`).
fn browser_tests() -> Result<()> {
    step("browser tests: the web app in headless Chromium (wasm-pack test) against a real server");
    run(cargo().args(["build", "-p", "backend"]))?;
    let port = free_port()?;
    // The test page's own address: the server must allow that page's origin, as it
    // allows trunk's page in `dev` (a browser page on another port is another site).
    let page = format!("127.0.0.1:{}", free_port()?);
    // Declared before the server, so removed after it is killed.
    let db = TempFolder::new("chat-wasm-test")?;
    let _server = Guard(
        Command::new(root().join("target/debug/chat-server"))
            .args([
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--web-dir",
                "/nonexistent",
                "--rate-limit",
                "1000",
                "--allowed-origin",
                &format!("http://{page}"),
                // Low, so that a test fills a room past it with a few dozen peers and sees
                // counted presence (version 2); the other tests' rooms stay below it.
                "--presence-threshold",
                "20",
            ])
            .arg("--db")
            .arg(db.join("chat.db"))
            .arg("--media-dir")
            .arg(db.join("media"))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("starting the chat server for the browser tests")?,
    );
    wait_for_port(port)?;
    run(Command::new("wasm-pack")
        .current_dir(root())
        .env("CHAT_TEST_WS", format!("ws://127.0.0.1:{port}/ws"))
        .env("WASM_BINDGEN_TEST_ADDRESS", &page)
        // The runner's limit is for the whole page of tests, 20 s unless told: they take
        // about 18 s on a quiet machine, and a loaded one went past it (the runner then
        // kills the driver and calls the run failed).
        .env("WASM_BINDGEN_TEST_TIMEOUT", "180")
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use clap::Parser;

    use super::*;

    /// The dev server, configured as `cargo xtask dev` configures it, takes the socket
    /// that trunk's proxy opens for the page on :8080 (the browser's `Origin`, `Host`
    /// replaced by the server's host), and still refuses other pages.
    #[test]
    fn the_dev_server_takes_the_socket_trunk_proxies_for_its_page() {
        let mut config =
            backend::Config::parse_from(std::iter::once("chat-server".to_owned()).chain(dev_server_args()));
        assert_eq!(config.addr.port(), 3000);
        config.addr = ([127, 0, 0, 1], 0).into();
        config.store = backend::config::StoreKind::Memory;
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind(config.addr)).unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(backend::server::run(listener, config, std::future::pending()));
        let status = |origin: &str| {
            let mut tcp = std::net::TcpStream::connect(addr).unwrap();
            let req = format!(
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Host: 127.0.0.1:{DEV_PAGE_PORT}\r\n\
                 Origin: {origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            );
            tcp.write_all(req.as_bytes()).unwrap();
            let mut head = [0u8; 12];
            tcp.read_exact(&mut head).unwrap();
            String::from_utf8_lossy(&head[9..12]).into_owned()
        };
        assert_eq!(status(&format!("http://127.0.0.1:{DEV_PAGE_PORT}")), "101");
        assert_eq!(status(&format!("http://localhost:{DEV_PAGE_PORT}")), "101");
        assert_eq!(status("http://127.0.0.1:9999"), "403");
        assert_eq!(status("https://evil.example"), "403");
    }
}
