//! The HTTP side: one router on one port for the WebSocket (`/ws`), the server's facts
//! (`/api/info`) and the built web app (static files, `index.html` as the fallback so
//! deep links like `/#/room/x` load). [`run`] accepts connections and serves them with
//! hyper's HTTP/1.1 until its shutdown future resolves, then closes every WebSocket with
//! 1001 and returns within about two seconds.
//!
//! The built web app's files are `web`'s part of the router.
//!
//! `/ws` answers the WebSocket handshake itself and hands the bare TCP socket to a
//! session (see `ws` for why the server speaks WebSocket itself).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use common::Version;
use futures_util::FutureExt as _;
use futures_util::future::OptionFuture;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::admin::{self, Auth};
use crate::admission::{self, Admission, Origins, PerAddress};
use crate::change::Orphans;
use crate::cluster::Cluster;
use crate::cluster::moderation::Nodes;
use crate::config::{Config, StoreKind};
use crate::conn::handler::{self, Peer, SessionConfig};
use crate::health::{self, Readiness};
use crate::hosts::{self, Hosts};
use crate::hub::Hub;
use crate::media::{self, Media};
use crate::net;
use crate::socket::{HttpIo, ServedOn};
use crate::store::{Archive, Archiver, Store};
use crate::{banned, stream, web, ws};

/// The listen backlog where the system does not say its maximum: Linux's default
/// `somaxconn` since 5.4; other kernels cap a larger backlog at their own maximum.
const DEFAULT_MAX_BACKLOG: u32 = 4096;

/// How long open WebSockets get to close after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone)]
struct AppState {
    hub: Hub,
    session: SessionConfig,
    shutdown: CancellationToken,
    sessions: TaskTracker,
    slots: Arc<Semaphore>,
    per_address: PerAddress,
    origins: Arc<Origins>,
    trusted_proxies: Arc<Vec<std::net::IpAddr>>,
    lan_urls: Arc<Vec<String>>,
    /// This node in the logs: the address it listens on.
    node: SocketAddr,
}

/// Listens on `addr` with a queue of `backlog` connections completed but not yet accepted
/// (0: the system's maximum, [`max_backlog`]). `TcpListener::bind` asks for 128, and a
/// burst of connects beyond what the queue holds is dropped by the kernel, each dropped
/// client waiting a second for its SYN's retransmit however fast the server accepts.
pub fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As `TcpListener::bind` does: a restarted server listens again at once, whatever
    // connections of the last one linger in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let max = max_backlog();
    if backlog > max {
        tracing::warn!(
            backlog,
            max,
            "--backlog is above the system's maximum, which the kernel uses instead"
        );
    }
    socket.listen(if backlog == 0 { max } else { backlog })
}

/// The largest listen backlog the system grants: `net.core.somaxconn` where `/proc` says
/// it, else [`DEFAULT_MAX_BACKLOG`].
pub fn max_backlog() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_MAX_BACKLOG)
}

