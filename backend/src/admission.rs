//! Who may connect, decided before any request is read ([`Admission`]: the sockets the
//! open-files limit leaves room for, and how many connections one address holds that are
//! not a WebSocket yet), and who may open a WebSocket, decided before the upgrade: the
//! page's origin (cross-site WebSocket hijacking), how many WebSockets one address holds,
//! and which address a connection comes from when a trusted reverse proxy stands in
//! front. Also how many connections the process's open-files limit allows.
//!
//! This module only decides; `server` refuses with the status it returns and keeps the
//! [`Counted`] slot for as long as the connection lives.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::config::Config;

/// File descriptors the process needs besides its WebSockets: the listener, the SQLite
/// files, the runtime's own, and HTTP requests in flight.
const RESERVED_FILES: u64 = 64;

/// What `--max-connections` 0 stands for when the open-files limit cannot be read.
const CONNECTIONS_IF_UNKNOWN: usize = 10_000;

/// The cap on WebSocket connections: `--max-connections`, or with 0 as many as the
/// open-files limit as it is now allows (past it, `accept` would fail for want of a file
/// descriptor, where a client over the cap is told 503).
pub fn connection_cap(max_connections: usize) -> usize {
    if max_connections != 0 {
        return max_connections;
    }
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) => usize::try_from(soft.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX).max(1),
        Err(_) => CONNECTIONS_IF_UNKNOWN,
    }
}

/// Raises the open-files soft limit to the hard limit (a desktop's soft limit is often
/// 1,024), logs how many connections that allows, and warns when `--max-connections` asks
/// for more (0 asks for what it allows). Returns the number of connections the limit allows.
pub fn raise_open_files_limit(max_connections: usize) -> Option<u64> {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(soft, _)| soft);
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => soft,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-files limit");
            return None;
        }
    };
    let allowed = soft.saturating_sub(RESERVED_FILES);
    tracing::info!(
        open_files = soft,
        was = before.unwrap_or(soft),
        connections = allowed,
        "open-files limit allows {allowed} connections"
    );
    if max_connections as u64 > allowed {
        tracing::warn!(
            max_connections,
            allowed,
            "--max-connections is {max_connections} but the open-files limit ({soft}) allows about \
             {allowed}: raise the hard limit (ulimit -Hn, or LimitNOFILE= in a systemd unit)"
        );
    }
    Some(allowed)
}

/// The accept loop's admission: a new socket is closed at once, before anything is read
/// from it, when the open-files limit (less [`RESERVED_FILES`]) is used up by the
/// sockets already open (the newest is refused, rather than `accept` failing for want of
/// a descriptor and the server stopping to accept), or when its address already holds
/// `--max-http-per-ip` connections that are not a WebSocket: still sending a request, or
/// idle between requests (a superset of "not finished their request", so that requests
/// sent whole and then left idle count too). Loopback (this machine: a local proxy not
/// declared, a load test) and the `--trusted-proxy` peers (whose clients are only known
/// from their headers) are not limited per address; the open-files budget holds for all.
#[derive(Debug)]
pub struct Admission {
    http: PerAddress,
    trusted: Vec<IpAddr>,
    /// HTTP connections open (their serving task holds an [`Admitted`]).
    open: Arc<AtomicUsize>,
    /// The WebSocket cap, whose permits the sessions hold.
    sessions: Arc<Semaphore>,
    sessions_cap: usize,
    budget: usize,
    /// When a refusal was last logged: one line a minute at most says the server refuses.
    logged: Option<Instant>,
}

/// One accepted connection's places; dropping it gives them back.
#[derive(Debug)]
pub struct Admitted {
    _counted: Option<Counted>,
    open: Arc<AtomicUsize>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's [`Admitted`] places, shared by its serving task and its requests, so
/// that an upgrade gives them back the moment the session holds its own (its serving task
/// ends a little later: counted twice meanwhile, the next connection could be refused).
#[derive(Debug, Clone)]
pub struct HttpPlaces(Arc<Mutex<Option<Admitted>>>);

impl HttpPlaces {
    pub fn new(admitted: Admitted) -> Self {
        Self(Arc::new(Mutex::new(Some(admitted))))
    }

