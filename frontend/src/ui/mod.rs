//! The view: the [`App`] component and the components it lays out.
//!
//! [`App`] owns the one `RwSignal<Chat>`, starts the socket task and hands the components,
//! through one context value ([`Ctx`]), the [`Client`] handle to act, narrow read-only
//! signals derived from the chat ([`StatusView`], [`NickView`], [`RoomView`],
//! [`RoomsView`], [`AlertView`]) to display, and [`Panels`], which drawers and dialogs are
//! open (view state, not chat state). No component sees the whole [`Chat`], and no
//! component changes it except through the [`Client`]; protocol logic belongs in
//! [`crate::state`], not here. Text from the network is rendered as text nodes only,
//! never as HTML. The App also keeps the page's title (unread count) and its address
//! (`#/room/<name>`, see [`crate::route`]) in step with the chat.
//!
//! The web app's download is held to a size budget (bench/TUNING.md), which shapes some
//! code here: views that never change once shown, and hold nothing that can have the
//! focus, are drawn with the DOM's own calls ([`dom`]), and so are the members list
//! (drawn anew when it changes) and the room list (rewritten in place by one effect); effects, event handlers and memos
//! go through one shared function each ([`effect`], [`handler`], `part`), so that the wasm
//! holds their code once; and reactive attributes keep to a few value types (a toggled
//! class as the whole `class` string, `hidden` as `Option<&str>`).

mod attach;
mod composer;
mod dom;
mod header;
mod members;
mod messages;
mod onboarding;
mod rooms;

use std::sync::Arc;

use leptos::prelude::*;
use wasm_bindgen::JsValue;

use crate::client::Client;
use crate::state::{Alert, Chat, Entry, Member, Older, RoomEntry, Status, count_text, page_title};
use crate::words::{fill, words};
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
/// much older history there is, its members (and their count: in version 2 the list
/// holds only the pages loaded) and who is typing in it.
#[derive(Debug, Clone, Copy)]
pub struct RoomView {
    pub name: Memo<String>,
    pub entries: Memo<Vec<Arc<Entry>>>,
    pub joined: Memo<bool>,
    pub older: Memo<Older>,
    pub members: Memo<Vec<Member>>,
    /// The room's size as shown ("1,200"): a text rather than a number, so that its memo
    /// shares the code of the other text memos.
    pub count: Memo<String>,
    /// More members than those loaded (version 2): "Show more" is offered.
    pub more: Memo<bool>,
    pub typing: Memo<String>,
    /// We own or moderate the room: anyone's message offers "Delete".
    pub moderator: Memo<bool>,
    /// What the next message answers, as the composer shows it ("Replying to bob: …");
    /// empty when it answers none.
    pub reply: Memo<String>,
}

impl RoomView {}

/// The room list (directory and joined rooms) and why the last room asked for was refused;
/// a private room whose password the room form is to ask for.
#[derive(Debug, Clone, Copy)]
pub struct RoomsView {
    pub list: Memo<Vec<RoomEntry>>,
    /// The server has more rooms to page through (version 2).
    pub more: Memo<bool>,
    pub error: Memo<Option<String>>,
    pub prompt: Memo<Option<String>>,
}

impl RoomsView {
    /// The unread messages of all rooms ([`Chat::unread_total`]: every joined room is on
    /// the list). Read from the list rather than a memo of its own, which would cost the
    /// wasm another copy of the memo code for its type.
    pub fn unread(self) -> impl Fn() -> u32 + Copy + Send + Sync + 'static {
        move || self.list.with(|list| list.iter().map(|e| e.unread).sum())
    }
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

/// What the components get through context: the [`Client`] to act, the narrow views of
/// the chat and the [`Panels`]. One value rather than one per type: each type looked up
/// in the context costs the wasm its own code.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub client: Client,
    pub status: StatusView,
    pub me: NickView,
    pub room: RoomView,
    pub rooms: RoomsView,
    pub alert: AlertView,
    pub panels: Panels,
}

/// The context of the [`App`] a component is part of. (Not `expect_context`: its panic
/// message formats the type's name with `Debug`, which brings the Unicode escaping tables
/// into the wasm.)
pub fn ctx() -> Ctx {
    use_context().expect("a component of the App")
}

/// The text of a message that may be absent, as one text node (empty when absent, which
/// CSS's `:empty` still matches): a plain string renders with the code every other text
/// uses, where an `Option` would bring its own.
pub fn text_of(message: Memo<Option<String>>) -> impl Fn() -> String + Copy + Send + Sync + 'static {
    move || message.with(|m| m.clone().unwrap_or_default())
}

/// Boxes an event handler: the handlers of one event then share a type, and the code that
/// attaches them exists once in the wasm rather than once per handler.
pub fn handler<E>(f: impl FnMut(E) + 'static) -> Box<dyn FnMut(E)> {
    Box::new(f)
}

/// Runs `f` once the view is rendered, and again whenever a signal it reads changes. Every
/// effect of the app goes through here with a boxed closure: one `Effect` in the wasm
/// rather than one per effect.
pub fn effect(mut f: Box<dyn FnMut()>) {
    Effect::new(move |_| f());
}

/// A prefix that makes this page's `cid`s differ from those of any earlier page load.
fn cid_prefix() -> String {
    let random = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    // The low 24 bits of the time in ms, as a `u32`: the same digits as the `u64`, and
    // one integer formatting routine less in the wasm.
    let millis = (js_sys::Date::now() as u64 & 0xff_ffff) as u32;
    format!("{millis:x}{random:08x}")
}

