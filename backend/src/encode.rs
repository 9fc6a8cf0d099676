//! Every frame the server sends, encoded in one place: a `common::ServerMsg` as JSON
//! inside a whole WebSocket text frame (see `ws`), built once and shared by every
//! receiver. A refusal becomes its `error` frame here too, from the `ErrorCode` and text
//! that `error` maps it to.
//!
//! Encoding is where a frame is counted for `chat_frames_out` (see `metrics`): once per
//! frame made, however many connections it is queued for, so a broadcast costs one
//! relaxed atomic add whatever the room's size.

use bytes::Bytes;
use common::{ErrorCode, ServerMsg};

use crate::error::RequestError;
use crate::metrics::Metrics;
use crate::ws;

/// A whole encoded WebSocket frame, ready for the socket. Cloning it shares the bytes: a
/// broadcast is encoded once.
pub type Frame = Bytes;

/// Encodes a server message once, as a whole WebSocket text frame, and counts it by type;
/// the result is shared by every receiver.
pub fn encode(msg: &ServerMsg, metrics: &Metrics) -> Frame {
    metrics.frame_out(msg);
    uncounted(msg)
}

/// Encodes a frame that is counted elsewhere or not at all: the `too_slow` goodbye (counted
/// with the close it comes with) and a banned client's frames at the door (no session).
pub fn uncounted(msg: &ServerMsg) -> Frame {
    ws::text_frame(|buf| {
        // Serializing these plain structs of strings and integers into memory cannot fail.
        serde_json::to_writer(buf, msg).expect("server frames always serialize");
    })
}

/// The `error` frame for a refused request, carrying the `cid` of a refused `say`.
pub fn refusal(error: &RequestError, cid: Option<String>, metrics: &Metrics) -> Frame {
    encode(&ServerMsg::error(error.code(), error.to_string(), cid), metrics)
}

/// The `error` frame a client gets just before it is dropped for falling behind.
pub fn too_slow() -> Frame {
    uncounted(&ServerMsg::error(
        ErrorCode::TooSlow,
        "you could not keep up with the messages; reconnect and resume with join.after",
        None,
    ))
}
