//! The chat wire protocol, versions 1 and 2, as Rust types shared by the server and the browser.
//!
//! `../shared/PROTOCOL.md` is the contract; this crate is its single Rust definition:
//! - [`protocol`]: the closed, tagged enums of every frame ([`ClientMsg`], [`ServerMsg`]).
//! - [`v2`]: how version 2 is negotiated (`chat.v2`) and the bounds of its member pages;
//!   its frames are variants of the same enums.
//! - [`changes`]: what tells a room that a message was edited, deleted or reacted to
//!   ([`Change`]), and what a message carries of its changes and of the one it answers.
//! - [`media`]: the URLs of uploaded images ([`ImageRef`]), as `say` and `message` carry them.
//! - [`names`]: validated newtypes ([`Nick`], [`RoomName`], [`Text`], [`Cid`]) that turn
//!   raw strings from the wire into values the rest of the code can trust, and a private
//!   room's [`Password`].
//!
//! This crate depends on serde only, so it compiles for native and wasm32 alike. It must
//! never know about sockets, storage or the UI: no other crate invents JSON, and this one
//! does nothing but describe it.

pub mod changes;
pub mod media;
pub mod names;
pub mod protocol;
pub mod v2;

pub use changes::{Change, Emoji};
pub use media::ImageRef;
pub use names::{Cid, InvalidName, Nick, Password, RoomName, Text};
pub use protocol::{
    ChatMessage, ClientMsg, ErrorCode, PresenceEvent, Request, Role, RoleInfo, RoomInfo, ServerMsg,
};
pub use v2::Version;

/// The protocol version announced in `welcome`.
pub const PROTOCOL_VERSION: u32 = 1;
/// A frame longer than this is a protocol violation (the server closes with 1009).
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// The room every client starts in and that the directory always lists.
pub const LOBBY: &str = "lobby";
/// Messages in `joined.history` when `join` has no `after`.
pub const JOIN_HISTORY: usize = 50;
/// At most this many messages answer a `join` with `after`.
pub const RESUME_HISTORY_MAX: usize = 500;
/// At most this many changes (`joined.changes`) answer a `join` with `after`.
pub const RESUME_CHANGES_MAX: usize = 500;
/// `history` answers this many messages unless the client asks for another `limit`.
pub const HISTORY_DEFAULT: u32 = 50;
/// The largest `limit` a `history` request may ask for.
pub const HISTORY_MAX: u32 = 200;
/// The longest ban, in minutes (a year); a `ban` asking more is served as this.
pub const BAN_MINUTES_MAX: u64 = 365 * 24 * 60;
/// WebSocket close codes the server uses and the client acts on.
pub mod close {
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame was larger than [`super::MAX_FRAME_BYTES`].
    pub const TOO_BIG: u16 = 1009;
    /// The client could not keep up (after an `error` `too_slow`).
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// The connection's resume token was taken over by a newer connection (the
    /// application range 4000-4999): the client must not reconnect with that token.
    pub const REPLACED: u16 = 4000;
    /// The operator took the connection off the server (a kick or a ban): the client
    /// must not reconnect by itself.
    pub const KICKED: u16 = 4001;
}

/// The Content-Security-Policy the web app runs under, with `connect` (space-separated
/// sources, or empty) allowed for the WebSocket besides `'self'`: scripts, styles, images,
/// fonts and the manifest from the page's own server only (images also from `blob:`, the
/// preview of a picture being uploaded), WebAssembly compiled from them
/// (`'wasm-unsafe-eval'` allows no JavaScript `eval`), no framing. The server sends it;
/// the app's browser tests run under it too, so both hold the same one.
pub fn content_security_policy(connect: &str) -> String {
    let sep = if connect.is_empty() { "" } else { " " };
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'{sep}{connect}; \
         img-src 'self' blob:; \
         base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}