/// Serves `listener` until `shutdown` resolves (the binary passes Ctrl-C/SIGTERM).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let token = CancellationToken::new();
    // A shutdown begins with `/readyz` answering 503; the node goes on serving for
    // --drain-secs, so a balancer sends users elsewhere before the sockets close.
    let stopping = CancellationToken::new();
    let shutdown = drain(shutdown, stopping.clone(), Duration::from_secs(config.drain_secs));
    let mut cluster = None;
    let mut redis_commands = None;
    let mut archiver = None;
    let (store, history, written) = match (&config.redis, config.store) {
        (Some(url), _) => {
            let node = Cluster::connect(url).await?;
            let archive = match &config.database {
                Some(url) => {
                    let archive = Archive::connect(url).await?;
                    tracing::info!(
                        kept = config.redis_history,
                        "messages are archived in PostgreSQL; Redis keeps each room's newest"
                    );
                    archiver = Some(Archiver::new(node.commands(), archive.clone(), config.redis_history));
                    Some(archive)
                }
                None => {
                    if Archiver::archived(&mut node.commands()).await? {
                        anyhow::bail!(
                            "this cluster keeps its history in PostgreSQL (a node started with --database \
                             archived its Redis): start this node with --database too; without it, the rooms' \
                             settings, roles and bans it changed would reach only Redis, where the other \
                             nodes no longer read them"
                        );
                    }
                    None
                }
            };
            let (store, history, written) = Store::redis(node.commands(), node.client(), archive);
            redis_commands = Some(node.commands());
            cluster = Some(node);
            (store, history, Some(written))
        }
        (None, StoreKind::Memory) => {
            let (store, history) = Store::memory(config.history);
            (store, history, None)
        }
        (None, StoreKind::Sqlite) => {
            let (store, history, written) = Store::sqlite(&config.db, config.sync)?;
            tracing::info!(db = %config.db.display(), sync = ?config.sync, "messages are stored in SQLite");
            (store, history, Some(written))
        }
    };
    let admin = config.admin_token.as_deref().map(Auth::new).transpose().map_err(anyhow::Error::msg)?;
    let audit_history = history.clone();
    let readiness = Readiness::new(history.clone(), stopping);
    let hub = Hub::new(store, history, config.presence_threshold);
    // The bans a restart or a new node must not forget, before anyone connects.
    hub.keep_bans().await;
    let mut cluster = cluster.map(|node| node.start(&hub, addr, token.clone()));
    let media = Media::open(&config.media_dir, config.media_max_bytes)
        .with_context(|| format!("creating the media folder {}", config.media_dir.display()))?;
    // The pictures of deleted messages that no message names any more leave the folder.
    let (orphans, orphaned) = Orphans::channel();
    hub.sweep_orphans_to(orphans);
    tokio::spawn(media.clone().sweep(orphaned));
    let directory = tokio::spawn(hub.clone().run_directory(token.clone()));
    let archiver = archiver.map(|a| tokio::spawn(a.run(token.clone())));
    let presence = tokio::spawn(hub.clone().run_presence(token.clone()));
    let delivery = written.map(|mut written| {
        let hub = hub.clone();
        tokio::spawn(async move {
            while let Some(batch) = written.recv().await {
                hub.deliver(batch).flush();
            }
        })
    });
    let state = AppState {
        hub,
        session: SessionConfig {
            queue: crate::conn::link::Capacity { frames: config.queue, bytes: config.queue_bytes },
            send_buffer: config.send_buffer,
            rate_limit: config.rate_limit,
            ping_every: Duration::from_secs(config.ping_secs.max(1)),
            media: media.clone(),
        },
        shutdown: token.clone(),
        sessions: TaskTracker::new(),
        slots: Arc::new(Semaphore::new(
            admission::connection_cap(config.max_connections).min(Semaphore::MAX_PERMITS),
        )),
        per_address: PerAddress::new(config.max_per_ip),
        origins: Arc::new(Origins::new(&config.allowed_origins)),
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        lan_urls: Arc::new(net::lan_urls(addr)),
        node: addr,
    };
    let sessions = state.sessions.clone();
    let hosts = Hosts::new(&config.allowed_hosts, &config.allowed_origins, &config.trusted_proxies);
    tracing::info!(hosts = %hosts.describe(), "answering requests for these hosts (others get 421; see --allowed-host)");
    let mut admission = Admission::new(&config, state.slots.clone());
    let web = web::router(web::source(config.web_dir.as_deref())).await;
    let streams = stream::StreamState {
        hub: state.hub.clone(),
        session: state.session.clone(),
        shutdown: state.shutdown.clone(),
        sessions: state.sessions.clone(),
        slots: state.slots.clone(),
        per_address: state.per_address.clone(),
        origins: state.origins.clone(),
        trusted_proxies: state.trusted_proxies.clone(),
        node: state.node,
        streams: stream::Streams::default(),
        relay: cluster.as_ref().map(|node| node.relay.clone()),
    };
    // Posts that other nodes relay to this one, for its streams.
    let relayed = cluster.as_mut().and_then(|node| {
        let asks = node.asks.take()?;
        Some(tokio::spawn(stream::apply_relayed(
            streams.streams.clone(),
            node.relay.clone(),
            asks,
            token.clone(),
        )))
    });
    let scrape = admin::scrape::Scrape {
        metrics: state.hub.metrics().clone(),
        admin: admin.clone(),
        trusted_proxies: state.trusted_proxies.clone(),
    };
    let admin = admin::AdminState {
        auth: admin,
        hub: state.hub.clone(),
        nodes: redis_commands.map(Nodes::new),
        audit: admin::Audit::new(audit_history),
        trusted_proxies: state.trusted_proxies.clone(),
        node: state.node,
    };
    let app = router(state, media, readiness, web.merge(admin::router(admin)), hosts, streams, scrape);
    let http = TaskTracker::new();
    let header_timeout = Duration::from_secs(config.header_timeout.max(1));
    let silence = crate::conn::handler::silence_limit(Duration::from_secs(config.ping_secs.max(1)));
    let mut backoff = admission::Backoff::default();
    tokio::pin!(shutdown);
    'accept: loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    backoff.reset();
                    if let Some(admitted) = admission.admit(&tcp, peer) {
                        serve_http(tcp, peer, admitted, app.clone(), &http, token.clone(), (header_timeout, silence));
                    }
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    // Out of file descriptors, most likely (what the reserve is for, so
                    // something else holds them): wait for some to be freed rather than
                    // spin, longer each time, and keep accepting after.
                    let wait = backoff.next(&e);
                    tokio::select! {
                        () = &mut shutdown => break 'accept,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }
    drop(listener);
    tracing::info!("shutting down: closing every connection");
    // HTTP connections finish their request; sessions close their WebSocket with 1001.
    token.cancel();
    http.close();
    sessions.close();
    // A slow HTTP client may hold its request open; never wait past the grace period.
    let waited = async {
        http.wait().await;
        sessions.wait().await;
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, waited).await.is_err() {
        tracing::warn!("some connections did not close in time");
    }
    // A node that stops takes its members out of the cluster's rooms at once.
    if let Some(node) = cluster {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, node.presence).await;
        node.subscription.abort();
        node.typing.abort();
    }
    if let Some(task) = relayed {
        task.abort();
    }
    directory.abort();
    if let Some(archiver) = archiver {
        archiver.abort();
    }
    presence.abort();
    if let Some(task) = delivery {
        task.abort();
    }
    Ok(())
}

