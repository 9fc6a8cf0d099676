//! The `chat-server` binary: parses the configuration, binds, prints where to open the
//! chat (with a QR code of the LAN URL for phones), and runs the server until Ctrl-C or
//! SIGTERM. Everything else is in the library.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use backend::config::LogFormat;
use backend::{Config, admission, net, server};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let log = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr);
    match config.log_format {
        // Colour codes are for a person at a terminal, not for a log file or journal.
        LogFormat::Text => log.with_ansi(std::io::stderr().is_terminal()).init(),
        // One object per line, the event's fields at the top level beside `message`, and
        // the connection's `span` (its `node`) as an object of its own.
        LogFormat::Json => {
            log.json().flatten_event(true).with_current_span(true).with_span_list(false).init()
        }
    }
    admission::raise_open_files_limit(config.max_connections);
    let listener = server::bind(config.addr, config.backlog)
        .with_context(|| format!("cannot listen on {} (is another server running there?)", config.addr))?;
    let addr = listener.local_addr()?;
    let mut banner = String::from("Chat is running. Open it at:\n");
    for url in net::urls(addr) {
        banner.push_str(&format!("  {url}\n"));
    }
    match net::lan_urls(addr).first() {
        Some(lan) => {
            banner.push_str(&format!("\nOn a phone on the same network, scan this to open {lan}\n"));
            banner.push_str(&net::qr_text(lan));
        }
        None if !addr.ip().is_unspecified() => banner.push_str(&format!(
            "(listening on {} only: use --addr 0.0.0.0:{} to let phones on the LAN in)\n",
            addr.ip(),
            addr.port()
        )),
        None => {}
    }
    say(&banner);
    server::run(listener, config, shutdown_signal()).await
}

/// Prints for the person who started the server. A closed stdout (a pipe whose reader went
/// away) must not take the server down, as `println!` would.
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
