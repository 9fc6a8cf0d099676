//! The wire format in the app: frames converted between `common`'s types and JSON text
//! by serde's derive of those types and serde_json, the very codec the server and
//! `common`'s tests use. What a frame may hold is decided once, in `common`.
//!
//! Why serde_json and not the browser's `JSON` read through serde-wasm-bindgen: both were
//! built and measured (bench/TUNING.md), and serde_json made the smaller app (the cost is
//! serde's derive for a `"type"`-tagged enum, the same either way), with one codec fewer
//! to trust. This module must not decide anything about the chat: it only converts.

use common::{ClientMsg, ServerMsg};

/// A server frame, or `None` if `text` is not one.
pub fn decode(text: &str) -> Option<ServerMsg> {
    serde_json::from_str(text).ok()
}

/// A client frame as JSON text. Encoding a `ClientMsg` cannot fail (strings and numbers
/// only); the empty text, which the server would answer with `bad_request`, stands for a
/// failure anyway rather than a panic.
pub fn encode(msg: &ClientMsg) -> String {
    serde_json::to_string(msg).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::protocol::samples;

    // Plain tests: the codec is serde_json on every target, so they run on the host
    // (`cargo test -p frontend --lib`). `common` checks that its samples hold every frame
    // type (see `protocol::samples`).

    #[test]
    fn every_server_frame_decodes_as_the_server_encodes_it() {
        for msg in samples::server() {
            let json = serde_json::to_string(&msg).unwrap();
            assert_eq!(decode(&json).as_ref(), Some(&msg), "{json}");
        }
    }

    #[test]
    fn every_client_frame_encodes_as_the_server_decodes_it() {
        for msg in samples::client() {
            let json = encode(&msg);
            assert!(json.starts_with(&format!(r#"{{"type":"{}""#, samples::client_kind(&msg))), "{json}");
            assert_eq!(serde_json::from_str::<ClientMsg>(&json).unwrap(), msg, "{json}");
        }
    }

    #[test]
    fn optional_fields_may_be_null_and_unknown_ones_are_ignored() {
        let message =
            decode(r#"{"type":"message","room":"r","id":9,"nick":"bob","text":"yo","ts":5,"cid":null}"#);
        assert!(matches!(message, Some(ServerMsg::Message(m)) if m.cid.is_none() && m.id == 9));
        let error = decode(r#"{"type":"error","code":"from_the_future","message":"?"}"#);
        assert!(matches!(error, Some(ServerMsg::Error { code: common::ErrorCode::Other, .. })));
        for json in
            [r#"{"type":"you","nick":"ann","added_later":[1,{"x":null}]}"#, r#"{"nick":"ann","type":"you"}"#]
        {
            assert_eq!(decode(json), Some(ServerMsg::You { nick: "ann".into() }), "{json}");
        }
    }

    #[test]
    fn malformed_frames_are_refused() {
        for json in [
            "",
            "not json",
            "3",
            "null",
            "[]",
            r#"{"nick":"ann"}"#,
            r#"{"type":"shout","text":"hi"}"#,
            r#"{"type":"you"}"#,
            r#"{"type":"you","nick":7}"#,
            r#"{"type":"left","room":null}"#,
            r#"{"type":"message","room":"r","id":-1,"nick":"n","text":"t","ts":1}"#,
            r#"{"type":"message","room":"r","id":1.5,"nick":"n","text":"t","ts":1}"#,
            r#"{"type":"message","room":"r","id":1,"nick":"n","text":"t","ts":1,"cid":5}"#,
            r#"{"type":"welcome","protocol":4294967296,"nick":"g","rooms":[]}"#,
            r#"{"type":"rooms","rooms":[{"name":"a"}]}"#,
            r#"{"type":"joined","room":"r","members":["a",1],"history":[],"complete":true}"#,
            r#"{"type":"joined","room":"r","members":[],"history":[],"complete":"yes"}"#,
            r#"{"type":"presence","room":"r","event":"wave","nick":"n"}"#,
            r#"{"type":"error","code":3,"message":"m"}"#,
        ] {
            assert_eq!(decode(json), None, "{json}");
        }
    }
}
