//! Which `Host` the server answers for (DNS rebinding). A page at `http://evil.example`
//! whose name is made to resolve to this machine can reach the server from a visitor's
//! browser; its requests then carry `Host: evil.example` (and a matching `Origin`, which
//! the WebSocket's origin check alone would take for the page's own). So every request
//! is answered only for a host the server is known by: loopback names and addresses, the
//! addresses of this machine's interfaces (how a phone on the LAN opens it; read again,
//! at most every few seconds, when an address is not among them, so a new DHCP lease is
//! found), the hosts of `--allowed-origin`, the names of `--allowed-host` (also the way
//! to name the public address of a NAT or a container's published port), and whatever a
//! `--trusted-proxy` forwards (the proxy chose to route that name here). Others get
//! `421 Misdirected Request`.
//!
//! This module decides and answers; it knows nothing of WebSockets or sessions.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The interfaces' addresses are read again at most this often, when a request names an
/// address that is not among them (a scanner naming addresses costs one read per period).
const INTERFACES_FRESH: Duration = Duration::from_secs(5);

/// The names this server is known by, besides loopback and its interfaces' addresses.
#[derive(Debug, Default)]
pub struct Hosts {
    /// Lowercase names, each with the one port it is allowed on, or any port.
    names: Vec<(String, Option<u16>)>,
    trusted_proxies: Vec<IpAddr>,
    /// This machine's interface addresses, and when they were read (`None`: never).
    interfaces: Mutex<(Option<Instant>, Vec<IpAddr>)>,
}

impl Hosts {
    /// The names of `--allowed-host` (`name` or `name:port`) and the hosts of
    /// `--allowed-origin`; one that cannot be parsed is reported and left out.
    pub fn new(allowed_hosts: &[String], allowed_origins: &[String], trusted_proxies: &[IpAddr]) -> Self {
        let mut names = Vec::new();
        for host in allowed_hosts {
            match split(host.trim()) {
                Some((name, port)) => names.push((name.to_ascii_lowercase(), port)),
                None => {
                    tracing::warn!(host = %host, "--allowed-host is not a host name (name[:port]); ignored")
                }
            }
        }
        for origin in allowed_origins {
            // Only the name: a proxy may take the page's port and forward to another.
            let host = origin.split_once("://").map_or("", |(_, rest)| rest.trim_end_matches('/'));
            if let Some((name, _)) = split(host) {
                names.push((name.to_ascii_lowercase(), None));
            }
        }
        names.sort();
        names.dedup();
        Self { names, trusted_proxies: trusted_proxies.to_vec(), interfaces: Mutex::default() }
    }

    /// Whether `ip` is loopback or an address of one of this machine's interfaces.
    fn is_ours(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if ip.is_loopback() {
            return true;
        }
        let mut interfaces = self.interfaces.lock().unwrap_or_else(|e| e.into_inner());
        let (read, addresses) = &mut *interfaces;
        if addresses.contains(&ip) {
            return true;
        }
        if read.is_some_and(|at| at.elapsed() < INTERFACES_FRESH) {
            return false;
        }
        *addresses = if_addrs::get_if_addrs()
            .map(|list| list.into_iter().map(|i| canonical(i.ip())).collect())
            .unwrap_or_default();
        *read = Some(Instant::now());
        addresses.contains(&ip)
    }

    /// What the start-up log says is accepted.
    pub fn describe(&self) -> String {
        let mut list = vec!["localhost".to_owned(), "this machine's addresses".to_owned()];
        list.extend(self.names.iter().map(|(name, port)| match port {
            Some(port) => format!("{name}:{port}"),
            None => name.clone(),
        }));
        if !self.trusted_proxies.is_empty() {
            list.push("any host a --trusted-proxy forwards".to_owned());
        }
        list.join(", ")
    }

    /// Whether a request with this `Host` header (`None`: none sent) from `peer` is for
    /// this server. A request without a `Host` is not from a browser (browsers always
    /// send one), so not a rebinding page's.
    pub fn knows(&self, host: Option<&[u8]>, peer: IpAddr) -> bool {
        let Some(host) = host else { return true };
        if self.trusted_proxies.contains(&canonical(peer)) {
            return true;
        }
        let Some((name, port)) = std::str::from_utf8(host).ok().and_then(split) else { return false };
        // A fully qualified name may end with a dot; it is the same name.
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| self.is_ours(ip)) {
            return true;
        }
        self.names
            .iter()
            .any(|(known, only)| known.eq_ignore_ascii_case(name) && only.is_none_or(|p| Some(p) == port))
    }
}

