//! What the app remembers in the browser between visits: only the chosen nickname, in
//! `localStorage`. Storage may be missing or refuse writes (private browsing, quota);
//! then the app simply forgets, so nothing here can fail loudly. It must not hold any
//! other state: the chat itself lives on the server.

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
