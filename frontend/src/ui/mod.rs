//! The view: the [`App`] component and the components it lays out.
//!
//! [`App`] owns the one `RwSignal<Chat>`, starts the socket task and hands each component
//! what it needs through context: the [`Client`] handle to act, narrow read-only signals
//! derived from the chat ([`StatusView`], [`NickView`], [`RoomView`], [`RoomsView`],
//! [`AlertView`]) to display, and [`Panels`], which drawers and dialogs are open (view
//! state, not chat state). No component sees the whole [`Chat`], and no component
//! changes it except through the [`Client`]; protocol logic belongs in
//! [`crate::state`], not here. Text from the network is rendered as text nodes only,
//! never as HTML. The App also keeps the page's title (unread count) and its address
//! (`#/room/<name>`, see [`crate::route`]) in step with the chat.

mod composer;
mod header;
mod members;
mod messages;
mod onboarding;
mod rooms;

use std::sync::Arc;

use leptos::prelude::*;
use wasm_bindgen::JsValue;

use crate::client::Client;
use crate::state::{Alert, Chat, Entry, Older, RoomEntry, Status, page_title};
use crate::{route, socket, storage};

/// The connection status, for the status line.
#[derive(Debug, Clone, Copy)]
pub struct StatusView(pub Memo<Status>);

/// Our nickname as the server knows it, and why the last request for one was refused.
#[derive(Debug, Clone, Copy)]
pub struct NickView {
    pub nick: Memo<String>,
    pub error: Memo<Option<String>>,
}

/// The room shown: its name, its log, whether the server has answered our `join`, how
/// much older history there is, its members and who is typing in it.
#[derive(Debug, Clone, Copy)]
pub struct RoomView {
    pub name: Memo<String>,
    pub entries: Memo<Vec<Arc<Entry>>>,
    pub joined: Memo<bool>,
    pub older: Memo<Older>,
    pub members: Memo<Vec<String>>,
    pub typing: Memo<String>,
}

impl RoomView {
    /// How many members the room has. One function for every place that shows it, so
    /// that they share one closure type (and its code in the wasm).
    pub fn member_count(self) -> impl Fn() -> usize + Copy + Send + Sync + 'static {
        move || self.members.with(Vec::len)
    }
}

/// The room list (directory and joined rooms), why the last room asked for was refused,
/// and the unread messages of all rooms.
#[derive(Debug, Clone, Copy)]
pub struct RoomsView {
    pub list: Memo<Vec<RoomEntry>>,
    pub error: Memo<Option<String>>,
    pub unread: Memo<u32>,
}

/// The error shown to the user, if any.
#[derive(Debug, Clone, Copy)]
pub struct AlertView(pub Memo<Option<Alert>>);

/// What is open over the chat. On a phone the room list and the members are drawers over
/// the log; on a wide screen they are always shown and only `phone` matters.
#[derive(Debug, Clone, Copy)]
pub struct Panels {
    pub rooms: RwSignal<bool>,
    pub members: RwSignal<bool>,
    /// The "Open on phone" dialog, and the button that opens it (the focus goes back
    /// there when it closes).
    pub phone: RwSignal<bool>,
    pub phone_opener: NodeRef<leptos::html::Button>,
}

impl Panels {
    pub fn close_drawers(&self) {
        self.rooms.set(false);
        self.members.set(false);
    }
}

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
    let client = Client::new(chat, link);
    provide_context(client);
    provide_context(StatusView(Memo::new(move |_| chat.with(|c| c.status))));
    provide_context(NickView {
        nick: Memo::new(move |_| chat.with(|c| c.nick.clone())),
        error: Memo::new(move |_| chat.with(|c| c.nick_error.clone())),
    });
    let room = RoomView {
        name: Memo::new(move |_| chat.with(|c| c.current.clone())),
        entries: Memo::new(move |_| chat.with(Chat::log)),
        joined: Memo::new(move |_| chat.with(|c| c.current_room().is_some_and(|r| r.joined))),
        older: Memo::new(move |_| chat.with(|c| c.current_room().map_or(Older::Unknown, |r| r.older()))),
        members: Memo::new(move |_| chat.with(Chat::members)),
        typing: Memo::new(move |_| chat.with(Chat::typing_line)),
    };
    provide_context(room);
    let rooms = RoomsView {
        list: Memo::new(move |_| chat.with(Chat::room_list)),
        error: Memo::new(move |_| chat.with(|c| c.room_error.clone())),
        unread: Memo::new(move |_| chat.with(Chat::unread_total)),
    };
    provide_context(rooms);
    provide_context(AlertView(Memo::new(move |_| chat.with(|c| c.alert.clone()))));
    let panels = Panels {
        rooms: RwSignal::new(false),
        members: RwSignal::new(false),
        phone: RwSignal::new(false),
        phone_opener: NodeRef::new(),
    };
    provide_context(panels);

    follow_the_page(client, room.name, rooms.unread);

    let drawer_open = move || panels.rooms.get() || panels.members.get();
    view! {
        <div class="app" on:keydown=move |ev| {
            if ev.key() == "Escape" {
                panels.close_drawers();
            }
        }>
            <header::TopBar />
            <header::AlertBar />
            <div class="body">
                <rooms::RoomList />
                <main class="room-pane">
                    <header::RoomHeader />
                    <messages::MessageLog />
                    <messages::TypingLine />
                    <composer::Composer />
                </main>
                <members::MemberList />
                // Tapping beside an open drawer closes it, as on every phone app.
                <div class="scrim" hidden=move || !drawer_open() on:click=move |_| panels.close_drawers()></div>
            </div>
            <onboarding::PhoneDialog />
        </div>
    }
}

/// Keeps the page in step with the chat: its title shows the unread count, and its
/// address names the room shown. A `#/room/<name>` address (on opening the page, or
/// changed later by a link or by hand) opens that room, and the room shown is written
/// back into the address (replacing it, so Back leaves the chat as expected).
fn follow_the_page(client: Client, current: Memo<String>, unread: Memo<u32>) {
    let open_from_address = move || {
        if let Some(room) = route::room_from_hash(&window().location().hash().unwrap_or_default()) {
            // A name that is not a room name is shown beside the room form.
            let _ = client.open_room(&room);
        }
    };
    open_from_address();
    let listener = window_event_listener_untyped("hashchange", move |_| open_from_address());
    on_cleanup(move || listener.remove());
    Effect::new(move |_| {
        document().set_title(&page_title(unread.get()));
        let hash = route::hash_for_room(&current.get());
        let location = window().location();
        if location.hash().unwrap_or_default() != hash
            && let Ok(history) = window().history()
            && history.replace_state_with_url(&JsValue::NULL, "", Some(&hash)).is_err()
        {
            leptos::logging::warn!("chat: could not put the room in the address");
        }
    });
}