/// A memo of one part of the chat, read by `read`: a function rather than a closure per
/// memo, so that the memos of one type share their code in the wasm.
fn part<T: Clone + PartialEq + Send + Sync + 'static>(chat: RwSignal<Chat>, read: fn(&Chat) -> T) -> Memo<T> {
    Memo::new(move |_| chat.with(read))
}

/// The whole chat app, talking to the server at `ws_url` (see
/// [`crate::ws_url_from_location`] for the real one).
#[component]
pub fn App(#[prop(into)] ws_url: String) -> impl IntoView {
    // The words are those of the language chosen before mounting (see `crate::words`).
    if let Some(html) = document().document_element() {
        let _ = html.set_attribute("lang", words().lang);
    }
    attach::set_server(crate::http_base(&ws_url));
    let chat = RwSignal::new(Chat::new(cid_prefix(), storage::load_nick()));
    let link = socket::start(ws_url, chat);
    let client = Client::new(chat, link);
    let status = StatusView(part(chat, Chat::status));
    let me = NickView {
        nick: part(chat, |c| c.nick().to_owned()),
        error: part(chat, |c| c.nick_error().map(str::to_owned)),
    };
    let room = RoomView {
        name: part(chat, |c| c.current().to_owned()),
        entries: part(chat, Chat::log),
        joined: part(chat, |c| c.current_room().is_some_and(|r| r.is_joined())),
        older: part(chat, |c| c.current_room().map_or(Older::Unknown, |r| r.older())),
        members: part(chat, Chat::members),
        count: part(chat, |c| count_text(c.member_total())),
        more: part(chat, Chat::more_members),
        typing: part(chat, Chat::typing_line),
        moderator: part(chat, |c| c.may_delete(false)),
        reply: part(chat, |c| {
            c.replying().map_or_else(String::new, |m| {
                fill(words().replying_to, &[("nick", &m.nick)]) + ": " + &m.text
            })
        }),
    };
    let rooms = RoomsView {
        list: part(chat, Chat::room_list),
        more: part(chat, Chat::rooms_more),
        error: part(chat, |c| c.room_error().map(str::to_owned)),
        prompt: part(chat, |c| c.prompt().map(str::to_owned)),
    };
    let alert = AlertView(part(chat, |c| c.alert().cloned()));
    let panels = Panels {
        rooms: RwSignal::new(false),
        members: RwSignal::new(false),
        phone: RwSignal::new(false),
        phone_opener: NodeRef::new(),
    };
    provide_context(Ctx { client, status, me, room, rooms, alert, panels });

    follow_the_page(client, room.name, rooms.unread());
    watch_the_list(client, panels.rooms);

    let drawer_open = move || panels.rooms.get() || panels.members.get();
    view! {
        <div class="app" on:keydown=handler(move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() == "Escape" {
                panels.close_drawers();
            }
        })>
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
                <div class="scrim" hidden=move || (!drawer_open()).then_some("") on:click=handler(move |_| panels.close_drawers())></div>
            </div>
            <onboarding::PhoneDialog />
        </div>
    }
}

/// Keeps the page in step with the chat: its title shows the unread count, and its
/// address names the room shown. A `#/room/<name>` address (on opening the page, or
/// changed later by a link or by hand) opens that room, and the room shown is written
/// back into the address (replacing it, so Back leaves the chat as expected).
fn follow_the_page(client: Client, current: Memo<String>, unread: impl Fn() -> u32 + 'static) {
    let open_from_address = move || {
        if let Some(room) = route::room_from_hash(&window().location().hash().unwrap_or_default()) {
            // A name that is not a room name is shown beside the room form.
            let _ = client.open_room(&room);
        }
    };
    open_from_address();
    let listener = window_event_listener_untyped("hashchange", move |_| open_from_address());
    on_cleanup(move || listener.remove());
    effect(Box::new(move || {
        document().set_title(&page_title(words(), unread()));
        let hash = route::hash_for_room(&current.get());
        let location = window().location();
        if location.hash().unwrap_or_default() != hash
            && let Ok(history) = window().history()
            && history.replace_state_with_url(&JsValue::NULL, "", Some(&hash)).is_err()
        {
            leptos::logging::warn!("chat: could not put the room in the address");
        }
    }));
}

/// Tells the chat whether the room list can be seen (see [`Chat::show_rooms`]) whenever
/// that may change: the rooms drawer opens or closes, the page is hidden or shown, or the
/// window crosses the width below which the list is a drawer (style.css, 700px).
fn watch_the_list(client: Client, drawer: RwSignal<bool>) {
    let tell = move |open: bool| {
        let phone = window().inner_width().ok().and_then(|w| w.as_f64()).is_some_and(|w| w <= 700.0);
        let visible = document().visibility_state() == web_sys::VisibilityState::Visible;
        client.show_rooms(visible, phone, open);
    };
    effect(Box::new(move || tell(drawer.get())));
    // `visibilitychange` is fired at the document and bubbles up to the window.
    let listeners = ["visibilitychange", "resize"]
        .map(|ev| window_event_listener_untyped(ev, move |_| tell(drawer.get_untracked())));
    on_cleanup(move || listeners.into_iter().for_each(|l| l.remove()));
}