/// `host[:port]` (an IPv6 address in brackets) into the name, brackets removed, and the
/// port. `None` for what is no host.
fn split(host: &str) -> Option<(&str, Option<u16>)> {
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let (addr, after) = v6.split_once(']')?;
        match after {
            "" => (addr, None),
            p => (addr, Some(p.strip_prefix(':')?.parse().ok()?)),
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port.parse().ok()?)),
            None => (host, None),
        }
    };
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':');
    (!name.is_empty() && name.chars().all(fine)).then_some((name, port))
}

/// IPv4 seen through an IPv6 socket (`::ffff:a.b.c.d`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The layer on the whole router: refuses a request for a host this server is not known
/// by, before any handler (pages, API, WebSocket upgrades) sees it. `/healthz` and
/// `/readyz` are answered for any host: an orchestrator's probe names the host as it
/// likes, and the answer tells a rebinding page nothing.
pub async fn check(State(hosts): State<Arc<Hosts>>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let host = request.headers().get(header::HOST).map(|h| h.as_bytes());
    // Tests that call the router without a socket have no peer: loopback, as they are.
    let peer = peer.unwrap_or(IpAddr::from([127, 0, 0, 1]));
    if hosts.knows(host, peer) || matches!(request.uri().path(), "/healthz" | "/readyz") {
        return next.run(request).await;
    }
    let host = String::from_utf8_lossy(host.unwrap_or_default()).into_owned();
    // A scanner sends many: the operator is told once, at warn, what to do about it.
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::warn!(
            %host,
            "refused a request for a host this server is not known by (421); if it is this \
             server's name, start it with --allowed-host (this is said once)"
        );
    });
    tracing::debug!(%host, %peer, "refused a request for an unknown host");
    (
        StatusCode::MISDIRECTED_REQUEST,
        "this server does not answer for that host name; if it is this server's, its operator \
         must start it with --allowed-host NAME\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> IpAddr {
        IpAddr::from([127, 0, 0, 1])
    }

    #[test]
    fn loopback_addresses_and_listed_names_are_known() {
        let hosts = Hosts::new(
            &["Chat.Example".into(), "other.example:8443".into()],
            &["https://proxy.example/".into(), "http://127.0.0.1:8080".into()],
            &[],
        );
        for host in [
            "localhost",
            "LOCALHOST:3000",
            "localhost.:3000",
            "127.0.0.1:3000",
            "127.0.0.2:3000",
            "[::1]:3000",
            "[::ffff:127.0.0.1]:3000",
            "chat.example",
            "chat.example:3000",
            "chat.example.:3000",
            "other.example:8443",
            "proxy.example",
            "proxy.example:3000",
        ] {
            assert!(hosts.knows(Some(host.as_bytes()), local()), "{host}");
        }
        assert!(hosts.knows(None, local()), "no Host: not a browser");
    }

    #[test]
    fn other_names_are_not() {
        let hosts = Hosts::new(&["chat.example".into(), "other.example:8443".into()], &[], &[]);
        for host in [
            "evil.example",
            "evil.example:3000",
            "chat.example.evil.example",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            // Addresses of no interface of this machine (documentation ranges).
            "203.0.113.5",
            "203.0.113.5:3000",
            "[2001:db8::1]:3000",
            "other.example",
            "other.example:3000",
            "",
            "chat.example:port",
            "chat example",
            "[::1",
        ] {
            assert!(!hosts.knows(Some(host.as_bytes()), local()), "{host}");
        }
        assert!(!hosts.knows(Some(b"\xffchat.example"), local()));
    }

    #[test]
    fn a_trusted_proxy_forwards_any_host() {
        let proxy = IpAddr::from([10, 0, 0, 1]);
        let hosts = Hosts::new(&[], &[], &[proxy]);
        assert!(hosts.knows(Some(b"chat.example"), proxy));
        assert!(hosts.knows(Some(b"chat.example"), "::ffff:10.0.0.1".parse().unwrap()));
        assert!(!hosts.knows(Some(b"chat.example"), IpAddr::from([10, 0, 0, 2])));
        assert!(hosts.describe().contains("--trusted-proxy"));
    }
}
