//! The server's configuration: one typed [`Config`] built from command-line flags and
//! `CHAT_*` environment variables, then passed explicitly (no globals).

use std::net::{IpAddr, SocketAddr};
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

    /// Folder of the built web app (`cargo xtask build` writes it to `dist/`). Without
    /// it: the app built into the binary (`cargo xtask build --release-binary`), or else
    /// `dist/`.
    #[arg(long, env = "CHAT_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    /// At most this many WebSocket connections at once; more are refused with 503. 0 (the
    /// default): as many as the open-files limit allows, once raised to the hard limit.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,

    /// Connections the kernel completes and holds for the server to accept (listen's
    /// backlog). A burst of connects beyond it (browsers coming back after a restart) has
    /// its excess dropped, and each of those clients waits a second for its retry. 0 (the
    /// default): the system's maximum (Linux: `net.core.somaxconn`).
    #[arg(long, env = "CHAT_BACKLOG", default_value_t = 0)]
    pub backlog: u32,

    /// Frames queued for one connection before it counts as too slow and is dropped
    /// (it gets `error` `too_slow` and close 1013, and can resume without loss).
    #[arg(long, env = "CHAT_QUEUE", default_value_t = 1024)]
    pub queue: usize,

    /// Bytes queued for one connection (beyond what its socket has taken) before it
    /// counts as too slow, whatever the number of frames: a client that asks for big
    /// answers and never reads them cannot grow the server past this.
    #[arg(long, env = "CHAT_QUEUE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub queue_bytes: usize,

    /// The kernel's send buffer of each WebSocket (SO_SNDBUF; Linux reserves twice this),
    /// 0 for the kernel's own sizing (which grows to megabytes). What a client that does
    /// not read can make the server encode is about this much, its queue, and one answer.
    #[arg(long, env = "CHAT_SEND_BUFFER", default_value_t = 256 * 1024)]
    pub send_buffer: usize,

    /// Frames a connection may send per second (bursts of twice as many are allowed);
    /// beyond that its requests are refused with `rate_limited`.
    #[arg(long, env = "CHAT_RATE_LIMIT", default_value_t = 20)]
    pub rate_limit: u32,

    /// Seconds between the server's pings; a connection silent for 2.5 times this long
    /// (not even a pong), or whose data waits unacknowledged that long (an HTTP stream's
    /// client that vanished), is dropped, so a vanished phone leaves its rooms within a minute.
    #[arg(long, env = "CHAT_PING_SECS", default_value_t = 20)]
    pub ping_secs: u64,

    /// Where messages are kept: `sqlite` (durable, in --db) or `memory` (the newest
    /// --history messages per room, lost on restart).
    #[arg(long, env = "CHAT_STORE", value_enum, default_value_t = StoreKind::Sqlite)]
    pub store: StoreKind,

    /// Makes this process a node of a cluster that shares this Redis (for example
    /// `redis://127.0.0.1:6379/`): message ids, history and `cid` de-duplication are the
    /// cluster's, and every node delivers every room's messages to its own members.
    /// Overrides --store. Run Redis with `appendonly yes` and `appendfsync always`.
    #[arg(long, env = "CHAT_REDIS")]
    pub redis: Option<String>,

    /// With --redis: the cluster's history is archived in this PostgreSQL (for example
    /// `postgres://chat@db.example/chat`), without limit, and Redis keeps only each room's
    /// newest --redis-history messages. The node exits at start if it cannot use it.
    #[arg(long, env = "CHAT_DATABASE", requires = "redis")]
    pub database: Option<String>,

    /// With --database: messages kept per room in Redis (the newest; the rest are read
    /// from PostgreSQL).
    #[arg(long, env = "CHAT_REDIS_HISTORY", default_value_t = 1000)]
    pub redis_history: u64,

    /// The SQLite database file; it and its folder are created when missing.
    #[arg(long, env = "CHAT_DB", default_value = "data/chat.db")]
    pub db: PathBuf,

    /// With --store memory: messages kept per room (the newest; older ones are dropped).
    #[arg(long, env = "CHAT_HISTORY", default_value_t = 10_000)]
    pub history: usize,

    /// When SQLite waits for the disk: `full` (an acknowledged message survives a power
    /// cut) or `normal` (it survives a crash of the server, but the last commits may be
    /// lost to a power cut; commits wait less).
    #[arg(long, env = "CHAT_SYNC", value_enum, default_value_t = SyncMode::Full)]
    pub sync: SyncMode,

    /// Another page origin (`scheme://host[:port]`) allowed to open `/ws`, besides the
    /// page's own (its `Origin` matching the request's `Host`): for a reverse proxy that
    /// changes the host, or the development server. Repeatable; the variable takes a
    /// comma-separated list.
    #[arg(long = "allowed-origin", env = "CHAT_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// A name this server is reached by (`chat.example`, or `chat.example:8443` for that
    /// port only), besides loopback, IP addresses and the hosts of --allowed-origin:
    /// requests for other names get 421 (a DNS rebinding page has its own name).
    /// Repeatable; the variable takes a comma-separated list.
    #[arg(long = "allowed-host", env = "CHAT_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// WebSocket connections from one address at most (0: no limit); more are refused
    /// with 429.
    #[arg(long, env = "CHAT_MAX_PER_IP", default_value_t = 1000)]
    pub max_per_ip: usize,

    /// Connections from one address that are not (yet) a WebSocket, at most: still
    /// sending their request, or idle between requests (0: no limit). More are closed at
    /// once. Loopback and --trusted-proxy peers are not limited.
    #[arg(long, env = "CHAT_MAX_HTTP_PER_IP", default_value_t = 64)]
    pub max_http_per_ip: usize,

    /// Seconds a connection gets to send a request's headers, from its opening or from
    /// the end of its last answer (so also how long an idle keep-alive lasts).
    #[arg(long, env = "CHAT_HEADER_TIMEOUT", default_value_t = 5)]
    pub header_timeout: u64,

    /// A reverse proxy's address whose `X-Forwarded-For` is believed, for the per-address
    /// limit and the logs. Repeatable; the variable takes a comma-separated list. Without
    /// it, the peer's own address counts and the header is ignored.
    #[arg(long = "trusted-proxy", env = "CHAT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,

    /// Protocol version 2 tells a room's members of each join, leave and rename one by one
    /// while the room has at most this many members; above it they get one count of them
    /// a second (`presence_count`). Version 1 clients always get each one.
    #[arg(long, env = "CHAT_PRESENCE_THRESHOLD", default_value_t = 100)]
    pub presence_threshold: usize,

    /// Seconds a shutdown (SIGTERM, Ctrl-C) keeps serving after `/readyz` starts to answer
    /// 503, so that a load balancer sends users to other nodes before this one closes its
    /// sockets. 0: close at once.
    #[arg(long, env = "CHAT_DRAIN_SECS", default_value_t = 0)]
    pub drain_secs: u64,

    /// How the log (on stderr) is written: `text`, lines for a person, or `json`, one
    /// object per line for a log collector (each connect and disconnect with its `node`,
    /// `client` address and `nick`). `RUST_LOG` chooses what is logged (default `info`).
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// The folder uploaded images are kept in (created when missing). With --redis, every
    /// node must see the same folder (a shared volume): a message names an image that any
    /// node may have stored.
    #[arg(long, env = "CHAT_MEDIA_DIR", default_value = "data/media")]
    pub media_dir: PathBuf,

    /// The operator's secret (at least 16 characters) for the admin API (`/api/admin/*`,
    /// `Authorization: Bearer <token>`) and for reading `/metrics` from elsewhere than
    /// loopback. Without it the admin API answers 404. Prefer the variable to the flag: a
    /// flag is visible to every user of the machine in the process list.
    #[arg(long, env = "CHAT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// The largest image `POST /api/media` takes, in bytes; larger ones get 413.
    #[arg(long, env = "CHAT_MEDIA_MAX_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub media_max_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    Full,
    Normal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
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
            web_dir: None,
            max_connections: 0,
            backlog: 0,
            queue: 1024,
            queue_bytes: 4 * 1024 * 1024,
            send_buffer: 256 * 1024,
            rate_limit: 20,
            ping_secs: 20,
            store: StoreKind::Sqlite,
            redis: None,
            database: None,
            redis_history: 1000,
            db: PathBuf::from("data/chat.db"),
            history: 10_000,
            sync: SyncMode::Full,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            max_per_ip: 1000,
            max_http_per_ip: 64,
            header_timeout: 5,
            trusted_proxies: Vec::new(),
            presence_threshold: 100,
            drain_secs: 0,
            log_format: LogFormat::Text,
            media_dir: PathBuf::from("data/media"),
            media_max_bytes: 8 * 1024 * 1024,
            admin_token: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn defaults_match_the_flags() {
        // Every flag's default, given explicitly (so no `CHAT_*` variable of the machine
        // running the tests can stand in for it), parses to `Config::default()`.
        let command = Config::command();
        let mut args = vec!["chat-server".to_owned()];
        let mut without_default = Vec::new();
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            match arg.get_default_values() {
                [] => without_default.push(long.to_owned()),
                values => {
                    for v in values {
                        args.push(format!("--{long}={}", v.to_string_lossy()));
                    }
                }
            }
        }
        let explicit = Config::parse_from(&args);
        let default = Config::default();
        assert_eq!(format!("{explicit:?}"), format!("{default:?}"));
        // The lists have no default: empty unless given.
        assert_eq!(
            without_default,
            [
                "web-dir",
                "redis",
                "database",
                "allowed-origin",
                "allowed-host",
                "trusted-proxy",
                "admin-token"
            ]
        );
        assert!(default.allowed_origins.is_empty() && default.trusted_proxies.is_empty());
        assert_eq!(default.redis, None);
    }

    #[test]
    fn flags_override() {
        let c =
            Config::parse_from(["chat-server", "--addr", "127.0.0.1:0", "--queue", "8", "--store", "memory"]);
        assert_eq!(c.addr, "127.0.0.1:0".parse().unwrap());
        assert_eq!(Config::parse_from(["chat-server", "--backlog", "512"]).backlog, 512);
        assert_eq!(c.queue, 8);
        assert_eq!(c.store, StoreKind::Memory);
        let c = Config::parse_from([
            "chat-server",
            "--allowed-origin",
            "https://chat.example",
            "--allowed-origin=http://127.0.0.1:8080",
            "--trusted-proxy",
            "10.0.0.1,::1",
            "--sync",
            "normal",
            "--allowed-host",
            "chat.example,Chat.Other:8443",
        ]);
        assert_eq!(c.allowed_hosts, ["chat.example", "Chat.Other:8443"]);
        assert_eq!(c.allowed_origins, ["https://chat.example", "http://127.0.0.1:8080"]);
        assert_eq!(c.trusted_proxies, ["10.0.0.1".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]);
        assert_eq!(c.sync, SyncMode::Normal);
        let c = Config::parse_from(["chat-server", "--log-format", "json", "--drain-secs", "10"]);
        assert_eq!((c.log_format, c.drain_secs), (LogFormat::Json, 10));
    }
}