/// Serves one TCP connection's HTTP requests until it closes, is upgraded to a
/// WebSocket, or the server shuts down (then it finishes the request in flight).
/// `admitted` holds the connection's places (see `admission`) until it ends or becomes a
/// WebSocket (then the session holds its own, and `ws_handler` gives these back).
fn serve_http(
    tcp: TcpStream,
    peer: SocketAddr,
    admitted: admission::Admitted,
    app: Router,
    tracker: &TaskTracker,
    stop: CancellationToken,
    (header_timeout, silence): (Duration, Duration),
) {
    // A chat frame is small and must go out now: Nagle's algorithm, with the peer's
    // delayed ACKs, would hold frames back for tens of milliseconds.
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    // A peer that vanished without a word (its network went away: no FIN, no RST) never
    // acknowledges what is sent to it. A WebSocket notices by its unanswered pings; an HTTP
    // stream's client answers nothing, so the kernel is told to give up on the connection
    // once data has waited unacknowledged for the same silence limit: the stream's next
    // heartbeat then fails and its session ends, as a silent WebSocket's would.
    if let Err(e) = socket2::SockRef::from(&tcp).set_tcp_user_timeout(Some(silence)) {
        tracing::debug!(error = %e, "could not set TCP_USER_TIMEOUT");
    }
    let places = admission::HttpPlaces::new(admitted);
    let io = HttpIo::new(tcp);
    // What an HTTP stream served on this connection writes its events to (see `socket`).
    let app = tower::Layer::layer(&Extension(ServedOn(io.socket())), app);
    let app = tower::Layer::layer(&Extension(ConnectInfo(peer)), app);
    let service = TowerToHyperService::new(tower::Layer::layer(&Extension(places.clone()), app));
    tracker.spawn(async move {
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            // Measured by hyper from the connection's start, and again from the end of each
            // answer on a keep-alive connection: so also the longest idle keep-alive.
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(conn);
        let result = tokio::select! {
            r = conn.as_mut() => r,
            () = stop.cancelled() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(%peer, error = %e, "HTTP connection failed");
        }
        places.release();
    });
}

