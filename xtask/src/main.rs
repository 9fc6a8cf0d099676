//! Project chores as `cargo xtask <command>`, in Rust rather than shell scripts.
//!
//! Every command installs what it needs first (see [`setup`]), so the README's two
//! commands work on a fresh machine that has only rustup's Rust, Node/npm and Python.
//! This crate never holds product logic: it only orchestrates cargo, trunk, wasm-pack,
//! npm and apt.

mod bench;
mod cluster;
mod compress;
mod icons;
mod imports;
mod minify;
mod setup;
mod tasks;

use anyhow::{Result, bail};

const HELP: &str = "\
cargo xtask <command> [args]

Commands:
  serve [server args]  build the web app (release) and run the chat server on it;
                       arguments after `serve` go to the server (try `serve --help`)
  test                 every check and test: fmt, clippy (native and wasm32), unit and
                       integration tests, browser tests (wasm-pack, headless Chromium),
                       end-to-end tests with two browser pages
  build                build the release web app into dist/ (with Brotli and gzip copies)
                       and the server binary
  build --release-binary
                       the same, with the web app built into the binary: one file to
                       deploy (target/release/chat-server)
  cluster [N] [args]   a local Redis and N nodes (default 2) sharing it, on ports 3000,
                       3001, ..., behind nginx on port 8000 (round-robin, no stickiness);
                       arguments after N go to every node
  dev                  run the server and `trunk serve` (hot reload) side by side
  bench [--quick]      benchmark ours vs Node ws, Socket.IO and the floor; writes BENCHMARKS.md
  icons                draw the app's icons into assets/ (committed; run after changing them)
  setup                install the pinned tools that are missing (done by every command)
  help                 this text
";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().unwrap_or_else(|| "help".to_owned());
    let rest: Vec<String> = args.collect();
    match cmd.as_str() {
        "setup" => setup::ensure_all(),
        "build" => tasks::build(&rest),
        "serve" => tasks::serve(&rest),
        "dev" => tasks::dev(&rest),
        "cluster" => cluster::run(&rest),
        "test" => tasks::test(),
        "bench" => bench::run(&rest),
        "icons" => icons::write_all(&tasks::root().join("assets")),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{HELP}"),
    }
}
