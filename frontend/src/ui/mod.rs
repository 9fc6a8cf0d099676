//! The view: the [`App`] component and the components it lays out.
//!
//! [`App`] owns the one `RwSignal<Chat>`, starts the socket task and hands each component
//! what it needs through context: the [`Client`] handle to act, and narrow read-only
//! signals derived from the chat ([`StatusView`], [`NickView`], [`RoomView`],
//! [`AlertView`]) to display. No component sees the whole [`Chat`], and no component
//! changes it except through the [`Client`]; protocol logic belongs in
//! [`crate::state`], not here. Text from the network is rendered as text nodes only,
//! never as HTML.

mod composer;
mod header;
mod messages;

use std::sync::Arc;

use leptos::prelude::*;

use crate::client::Client;
use crate::state::{Alert, Chat, Entry, Status};
use crate::{socket, storage};

/// The connection status, for the status line.
#[derive(Debug, Clone, Copy)]
pub struct StatusView(pub Memo<Status>);

/// Our nickname as the server knows it, and why the last request for one was refused.
#[derive(Debug, Clone, Copy)]
pub struct NickView {
    pub nick: Memo<String>,
    pub error: Memo<Option<String>>,
}

/// The room shown: its name, its log, and whether the server has answered our `join`.
#[derive(Debug, Clone, Copy)]
pub struct RoomView {
    pub name: Memo<String>,
    pub entries: Memo<Vec<Arc<Entry>>>,
    pub joined: Memo<bool>,
}

/// The error shown to the user, if any.
#[derive(Debug, Clone, Copy)]
pub struct AlertView(pub Memo<Option<Alert>>);

/// A prefix that makes this page's `cid`s differ from those of any earlier page load.
fn cid_prefix() -> String {
    let random = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    let millis = js_sys::Date::now() as u64;
    format!("{:x}{random:08x}", millis & 0xff_ffff)
}

/// The whole chat app, talking to the server at `ws_url` (see
/// [`crate::ws_url_from_location`] for the real one).
#[component]
pub fn App(#[prop(into)] ws_url: String) -> impl IntoView {
    let chat = RwSignal::new(Chat::new(cid_prefix(), storage::load_nick()));
    let link = socket::start(ws_url, chat);
    provide_context(Client::new(chat, link));
    provide_context(StatusView(Memo::new(move |_| chat.with(|c| c.status))));
    provide_context(NickView {
        nick: Memo::new(move |_| chat.with(|c| c.nick.clone())),
        error: Memo::new(move |_| chat.with(|c| c.nick_error.clone())),
    });
    let room = RoomView {
        name: Memo::new(move |_| chat.with(|c| c.current.clone())),
        entries: Memo::new(move |_| {
            chat.with(|c| c.current_room().map(|r| r.entries.clone()).unwrap_or_default())
        }),
        joined: Memo::new(move |_| chat.with(|c| c.current_room().is_some_and(|r| r.joined))),
    };
    provide_context(room);
    provide_context(AlertView(Memo::new(move |_| chat.with(|c| c.alert.clone()))));

    view! {
        <div class="app">
            <header class="top">
                <div class="brand">
                    <h1>"Chat"</h1>
                    <span class="room" aria-label="Room">
                        "#"
                        {move || room.name.get()}
                    </span>
                </div>
                <header::StatusLine />
                <header::NickForm />
            </header>
            <header::AlertBar />
            <messages::MessageLog />
            <composer::Composer />
        </div>
    }
}
