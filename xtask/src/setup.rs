//! Installs the pinned tools the build and the tests need, skipping what is present.
//!
//! Everything comes from the package registries only (crates.io, npm, Debian's apt: chromium
//! for the browser tests, redis-server, nginx and postgresql for the cluster's tests and
//! `cargo xtask cluster`):
//! no tool is allowed to download its own binaries, so trunk and wasm-pack are pointed
//! at what this module puts on PATH. Versions are pinned here and in `tools/`;
//! wasm-bindgen-cli follows the `wasm-bindgen` version in Cargo.lock.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::tasks::{root, run, step};

/// trunk 0.22 needs a newer rustc than the stable one on our machines.
const TRUNK: &str = "0.21.14";
const WASM_PACK: &str = "0.15.1";

/// Installs everything that any command may need.
pub fn ensure_all() -> Result<()> {
    ensure_wasm_target()?;
    // apt is network- and disk-bound while cargo install is CPU-bound: overlap them.
    let apt = start_apt_install()?;
    ensure_cargo_tool("trunk", TRUNK, &["--locked", "--debug"])?;
    let bindgen = wasm_bindgen_version()?;
    // Its own lockfile pins a crate version the registry does not serve: no --locked.
    ensure_cargo_tool_named("wasm-bindgen-cli", "wasm-bindgen", &bindgen, &[])?;
    ensure_cargo_tool("wasm-pack", WASM_PACK, &["--locked"])?;
    ensure_node_tools()?;
    if let Some(mut child) = apt {
        let status = child.wait()?;
        if !status.success() {
            bail!("installing Debian's packages with apt-get failed ({status})");
        }
    }
    check_chromium()?;
    check_redis()?;
    check_nginx()?;
    check_postgres()
}

/// Only what `cargo xtask cluster` needs beyond the build: Debian's redis-server.
pub fn ensure_redis() -> Result<()> {
    if Path::new(REDIS_SERVER).exists() {
        return Ok(());
    }
    if let Some(mut child) = start_apt(&["redis-server"])? {
        let status = child.wait()?;
        if !status.success() {
            bail!("installing redis-server with apt-get failed ({status})");
        }
    }
    check_redis()
}

/// The load balancer `cargo xtask cluster` puts in front of the nodes: Debian's nginx.
pub fn ensure_nginx() -> Result<()> {
    if Path::new(NGINX).exists() {
        return Ok(());
    }
    if let Some(mut child) = start_apt(&["nginx"])? {
        let status = child.wait()?;
        if !status.success() {
            bail!("installing nginx with apt-get failed ({status})");
        }
    }
    check_nginx()
}

/// The cluster's archive, which `cargo xtask cluster` starts: Debian's postgresql.
pub fn ensure_postgres() -> Result<()> {
    if has_postgres() {
        return Ok(());
    }
    if let Some(mut child) = start_apt(&["postgresql"])? {
        let status = child.wait()?;
        if !status.success() {
            bail!("installing postgresql with apt-get failed ({status})");
        }
    }
    check_postgres()
}

/// Only what building the web app needs (no browser).
pub fn ensure_build_tools() -> Result<()> {
    ensure_wasm_target()?;
    ensure_cargo_tool("trunk", TRUNK, &["--locked", "--debug"])?;
    let bindgen = wasm_bindgen_version()?;
    ensure_cargo_tool_named("wasm-bindgen-cli", "wasm-bindgen", &bindgen, &[])?;
    ensure_node_tools()
}

/// The PATH every tool is run with: our npm tools first, then cargo's bin folder.
pub fn tool_path() -> String {
    let mut parts = vec![node_bin().display().to_string(), cargo_bin().display().to_string()];
    if let Ok(p) = std::env::var("PATH") {
        parts.push(p);
    }
    parts.join(":")
}

fn cargo_bin() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"));
    home.join("bin")
}

/// A tool installed from npm into `tools/` (`ensure_node_tools`).
pub fn node_tool(name: &str) -> PathBuf {
    node_bin().join(name)
}

fn node_bin() -> PathBuf {
    root().join("tools").join("node_modules").join(".bin")
}

fn ensure_wasm_target() -> Result<()> {
    let out = Command::new("rustup").args(["target", "list", "--installed"]).output();
    let installed = match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout).contains("wasm32-unknown-unknown"),
        Err(_) => false,
    };
    if !installed {
        step("adding the wasm32-unknown-unknown target (seconds)");
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    Ok(())
}

fn wasm_bindgen_version() -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\""
            && let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            return Ok(v.trim_end_matches('"').to_owned());
        }
    }
    bail!("Cargo.lock has no wasm-bindgen package")
}

fn ensure_cargo_tool(krate: &str, version: &str, flags: &[&str]) -> Result<()> {
    ensure_cargo_tool_named(krate, krate, version, flags)
}

