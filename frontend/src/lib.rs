//! The chat's browser app, built with Leptos (client-side rendering) for wasm32.
//!
//! Map of the modules:
//! - [`state`]: the chat as a plain Rust value; every server frame goes through
//!   `Chat::apply`. No signals, no DOM, no sockets.
//! - [`backoff`]: the reconnect schedule (exponential, jittered, capped), as plain values.
//! - [`socket`]: the task that owns the WebSocket, reconnects, and feeds frames to the
//!   chat; it decides nothing about what to send.
//! - [`transport`]: which way to the server (the WebSocket, or the HTTP stream and
//!   posts when the network refuses it) and the HTTP way's numbered batches, as plain values.
//! - [`client`]: the `Copy` handle the views act through (say, open or leave a room,
//!   typing, scroll-back, set nick, dismiss).
//! - [`route`]: the room in the page's address (`#/room/<name>`), as plain functions.
//! - [`storage`]: the nickname remembered in `localStorage`.
//! - [`ui`]: the [`App`] component and its parts; display only.
//! - [`words`]: every word the app shows, in each language it speaks, and the choice of
//!   the page's language.
//!
//! `main.rs` only mounts [`App`] with the URL from [`ws_url_from_location`]; tests mount
//! it with any other URL. Architecture invariant: the wire format is `common`'s types,
//! encoded and decoded in [`socket`] only; no module invents JSON.

pub mod backoff;
pub mod client;
pub mod route;
pub mod socket;
pub mod state;
pub mod storage;
pub mod transport;
pub mod ui;
pub mod words;

pub use ui::App;

/// The heap: talc instead of the standard library's dlmalloc, which is larger in the wasm
/// (see bench/TUNING.md). The web app runs on one thread, where talc's constructor is safe.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The WebSocket URL for a page served from `protocol` (`"https:"` or `"http:"`) and
/// `host` (with its port): the server listens on the same host, at `/ws`.
pub fn ws_url(protocol: &str, host: &str) -> String {
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    format!("{scheme}://{host}/ws")
}

/// The HTTP origin of the server at the WebSocket URL `ws_url` (`ws://host/ws` gives
/// `http://host`): where pictures are uploaded to and served from.
pub fn http_base(ws_url: &str) -> String {
    let rest = ws_url.strip_prefix("ws").unwrap_or(ws_url);
    format!("http{}", rest.strip_suffix("/ws").unwrap_or(rest))
}

/// The WebSocket URL of the server that served this page.
pub fn ws_url_from_location() -> String {
    let location = leptos::prelude::window().location();
    ws_url(&location.protocol().unwrap_or_default(), &location.host().unwrap_or_default())
}

/// The language this page is to speak: the first of the browser's preferences
/// (`navigator.languages`) that the app speaks, else English.
pub fn language_from_page() -> &'static words::Words {
    let preferred = leptos::prelude::window().navigator().languages();
    words::choose(preferred.into_iter().filter_map(|tag| tag.as_string()))
}

#[cfg(test)]
mod tests {

    #[test]
    fn ws_url_follows_the_page() {
        assert_eq!(super::ws_url("http:", "10.0.0.5:3000"), "ws://10.0.0.5:3000/ws");
        assert_eq!(super::ws_url("https:", "chat.example"), "wss://chat.example/ws");
    }

    #[test]
    fn pictures_go_to_the_server_of_the_socket() {
        assert_eq!(super::http_base("ws://10.0.0.5:3000/ws"), "http://10.0.0.5:3000");
        assert_eq!(super::http_base("wss://chat.example/ws"), "https://chat.example");
    }
}
