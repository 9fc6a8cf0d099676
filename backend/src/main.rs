//! The `chat-server` binary: parses the configuration, binds, prints where to open the
//! chat, and runs the server until Ctrl-C or SIGTERM. Everything else is in the library.

use anyhow::Context;
use backend::{Config, net, server};
use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let config = Config::parse();
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {} (is another server running there?)", config.addr))?;
    let addr = listener.local_addr()?;
    println!("Chat is running. Open it at:");
    for url in net::urls(addr) {
        println!("  {url}");
    }
    if net::lan_urls(addr).is_empty() && !addr.ip().is_unspecified() {
        println!(
            "(listening on {} only: use --addr 0.0.0.0:{} to let phones on the LAN in)",
            addr.ip(),
            addr.port()
        );
    }
    server::run(listener, config, shutdown_signal()).await
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
