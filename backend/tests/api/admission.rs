//! Who gets an answer at all: requests for a host the server is not known by (DNS
//! rebinding) get 421 whatever they ask for; sockets that never finish their request are
//! closed after the header timeout, and one address cannot hold more than its share of
//! them; near the open-files limit the newest socket is refused and everyone else, and
//! `/healthz`, is still served.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::durability::Process;
use crate::helpers::*;

/// Sends `head` (request line and headers, without the blank line) and returns the status
/// and the body, the socket closed by the server after (`Connection: close`).
async fn ask(addr: SocketAddr, head: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut raw)).await.expect("an answer").unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).unwrap_or_else(|| panic!("no status in {raw:?}"));
    (status.parse().unwrap(), body.to_owned())
}

fn upgrade_head(host: &str, origin: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13"
    )
}

/// Upgrades and returns the status (the socket is dropped).
async fn upgrade(addr: SocketAddr, host: &str, origin: &str) -> u16 {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(format!("{}\r\n\r\n", upgrade_head(host, origin)).as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, tcp.read(&mut byte)).await.expect("an answer").unwrap();
        assert_eq!(n, 1, "closed before the end of the head: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// This machine's first address that is not loopback, as the server's LAN URLs find it.
fn lan_ip() -> IpAddr {
    if_addrs::get_if_addrs()
        .unwrap()
        .into_iter()
        .map(|i| i.ip())
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        .expect("this machine has a LAN address (the tests need one to come from another address)")
}

#[tokio::test]
async fn a_page_of_a_rebound_name_gets_421_for_everything() {
    let app = spawn_with(with_web_dir(test_config())).await;
    // DNS rebinding: evil.example resolves to this machine; its page's origin and host
    // agree, which the origin check alone took for the page's own.
    let status = upgrade(app.addr, "evil.example:3000", "http://evil.example:3000").await;
    assert_eq!(status, 421, "no upgrade for a name the server is not known by");
    for path in ["/", "/api/info", "/api/qr.svg", "/app-1234.js", "/ws", "/http/stream?v=2"] {
        let (status, body) = ask(app.addr, &format!("GET {path} HTTP/1.1\r\nHost: evil.example:3000")).await;
        assert_eq!(status, 421, "{path}");
        assert!(body.contains("--allowed-host"), "the answer says what to do: {body}");
    }
    // The HTTP transport's way up is refused before its token or body is looked at.
    let post = "POST /http/send?stream=s&seq=1 HTTP/1.1\r\nHost: evil.example:3000\r\n\
                Authorization: Bearer 0123456789abcdef\r\nContent-Length: 0";
    let (status, body) = ask(app.addr, post).await;
    assert_eq!(status, 421, "{body}");
    let (status, _) = ask(app.addr, "GET /api/info HTTP/1.1\r\nHost: localhost.evil.example").await;
    assert_eq!(status, 421);
    // The same requests for this server's own names are served.
    let own = app.addr.to_string();
    for host in [own.as_str(), "localhost:3000", "[::1]:3000"] {
        assert_eq!(ask(app.addr, &format!("GET / HTTP/1.1\r\nHost: {host}")).await.0, 200, "{host}");
    }
    assert_eq!(upgrade(app.addr, &own, &format!("http://{own}")).await, 101);
}

#[tokio::test]
async fn the_lan_address_and_allowed_names_are_served() {
    let app = spawn_with(backend::Config {
        allowed_hosts: vec!["chat.example".into(), "other.example:8443".into()],
        allowed_origins: vec!["https://proxy.example".into()],
        ..test_config()
    })
    .await;
    let lan = SocketAddr::new(lan_ip(), 3000).to_string();
    for (host, want) in [
        (lan.as_str(), 200),
        ("chat.example", 200),
        ("CHAT.example:3000", 200),
        ("other.example:8443", 200),
        ("other.example:3000", 421),
        ("proxy.example", 200),
        ("evil.example", 421),
    ] {
        let (status, _) = ask(app.addr, &format!("GET /api/info HTTP/1.1\r\nHost: {host}")).await;
        assert_eq!(status, want, "{host}");
    }
    assert_eq!(upgrade(app.addr, &lan, &format!("http://{lan}")).await, 101);
    assert_eq!(upgrade(app.addr, "chat.example", "http://chat.example").await, 101);
    // `--allowed-host` names the host, not another site: the origin check still holds.
    assert_eq!(upgrade(app.addr, "chat.example", "http://evil.example").await, 403);
}

#[tokio::test]
async fn the_host_a_trusted_proxy_forwards_is_served() {
    let proxied = spawn_with(backend::Config {
        trusted_proxies: vec![[127, 0, 0, 1].into()],
        allowed_origins: vec!["https://chat.example".into()],
        ..test_config()
    })
    .await;
    let direct = spawn_app().await;
    let request = "GET /api/info HTTP/1.1\r\nHost: chat.internal:3000\r\nX-Forwarded-Host: chat.public";
    assert_eq!(ask(proxied.addr, request).await.0, 200, "the proxy routed that name here");
    assert_eq!(ask(direct.addr, request).await.0, 421, "not from a trusted proxy");
    assert_eq!(upgrade(proxied.addr, "chat.internal", "https://chat.example").await, 101);
}

#[tokio::test]
async fn healthz_answers_plainly_for_any_host() {
    let app = spawn_app().await;
    let fetched = app.fetch("/healthz", &[]).await;
    assert_eq!((fetched.status, fetched.body.as_slice()), (200, b"ok\n".as_slice()));
    assert!(fetched.header("content-type").starts_with("text/plain"), "{:?}", fetched.headers);
    let (status, body) = ask(app.addr, "GET /healthz HTTP/1.1\r\nHost: pod-7.cluster.internal").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
}

/// A socket from `from` that sends half a request and then nothing.
async fn half_request(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let mut tcp = socket.connect(to).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: local").await.unwrap();
    tcp
}

/// How long until the server closes `tcp` (an answer before the close is fine).
async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("still open after {limit:?}"),
        }
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let app = spawn_with(backend::Config { header_timeout: 1, ..test_config() }).await;
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while !answer.ends_with(b"ok\n") {
        let n = tokio::time::timeout(WAIT, tcp.read(&mut buf)).await.expect("an answer").unwrap();
        assert_ne!(n, 0, "closed before the answer");
        answer.extend_from_slice(&buf[..n]);
    }
    // Kept alive for the next request, which never comes: the timeout counts from the
    // end of the answer, so an idle connection holds its socket a second, not forever.
    let idle = closed_within(&mut tcp, Duration::from_secs(3)).await;
    assert!(idle >= Duration::from_millis(800), "closed after {idle:?}, before the timeout");
}