    /// Gives the places back (once; later calls do nothing).
    pub fn release(&self) {
        // Held to take the value out only.
        let taken = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(taken);
    }
}

impl Admission {
    /// `sessions` is the WebSocket cap's semaphore, full as created.
    pub fn new(config: &Config, sessions: Arc<Semaphore>) -> Self {
        let budget = connection_cap(0);
        tracing::info!(
            sockets = budget,
            max_http_per_ip = config.max_http_per_ip,
            header_timeout = config.header_timeout,
            "sockets open at once: at most {budget}; connections that are not a WebSocket: at              most {} per address, each given {} s to send its headers",
            config.max_http_per_ip,
            config.header_timeout.max(1),
        );
        Self {
            http: PerAddress::new(config.max_http_per_ip),
            trusted: config.trusted_proxies.iter().copied().map(canonical).collect(),
            open: Arc::default(),
            sessions_cap: sessions.available_permits(),
            sessions,
            budget,
            logged: None,
        }
    }

    /// Admits a socket just accepted, or refuses it (a short answer is written if the
    /// socket takes it at once; the caller then drops the socket).
    pub fn admit(&mut self, tcp: &TcpStream, peer: SocketAddr) -> Option<Admitted> {
        let sessions = self.sessions_cap.saturating_sub(self.sessions.available_permits());
        if self.open.load(Ordering::Relaxed) + sessions >= self.budget {
            self.refuse(tcp, peer, "503 Service Unavailable", "the open-files limit is reached");
            return None;
        }
        let ip = canonical(peer.ip());
        let counted = if self.trusted.contains(&ip) {
            None
        } else {
            match self.http.admit(ip) {
                Ok(counted) => counted,
                Err(_) => {
                    self.refuse(
                        tcp,
                        peer,
                        "429 Too Many Requests",
                        "too many connections from one address (--max-http-per-ip)",
                    );
                    return None;
                }
            }
        };
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(Admitted { _counted: counted, open: self.open.clone() })
    }

    fn refuse(&mut self, tcp: &TcpStream, peer: SocketAddr, status: &str, why: &str) {
        // Never waits. What the client sent already is read first: a socket closed with
        // unread bytes is reset, and a reset can make the client lose the answer.
        let mut sink = [0u8; 2048];
        let _ = tcp.try_read(&mut sink);
        // A socket that cannot take these few bytes now is closed without them.
        let answer = format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
        let _ = tcp.try_write(answer.as_bytes());
        if self.logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
            self.logged = Some(Instant::now());
            tracing::warn!(%peer, "refusing new connections: {why} (said once a minute at most)");
        } else {
            tracing::debug!(%peer, "refused a connection: {why}");
        }
    }
}

/// How long the accept loop waits after `accept` fails for want of a resource (EMFILE,
/// ENFILE, ENOBUFS): 10 ms, doubling up to a second while it keeps failing. The first
/// failure of a run of them is logged.
#[derive(Debug)]
pub struct Backoff {
    wait: Duration,
    failing: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { wait: Self::FIRST, failing: false }
    }
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MOST: Duration = Duration::from_secs(1);

    /// The wait after this failure.
    pub fn next(&mut self, e: &std::io::Error) -> Duration {
        if !self.failing {
            self.failing = true;
            tracing::error!(
                error = %e,
                "cannot accept connections (out of file descriptors?); retrying, less often while it lasts"
            );
        }
        let wait = self.wait;
        self.wait = (self.wait * 2).min(Self::MOST);
        wait
    }

    /// An `accept` succeeded.
    pub fn reset(&mut self) {
        if self.failing {
            tracing::info!("accepting connections again");
        }
        *self = Self::default();
    }
}

/// Page origins allowed besides the request's own host, normalised (`scheme://host:port`).
#[derive(Debug, Clone, Default)]
pub struct Origins {
    allowed: Vec<String>,
}

impl Origins {
    /// Origins as given by `--allowed-origin`; one that cannot be parsed is reported and
    /// left out (it could never match).
    pub fn new(list: &[String]) -> Self {
        let allowed = list
            .iter()
            .filter_map(|o| {
                let parsed = parse_origin(o).map(|(scheme, host, port)| format!("{scheme}://{host}:{port}"));
                if parsed.is_none() {
                    tracing::warn!(origin = %o, "--allowed-origin is not an origin (scheme://host[:port]); ignored");
                }
                parsed
            })
            .collect();
        Self { allowed }
    }