/// Installs `krate` at `version` unless `bin --version` already reports that version.
fn ensure_cargo_tool_named(krate: &str, bin: &str, version: &str, flags: &[&str]) -> Result<()> {
    let path = cargo_bin().join(bin);
    if let Ok(out) = Command::new(&path).arg("--version").output() {
        let text = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && text.split_whitespace().any(|w| w == version) {
            return Ok(());
        }
    }
    step(&format!("installing {krate} {version} from crates.io (a few minutes on 2 cores; done once)"));
    let mut cmd = Command::new("cargo");
    cmd.args(["install", krate, "--version", version, "--force"]).args(flags);
    // Do not let the workspace's rust-toolchain.toml or target dir leak into the install.
    cmd.current_dir(std::env::temp_dir());
    run(&mut cmd)
}

/// wasm-opt comes from npm's binaryen 132: Debian's binaryen 108 emits a wasm that fails
/// at load time. terser minifies wasm-bindgen's glue (`imports::minify`). axe-core, the accessibility checker the end-to-end tests inject into the
/// app's pages, comes from npm too. The exact versions are pinned by
/// `tools/package-lock.json`.
fn ensure_node_tools() -> Result<()> {
    let dir = root().join("tools");
    let marker = dir.join("node_modules").join(".package-lock.json");
    if up_to_date(&marker, &dir.join("package-lock.json")) {
        return Ok(());
    }
    step(
        "installing wasm-opt, terser and axe-core (npm binaryen, terser and axe-core, pinned in tools/package-lock.json)",
    );
    run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&dir))
}

fn up_to_date(product: &Path, source: &Path) -> bool {
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    matches!((modified(product), modified(source)), (Some(a), Some(b)) if a >= b)
}

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub const REDIS_SERVER: &str = "/usr/bin/redis-server";
pub const NGINX: &str = "/usr/sbin/nginx";

/// Debian's font packages the browser tests' screenshots need, each with a file it installs.
const FONTS: [(&str, &str); 2] = [
    ("fonts-noto-cjk", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    ("fonts-noto-color-emoji", "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"),
];

/// Starts `apt-get install` of what is missing of chromium, chromium-driver and fonts (the
/// browser tests), redis-server, nginx and postgresql (the cluster's tests), in the background.
fn start_apt_install() -> Result<Option<std::process::Child>> {
    let mut packages = Vec::new();
    if !(Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()) {
        packages.extend(["chromium", "chromium-driver"]);
    }
    // The fonts a person's browser has: without them the end-to-end screenshots draw the
    // Korean page's words and the reactions' emoji as empty boxes (the tests do not read
    // pixels, the people looking at the screenshots do).
    for (package, file) in FONTS {
        if !Path::new(file).exists() {
            packages.push(package);
        }
    }
    if !Path::new(REDIS_SERVER).exists() {
        packages.push("redis-server");
    }
    if !Path::new(NGINX).exists() {
        packages.push("nginx");
    }
    if !has_postgres() {
        packages.push("postgresql");
    }
    start_apt(&packages)
}

/// Starts `apt-get install <packages>` in the background (nothing when the list is empty).
/// Every test and `cargo xtask cluster` start redis-server and nginx of their own, on
/// ports of their own; where an init system runs, Debian also starts the packages'
/// services after installing them, which nothing here uses (nginx's, on port 80, can be
/// stopped with `systemctl disable --now nginx`).
fn start_apt(packages: &[&str]) -> Result<Option<std::process::Child>> {
    if packages.is_empty() {
        return Ok(None);
    }
    step(&format!("installing Debian's {} with apt-get (about a minute)", packages.join(", ")));
    let sudo = if is_root() { "" } else { "sudo " };
    let script = format!(
        "{sudo}apt-get update -qq && {sudo}env DEBIAN_FRONTEND=noninteractive \
         apt-get install -y -qq --no-install-recommends {} >/dev/null",
        packages.join(" ")
    );
    let child = Command::new("sh").args(["-c", &script]).spawn().context("starting apt-get")?;
    Ok(Some(child))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn check_chromium() -> Result<()> {
    for p in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(p).exists() {
            bail!("{p} is missing after installing chromium and chromium-driver");
        }
    }
    Ok(())
}

fn check_redis() -> Result<()> {
    if !Path::new(REDIS_SERVER).exists() {
        bail!("{REDIS_SERVER} is missing after installing redis-server");
    }
    Ok(())
}

fn check_nginx() -> Result<()> {
    if !Path::new(NGINX).exists() {
        bail!("{NGINX} is missing after installing nginx");
    }
    Ok(())
}

/// Whether Debian's PostgreSQL server is installed (its programs are under
/// `/usr/lib/postgresql/<version>/bin`, whatever the version).
fn has_postgres() -> bool {
    std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().join("bin").join("postgres").exists())
}

fn check_postgres() -> Result<()> {
    if !has_postgres() {
        bail!("/usr/lib/postgresql/<version>/bin/postgres is missing after installing postgresql");
    }
    Ok(())
}
