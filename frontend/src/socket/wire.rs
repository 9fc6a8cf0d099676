//! The wire format in the browser: server frames decoded by the browser's own
//! `JSON.parse` and read field by field into `common`'s [`ServerMsg`]; client frames
//! built as JavaScript objects from `common`'s [`ClientMsg`] and written by
//! `JSON.stringify`.
//!
//! Why not `serde_json`: its parser, its error messages and the deserializer monomorphised
//! for every optional field of `common`'s flat decoding struct were the largest single
//! part of the web app (about 18 KB of the gzipped wasm), while the browser ships a JSON
//! parser already. The decoder accepts exactly what that `Deserialize` accepts: the same
//! frame types and fields, `null` or absent for an optional field, unknown fields
//! ignored, an unknown error code as [`ErrorCode::Other`]; any other mismatch refuses the
//! whole frame. The encoder writes the text `Serialize` writes (`type` first, fields in
//! declaration order, absent options left out). This module must not decide anything
//! about the chat: it only converts.
//!
//! It is the one place besides `common` that names the frames, and it cannot fall behind:
//! its tests round-trip `common::protocol::samples` (one of every frame, by matches over
//! every variant that do not compile when a variant is missing) through it and hold
//! every answer to serde's. serde itself in the app was built and measured
//! (bench/TUNING.md): its derive for the `"type"`-tagged enums costs about 24 KiB of
//! Brotli on the first load, which would break the 110 KiB budget on its own.