    /// Whether a WebSocket upgrade with these headers may go on. No `Origin`: not a
    /// browser (browsers always send it), so nothing to hijack. An `Origin` is allowed
    /// when its host and port are the request's `Host` (the page this server served), or
    /// when it is listed. Everything else, `null` included, is refused.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else { return true };
        let Some((scheme, host, port)) = origin.to_str().ok().and_then(parse_origin) else {
            return false;
        };
        let own = headers.get(header::HOST).and_then(|h| h.to_str().ok()).and_then(parse_host);
        // A `Host` without a port is the scheme's default port, whichever the scheme is:
        // behind a TLS proxy the page is https on 443 and `Host` names no port.
        let default_port = matches!((scheme.as_str(), port), ("http", 80) | ("https", 443));
        let same = own.is_some_and(|(h, p)| h == host && p.map_or(default_port, |p| p == port));
        same || self.allowed.iter().any(|a| *a == format!("{scheme}://{host}:{port}"))
    }
}

/// `scheme://host[:port]` into its parts, the host lowercase and the port made explicit.
/// Only web origins count: `http` and `https` (what a page's `Origin` is).
fn parse_origin(origin: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = origin.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let (host, port) = parse_host(rest)?;
    Some((scheme, host, port.unwrap_or(default)))
}

/// A `Host` header (`host[:port]`, IPv6 in brackets) into the lowercase host and the port.
fn parse_host(host: &str) -> Option<(String, Option<u16>)> {
    let host = host.trim();
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let (addr, after) = v6.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        (format!("[{}]", addr.to_ascii_lowercase()), port)
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name.to_ascii_lowercase(), Some(port.parse().ok()?)),
            None => (host.to_ascii_lowercase(), None),
        }
    };
    (!name.is_empty()).then_some((name, port))
}

/// The address a connection comes from: the peer, or, when the peer is a trusted proxy,
/// the nearest address in `X-Forwarded-For` that is not one of the trusted proxies
/// (entries further left were written by the client and prove nothing).
pub fn client_ip(headers: &HeaderMap, peer: SocketAddr, trusted: &[IpAddr]) -> IpAddr {
    let peer_ip = canonical(peer.ip());
    if !trusted.contains(&peer_ip) {
        return peer_ip;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for entry in forwarded.iter().rev() {
        match parse_forwarded(entry) {
            Some(ip) if trusted.contains(&ip) => continue,
            Some(ip) => return ip,
            // Garbage in the chain: trust nothing left of it.
            None => break,
        }
    }
    peer_ip
}

/// Says once, in the log, that a proxy on this machine forwards its clients' addresses
/// without being declared: its clients are then neither limited one by one nor named in
/// the logs.
pub fn note_undeclared_proxy(headers: &HeaderMap, peer: SocketAddr, trusted: &[IpAddr]) {
    static SAID: std::sync::Once = std::sync::Once::new();
    let peer_ip = canonical(peer.ip());
    if peer_ip.is_loopback() && !trusted.contains(&peer_ip) && headers.contains_key("x-forwarded-for") {
        SAID.call_once(|| {
            tracing::warn!(
                proxy = %peer.ip(),
                "a proxy on this machine forwards clients' addresses (X-Forwarded-For) but is not \
                 trusted: its clients share one address, not limited by --max-per-ip; declare it \
                 with --trusted-proxy {}",
                peer.ip()
            );
        });
    }
}

/// An `X-Forwarded-For` entry: an IP, maybe with a port, IPv6 maybe in brackets.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok().map(canonical)
}

