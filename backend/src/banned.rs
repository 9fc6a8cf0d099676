//! A person banned from the server, told so at the door over either transport. A browser
//! cannot read the status of a refused WebSocket upgrade, nor of an `EventSource` that
//! failed: a `403` there looks like a network that failed, and the app would retry it
//! forever. So a banned client's upgrade (or stream) is accepted, and it gets exactly two
//! frames, an `error` `forbidden` saying why and the close 4001 (`close::KICKED`, which
//! every client must not reconnect after) with the reason [`REASON`], as a person banned
//! while connected does; then the connection ends. Nothing of the chat is reachable on
//! it: no session is made, the hub never sees it, and it holds no place of the caps.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use common::{ErrorCode, ServerMsg};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

use crate::encode::uncounted;
use crate::ws;

/// The close reason of a ban (the connection's close 4001): a client tells a ban from a
/// kick by it (`docs/protocol.md`).
pub const REASON: &str = "banned by the operator";

/// What the `error` frame says.
const WHY: &str = "you are banned from this server for now";

/// The `error` a banned client gets first.
fn why() -> ServerMsg {
    ServerMsg::error(ErrorCode::Forbidden, WHY, None)
}

/// The frames a banned client's WebSocket gets: the `error`, then the close.
fn goodbye() -> (Bytes, Bytes) {
    (uncounted(&why()), ws::close_frame(common::close::KICKED, REASON))
}

/// Writes the goodbye on an upgraded WebSocket once hyper hands it over, then closes it
/// (briefly waiting for the client's close, so the client reads both frames rather than
/// a reset).
pub async fn websocket(on_upgrade: hyper::upgrade::OnUpgrade) {
    let Ok(upgraded) = on_upgrade.await else { return };
    let mut socket = TokioIo::new(upgraded);
    let (error, close) = goodbye();
    let said = async {
        socket.write_all(&error).await?;
        socket.write_all(&close).await?;
        socket.shutdown().await
    };
    if tokio::time::timeout(Duration::from_secs(5), said).await.is_ok() {
        use tokio::io::AsyncReadExt;
        let mut sink = [0u8; 256];
        // The client's close frame, then its FIN; whatever comes, the socket goes.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    }
}

/// The event stream a banned client gets: the `error` event and the last `close` event,
/// and the end of the answer.
pub fn stream() -> Response {
    // Serializing a plain struct of strings cannot fail.
    let error = serde_json::to_string(&why()).unwrap_or_default();
    let close = serde_json::json!({ "code": common::close::KICKED, "reason": REASON });
    let body = format!("data: {error}\n\nevent: close\ndata: {close}\n\n");
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