#[tokio::test]
async fn a_flood_of_half_requests_from_one_address_leaves_everyone_else_served() {
    let db = fresh_db();
    // 256 files: 192 sockets at once. The flood comes from the LAN address (loopback,
    // this machine, is not limited per address).
    let server =
        Process::start_with(&db, 0, &["--header-timeout", "2", "--max-http-per-ip", "16"], Some("-n 256"))
            .await;
    let addr: SocketAddr = ([127, 0, 0, 1], server.port).into();
    let lan = lan_ip();
    let mut flood = Vec::new();
    for _ in 0..300 {
        flood.push(half_request(lan, addr).await);
    }
    // The 16 it may hold are open; every other one was closed at once (well before the
    // header timeout of 2 s, with room for a loaded machine to get round to them).
    let mut refused = 0;
    for tcp in &mut flood[16..] {
        closed_within(tcp, Duration::from_millis(1500)).await;
        refused += 1;
    }
    assert_eq!(refused, 284);
    // Meanwhile clients and the health check are served as ever.
    let mut c = Client::connect(&server.url()).await;
    c.join("lobby").await;
    let (status, body) = ask(addr, "GET /healthz HTTP/1.1\r\nHost: localhost").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    // The ones it held are closed within the header timeout (2 s, from their opening).
    for tcp in &mut flood[..16] {
        closed_within(tcp, Duration::from_secs(4)).await;
    }
    // And the address may connect again.
    let mut again = half_request(lan, addr).await;
    again.write_all(b"host\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    again.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("--max-http-per-ip"), "{log}");
}

#[tokio::test]
async fn near_the_open_files_limit_the_newest_socket_is_refused_and_accepting_goes_on() {
    let db = fresh_db();
    let server = Process::start_with(&db, 0, &["--header-timeout", "2"], Some("-n 256")).await;
    let addr: SocketAddr = ([127, 0, 0, 1], server.port).into();
    // Loopback is not limited per address: 300 half requests fill the 192 sockets.
    let started = Instant::now();
    let mut flood = Vec::new();
    for _ in 0..299 {
        flood.push(half_request([127, 0, 0, 1].into(), addr).await);
    }
    // The newest are refused at once with a word, not left hanging on the listen queue.
    // This one sends nothing: bytes that reach a refused socket after the server looked
    // for them make its close a reset, which on a loaded machine can overtake the answer.
    let mut last = TcpStream::connect(addr).await.unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(WAIT, last.read_to_string(&mut answer)).await.expect("closed at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    // Within the header timeout the held ones are closed, and the server serves again.
    for tcp in &mut flood[..192] {
        closed_within(tcp, Duration::from_secs(4).saturating_sub(started.elapsed()) + Duration::from_secs(1))
            .await;
    }
    let (status, body) = ask(addr, "GET /healthz HTTP/1.1\r\nHost: localhost").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let mut c = Client::connect(&server.url()).await;
    c.join("lobby").await;
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("the open-files limit is reached"), "{log}");
    assert!(!log.contains("cannot accept connections"), "the reserve kept accept from failing: {log}");
}