/// IPv4 seen through an IPv6 socket (`::ffff:a.b.c.d`) is the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Open WebSockets per client address, capped. A loopback address is not counted: it is
/// this machine (a reverse proxy not declared with `--trusted-proxy`, whose clients would
/// otherwise share one count and lock each other out past it, or a local load test); the
/// process's cap on connections still holds for it.
#[derive(Debug, Clone)]
pub struct PerAddress {
    max: usize,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection counted against its address; dropping it gives the place back.
#[derive(Debug)]
pub struct Counted {
    ip: IpAddr,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddress {
    /// `max` connections per address; 0 for no limit.
    pub fn new(max: usize) -> Self {
        Self { max: if max == 0 { usize::MAX } else { max }, counts: Arc::default() }
    }

    /// Counts one more connection from `ip`, or refuses it (429) when that address has
    /// its limit already. A loopback address passes uncounted (`None`).
    pub fn admit(&self, ip: IpAddr) -> Result<Option<Counted>, StatusCode> {
        if ip.is_loopback() {
            return Ok(None);
        }
        // Held for a map update only: no I/O, no await.
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return Err(StatusCode::TOO_MANY_REQUESTS);
        }
        *n += 1;
        Ok(Some(Counted { ip, counts: self.counts.clone() }))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn the_page_own_origin_and_no_origin_are_allowed() {
        let none = Origins::default();
        for (host, origin) in [
            ("192.168.1.20:3000", None),
            ("192.168.1.20:3000", Some("http://192.168.1.20:3000")),
            ("Chat.Example:3000", Some("http://chat.example:3000")),
            ("chat.example", Some("https://chat.example")),
            ("chat.example", Some("http://chat.example")),
            ("chat.example:443", Some("https://chat.example")),
            ("[::1]:3000", Some("http://[::1]:3000")),
        ] {
            assert!(none.allows(&headers(host, origin)), "{host} {origin:?}");
        }
    }

    #[test]
    fn other_origins_are_refused_unless_listed() {
        let none = Origins::default();
        for (host, origin) in [
            ("192.168.1.20:3000", "https://evil.example"),
            ("192.168.1.20:3000", "null"),
            ("192.168.1.20:3000", "http://192.168.1.20:3001"),
            ("192.168.1.20:3000", "http://192.168.1.20"),
            ("chat.example", "http://chat.example:8080"),
            ("chat.example:3000", "http://chat.example.evil.example:3000"),
            ("chat.example:3000", "file://"),
            ("chat.example:3000", "chrome-extension://abc"),
            ("chat.example:3000", "http://user@chat.example:3000"),
            ("chat.example:3000", ""),
        ] {
            assert!(!none.allows(&headers(host, Some(origin))), "{host} {origin}");
        }
        let listed = Origins::new(&["http://127.0.0.1:8080".into(), "HTTPS://Chat.Example/".into()]);
        assert!(listed.allows(&headers("127.0.0.1:3000", Some("http://127.0.0.1:8080"))));
        assert!(listed.allows(&headers("10.0.0.5:3000", Some("https://chat.example"))));
        assert!(listed.allows(&headers("10.0.0.5:3000", Some("https://chat.example:443"))));
        assert!(!listed.allows(&headers("127.0.0.1:3000", Some("http://127.0.0.1:8081"))));
        assert!(!listed.allows(&headers("127.0.0.1:3000", Some("null"))));
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let peer: SocketAddr = "10.0.0.1:5555".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4, 203.0.113.7"));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_ip(&h, peer, &[]), ip("10.0.0.1"), "no trusted proxy: the header is ignored");
        assert_eq!(client_ip(&h, peer, &[ip("10.0.0.1")]), ip("203.0.113.7"), "the nearest entry");
        // A chain of trusted proxies is walked through; what the client wrote is not.
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 203.0.113.7, 10.0.0.2"));
        assert_eq!(client_ip(&h, peer, &[ip("10.0.0.1"), ip("10.0.0.2")]), ip("203.0.113.7"));
        h.insert("x-forwarded-for", HeaderValue::from_static("[2001:db8::1]:4711"));
        assert_eq!(client_ip(&h, peer, &[ip("10.0.0.1")]), ip("2001:db8::1"));
        h.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(&h, peer, &[ip("10.0.0.1")]), ip("10.0.0.1"));
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:1".parse().unwrap();
        assert_eq!(client_ip(&HeaderMap::new(), mapped, &[]), ip("10.0.0.1"));
    }

    #[test]
    fn each_address_has_its_own_count_given_back_on_drop() {
        let limit = PerAddress::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = limit.admit(a).unwrap();
        let _second = limit.admit(a).unwrap();
        assert_eq!(limit.admit(a).unwrap_err(), StatusCode::TOO_MANY_REQUESTS);
        let _other = limit.admit(b).unwrap();
        drop(first);
        assert!(limit.admit(a).is_ok());
        let unlimited = PerAddress::new(0);
        let held: Vec<_> = (0..5000).map(|_| unlimited.admit(a).unwrap()).collect();
        assert_eq!(held.len(), 5000);
    }

    #[test]
    fn loopback_addresses_are_not_counted() {
        let limit = PerAddress::new(1);
        for local in ["127.0.0.1", "127.0.0.2", "::1"] {
            let ip: IpAddr = local.parse().unwrap();
            let held: Vec<_> = (0..3).map(|_| limit.admit(ip).unwrap()).collect();
            assert!(held.iter().all(Option::is_none), "{local}");
        }
        let public: IpAddr = "203.0.113.9".parse().unwrap();
        let _one = limit.admit(public).unwrap();
        assert_eq!(limit.admit(public).unwrap_err(), StatusCode::TOO_MANY_REQUESTS);
    }
}
