//! The wire format in the browser: frames converted between `common`'s types and JSON
//! text by serde's derive of those types, through serde-wasm-bindgen, with the browser's
//! own `JSON.parse` and `JSON.stringify` doing the text.
//!
//! Why not `serde_json`: its parser and its error messages would be a second JSON
//! implementation in the download, beside the one the browser ships (bench/TUNING.md
//! has the figures of both). serde-wasm-bindgen reads the parsed JavaScript value with the
//! same `Deserialize` the server's tests use, so what a frame may hold is decided once, in
//! `common`. This module must not decide anything about the chat: it only converts.

use js_sys::JSON;

use common::{ClientMsg, ServerMsg};

/// A server frame, or `None` if `text` is not one.
pub fn decode(text: &str) -> Option<ServerMsg> {
    serde_wasm_bindgen::from_value(JSON::parse(text).ok()?).ok()
}

/// A client frame as JSON text. A `ClientMsg` always converts (its numbers are ids and
/// limits, which a JavaScript number holds exactly); the empty text, which the server
/// answers with `bad_request`, stands for a conversion that failed anyway.
pub fn encode(msg: &ClientMsg) -> String {
    serde_wasm_bindgen::to_value(msg)
        .ok()
        .and_then(|value| JSON::stringify(&value).ok())
        .map(String::from)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::protocol::samples;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    // The app's codec runs in the browser; so does its test (`cargo xtask test`).
    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    /// `common` checks that its samples hold every frame type (see `protocol::samples`).
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
            // The same text as serde_json's (`type` first, absent options left out), and
            // read back as the same frame.
            assert_eq!(json, serde_json::to_string(&msg).unwrap());
            assert_eq!(serde_json::from_str::<ClientMsg>(&json).unwrap(), msg);
        }
    }

    #[test]
    fn what_serde_json_accepts_decodes_the_same() {
        for json in [
            r#"{"type":"message","room":"rust","id":9,"nick":"bob","text":"yo","ts":5,"cid":null}"#,
            r#"{"type":"error","code":"from_the_future","message":"?"}"#,
            r#"{"type":"you","nick":"ann","added_later":[1,{"x":null}]}"#,
            r#"{"nick":"ann","type":"you"}"#,
        ] {
            let ours = decode(json);
            assert!(ours.is_some(), "{json}");
            assert_eq!(ours, serde_json::from_str::<ServerMsg>(json).ok(), "{json}");
        }
    }

    #[test]
    fn malformed_frames_are_refused_as_serde_json_refuses_them() {
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
            assert!(serde_json::from_str::<ServerMsg>(json).is_err(), "{json}");
        }
    }
}