/// `shutdown`, then `stopping` cancelled (`/readyz` says 503), then `drain` waited.
async fn drain(shutdown: impl Future<Output = ()>, stopping: CancellationToken, drain: Duration) {
    shutdown.await;
    stopping.cancel();
    if !drain.is_zero() {
        tracing::info!(?drain, "shutting down: /readyz says 503, serving on while balancers drain");
        tokio::time::sleep(drain).await;
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

fn router(
    state: AppState,
    media: Media,
    readiness: Readiness,
    web: Router,
    hosts: Hosts,
    streams: stream::StreamState,
    scrape: admin::scrape::Scrape,
) -> Router {
    let uploads = media::router(media, state.hub.clone(), state.origins.clone());
    let probes = Router::new().route("/healthz", get(health::healthz)).route("/readyz", get(health::readyz));
    Router::new()
        .route("/ws", get(ws_handler))
        .route("/api/info", get(info))
        .route("/api/qr.svg", get(qr))
        .with_state(state)
        .merge(probes.with_state(readiness))
        .merge(Router::new().route("/metrics", get(admin::scrape::serve)).with_state(scrape))
        .merge(stream::router(streams))
        .merge(uploads)
        .merge(web)
        // Last, so that it wraps every route and the fallback alike.
        .layer(axum::middleware::from_fn_with_state(Arc::new(hosts), hosts::check))
}

/// The URLs a phone can open, best first, for a request with these headers.
fn phone_urls(state: &AppState, headers: &HeaderMap) -> Vec<String> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    net::phone_urls(&state.lan_urls, host)
}

async fn info(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    Json(serde_json::json!({
        // Version 1's number, as ever; `protocols` lists every version spoken (version 2
        // is asked for with the WebSocket subprotocol `chat.v2`).
        "protocol": common::PROTOCOL_VERSION,
        "protocols": common::Version::ALL.map(common::Version::number),
        "version": env!("CARGO_PKG_VERSION"),
        "lan_urls": phone_urls(&state, &headers),
    }))
}

/// `/ws?resume=<token>`: the token from a previous `welcome`, when reconnecting.
#[derive(Debug, serde::Deserialize)]
struct WsParams {
    resume: Option<String>,
}

/// `/api/qr.svg?room=<name>`: the room a scanned code should open.
#[derive(Debug, serde::Deserialize)]
struct QrParams {
    room: Option<String>,
}

/// A QR code of the best URL for a phone (the first of `/api/info`'s `lan_urls` for the
/// same request), opening `room` when given (or `404` when the server listens on loopback
/// only), so the app can show a phone where to go.
async fn qr(State(state): State<AppState>, headers: HeaderMap, Query(params): Query<QrParams>) -> Response {
    let urls = phone_urls(&state, &headers);
    let url = urls.first().map(|base| match params.room.as_deref().map(str::trim) {
        Some(room) if !room.is_empty() => format!("{base}#/room/{}", net::percent_encode(room)),
        _ => base.clone(),
    });
    match url.and_then(|u| net::qr_svg(&u)) {
        Some(svg) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        None => {
            (StatusCode::NOT_FOUND, "no LAN address: the server listens on loopback only\n").into_response()
        }
    }
}

async fn ws_handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(params): Query<WsParams>,
    mut req: Request,
) -> Response {
    let accept = match handshake(req.headers()) {
        Ok(accept) => accept,
        Err(refusal) => return refusal,
    };
    // Version 2 only when the client offers it; then the answer names it, as RFC 6455
    // requires (a client that offered nothing must get no `Sec-WebSocket-Protocol`).
    let version = Version::negotiate(
        req.headers().get_all(header::SEC_WEBSOCKET_PROTOCOL).iter().filter_map(|v| v.to_str().ok()),
    );
    let ip = admission::client_ip(req.headers(), peer, &state.trusted_proxies);
    if ip.is_loopback() {
        admission::note_undeclared_proxy(req.headers(), peer, &state.trusted_proxies);
    }
    // The peer's own address with its port when there is no proxy, as before. Formatted
    // only for a log line that will show it: formatting it on every upgrade was 3% of a
    // bare upgrade's instructions (bench/TUNING.md), for logs that are off in production.
    let client = || if ip == peer.ip() { peer.to_string() } else { ip.to_string() };
    if !state.origins.allows(req.headers()) {
        let origin = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or("?");
        tracing::warn!(client = %client(), %origin, "refused a WebSocket from another site's page (see --allowed-origin)");
        return (StatusCode::FORBIDDEN, "WebSocket connections from other sites' pages are not allowed\n")
            .into_response();
    }
    let Some(on_upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return (StatusCode::BAD_REQUEST, "this connection cannot be upgraded to a WebSocket\n")
            .into_response();
    };
    if state.hub.banned_from_server(params.resume.as_deref(), ip) {
        // Upgraded, told why and closed with 4001: a browser cannot read a refused
        // upgrade's status, and would retry a 403 forever (see `banned`).
        tracing::info!(client = %client(), "turned a WebSocket away: banned by the operator");
        state.sessions.spawn(banned::websocket(on_upgrade));
        return switching_protocols(accept, version);
    }
    let Ok(slot) = state.slots.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "the server is full; try again later\n").into_response();
    };
    let counted = match state.per_address.admit(ip) {
        Ok(counted) => counted,
        Err(status) => {
            tracing::warn!(client = %client(), "refused a WebSocket: too many connections from one address (--max-per-ip)");
            return (status, "too many connections from your address\n").into_response();
        }
    };
    // The session holds its places from now on: the connection's HTTP ones go back.
    if let Some(places) = req.extensions().get::<admission::HttpPlaces>() {
        places.release();
    }
    // The session names the client only in its info lines (connected, disconnected).
    let client = if tracing::enabled!(tracing::Level::INFO) { client() } else { String::new() };
    let peer = Peer { client, ip, resume: params.resume, version };
    // Every line the session logs (its connect and disconnect too) names this node.
    let span = tracing::info_span!("session", node = %state.node);
    let AppState { hub, session, shutdown, sessions, .. } = state;
    let task = session_task(on_upgrade, hub, session, peer, shutdown, (slot, counted));
    sessions.spawn(task.instrument(span));
    switching_protocols(accept, version)
}

