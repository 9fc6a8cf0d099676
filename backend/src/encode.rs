//! Every frame the server sends, encoded in one place: a `common::ServerMsg` as JSON
//! inside a whole WebSocket text frame (see `ws`), built once and shared by every
//! receiver. A refusal becomes its `error` frame here too, from the `ErrorCode` and text
//! that `error` maps it to.

use bytes::Bytes;
use common::{ErrorCode, ServerMsg};

use crate::error::RequestError;
use crate::ws;

/// A whole encoded WebSocket frame, ready for the socket. Cloning it shares the bytes: a
/// broadcast is encoded once.
pub type Frame = Bytes;

/// Encodes a server message once, as a whole WebSocket text frame; the result is shared
/// by every receiver.
pub fn encode(msg: &ServerMsg) -> Frame {
    ws::text_frame(|buf| {
        // Serializing these plain structs of strings and integers into memory cannot fail.
        serde_json::to_writer(buf, msg).expect("server frames always serialize");
    })
}

/// The `error` frame for a refused request, carrying the `cid` of a refused `say`.
pub fn refusal(error: &RequestError, cid: Option<String>) -> Frame {
    encode(&ServerMsg::error(error.code(), error.to_string(), cid))
}

/// The `error` frame a client gets just before it is dropped for falling behind.
pub fn too_slow() -> Frame {
    encode(&ServerMsg::error(
        ErrorCode::TooSlow,
        "you could not keep up with the messages; reconnect and resume with join.after",
        None,
    ))
}
