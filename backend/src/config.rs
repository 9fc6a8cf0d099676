//! The server's configuration: one typed [`Config`] built from command-line flags and
//! `CHAT_*` environment variables, then passed explicitly (no globals).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// A real-time chat: serves the web app and its WebSocket (`/ws`) on one port.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-server", version, about, long_about = None)]
pub struct Config {
    /// Address and port to listen on. 0.0.0.0 accepts phones and laptops on the LAN;
    /// 127.0.0.1 only this machine.
    #[arg(long, env = "CHAT_ADDR", default_value = "0.0.0.0:3000")]
    pub addr: SocketAddr,

    /// Folder of the built web app (`trunk build --release` writes it to `dist/`).
    #[arg(long, env = "CHAT_WEB_DIR", default_value = "dist")]
    pub web_dir: PathBuf,

    /// At most this many WebSocket connections at once; more are refused with 503.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Frames queued for one connection before it counts as too slow and is dropped
    /// (it gets `error` `too_slow` and close 1013, and can resume without loss).
    #[arg(long, env = "CHAT_QUEUE", default_value_t = 1024)]
    pub queue: usize,

    /// Frames a connection may send per second (bursts of twice as many are allowed);
    /// beyond that its requests are refused with `rate_limited`.
    #[arg(long, env = "CHAT_RATE_LIMIT", default_value_t = 20)]
    pub rate_limit: u32,

    /// Seconds between the server's pings; a connection silent for 2.5 times this long
    /// (not even a pong) is dropped, so a vanished phone leaves its rooms within a minute.
    #[arg(long, env = "CHAT_PING_SECS", default_value_t = 20)]
    pub ping_secs: u64,

    /// Where messages are kept: `sqlite` (durable, in --db) or `memory` (the newest
    /// --history messages per room, lost on restart).
    #[arg(long, env = "CHAT_STORE", value_enum, default_value_t = StoreKind::Sqlite)]
    pub store: StoreKind,

    /// The SQLite database file; it and its folder are created when missing.
    #[arg(long, env = "CHAT_DB", default_value = "data/chat.db")]
    pub db: PathBuf,

    /// With --store memory: messages kept per room (the newest; older ones are dropped).
    #[arg(long, env = "CHAT_HISTORY", default_value_t = 10_000)]
    pub history: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    Sqlite,
    Memory,
}

impl Default for Config {
    /// The defaults of every flag, ignoring the environment's `CHAT_*` variables.
    fn default() -> Self {
        Self {
            addr: ([0, 0, 0, 0], 3000).into(),
            web_dir: PathBuf::from("dist"),
            max_connections: 10_000,
            queue: 1024,
            rate_limit: 20,
            ping_secs: 20,
            store: StoreKind::Sqlite,
            db: PathBuf::from("data/chat.db"),
            history: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_flags() {
        let parsed = Config::parse_from(["chat-server"]);
        let default = Config::default();
        // The environment may set CHAT_* in CI; compare only when it does not.
        if std::env::vars().all(|(k, _)| !k.starts_with("CHAT_")) {
            assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
        }
    }

    #[test]
    fn flags_override() {
        let c =
            Config::parse_from(["chat-server", "--addr", "127.0.0.1:0", "--queue", "8", "--store", "memory"]);
        assert_eq!(c.addr, "127.0.0.1:0".parse().unwrap());
        assert_eq!(c.queue, 8);
        assert_eq!(c.store, StoreKind::Memory);
    }
}
