//! The HTTP side: one router on one port for the WebSocket (`/ws`), the server's facts
//! (`/api/info`) and the built web app (static files, `index.html` as the fallback so
//! deep links like `/#/room/x` load). [`run`] serves until its shutdown future resolves,
//! then closes every WebSocket with 1001 and returns within about two seconds.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::{Config, StoreKind};
use crate::hub::Hub;
use crate::net;
use crate::session::{self, Peer, SessionConfig};
use crate::store::Store;

/// Per-socket buffer sizes (see `ws_handler`). The read buffer is where an idle
/// connection's memory went: 128 KiB (tungstenite's default) gave 137 KB per idle
/// connection, 4 KiB 12.5 KB, 1 KiB (with the writer's batch allocated on demand) 7.6 KB.
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 16 * 1024;
const WRITE_BUFFER_MAX: usize = 1024 * 1024;

/// How long open WebSockets get to close after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone)]
struct AppState {
    hub: Hub,
    session: SessionConfig,
    shutdown: CancellationToken,
    sessions: TaskTracker,
    slots: Arc<Semaphore>,
    lan_urls: Arc<Vec<String>>,
}

/// Serves `listener` until `shutdown` resolves (the binary passes Ctrl-C/SIGTERM).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let token = CancellationToken::new();
    let (store, committed) = match config.store {
        StoreKind::Memory => (Store::memory(config.history), None),
        StoreKind::Sqlite => {
            let (store, committed) = Store::sqlite(&config.db)?;
            tracing::info!(db = %config.db.display(), "messages are stored in SQLite");
            (store, Some(committed))
        }
    };
    let hub = Hub::new(store);
    let directory = tokio::spawn(hub.clone().run_directory(token.clone()));
    let delivery = committed.map(|mut committed| {
        let hub = hub.clone();
        tokio::spawn(async move {
            while let Some(batch) = committed.recv().await {
                hub.deliver(batch);
            }
        })
    });
    let state = AppState {
        hub,
        session: SessionConfig {
            queue: config.queue,
            rate_limit: config.rate_limit,
            ping_every: Duration::from_secs(config.ping_secs.max(1)),
        },
        shutdown: token.clone(),
        sessions: TaskTracker::new(),
        slots: Arc::new(Semaphore::new(config.max_connections)),
        lan_urls: Arc::new(net::lan_urls(addr)),
    };
    let sessions = state.sessions.clone();
    let app = router(state, &config.web_dir);
    let stop = token.clone();
    // A chat frame is small and must go out now: Nagle's algorithm, with the peer's
    // delayed ACKs, would hold frames back for tens of milliseconds.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: closing every connection");
            // axum's graceful shutdown does not reach upgraded WebSockets (axum #3003):
            // the sessions watch this token and close with 1001 themselves.
            stop.cancel();
        });
    // The HTTP side may keep a slow request open; never wait past the grace period for it.
    let waited = async {
        server.await?;
        sessions.close();
        sessions.wait().await;
        anyhow::Ok(())
    };
    tokio::select! {
        r = waited => r?,
        () = async { token.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!("some connections did not close in time");
        }
    }
    directory.abort();
    if let Some(d) = delivery {
        d.abort();
    }
    Ok(())
}

fn router(state: AppState, web_dir: &Path) -> Router {
    let index = web_dir.join("index.html");
    let static_files = if index.exists() {
        let files = ServeDir::new(web_dir).fallback(ServeFile::new(index));
        Router::new().fallback_service(files).layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            // Trunk names the wasm and JS by content hash, but index.html is not: make the
            // browser ask again so a new build is picked up.
            HeaderValue::from_static("no-cache"),
        ))
    } else {
        tracing::warn!(dir = %web_dir.display(), "no index.html there: only /ws is served");
        Router::new().fallback(not_built)
    };
    Router::new()
        .route("/ws", get(ws_handler))
        .route("/api/info", get(info))
        .route("/api/qr.svg", get(qr))
        .with_state(state)
        .merge(static_files)
}

async fn not_built() -> impl IntoResponse {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The web app is not built. Run `cargo xtask serve`, or pass --web-dir with a built app.\n",
    )
}

async fn info(State(state): State<AppState>) -> impl IntoResponse {
    Json(serde_json::json!({
        "protocol": common::PROTOCOL_VERSION,
        "version": env!("CARGO_PKG_VERSION"),
        "lan_urls": *state.lan_urls,
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

/// A QR code of the first LAN URL, opening `room` when given (or `404` when the server
/// listens on loopback only), so the app can show a phone where to go.
async fn qr(State(state): State<AppState>, Query(params): Query<QrParams>) -> Response {
    let url = state.lan_urls.first().map(|base| match params.room.as_deref().map(str::trim) {
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
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(params): Query<WsParams>,
    headers: HeaderMap,
) -> Response {
    let Ok(slot) = state.slots.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "the server is full; try again later\n").into_response();
    };
    let peer = Peer { client: client_address(&headers, peer), resume: params.resume };
    let AppState { hub, session, shutdown, sessions, .. } = state;
    ws.max_message_size(common::MAX_FRAME_BYTES)
        .max_frame_size(common::MAX_FRAME_BYTES)
        // most of an idle connection's memory; frames are small and the buffer grows
        // (up to the 16 KiB frame limit) when one is not.
        .read_buffer_size(READ_BUFFER)
        // Frames are coalesced per flush by the writer task (session.rs); this only
        // bounds what tungstenite keeps between flushes.
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(WRITE_BUFFER_MAX)
        .on_upgrade(move |socket| {
            sessions.track_future(async move {
                session::run(socket, hub, session, shutdown, peer).await;
                drop(slot);
            })
        })
}

/// The client's address for the logs: the first `X-Forwarded-For` entry when a proxy set
/// one, else the peer.
fn client_address(headers: &HeaderMap, peer: SocketAddr) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map_or_else(|| peer.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_wins_over_the_peer() {
        let peer: SocketAddr = "10.0.0.9:5555".parse().unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(client_address(&headers, peer), "10.0.0.9:5555");
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7, 10.0.0.1"));
        assert_eq!(client_address(&headers, peer), "203.0.113.7");
    }
}