use js_sys::{Array, JSON, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use common::changes::{Deleted, Edited, Quote, Reacted, Reaction};
use common::{Change, ChatMessage, ClientMsg, ErrorCode, PresenceEvent, Role, RoleInfo, RoomInfo, ServerMsg};

/// The largest integer a JavaScript number holds exactly: a larger id or time would come
/// out of `JSON.parse` rounded, so it is refused rather than guessed.
const MAX_EXACT: f64 = 9_007_199_254_740_991.0;

/// A server frame, or `None` if `text` is not one.
pub fn decode(text: &str) -> Option<ServerMsg> {
    let v = JSON::parse(text).ok()?;
    let f = |key: &str| field(&v, key);
    if let Some(change) = change(&v) {
        return Some(change.into());
    }
    Some(match string(f("type"))?.as_str() {
        "welcome" => ServerMsg::Welcome {
            protocol: count(f("protocol"))?,
            nick: string(f("nick"))?,
            rooms: list(f("rooms"), room_info)?,
            resume: optional(f("resume"), string)?,
            rooms_total: optional(f("rooms_total"), count)?,
        },
        "you" => ServerMsg::You { nick: string(f("nick"))? },
        "rooms" => ServerMsg::Rooms { rooms: list(f("rooms"), room_info)? },
        "joined" => ServerMsg::Joined {
            room: string(f("room"))?,
            members: list(f("members"), string)?,
            history: list(f("history"), chat_message)?,
            complete: f("complete").as_bool()?,
            total: optional(f("total"), count)?,
            // Absent when no owner or moderator is in the room.
            roles: some_list(f("roles"), role_info)?,
            changes: some_list(f("changes"), |c| change(&c))?,
            changes_complete: flag(f("changes_complete"), true)?,
        },
        "left" => ServerMsg::Left { room: string(f("room"))? },
        "message" => ServerMsg::Message(chat_message(v.clone())?),
        "presence" => ServerMsg::Presence {
            room: string(f("room"))?,
            event: match string(f("event"))?.as_str() {
                "join" => PresenceEvent::Join,
                "leave" => PresenceEvent::Leave,
                "rename" => PresenceEvent::Rename,
                _ => return None,
            },
            nick: string(f("nick"))?,
            old_nick: optional(f("old_nick"), string)?,
        },
        "typing" => ServerMsg::Typing { room: string(f("room"))?, nick: string(f("nick"))? },
        "history" => ServerMsg::History {
            room: string(f("room"))?,
            messages: list(f("messages"), chat_message)?,
            complete: f("complete").as_bool()?,
        },
        "error" => ServerMsg::Error {
            code: match string(f("code"))?.as_str() {
                "bad_request" => ErrorCode::BadRequest,
                "invalid" => ErrorCode::Invalid,
                "nick_taken" => ErrorCode::NickTaken,
                "not_in_room" => ErrorCode::NotInRoom,
                "rate_limited" => ErrorCode::RateLimited,
                "too_slow" => ErrorCode::TooSlow,
                "unavailable" => ErrorCode::Unavailable,
                "forbidden" => ErrorCode::Forbidden,
                "room_full" => ErrorCode::RoomFull,
                "not_found" => ErrorCode::NotFound,
                _ => ErrorCode::Other,
            },
            message: string(f("message"))?,
            cid: optional(f("cid"), string)?,
        },
        "pong" => ServerMsg::Pong,
        "members" => ServerMsg::Members {
            room: string(f("room"))?,
            members: list(f("members"), string)?,
            total: count(f("total"))?,
            complete: f("complete").as_bool()?,
        },
        "presence_count" => ServerMsg::PresenceCount {
            room: string(f("room"))?,
            joined: count(f("joined"))?,
            left: count(f("left"))?,
            renamed: count(f("renamed"))?,
            total: count(f("total"))?,
        },
        "role" => {
            ServerMsg::Role { room: string(f("room"))?, nick: string(f("nick"))?, role: role(f("role"))? }
        }
        "kicked" => ServerMsg::Kicked {
            room: string(f("room"))?,
            by: optional(f("by"), string)?,
            until: optional(f("until"), int)?,
        },
        "edited" | "deleted" | "reacted" => change(&v)?.into(),
        "rooms_delta" => ServerMsg::RoomsDelta {
            changed: list(f("changed"), room_info)?,
            removed: list(f("removed"), string)?,
            total: optional(f("total"), count)?,
        },
        "rooms_page" => ServerMsg::RoomsPage {
            rooms: list(f("rooms"), room_info)?,
            next: optional(f("next"), string)?,
            total: count(f("total"))?,
            query: optional(f("query"), string)?,
        },
        _ => return None,
    })
}

/// A client frame as JSON text.
pub fn encode(msg: &ClientMsg) -> String {
    let obj = Object::new();
    let set = |key: &str, value: JsValue| {
        // Setting a property of a fresh plain object cannot fail.
        let _ = Reflect::set(&obj, &JsValue::from_str(key), &value);
    };
    let text = |key: &str, value: &str| set(key, JsValue::from_str(value));
    let number = |key: &str, value: f64| set(key, JsValue::from_f64(value));
    match msg {
        ClientMsg::Nick { nick } => {
            text("type", "nick");
            text("nick", nick);
        }
        ClientMsg::Join { room, after, password, max } => {
            text("type", "join");
            text("room", room);
            if let Some(after) = after {
                number("after", *after as f64);
            }
            if let Some(password) = password {
                text("password", password);
            }
            if let Some(max) = max {
                number("max", f64::from(*max));
            }
        }
        ClientMsg::Leave { room } => {
            text("type", "leave");
            text("room", room);
        }
        ClientMsg::Say { room, text: said, cid, image, reply_to } => {
            text("type", "say");
            text("room", room);
            text("text", said);
            text("cid", cid);
            if let Some(image) = image {
                text("image", image);
            }
            if let Some(id) = reply_to {
                number("reply_to", *id as f64);
            }
        }
        ClientMsg::Typing { room } => {
            text("type", "typing");
            text("room", room);
        }
        ClientMsg::History { room, before, limit } => {
            text("type", "history");
            text("room", room);
            number("before", *before as f64);
            if let Some(limit) = limit {
                number("limit", f64::from(*limit));
            }
        }
        ClientMsg::Ping => text("type", "ping"),
        // The members list's actions (owner and moderators). One arm for the three (the
        // first load's budget): their fields in serde's order.
        ClientMsg::Mod { room, nick, .. }
        | ClientMsg::Kick { room, nick }
        | ClientMsg::Ban { room, nick, .. } => {
            let (kind, last) = match msg {
                ClientMsg::Mod { on, .. } => ("mod", ("on", JsValue::from_bool(*on))),
                ClientMsg::Ban { minutes, .. } => ("ban", ("minutes", JsValue::from_f64(*minutes as f64))),
                _ => ("kick", ("", JsValue::UNDEFINED)),
            };
            text("type", kind);
            text("room", room);
            text("nick", nick);
            if !last.0.is_empty() {
                set(last.0, last.1);
            }
        }
        ClientMsg::Members { room, after, limit } => {
            text("type", "members");
            text("room", room);
            if let Some(after) = after {
                text("after", after);
            }
            if let Some(limit) = limit {
                number("limit", f64::from(*limit));
            }
        }
        ClientMsg::Edit { room, id, text: said } => {
            text("type", "edit");
            text("room", room);
            number("id", *id as f64);
            text("text", said);
        }
        ClientMsg::Delete { room, id } => {
            text("type", "delete");
            text("room", room);
            number("id", *id as f64);
        }
        ClientMsg::React { room, id, emoji, on } => {
            text("type", "react");
            text("room", room);
            number("id", *id as f64);
            text("emoji", emoji);
            set("on", JsValue::from_bool(*on));
        }
        ClientMsg::Rooms { after, query, limit } => {
            text("type", "rooms");
            if let Some(after) = after {
                text("after", after);
            }
            if let Some(query) = query {
                text("query", query);
            }
            if let Some(limit) = limit {
                number("limit", f64::from(*limit));
            }
        }
        ClientMsg::RoomsWatch { on } => {
            text("type", "rooms_watch");
            set("on", JsValue::from_bool(*on));
        }
    }
    JSON::stringify(&obj).map(String::from).unwrap_or_default()
}

/// `obj[key]`; `undefined` when absent, or when `obj` is not an object at all.
fn field(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn string(v: JsValue) -> Option<String> {
    v.as_string()
}

/// A non-negative whole number, as serde reads a `u64` (and, checked by the caller, a
/// `u32`).
fn int(v: JsValue) -> Option<u64> {
    let n = v.as_f64()?;
    ((0.0..=MAX_EXACT).contains(&n) && n.fract() == 0.0).then_some(n as u64)
}

/// An optional field: `Some(None)` when absent or `null`, `None` when of the wrong type.
fn optional<T>(v: JsValue, read: fn(JsValue) -> Option<T>) -> Option<Option<T>> {
    if v.is_undefined() || v.is_null() { Some(None) } else { read(v).map(Some) }
}

/// An array whose items all read as `T`.
fn list<T>(v: JsValue, read: fn(JsValue) -> Option<T>) -> Option<Vec<T>> {
    // A loop rather than `collect` into an `Option`: less code for each `T` (bench/TUNING.md).
    let mut out = Vec::new();
    for item in v.dyn_into::<Array>().ok()?.iter() {
        out.push(read(item)?);
    }
    Some(out)
}

/// A list that serde defaults to empty when absent (but not when `null`).
fn some_list<T>(v: JsValue, read: fn(JsValue) -> Option<T>) -> Option<Vec<T>> {
    if v.is_undefined() { Some(Vec::new()) } else { list(v, read) }
}

/// A bool that serde defaults to `default` when absent (but not when `null`).
fn flag(v: JsValue, default: bool) -> Option<bool> {
    if v.is_undefined() { Some(default) } else { v.as_bool() }
}

/// A count, as serde reads a `u32`.
fn count(v: JsValue) -> Option<u32> {
    u32::try_from(int(v)?).ok()
}

fn role(v: JsValue) -> Option<Role> {
    Some(match string(v)?.as_str() {
        "owner" => Role::Owner,
        "moderator" => Role::Moderator,
        _ => Role::Member,
    })
}

fn role_info(v: JsValue) -> Option<RoleInfo> {
    Some(RoleInfo { nick: string(field(&v, "nick"))?, role: role(field(&v, "role"))? })
}

fn room_info(v: JsValue) -> Option<RoomInfo> {
    // `private` is absent for a public room.
    let private = flag(field(&v, "private"), false)?;
    Some(RoomInfo { name: string(field(&v, "name"))?, members: count(field(&v, "members"))?, private })
}

fn chat_message(v: JsValue) -> Option<ChatMessage> {
    let f = |key: &str| field(&v, key);
    Some(ChatMessage {
        room: string(f("room"))?,
        id: int(f("id"))?,
        nick: string(f("nick"))?,
        text: string(f("text"))?,
        ts: int(f("ts"))?,
        cid: optional(f("cid"), string)?,
        image: optional(f("image"), string)?,
        edited: optional(f("edited"), int)?,
        deleted: flag(f("deleted"), false)?,
        reactions: some_list(f("reactions"), |r| {
            Some(Reaction { emoji: string(field(&r, "emoji"))?, nicks: list(field(&r, "nicks"), string)? })
        })?,
        reply_to: optional(f("reply_to"), int)?,
        quote: optional(f("quote"), |q| {
            Some(Box::new(Quote {
                nick: string(field(&q, "nick"))?,
                text: string(field(&q, "text"))?,
                deleted: flag(field(&q, "deleted"), false)?,
            }))
        })?,
    })
}

/// An `edited`, `deleted` or `reacted` frame (also the items of `joined.changes`); `None`
/// for any other frame or a malformed one.
fn change(v: &JsValue) -> Option<Change> {
    let f = |key: &str| field(v, key);
    let (room, id, seq) = (string(f("room")), int(f("id")), int(f("seq")));
    Some(match string(f("type"))?.as_str() {
        "edited" => Change::Edited(Edited {
            room: room?,
            id: id?,
            text: string(f("text"))?,
            edited: int(f("edited"))?,
            seq: seq?,
        }),
        "deleted" => Change::Deleted(Deleted { room: room?, id: id?, seq: seq? }),
        "reacted" => Change::Reacted(Reacted {
            room: room?,
            id: id?,
            emoji: string(f("emoji"))?,
            nick: string(f("nick"))?,
            on: f("on").as_bool()?,
            seq: seq?,
        }),
        _ => return None,
    })
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use common::protocol::samples;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// Decodes `json` both ways and expects the same answer.
    fn agrees(json: &str) -> Option<ServerMsg> {
        let ours = decode(json);
        assert_eq!(ours, serde_json::from_str::<ServerMsg>(json).ok(), "{json}");
        ours
    }

    #[test]
    fn every_server_frame_decodes_as_the_server_encodes_it() {
        for msg in samples::server() {
            let json = serde_json::to_string(&msg).unwrap();
            assert_eq!(agrees(&json).as_ref(), Some(&msg), "{json}");
        }
    }

    #[test]
    fn every_client_frame_encodes_as_serde_does() {
        for msg in samples::client() {
            let json = encode(&msg);
            assert_eq!(json, serde_json::to_string(&msg).unwrap());
            assert_eq!(serde_json::from_str::<ClientMsg>(&json).unwrap(), msg, "{json}");
        }
    }

    #[test]
    fn optional_fields_may_be_null_and_unknown_ones_are_ignored() {
        for json in [
            r#"{"type":"message","room":"rust","id":9,"nick":"bob","text":"yo","ts":5,"cid":null}"#,
            r#"{"type":"error","code":"from_the_future","message":"?"}"#,
            r#"{"type":"you","nick":"ann","added_later":[1,{"x":null}]}"#,
            r#"{"nick":"ann","type":"you"}"#,
            r#"{"type":"message","room":"r","id":1,"nick":"n","text":"t","ts":1,"edited":null,"quote":null,"reply_to":null}"#,
            r#"{"type":"deleted","room":"r","id":1,"seq":2,"later":true}"#,
        ] {
            assert!(agrees(json).is_some(), "{json}");
        }
    }

    #[test]
    fn malformed_frames_are_refused_as_serde_does() {
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
            r#"{"type":"message","room":"r","id":1,"nick":"n","text":"t","ts":1,"image":5}"#,
            r#"{"type":"welcome","protocol":4294967296,"nick":"g","rooms":[]}"#,
            r#"{"type":"rooms","rooms":[{"name":"a"}]}"#,
            r#"{"type":"rooms","rooms":[{"name":"a","members":1,"private":"yes"}]}"#,
            r#"{"type":"rooms","rooms":[{"name":"a","members":1,"private":null}]}"#,
            r#"{"type":"joined","room":"r","members":["a",1],"history":[],"complete":true}"#,
            r#"{"type":"joined","room":"r","members":[],"history":[],"complete":"yes"}"#,
            r#"{"type":"presence","room":"r","event":"wave","nick":"n"}"#,
            r#"{"type":"error","code":3,"message":"m"}"#,
            r#"{"type":"message","room":"r","id":1,"nick":"n","text":"t","ts":1,"deleted":null}"#,
            r#"{"type":"message","room":"r","id":1,"nick":"n","text":"t","ts":1,"reactions":null}"#,
            r#"{"type":"message","room":"r","id":1,"nick":"n","text":"t","ts":1,"reactions":[{"emoji":"x"}]}"#,
            r#"{"type":"message","room":"r","id":1,"nick":"n","text":"t","ts":1,"quote":{"nick":"a"}}"#,
            r#"{"type":"reacted","room":"r","id":1,"emoji":"x","nick":"n","seq":2}"#,
            r#"{"type":"edited","room":"r","id":1,"text":"t","seq":2}"#,
            r#"{"type":"joined","room":"r","members":[],"history":[],"complete":true,"changes":[{"type":"left","room":"r"}]}"#,
            r#"{"type":"joined","room":"r","members":[],"history":[],"complete":true,"changes_complete":null}"#,
        ] {
            assert!(agrees(json).is_none(), "{json}");
        }
    }
}
