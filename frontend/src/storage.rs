//! What the app remembers in the browser: between visits only the chosen nickname, in
//! `localStorage`; for the tab, the way to the server that worked (`sessionStorage`, see
//! `transport::Choice`). Storage may be missing or refuse writes (private browsing,
//! quota); then the app simply forgets, so nothing here can fail loudly. It must not hold
//! any other state: the chat itself lives on the server.

use crate::transport::{CHOICE_KEY, Choice};

/// The `localStorage` key of the nickname the user chose.
pub const NICK_KEY: &str = "chat.nick";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The nickname chosen on an earlier visit, if any.
pub fn load_nick() -> Option<String> {
    let nick = storage()?.get_item(NICK_KEY).ok().flatten()?;
    common::Nick::parse(&nick).ok().map(String::from)
}

/// Remembers the nickname the server just confirmed.
pub fn save_nick(nick: &str) {
    if let Some(storage) = storage()
        && storage.set_item(NICK_KEY, nick).is_err()
    {
        leptos::logging::warn!("chat: could not remember the nickname");
    }
}

fn tab_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// The way to the server that worked in this tab.
pub fn load_choice() -> Choice {
    Choice::parse(tab_storage().and_then(|s| s.get_item(CHOICE_KEY).ok().flatten()).as_deref())
}

/// Remembers the way to the server for this tab (forgotten: the WebSocket, the default).
pub fn save_choice(choice: &Choice) {
    let Some(storage) = tab_storage() else { return };
    // Failing to remember costs only a slower reconnect.
    let _ = match choice.stored() {
        Some(value) => storage.set_item(CHOICE_KEY, &value),
        None => storage.remove_item(CHOICE_KEY),
    };
}