/// A WebSocket's session once its `101` is sent: it waits for the upgrade, then runs the
/// connection's handler; `held` (its admission places) is let go when the handler ends.
///
/// Two futures, one after the other, not one `async` block around both: a block keeps
/// everything it captured (the hub, the config, the peer) for its whole life, beside the
/// handler made of them, and the task's future is most of an idle connection's memory
/// (bench/TUNING.md). Here what the upgrade's wait holds is gone once the handler runs.
fn session_task(
    on_upgrade: hyper::upgrade::OnUpgrade,
    hub: Hub,
    session: SessionConfig,
    peer: Peer,
    shutdown: CancellationToken,
    held: impl Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    on_upgrade.then(move |upgraded| {
        let handler = match upgraded {
            Err(e) => {
                tracing::debug!(client = %peer.client, error = %e, "WebSocket upgrade failed");
                None
            }
            // Served by hyper's HTTP/1 straight over the accepted socket, so this is that socket.
            Ok(upgraded) => {
                match upgraded.downcast::<TokioIo<HttpIo>>().map(|p| (p.io.into_inner(), p.read_buf)) {
                    Ok((io, early)) => match io.into_tcp() {
                        Some(tcp) => Some(handler::connect(tcp, early, hub, session, peer)),
                        None => {
                            tracing::error!("an upgraded connection's socket is still held by a stream");
                            None
                        }
                    },
                    Err(_) => {
                        tracing::error!("an upgraded connection is not a TCP socket");
                        None
                    }
                }
            }
        };
        OptionFuture::from(handler.map(|handler| handler.run(shutdown))).map(move |_| drop(held))
    })
}

/// The `101` that accepts an upgrade.
fn switching_protocols(accept: HeaderValue, version: Version) -> Response {
    // Static header values, inserted directly: the builder parsed and copied each of
    // them on every upgrade (bench/TUNING.md).
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    if version == Version::V2 {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(common::v2::SUBPROTOCOL));
    }
    response
}

/// Checks a WebSocket opening handshake (RFC 6455 section 4.2.1); returns the
/// `Sec-WebSocket-Accept` to answer with, or the response refusing it.
#[allow(clippy::result_large_err)]
fn handshake(headers: &HeaderMap) -> Result<HeaderValue, Response> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token(header::UPGRADE, "websocket") || !has_token(header::CONNECTION, "upgrade") {
        let why = "this is the chat's WebSocket endpoint: connect to it with a WebSocket client\n";
        return Err((StatusCode::UPGRADE_REQUIRED, [(header::UPGRADE, "websocket")], why).into_response());
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v.as_bytes() != b"13") {
        return Err((
            StatusCode::UPGRADE_REQUIRED,
            [(header::SEC_WEBSOCKET_VERSION, "13")],
            "only WebSocket version 13 is supported\n",
        )
            .into_response());
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY).map(HeaderValue::as_bytes).unwrap_or_default();
    if data_encoding::BASE64.decode(key).map_or(true, |k| k.len() != 16) {
        return Err((StatusCode::BAD_REQUEST, "a missing or malformed Sec-WebSocket-Key\n").into_response());
    }
    // Base64 is always a valid header value.
    Ok(HeaderValue::try_from(ws::accept_key(key)).expect("base64 is a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WebSocket's task is most of an idle connection's memory: what the wait for the
    /// upgrade holds (the hub, the config, the peer) is not kept beside the handler made of
    /// it. As one `async` block around both it was 1,456 bytes; now 1,224 (bench/TUNING.md).
    #[tokio::test]
    async fn a_sessions_task_holds_its_state_once() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, session, peer) = crate::conn::handler::tests::sizing_parts(dir.path());
        let slots = Arc::new(Semaphore::new(1));
        let held = slots.try_acquire_owned().unwrap();
        let on_upgrade = hyper::upgrade::on(axum::http::Request::new(()));
        let task = session_task(on_upgrade, hub, session, peer, CancellationToken::new(), held);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 1344, "a session's task is {size} bytes");
    }
}
