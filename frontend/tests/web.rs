#![cfg(target_arch = "wasm32")]
//! Browser tests of the real [`App`], mounted in headless Chromium, one fresh container per
//! test, found by `data-testid`, labels and button names, and driven with the events a
//! user's actions fire.
//!
//! Most tests talk to a real chat server whose URL is read at compile time from
//! `CHAT_TEST_WS` (for example `ws://127.0.0.1:PORT/ws`); without it they fail, saying
//! so. Other people are played by [`Peer`]s, plain WebSockets speaking the protocol. The
//! offline paths use a port where nothing listens, or the browser's `offline` event.
//! Waits poll the page until a condition holds, with a deadline, instead of sleeping for
//! fixed times.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use common::{ClientMsg, ServerMsg};
use frontend::App;
use frontend::storage::NICK_KEY;
use gloo_timers::future::TimeoutFuture;
use leptos::mount::mount_to;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_test::*;
use web_sys::{
    Element, Event, EventInit, HtmlElement, HtmlInputElement, KeyboardEvent, MessageEvent, WebSocket,
};

wasm_bindgen_test_configure!(run_in_browser);

/// Nothing listens there: connecting fails at once.
const NOWHERE: &str = "ws://127.0.0.1:9/ws";
/// How long a condition may take to come true.
const DEADLINE_MS: f64 = 5000.0;

fn server() -> &'static str {
    match option_env!("CHAT_TEST_WS") {
        Some(url) => url,
        None => panic!(
            "CHAT_TEST_WS was not set when these tests were compiled: start the chat server \
             and run them with CHAT_TEST_WS=ws://127.0.0.1:PORT/ws"
        ),
    }
}

/// A string no earlier run has used, for nicks and texts on a shared server.
fn unique() -> String {
    let random = (js_sys::Math::random() * 1e9) as u64;
    format!("{:x}{random:x}", js_sys::Date::now() as u64 % 0xff_ffff)
}

fn storage() -> web_sys::Storage {
    window().local_storage().unwrap().expect("localStorage")
}

fn forget_nick() {
    storage().remove_item(NICK_KEY).unwrap();
}

/// Polls `check` until it holds; fails naming `what` after `ms` milliseconds.
async fn until_within(ms: f64, what: &str, mut check: impl FnMut() -> bool) {
    let start = js_sys::Date::now();
    while !check() {
        assert!(js_sys::Date::now() - start < ms, "timed out after {ms} ms waiting for {what}");
        TimeoutFuture::new(20).await;
    }
}

async fn until(what: &str, check: impl FnMut() -> bool) {
    until_within(DEADLINE_MS, what, check).await;
}

fn fire(target: &web_sys::EventTarget, event: &Event) {
    target.dispatch_event(event).unwrap();
}

/// An event that bubbles, as the browser's own do: Leptos listens at the document.
fn bubbling(name: &str) -> Event {
    let init = EventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true);
    Event::new_with_event_init_dict(name, &init).unwrap()
}

/// Focuses `input` and types `text` into it.
fn type_into(input: &HtmlInputElement, text: &str) {
    input.focus().unwrap();
    input.set_value(text);
    fire(input, &bubbling("input"));
}

fn press_enter(input: &HtmlInputElement) {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key("Enter");
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event = KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    fire(input, &event);
}

fn has_focus(el: &HtmlElement) -> bool {
    document().active_element().is_some_and(|active| &active == el.unchecked_ref::<Element>())
}

/// Sets the page's address hash without a `hashchange` event (as a page load would).
fn set_hash_quietly(hash: &str) {
    let location = window().location();
    let url = format!("{}{}{hash}", location.pathname().unwrap(), location.search().unwrap());
    window().history().unwrap().replace_state_with_url(&JsValue::NULL, "", Some(&url)).unwrap();
}

fn hash() -> String {
    window().location().hash().unwrap()
}

/// Puts the app's real stylesheet on the test page (once): the log only scrolls, and
/// drawers only hide, with it.
fn use_the_stylesheet() {
    if document().get_element_by_id("app-style").is_none() {
        let style = document().create_element("style").unwrap();
        style.set_id("app-style");
        style.set_text_content(Some(include_str!("../../style.css")));
        document().head().unwrap().append_child(&style).unwrap();
    }
}

/// One [`App`] in its own container; unmounted and removed when dropped. The page's hash
/// is cleared first: an earlier test's room must not open in this one.
struct Mounted {
    root: HtmlElement,
    _handle: Box<dyn Any>,
}

impl Mounted {
    fn new(url: &'static str) -> Self {
        set_hash_quietly("");
        Self::mount(url)
    }

    /// Mounts without touching the address: the app opens whatever room it names.
    fn mount(url: &'static str) -> Self {
        use_the_stylesheet();
        let root: HtmlElement = document().create_element("div").unwrap().unchecked_into();
        document().body().unwrap().append_child(&root).unwrap();
        let handle = mount_to(root.clone(), move || view! { <App ws_url=url /> });
        Self { root, _handle: Box::new(handle) }
    }

    fn all(&self, selector: &str) -> Vec<Element> {
        let list = self.root.query_selector_all(selector).unwrap();
        (0..list.length()).filter_map(|i| list.item(i)).map(|node| node.unchecked_into()).collect()
    }

    fn find(&self, test_id: &str) -> HtmlElement {
        self.root
            .query_selector(&format!("[data-testid='{test_id}']"))
            .unwrap()
            .unwrap_or_else(|| panic!("no element with data-testid={test_id}"))
            .unchecked_into()
    }

    fn text(&self, test_id: &str) -> String {
        self.find(test_id).text_content().unwrap_or_default()
    }

    fn input(&self, test_id: &str) -> HtmlInputElement {
        self.find(test_id).unchecked_into()
    }

    fn status(&self) -> String {
        self.text("status")
    }

    /// The messages of the log, as (nick, text, own).
    fn messages(&self) -> Vec<(String, String, bool)> {
        self.all("[data-testid='messages'] [data-testid='message']")
            .iter()
            .map(|item| {
                let part = |sel: &str| {
                    item.query_selector(sel).unwrap().and_then(|e| e.text_content()).unwrap_or_default()
                };
                let own = item.get_attribute("data-own").as_deref() == Some("true");
                (part(".nick"), part(".text"), own)
            })
            .collect()
    }

    fn own_texts(&self) -> Vec<String> {
        self.messages().into_iter().filter(|(_, _, own)| *own).map(|(_, text, _)| text).collect()
    }

    /// Waits until the server has answered the lobby's `join` (the log is not busy).
    async fn joined(&self) {
        until("Connected", || self.status() == "Connected").await;
        let log = self.find("messages");
        until("the lobby to be joined", || log.get_attribute("aria-busy").as_deref() == Some("false")).await;
    }

    /// Types `text` in the message form and presses Enter.
    fn say(&self, text: &str) {
        let input = self.input("message-input");
        type_into(&input, text);
        press_enter(&input);
    }

    fn query(&self, selector: &str) -> Option<HtmlElement> {
        self.root.query_selector(selector).unwrap().map(JsCast::unchecked_into)
    }

    /// The button whose accessible name is `name` (its text, or its `aria-label`).
    /// The button named `name` and the count it shows ("Members 12").
    fn button_counting(&self, name: &str) -> HtmlElement {
        self.all("button")
            .into_iter()
            .find(|b| {
                let text = b.text_content().unwrap_or_default();
                text.trim().strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).is_some_and(|count| {
                    !count.is_empty() && count.chars().all(|c| c.is_ascii_digit() || c == ',')
                })
            })
            .unwrap_or_else(|| panic!("no button named {name} with a count"))
            .unchecked_into()
    }

    fn button(&self, name: &str) -> HtmlElement {
        self.all("button")
            .into_iter()
            .find(|b| {
                b.get_attribute("aria-label").as_deref() == Some(name)
                    || b.text_content().is_some_and(|t| t.trim() == name)
            })
            .unwrap_or_else(|| panic!("no button named {name}"))
            .unchecked_into()
    }

    /// The input inside the `<label>` whose text is `label`.
    fn field(&self, label: &str) -> HtmlInputElement {
        self.all("label")
            .into_iter()
            .find(|l| l.text_content().is_some_and(|t| t.trim() == label))
            .and_then(|l| l.query_selector("input").unwrap())
            .unwrap_or_else(|| panic!("no field labelled {label}"))
            .unchecked_into()
    }

    /// The room list's entry for `room`.
    fn room(&self, room: &str) -> Option<HtmlElement> {
        self.query(&format!("nav[aria-label='Rooms'] [data-testid='room'][data-room='{room}']"))
    }

    /// The member count the room list shows for `room`.
    fn room_count(&self, room: &str) -> Option<u32> {
        let count = self.room(room)?.query_selector("[data-testid='room-count']").unwrap()?;
        count.text_content()?.trim().parse().ok()
    }

    /// The unread badge of `room`: its text and its accessible label.
    fn unread(&self, room: &str) -> Option<(String, String)> {
        let badge = self.room(room)?.query_selector("[data-testid='unread']").unwrap()?;
        Some((
            badge.text_content().unwrap_or_default(),
            badge.get_attribute("aria-label").unwrap_or_default(),
        ))
    }

    /// The room the list marks as current.
    fn current(&self) -> Option<String> {
        self.query("[data-testid='room'][aria-current='true']")?.get_attribute("data-room")
    }

    /// The nicks of the members panel.
    fn members(&self) -> Vec<String> {
        self.all("aside[aria-label='Members'] [data-testid='member'] > bdi")
            .iter()
            .map(|m| m.text_content().unwrap_or_default())
            .collect()
    }

    /// Waits until `room` is shown and the server has answered its `join`.
    async fn in_room(&self, room: &str) {
        until(&format!("#{room} to be current"), || self.current().as_deref() == Some(room)).await;
        let log = self.find("messages");
        until(&format!("#{room} to be joined"), || {
            log.get_attribute("aria-busy").as_deref() == Some("false")
        })
        .await;
    }

    /// Joins (or creates) `room` with the room form.
    async fn open_room(&self, room: &str) {
        type_into(&self.field("Room"), room);
        self.button("Join").click();
        self.in_room(room).await;
    }
}

/// Another person: a plain WebSocket speaking the protocol, recording what it receives.
struct Peer {
    ws: WebSocket,
    frames: Rc<RefCell<Vec<ServerMsg>>>,
    nick: String,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Peer {
    async fn connect() -> Self {
        let ws = WebSocket::new(server()).unwrap();
        let frames = Rc::new(RefCell::new(Vec::new()));
        let on_message = {
            let frames = frames.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                let text = e.data().as_string().expect("a text frame");
                frames.borrow_mut().push(serde_json::from_str(&text).expect("a protocol frame"));
            })
        };
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let mut peer = Self { ws, frames, nick: String::new(), _on_message: on_message };
        until("the peer's welcome", || !peer.frames.borrow().is_empty()).await;
        let ServerMsg::Welcome { nick, .. } = peer.frames.borrow()[0].clone() else { panic!("no welcome") };
        peer.nick = nick;
        peer
    }

    fn send(&self, msg: &ClientMsg) {
        self.ws.send_with_str(&serde_json::to_string(msg).unwrap()).unwrap();
    }

    fn count(&self, f: impl Fn(&ServerMsg) -> bool) -> usize {
        self.frames.borrow().iter().filter(|m| f(m)).count()
    }

    async fn join(&self, room: &str) {
        self.send(&ClientMsg::Join { room: room.into(), after: None, password: None, max: None });
        until("the peer's joined", || {
            self.count(|m| matches!(m, ServerMsg::Joined { room: r, .. } if r == room)) > 0
        })
        .await;
    }

    /// Says `text` in `room` and waits for the echo.
    async fn say(&self, room: &str, text: &str) {
        let cid = format!("peer-{}", unique());
        self.send(&ClientMsg::Say {
            room: room.into(),
            text: text.into(),
            cid: cid.clone(),
            image: None,
            reply_to: None,
        });
        until("the peer's echo", || {
            self.count(|m| matches!(m, ServerMsg::Message(m) if m.cid.as_deref() == Some(cid.as_str()))) > 0
        })
        .await;
    }

    /// The messages received with `text`, as their `cid`s.
    fn received(&self, text: &str) -> Vec<Option<String>> {
        self.frames
            .borrow()
            .iter()
            .filter_map(|m| match m {
                ServerMsg::Message(m) if m.text == text => Some(m.cid.clone()),
                _ => None,
            })
            .collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.ws.close();
    }
}

/// A room name no earlier run has used.
fn new_room(what: &str) -> String {
    format!("{what}-{}", unique())
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.root.remove();
    }
}

/// "Reconnecting in N s" → N.
fn countdown(status: &str) -> Option<u32> {
    status.strip_prefix("Reconnecting in ")?.strip_suffix(" s")?.parse().ok()
}

#[wasm_bindgen_test]
async fn status_goes_from_connecting_to_connected_and_shows_the_guest_nick() {
    forget_nick();
    let app = Mounted::new(server());
    assert_eq!(app.status(), "Connecting…");
    until("Connected", || app.status() == "Connected").await;
    let nick = app.input("nick-input");
    until("the guest nick from welcome", || nick.value().starts_with("guest-")).await;
}

/// Speaks Korean until dropped (also when a test fails): the other tests expect English.
struct InKorean;

impl InKorean {
    fn new() -> Self {
        frontend::words::set(&frontend::words::KO);
        Self
    }
}

impl Drop for InKorean {
    fn drop(&mut self) {
        frontend::words::set(&frontend::words::EN);
    }
}

/// The browser tests run in an English browser; the language chosen before mounting (as
/// `main` chooses it from `navigator.languages`) names the page's language and every word.
#[wasm_bindgen_test]
async fn the_app_speaks_the_language_chosen_before_mounting() {
    forget_nick();
    let korean = InKorean::new();
    let app = Mounted::new(server());
    assert_eq!(app.status(), "연결 중…");
    until("연결됨 (connected)", || app.status() == "연결됨").await;
    let lang = document().document_element().unwrap().get_attribute("lang");
    assert_eq!(lang.as_deref(), Some("ko"));
    assert_eq!(app.button("대화방").get_attribute("aria-expanded").as_deref(), Some("false"));
    assert_eq!(app.find("send").text_content().as_deref(), Some("보내기"));
    assert_eq!(app.find("nick-set").text_content().as_deref(), Some("변경"));
    let log = app.find("messages");
    until("the lobby to be joined", || log.get_attribute("aria-busy").as_deref() == Some("false")).await;
    assert_eq!(log.get_attribute("aria-label").as_deref(), Some("메시지"));
    let placeholder = app.input("message-input").get_attribute("placeholder");
    assert_eq!(placeholder.as_deref(), Some("#lobby에 메시지 보내기"));
    // The members button says its count after its name, in Korean too.
    app.button_counting("참여자");
    // A sentence the app builds with a count: the composer's over the limit.
    let input = app.input("message-input");
    type_into(&input, &"가".repeat(common::Text::MAX + 1));
    let note = app.find("composer-error");
    until("the count in Korean", || note.text_content().is_some_and(|t| t.ends_with("자"))).await;
    drop(app);
    drop(korean);
    // The next app is English again, and says so.
    let app = Mounted::new(NOWHERE);
    assert_eq!(app.status(), "Connecting…");
    let lang = document().document_element().unwrap().get_attribute("lang");
    assert_eq!(lang.as_deref(), Some("en"));
}

#[wasm_bindgen_test]
async fn going_offline_and_online_reconnects_at_once() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let nick = app.input("nick-input").value();
    fire(&window(), &Event::new("offline").unwrap());
    until("Offline", || app.status() == "Offline").await;
    fire(&window(), &Event::new("online").unwrap());
    // At once, not after a backoff: well within the first wait.
    until_within(400.0, "Connected again", || app.status() == "Connected").await;
    app.joined().await;
    // The resume token brings the same nick back.
    until("the same nick", || app.input("nick-input").value() == nick).await;
    let text = format!("back {}", unique());
    app.say(&text);
    until("the message after reconnecting", || app.own_texts().contains(&text)).await;
}

#[wasm_bindgen_test]
async fn status_counts_down_to_reconnect_when_no_server_answers() {
    let app = Mounted::new(NOWHERE);
    assert_eq!(app.status(), "Connecting…");
    until("a reconnect countdown", || countdown(&app.status()).is_some()).await;
    // The waits grow: a later one is at least 2 s, and it counts down each second.
    let mut longest = 0;
    until_within(8000.0, "a wait of 2 s or more", || {
        longest = countdown(&app.status()).unwrap_or(0);
        longest >= 2
    })
    .await;
    until_within(1500.0, "the countdown to go down by one", || countdown(&app.status()) == Some(longest - 1))
        .await;
}

#[wasm_bindgen_test]
async fn offline_stays_offline_until_the_browser_is_online() {
    let app = Mounted::new(NOWHERE);
    until("a reconnect countdown", || countdown(&app.status()).is_some()).await;
    fire(&window(), &Event::new("offline").unwrap());
    until("Offline", || app.status() == "Offline").await;
    // Longer than the first backoff: no attempt is made while offline.
    TimeoutFuture::new(1200).await;
    assert_eq!(app.status(), "Offline");
    fire(&window(), &Event::new("online").unwrap());
    until("trying again", || app.status() != "Offline").await;
}

#[wasm_bindgen_test]
async fn enter_and_send_clear_the_input_keep_focus_and_show_the_echo_as_own() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let input = app.input("message-input");

    let first = format!("hello by enter {}", unique());
    app.say(&first);
    assert_eq!(input.value(), "", "Enter clears the input");
    assert!(has_focus(&input), "the input keeps the focus");
    until("the echo of the first message", || app.own_texts().contains(&first)).await;

    let second = format!("hello by click {}", unique());
    type_into(&input, &second);
    let send = app.find("send");
    assert_eq!(send.text_content().as_deref(), Some("Send"));
    // A real click moves the focus to the button first.
    send.focus().unwrap();
    send.click();
    assert_eq!(input.value(), "", "Send clears the input");
    assert!(has_focus(&input), "the focus returns to the input");
    until("the echo of the second message", || app.own_texts().contains(&second)).await;
    let own = app.own_texts();
    assert_eq!(&own[own.len() - 2..], [first, second], "in order, as own");
}

#[wasm_bindgen_test]
async fn an_empty_message_is_not_sent() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let before = app.messages().len();
    let own_before = app.own_texts().len();
    let input = app.input("message-input");
    app.say("   ");
    app.find("send").click();
    assert_eq!(input.value(), "   ", "nothing was sent, so nothing was cleared");
    // The server answers in order: once this echo is in, an echo of the blank one
    // would be too.
    let marker = format!("after blank {}", unique());
    app.say(&marker);
    until("the marker's echo", || app.own_texts().contains(&marker)).await;
    let own = app.own_texts();
    assert_eq!(own.len(), own_before + 1, "one own message more: {own:?}");
    assert_eq!(own.last(), Some(&marker));
    assert_eq!(app.messages().len(), before + 1, "the log grew by the marker only");
}

#[wasm_bindgen_test]
async fn a_message_over_the_limit_is_kept_and_explained() {
    let app = Mounted::new(NOWHERE);
    let input = app.input("message-input");
    let long = "x".repeat(4001);
    app.say(&long);
    assert_eq!(input.value(), long, "not sent, so not cleared");
    until("the reason to show", || {
        let why = app.text("composer-error");
        why.contains("4001") && why.contains("4000")
    })
    .await;
    // Back under the limit, the reason goes away.
    type_into(&input, "short");
    until("the reason to go", || app.text("composer-error").is_empty()).await;
}

#[wasm_bindgen_test]
async fn messages_render_as_text_not_html() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let text = format!("<b>bold</b> & <script>x</script> {}", unique());
    app.say(&text);
    until("the echo", || app.own_texts().contains(&text)).await;
    let log = app.find("messages");
    assert!(log.query_selector("b").unwrap().is_none(), "no <b> in the log");
    assert!(log.query_selector("script").unwrap().is_none(), "no <script> in the log");
}

#[wasm_bindgen_test]
async fn a_new_nick_shows_once_the_server_agrees_and_is_remembered() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let nick = format!("t{}", unique());
    type_into(&app.input("nick-input"), &nick);
    app.find("nick-set").click();
    until("the nick to be stored after the server's `you`", || {
        storage().get_item(NICK_KEY).unwrap().as_deref() == Some(nick.as_str())
    })
    .await;
    assert_eq!(app.input("nick-input").value(), nick);
    let text = format!("as {nick}");
    app.say(&text);
    until("a message under the new nick", || app.messages().contains(&(nick.clone(), text.clone(), true)))
        .await;

    // A second page asking for the same nick is told it is taken, beside the form.
    forget_nick();
    let other = Mounted::new(server());
    other.joined().await;
    let guest = other.input("nick-input").value();
    type_into(&other.input("nick-input"), &nick);
    other.find("nick-set").click();
    until("the nick_taken error", || !other.text("nick-error").is_empty()).await;
    assert!(storage().get_item(NICK_KEY).unwrap().is_none(), "a refused nick is not remembered");
    drop(other);
    drop(app);
    forget_nick();
    assert!(guest.starts_with("guest-"));
}

#[wasm_bindgen_test]
async fn a_remembered_nick_is_asked_for_on_connect() {
    let nick = format!("r{}", unique());
    storage().set_item(NICK_KEY, &nick).unwrap();
    let app = Mounted::new(server());
    let input = app.input("nick-input");
    until("the remembered nick", || input.value() == nick).await;
    drop(app);
    forget_nick();
}

#[wasm_bindgen_test]
async fn the_room_list_shows_the_directory_with_live_counts() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    assert_eq!(app.current().as_deref(), Some("lobby"));
    until("the lobby with a count", || app.room_count("lobby").is_some_and(|n| n >= 1)).await;

    // Others enter a room the app has not joined: it shows up, and its count follows.
    let room = new_room("live");
    let ann = Peer::connect().await;
    ann.join(&room).await;
    until("the new room with 1 member", || app.room_count(&room) == Some(1)).await;
    let entry = app.room(&room).unwrap();
    assert!(entry.text_content().unwrap().starts_with(&format!("#{room}")), "named #{room}");
    assert_eq!(entry.tag_name(), "BUTTON");
    assert!(entry.get_attribute("aria-current").is_none());
    let bob = Peer::connect().await;
    bob.join(&room).await;
    until("2 members", || app.room_count(&room) == Some(2)).await;
    drop(ann);
    until("1 member after one left", || app.room_count(&room) == Some(1)).await;
    drop(bob);
    until("the empty room to leave the directory", || app.room(&room).is_none()).await;
}

#[wasm_bindgen_test]
async fn join_creates_a_room_switches_to_it_and_puts_it_in_the_address() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let room = new_room("made");
    let input = app.field("Room");
    type_into(&input, &format!("  {room} "));
    app.button("Join").click();
    app.in_room(&room).await;
    assert_eq!(input.value(), "", "the form clears");
    assert_eq!(app.text("room-title"), format!("#{room}"));
    until("the new room counted", || app.room_count(&room) == Some(1)).await;
    assert_eq!(hash(), format!("#/room/{room}"));
    assert!(app.room("lobby").is_some(), "the lobby stays in the list");

    // A name the protocol refuses is explained and changes nothing.
    type_into(&input, &"r".repeat(65));
    app.button("Join").click();
    until("the reason", || app.text("room-error").contains("64")).await;
    assert_eq!(app.current().as_deref(), Some(room.as_str()));
}

#[wasm_bindgen_test]
async fn clicking_a_room_of_the_directory_joins_it_and_lists_its_members() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let me = app.input("nick-input").value();
    let room = new_room("click");
    let ann = Peer::connect().await;
    ann.join(&room).await;
    until("the room in the list", || app.room(&room).is_some()).await;
    app.room(&room).unwrap().click();
    app.in_room(&room).await;
    until("both members", || {
        let mut members = app.members();
        members.sort();
        let mut want = vec![me.clone(), ann.nick.clone()];
        want.sort();
        members == want
    })
    .await;
    assert_eq!(app.text("member-count"), "2");
    until("2 in the list", || app.room_count(&room) == Some(2)).await;
    // Back to the lobby by its entry: already joined.
    app.room("lobby").unwrap().click();
    app.in_room("lobby").await;
}

#[wasm_bindgen_test]
async fn unread_counts_and_the_title_follow_messages_in_other_rooms() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let room = new_room("unread");
    app.open_room(&room).await;
    app.room("lobby").unwrap().click();
    app.in_room("lobby").await;
    assert_eq!(document().title(), "Chat");

    let ann = Peer::connect().await;
    ann.join(&room).await;
    ann.say(&room, "psst").await;
    until("1 unread", || app.unread(&room) == Some(("1".into(), "1 unread".into()))).await;
    until("the title", || document().title() == "(1) Chat").await;
    ann.say(&room, "psst again").await;
    until("2 unread", || app.unread(&room).is_some_and(|(n, _)| n == "2")).await;
    until("the title", || document().title() == "(2) Chat").await;
    assert!(app.unread("lobby").is_none());

    app.room(&room).unwrap().click();
    app.in_room(&room).await;
    until("the badge gone once read", || app.unread(&room).is_none()).await;
    until("the title without count", || document().title() == "Chat").await;
    let texts: Vec<String> = app.messages().into_iter().map(|(_, text, _)| text).collect();
    assert!(texts.ends_with(&["psst".to_owned(), "psst again".to_owned()]), "{texts:?}");
}

#[wasm_bindgen_test]
async fn typing_shows_and_goes_away_by_itself() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let room = new_room("typing");
    app.open_room(&room).await;
    let ann = Peer::connect().await;
    ann.join(&room).await;
    let typing = app.find("typing");
    assert_eq!(typing.get_attribute("aria-live").as_deref(), Some("polite"));
    assert_eq!(app.text("typing"), "");

    ann.send(&ClientMsg::Typing { room: room.clone() });
    until("the indicator", || app.text("typing") == format!("{} is typing…", ann.nick)).await;
    let shown = js_sys::Date::now();
    until_within(8000.0, "the indicator to expire", || app.text("typing").is_empty()).await;
    let lasted = js_sys::Date::now() - shown;
    assert!((4000.0..7000.0).contains(&lasted), "shown for {lasted} ms, not about 5 s");

    // A message from the typist ends it at once.
    ann.send(&ClientMsg::Typing { room: room.clone() });
    until("the indicator again", || !app.text("typing").is_empty()).await;
    ann.say(&room, "done").await;
    until_within(1000.0, "the indicator to end with the message", || app.text("typing").is_empty()).await;

    // The app's own typing reaches the others, at most once every 2 s.
    let input = app.input("message-input");
    type_into(&input, "h");
    type_into(&input, "he");
    type_into(&input, "hel");
    let typed = |p: &Peer| p.count(|m| matches!(m, ServerMsg::Typing { room: r, .. } if *r == room));
    until("the app's typing frame", || typed(&ann) == 1).await;
    TimeoutFuture::new(300).await;
    assert_eq!(typed(&ann), 1, "throttled");
}

#[wasm_bindgen_test]
async fn the_members_panel_follows_joins_and_leaves() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let room = new_room("members");
    app.open_room(&room).await;
    until("just me", || app.members().len() == 1).await;
    let ann = Peer::connect().await;
    ann.join(&room).await;
    until("ann listed", || app.members().contains(&ann.nick)).await;
    assert_eq!(app.text("member-count"), "2");
    until("a notice", || {
        app.all("[data-testid='notice']")
            .iter()
            .any(|n| n.text_content().is_some_and(|t| t == format!("{} joined", ann.nick)))
    })
    .await;
    ann.send(&ClientMsg::Leave { room: room.clone() });
    until("ann gone", || !app.members().contains(&ann.nick)).await;
    assert_eq!(app.text("member-count"), "1");
}

#[wasm_bindgen_test]
async fn leave_drops_the_room_and_shows_the_one_joined_before() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let first = new_room("first");
    let second = new_room("second");
    app.open_room(&first).await;
    app.open_room(&second).await;
    app.room(&first).unwrap().click();
    app.in_room(&first).await;
    app.button("Leave").click();
    // The most recently joined room left is shown.
    app.in_room(&second).await;
    until("the room to leave the list", || app.room(&first).is_none()).await;
    app.button("Leave").click();
    app.in_room("lobby").await;
    assert_eq!(hash(), "#/room/lobby");
}

#[wasm_bindgen_test]
async fn a_room_in_the_address_is_joined_on_load_and_on_hashchange() {
    forget_nick();
    let room = new_room("deep link");
    set_hash_quietly(&format!("#/room/{}", js_sys::encode_uri_component(&room)));
    let app = Mounted::mount(server());
    app.in_room(&room).await;
    assert_eq!(app.text("room-title"), format!("#{room}"));
    until("the lobby joined too", || {
        app.room("lobby").is_some_and(|e| e.get_attribute("data-joined").as_deref() == Some("true"))
    })
    .await;

    let other = new_room("later");
    window().location().set_hash(&format!("/room/{other}")).unwrap();
    app.in_room(&other).await;
    assert!(app.room(&room).is_some_and(|e| e.get_attribute("data-joined").as_deref() == Some("true")));
}

#[wasm_bindgen_test]
async fn a_message_said_offline_is_pending_then_sent_once() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let ann = Peer::connect().await;
    ann.join("lobby").await;

    fire(&window(), &Event::new("offline").unwrap());
    until("Offline", || app.status() == "Offline").await;
    let text = format!("said in a tunnel {}", unique());
    app.say(&text);
    assert_eq!(app.input("message-input").value(), "", "the input clears even offline");
    let pending = || app.all("[data-testid='message'][data-pending='true']");
    until("the pending message", || pending().len() == 1).await;
    let item = &pending()[0];
    assert_eq!(item.get_attribute("data-own").as_deref(), Some("true"));
    assert!(item.text_content().unwrap().contains("sending…"));
    assert!(item.text_content().unwrap().contains(&text));
    TimeoutFuture::new(300).await;
    assert!(ann.received(&text).is_empty(), "nothing goes out while offline");

    fire(&window(), &Event::new("online").unwrap());
    until("the message to be acknowledged", || pending().is_empty()).await;
    until("the peer to get it", || ann.received(&text).len() == 1).await;
    let own: Vec<_> = app.own_texts().into_iter().filter(|t| *t == text).collect();
    assert_eq!(own.len(), 1, "shown once");
    let sent = app.all("[data-testid='message'][data-own='true']");
    assert!(sent.iter().all(|m| !m.text_content().unwrap().contains("sending…")));
    TimeoutFuture::new(300).await;
    assert_eq!(ann.received(&text).len(), 1, "sent once");
}

#[wasm_bindgen_test]
async fn a_message_said_before_any_connection_shows_as_pending() {
    let app = Mounted::new(NOWHERE);
    app.say("nobody hears this");
    assert_eq!(app.input("message-input").value(), "");
    until("the pending message", || {
        app.all("[data-pending='true']")
            .iter()
            .any(|m| m.text_content().unwrap().contains("nobody hears this"))
    })
    .await;
}

#[wasm_bindgen_test]
async fn scrolling_to_the_top_loads_older_messages_in_place() {
    forget_nick();
    let room = new_room("history");
    let ann = Peer::connect().await;
    ann.join(&room).await;
    for i in 1..=80 {
        ann.send(&ClientMsg::Say {
            room: room.clone(),
            text: format!("m{i}"),
            cid: format!("h{}-{i}", unique()),
            image: None,
            reply_to: None,
        });
    }
    until("80 echoes", || ann.count(|m| matches!(m, ServerMsg::Message(_))) == 80).await;

    let app = Mounted::new(server());
    app.joined().await;
    app.open_room(&room).await;
    let texts = || app.messages().into_iter().map(|(_, text, _)| text).collect::<Vec<_>>();
    until("the last 50", || texts().len() == 50).await;
    assert_eq!(texts()[0], "m31");
    assert!(app.query("[data-testid='history-start']").is_none(), "older messages exist");
    assert!(app.query("[data-testid='load-older']").is_some());

    let log = app.find("messages");
    // Wait for the log to have scrolled to the newest message, then go to the top.
    until("the log at its end", || log.scroll_top() > 0).await;
    let first = app.all("[data-testid='message']")[0].clone().unchecked_into::<HtmlElement>();
    log.set_scroll_top(0);
    fire(&log, &bubbling("scroll"));
    until("all 80", || texts().len() == 80).await;
    assert_eq!(texts()[0], "m1");
    assert_eq!(texts()[79], "m80");
    until("the beginning", || app.text("history-start") == format!("Beginning of #{room}")).await;
    // What was at the top stays in view: the log scrolled by as much as was added.
    until("the reader's place kept", || {
        let offset = first.offset_top() - log.scroll_top();
        (0..=80).contains(&offset)
    })
    .await;
    let every: Vec<String> = (1..=80).map(|i| format!("m{i}")).collect();
    assert_eq!(texts(), every, "each message once, in order");
}

#[wasm_bindgen_test]
async fn the_load_older_button_fetches_the_page_before() {
    forget_nick();
    let room = new_room("older");
    let ann = Peer::connect().await;
    ann.join(&room).await;
    for i in 1..=60 {
        ann.send(&ClientMsg::Say {
            room: room.clone(),
            text: format!("o{i}"),
            cid: format!("o{}-{i}", unique()),
            image: None,
            reply_to: None,
        });
    }
    until("60 echoes", || ann.count(|m| matches!(m, ServerMsg::Message(_))) == 60).await;

    let app = Mounted::new(server());
    app.joined().await;
    app.open_room(&room).await;
    let texts = || app.messages().into_iter().map(|(_, text, _)| text).collect::<Vec<_>>();
    until("the last 50", || texts().len() == 50).await;
    assert_eq!(texts()[0], "o11");
    app.find("load-older").click();
    until("all 60", || texts().len() == 60).await;
    let every: Vec<String> = (1..=60).map(|i| format!("o{i}")).collect();
    assert_eq!(texts(), every, "the older page above, each message once");
    until("the beginning", || app.text("history-start") == format!("Beginning of #{room}")).await;
    assert!(app.query("[data-testid='load-older']").is_none(), "nothing older to load");
}

/// Makes the app send any `say` whose text starts with `marker` with a blank text
/// instead, which the server refuses as `invalid` (with the `cid`): the app checks texts
/// before sending, so this is the only way a real server refuses one. It wraps the
/// browser's `JSON.stringify`, which the app writes frames with, from Rust: no script is
/// evaluated from a string, which the page's Content-Security-Policy forbids.
fn blank_the_texts_starting_with(marker: &str) {
    use js_sys::Reflect;
    let json = Reflect::get(&js_sys::global(), &JsValue::from_str("JSON")).unwrap();
    let original: js_sys::Function =
        Reflect::get(&json, &JsValue::from_str("stringify")).unwrap().unchecked_into();
    let marker = marker.to_owned();
    let this = json.clone();
    let patched = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |value: JsValue| {
        let field = |key: &str| {
            value
                .is_object()
                .then(|| Reflect::get(&value, &JsValue::from_str(key)).ok())
                .flatten()?
                .as_string()
        };
        if field("type").as_deref() == Some("say") && field("text").is_some_and(|t| t.starts_with(&marker)) {
            Reflect::set(&value, &JsValue::from_str("text"), &JsValue::from_str(" ")).unwrap();
        }
        original.call1(&this, &value).unwrap_or(JsValue::UNDEFINED)
    });
    Reflect::set(&json, &JsValue::from_str("stringify"), patched.as_ref()).unwrap();
    patched.forget();
}

#[wasm_bindgen_test]
async fn a_refused_message_shows_why_and_discard_removes_it() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let marker = format!("refuse-{}", unique());
    blank_the_texts_starting_with(&marker);
    let text = format!("{marker} please");
    app.say(&text);
    let failed = || app.all("[data-testid='message'][data-failed='true']");
    until("the refusal", || failed().len() == 1).await;
    let line = failed()[0].text_content().unwrap();
    assert!(line.contains(&text), "{line}");
    assert!(line.contains("Not sent: a message must not be empty"), "{line}");
    app.button("Discard").click();
    until("the line gone", || failed().is_empty()).await;
    assert!(!app.own_texts().contains(&text), "not shown any more");
}

#[wasm_bindgen_test]
async fn the_drawers_and_the_phone_dialog_open_and_close() {
    let app = Mounted::new(NOWHERE);
    let expanded = |b: &HtmlElement| b.get_attribute("aria-expanded").unwrap_or_default();
    let rooms = app.button("Rooms");
    let members = app.button_counting("Members");
    assert_eq!(expanded(&rooms), "false");
    rooms.click();
    until("the room drawer open", || expanded(&rooms) == "true").await;
    // Choosing a room closes the drawer.
    app.room("lobby").unwrap().click();
    until("the room drawer closed", || expanded(&rooms) == "false").await;
    rooms.click();
    until("the room drawer open", || expanded(&rooms) == "true").await;
    // One drawer at a time.
    members.click();
    until("the members open, the rooms closed", || {
        expanded(&members) == "true" && expanded(&rooms) == "false"
    })
    .await;
    members.click();
    until("the members closed", || expanded(&members) == "false").await;

    assert!(app.query("[role='dialog']").is_none());
    app.button("Open on phone").click();
    until("the dialog", || app.query("[role='dialog']").is_some()).await;
    let dialog = app.query("[role='dialog']").unwrap();
    assert_eq!(dialog.get_attribute("aria-label").as_deref(), Some("Open on phone"));
    let close = app.button("Close");
    until("the dialog to take the focus", || has_focus(&close)).await;
    // The test page is not served by the chat server: /api/info is not there.
    until("an answer", || !dialog.text_content().unwrap().contains("Asking")).await;
    close.click();
    until("the dialog closed", || app.query("[role='dialog']").is_none()).await;
    assert!(has_focus(&app.button("Open on phone")), "the focus goes back");
}

/// The app under the policy the server sends (`common::content_security_policy`), as the
/// page's own: nothing it does is refused. The policy stays on this test page for the
/// tests that run after this one, which then run under it too.
#[wasm_bindgen_test]
async fn the_app_runs_under_the_servers_content_security_policy() {
    // The stylesheet first: the real page links it, this page inlines it.
    use_the_stylesheet();
    let ws = server();
    // The test server is on another port than this page; the address where nothing
    // listens is what the reconnect tests open. The server's own origin too: the real
    // page is served from it, so its `'self'` covers the picture uploads there.
    let http = ws.replacen("ws", "http", 1);
    let http = http.strip_suffix("/ws").unwrap();
    let policy = common::content_security_policy(&format!("{ws} {http} {NOWHERE}"));
    let meta = document().create_element("meta").unwrap();
    meta.set_attribute("http-equiv", "Content-Security-Policy").unwrap();
    meta.set_attribute("content", &policy).unwrap();
    document().head().unwrap().append_child(&meta).unwrap();
    let violations = Rc::new(RefCell::new(Vec::<String>::new()));
    let seen = violations.clone();
    let listener = Closure::<dyn FnMut(Event)>::new(move |e: Event| {
        let field =
            |k: &str| js_sys::Reflect::get(&e, &JsValue::from_str(k)).ok().and_then(|v| v.as_string());
        seen.borrow_mut().push(format!("{:?} {:?}", field("violatedDirective"), field("blockedURI")));
    });
    document()
        .add_event_listener_with_callback("securitypolicyviolation", listener.as_ref().unchecked_ref())
        .unwrap();
    listener.forget();

    forget_nick();
    let app = Mounted::new(ws);
    app.joined().await;
    let text = format!("under the policy {}", unique());
    app.say(&text);
    until("the echo", || app.own_texts().contains(&text)).await;
    TimeoutFuture::new(100).await;
    assert!(violations.borrow().is_empty(), "refused by the policy: {:?}", violations.borrow());

    // The check can fail: an inline style is what the policy refuses.
    app.find("messages").set_attribute("style", "color: red").unwrap();
    until("the violation to be reported", || !violations.borrow().is_empty()).await;
    assert!(violations.borrow()[0].contains("style-src"), "{:?}", violations.borrow());
}

/// The notices of the log.
fn notices(app: &Mounted) -> Vec<String> {
    app.all("[data-testid='notice']").iter().filter_map(|n| n.text_content()).collect()
}

#[wasm_bindgen_test]
async fn the_members_panel_pages_through_a_big_room_and_counts_arrivals() {
    // The browser-test server counts presence above 20 members (xtask's browser_tests).
    forget_nick();
    let room = new_room("big");
    let mut peers = Vec::new();
    for _ in 0..60 {
        let peer = Peer::connect().await;
        peer.join(&room).await;
        peers.push(peer);
    }
    let app = Mounted::new(server());
    app.joined().await;
    app.open_room(&room).await;
    // Version 2: the first page of 50 and the room's size.
    until("the total", || app.text("member-count") == "61").await;
    assert_eq!(app.members().len(), 50, "the first page only");
    let more = app.find("more-members");
    assert!(!more.hidden(), "Show more is offered");
    more.click();
    until("the second page", || app.members().len() == 61).await;
    until("nothing more to load", || more.hidden()).await;
    let mut everyone: Vec<String> = peers.iter().map(|p| p.nick.clone()).collect();
    everyone.push(app.input("nick-input").value());
    let fold = |s: &String| s.to_ascii_lowercase();
    everyone.sort_by_key(fold);
    assert_eq!(app.members(), everyone, "every member once, by name");

    // Arrivals in a big room are counted, not told one by one.
    for _ in 0..3 {
        let peer = Peer::connect().await;
        peer.join(&room).await;
        peers.push(peer);
    }
    until("a counted notice", || {
        notices(&app).iter().any(|t| t.ends_with(" people joined") || t.ends_with(" person joined"))
    })
    .await;
    until("the new total", || app.text("member-count") == "64").await;
    assert!(
        !notices(&app).iter().any(|t| peers.iter().any(|p| *t == format!("{} joined", p.nick))),
        "no notice names a newcomer: {:?}",
        notices(&app)
    );
    peers.truncate(55);
    until("the departures counted", || app.text("member-count") == "56").await;
    // Counted notices start with the count; told ones with the nick.
    let counted_departure = |t: &String| t.starts_with(|c: char| c.is_ascii_digit()) && t.contains(" left");
    until("a counted departure", || notices(&app).iter().any(counted_departure)).await;
}

#[wasm_bindgen_test]
async fn a_private_room_shows_a_lock_and_asks_for_its_password() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let room = new_room("den");
    let ann = Peer::connect().await;
    ann.send(&ClientMsg::Join {
        room: room.clone(),
        after: None,
        password: Some("open sesame".into()),
        max: None,
    });
    until("the private room in the list", || app.room(&room).is_some()).await;
    let lock = |room: &str| app.room(room).and_then(|e| e.query_selector("[data-testid='lock']").unwrap());
    until("the lock", || lock(&room).is_some()).await;
    assert_eq!(lock(&room).unwrap().get_attribute("aria-label").as_deref(), Some("private"));
    assert!(lock("lobby").is_none(), "public rooms have none");

    // Opened without the password: the room form asks for it, the name filled in.
    app.room(&room).unwrap().click();
    let password = app.field("Password (private rooms)");
    until("the password field focused", || has_focus(&password)).await;
    assert_eq!(password.type_(), "password", "typed blind");
    assert_eq!(app.field("Room").value(), room);
    assert!(app.text("room-error").contains("is private: enter its password"), "{}", app.text("room-error"));
    assert_ne!(app.current().as_deref(), Some(room.as_str()), "not in before the password");
    // A wrong one is refused, plainly, and asked for again.
    type_into(&password, "open says me");
    app.button("Join").click();
    until("the refusal said plainly", || app.text("room-error").contains("wrong password")).await;
    until("asked again", || app.field("Room").value() == room && has_focus(&password)).await;
    assert_ne!(app.current().as_deref(), Some(room.as_str()));
    type_into(&password, "open sesame");
    app.button("Join").click();
    app.in_room(&room).await;
    assert_eq!(password.value(), "", "the password is not left in the form");
    ann.say(&room, "welcome in").await;
    until("the room's message", || app.messages().iter().any(|(_, text, _)| text == "welcome in")).await;
}

#[wasm_bindgen_test]
async fn the_room_form_creates_a_private_room_with_a_limit() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let room = new_room("made private");
    type_into(&app.field("Room"), &room);
    type_into(&app.field("Password (private rooms)"), "hush");
    type_into(&app.field("Member limit (new rooms, 2 to 1000)"), "2");
    app.button("Join").click();
    app.in_room(&room).await;
    until("the lock on the new room", || {
        app.room(&room).and_then(|e| e.query_selector("[data-testid='lock']").unwrap()).is_some()
    })
    .await;
    // Another person needs the password, and the room holds two.
    let ann = Peer::connect().await;
    let refused = |peer: &Peer, code: common::ErrorCode| {
        peer.count(|m| matches!(m, ServerMsg::Error { code: c, .. } if *c == code))
    };
    ann.send(&ClientMsg::Join { room: room.clone(), after: None, password: None, max: None });
    until("forbidden", || refused(&ann, common::ErrorCode::Forbidden) > 0).await;
    ann.send(&ClientMsg::Join { room: room.clone(), after: None, password: Some("hush".into()), max: None });
    until("ann in", || ann.count(|m| matches!(m, ServerMsg::Joined { .. })) > 0).await;
    let bob = Peer::connect().await;
    bob.send(&ClientMsg::Join { room: room.clone(), after: None, password: Some("hush".into()), max: None });
    until("full", || refused(&bob, common::ErrorCode::RoomFull) > 0).await;
    // A limit out of range is explained beside the form.
    type_into(&app.field("Room"), &new_room("crowd"));
    type_into(&app.field("Member limit (new rooms, 2 to 1000)"), "5000");
    app.button("Join").click();
    until("the reason", || app.text("room-error").contains("from 2 to 1000")).await;
}

/// A picture drawn on a canvas, as a PNG `File` named `name`.
fn drawn_picture(name: &str) -> web_sys::File {
    let canvas: web_sys::HtmlCanvasElement = document().create_element("canvas").unwrap().unchecked_into();
    canvas.set_width(40);
    canvas.set_height(30);
    let pen: web_sys::CanvasRenderingContext2d = canvas.get_context("2d").unwrap().unwrap().unchecked_into();
    pen.set_fill_style_str("#3b5bdb");
    pen.fill_rect(0.0, 0.0, 40.0, 30.0);
    pen.set_fill_style_str("#ffd43b");
    pen.fill_rect(10.0, 5.0, 20.0, 20.0);
    let url = canvas.to_data_url().unwrap();
    let base64 = url.split_once(',').unwrap().1;
    let binary = window().atob(base64).unwrap();
    let bytes: Vec<u8> = binary.chars().map(|c| c as u8).collect();
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(&bytes[..]));
    let options = web_sys::FilePropertyBag::new();
    options.set_type("image/png");
    web_sys::File::new_with_u8_array_sequence_and_options(&parts, name, &options).unwrap()
}

fn carrying(file: &web_sys::File) -> web_sys::DataTransfer {
    let data = web_sys::DataTransfer::new().unwrap();
    data.items().add_with_file(file).unwrap();
    data
}

/// The pictures of the log: (their `src`, whether their line is still pending).
fn pictures(app: &Mounted) -> Vec<(String, bool)> {
    app.all("[data-testid='messages'] [data-testid='message']")
        .iter()
        .filter_map(|line| {
            let img = line.query_selector("[data-testid='picture']").unwrap()?;
            Some((img.get_attribute("src").unwrap_or_default(), line.has_attribute("data-pending")))
        })
        .collect()
}

/// The pictures a peer received in `room`, as their URLs.
fn pictures_received(peer: &Peer) -> Vec<String> {
    peer.frames
        .borrow()
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Message(m) => m.image.clone(),
            _ => None,
        })
        .collect()
}

#[wasm_bindgen_test]
async fn a_picture_chosen_with_the_attach_button_is_uploaded_said_and_shown() {
    forget_nick();
    let room = new_room("pics");
    let app = Mounted::new(server());
    app.joined().await;
    app.open_room(&room).await;
    let bob = Peer::connect().await;
    bob.join(&room).await;

    let input = app.input("attach");
    assert_eq!(input.type_(), "file");
    assert_eq!(input.accept(), "image/*", "a phone offers its camera for it");
    let data = carrying(&drawn_picture("drawn.png"));
    input.set_files(Some(&data.files().unwrap()));
    fire(&input, &bubbling("change"));

    // Shown at once from the file, then as the server's picture once echoed.
    until("the picture in the log", || !pictures(&app).is_empty()).await;
    until("the echo", || pictures(&app).iter().any(|(src, pending)| !pending && src.contains("/media/")))
        .await;
    let (src, _) = pictures(&app).into_iter().find(|(_, pending)| !pending).unwrap();
    let base = server().replacen("ws", "http", 1);
    let base = base.strip_suffix("/ws").unwrap();
    assert!(src.starts_with(&format!("{base}/media/")) && src.ends_with(".png"), "{src}");
    until("bob's message", || pictures_received(&bob).len() == 1).await;
    assert_eq!(format!("{base}{}", pictures_received(&bob)[0]), src);
    // It opens full size in a new tab. (Whether it loads is the end-to-end tests' to see:
    // this page, on another port than the server, is cross-origin isolated by the test
    // runner, which keeps it from showing another origin's pictures.)
    let img: web_sys::HtmlImageElement =
        app.query("[data-testid='messages'] [data-testid='picture']").unwrap().unchecked_into();
    let link = img.parent_element().unwrap();
    assert_eq!(
        (link.get_attribute("href").as_deref(), link.get_attribute("target").as_deref()),
        (Some(&*src), Some("_blank"))
    );
    let alt = img.get_attribute("alt").unwrap_or_default();
    assert!(alt.starts_with("Picture from ") && alt.len() > 13, "{alt}");
}

#[wasm_bindgen_test]
async fn a_picture_dropped_on_the_page_is_sent() {
    forget_nick();
    let room = new_room("drop");
    let app = Mounted::new(server());
    app.joined().await;
    app.open_room(&room).await;
    let bob = Peer::connect().await;
    bob.join(&room).await;
    let init = web_sys::DragEventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true);
    init.set_data_transfer(Some(&carrying(&drawn_picture("dropped.png"))));
    let drop = web_sys::DragEvent::new_with_event_init_dict("drop", &init).unwrap();
    let log = app.find("messages");
    fire(&log, &drop);
    assert!(drop.default_prevented(), "the browser does not open the file instead");
    until("bob's message", || pictures_received(&bob).len() == 1).await;
    until("the echo", || pictures(&app).iter().any(|(src, pending)| !pending && src.contains("/media/")))
        .await;
}

#[wasm_bindgen_test]
async fn a_picture_pasted_is_sent_and_pasted_text_stays_the_field_s() {
    forget_nick();
    let room = new_room("paste");
    let app = Mounted::new(server());
    app.joined().await;
    app.open_room(&room).await;
    let bob = Peer::connect().await;
    bob.join(&room).await;
    let paste = |data: &web_sys::DataTransfer| {
        let init = web_sys::ClipboardEventInit::new();
        init.set_bubbles(true);
        init.set_cancelable(true);
        init.set_clipboard_data(Some(data));
        web_sys::ClipboardEvent::new_with_event_init_dict("paste", &init).unwrap()
    };
    let field = app.input("message-input");
    // Text only: the field's, untouched by the app.
    let text = web_sys::DataTransfer::new().unwrap();
    text.set_data("text/plain", "just words").unwrap();
    let words = paste(&text);
    fire(&field, &words);
    assert!(!words.default_prevented(), "a paste of text is left to the field");
    // A picture: uploaded and said in the room shown.
    let picture = paste(&carrying(&drawn_picture("pasted.png")));
    fire(&field, &picture);
    assert!(picture.default_prevented(), "the picture is taken, not pasted as text");
    until("bob's message", || pictures_received(&bob).len() == 1).await;
    until("the echo", || pictures(&app).iter().any(|(src, pending)| !pending && src.contains("/media/")))
        .await;
}

#[wasm_bindgen_test]
async fn a_failed_upload_says_so_and_offers_a_retry() {
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    app.open_room(&new_room("broken")).await;
    // Named and typed as a PNG, but not one: the server refuses it.
    let options = web_sys::FilePropertyBag::new();
    options.set_type("image/png");
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(&b"\x89PNG\r\n\x1a\nnot really"[..]));
    let fake = web_sys::File::new_with_u8_array_sequence_and_options(&parts, "fake.png", &options).unwrap();
    let input = app.input("attach");
    input.set_files(Some(&carrying(&fake).files().unwrap()));
    fire(&input, &bubbling("change"));
    let failed = || app.all("[data-testid='message'][data-failed='true']");
    until("the failure", || failed().len() == 1).await;
    let line = failed()[0].clone();
    let text = line.text_content().unwrap();
    assert!(text.contains("Not sent: not a GIF, PNG, JPEG or WebP picture"), "{text}");
    assert_eq!(pictures(&app).len(), 1, "the picture stays shown");
    let retry = app.button("Retry");
    assert!(!retry.hidden());
    retry.click();
    // Tried again: the line is drawn anew (uploading, then failed again).
    until("the retry to fail again", || failed().len() == 1 && failed()[0] != line).await;
    app.button("Discard").click();
    until("the line gone", || failed().is_empty() && pictures(&app).is_empty()).await;
}

impl Peer {
    /// Takes the nick `nick` and waits for the server's answer.
    async fn rename(&mut self, nick: &str) {
        self.send(&ClientMsg::Nick { nick: nick.into() });
        until("the peer's new nick", || {
            self.count(|m| matches!(m, ServerMsg::You { nick: n } if n == nick)) > 0
        })
        .await;
        self.nick = nick.to_owned();
    }
}

/// The computed `direction` of `el`: "ltr" or "rtl".
fn direction(el: &Element) -> String {
    window().get_computed_style(el).unwrap().unwrap().get_property_value("direction").unwrap()
}

/// The left and right edges of `part` as the page draws it, in the text node of `el` that
/// holds it.
fn drawn(el: &Element, part: &str) -> (f64, f64) {
    let children = el.child_nodes();
    let (node, text) = (0..children.length())
        .filter_map(|i| children.item(i))
        .filter(|n| n.node_type() == web_sys::Node::TEXT_NODE)
        .find_map(|n| n.text_content().filter(|t| t.contains(part)).map(|t| (n, t)))
        .unwrap_or_else(|| panic!("{part:?} in {:?}", el.text_content()));
    let start = text.find(part).unwrap();
    // The DOM counts in UTF-16 units.
    let at = |i: usize| text[..i].encode_utf16().count() as u32;
    let range = document().create_range().unwrap();
    range.set_start(&node, at(start)).unwrap();
    range.set_end(&node, at(start + part.len())).unwrap();
    let rect = range.get_bounding_client_rect();
    (rect.left(), rect.right())
}

/// `first` is drawn wholly to the left of `then`, as a left-to-right sentence reads them.
fn reads_left_to_right(el: &Element, first: &str, then: &str) -> bool {
    drawn(el, first).1 <= drawn(el, then).0 + 0.5
}

/// Text is kept as written, but a right-to-left message or nick, or a right-to-left
/// override (U+202E) in a message, turns nothing around but itself: an Arabic message and
/// nick read right to left, and the lines around them, each line's nick and time, and the
/// app's sentences that name such a nick (a notice, the typing line) keep their order.
#[wasm_bindgen_test]
async fn right_to_left_text_and_nicks_turn_nothing_around_them() {
    const RLO: char = '\u{202E}';
    forget_nick();
    let app = Mounted::new(server());
    app.joined().await;
    let room = new_room("bidi");
    app.open_room(&room).await;
    let tag = unique();
    let ann = Peer::connect().await;
    // A nick that holds a direction override is refused by the server (`invalid`); a
    // message text keeps what its writer wrote, overrides included.
    let mallory = Peer::connect().await;
    let mut sara = Peer::connect().await;
    sara.rename(&format!("سارة{tag}")).await;
    for peer in [&ann, &mallory, &sara] {
        peer.join(&room).await;
    }
    let texts =
        [format!("before {tag}"), format!("a{RLO}bc"), "مرحبا بالجميع!".to_owned(), format!("after {tag}")];
    ann.say(&room, &texts[0]).await;
    mallory.say(&room, &texts[1]).await;
    sara.say(&room, &texts[2]).await;
    ann.say(&room, &texts[3]).await;
    until("the four messages", || app.messages().iter().any(|(_, text, _)| *text == texts[3])).await;

    let lines: Vec<Element> = app
        .all("[data-testid='messages'] [data-testid='message']")
        .into_iter()
        .filter(|li| {
            li.query_selector(".text")
                .unwrap()
                .and_then(|p| p.text_content())
                .is_some_and(|t| texts.contains(&t))
        })
        .collect();
    assert_eq!(lines.len(), 4);
    let part = |li: &Element, sel: &str| li.query_selector(sel).unwrap().unwrap();
    let rect = |el: &Element| el.get_bounding_client_rect();
    for (i, li) in lines.iter().enumerate() {
        assert_eq!(part(li, ".text").text_content().unwrap(), texts[i], "the text as written, in its place");
        // Each line's nick, then its time, left to right; the lines one under the other,
        // all on the left (others' messages).
        assert!(
            rect(&part(li, ".nick")).right() <= rect(&part(li, "time")).left(),
            "line {i}: nick then time"
        );
        assert_eq!(rect(li).left(), rect(&lines[0]).left(), "line {i} on the left");
        if i > 0 {
            assert!(rect(&lines[i - 1]).bottom() <= rect(li).top(), "line {i} under the one before");
        }
    }
    // The direction of each text and nick is its own: only the Arabic ones read right to
    // left (the override's text starts with a left-to-right letter).
    let directions = |sel: &str| lines.iter().map(|li| direction(&part(li, sel))).collect::<Vec<_>>();
    assert_eq!(directions(".text"), ["ltr", "ltr", "rtl", "ltr"]);
    assert_eq!(directions(".nick"), ["ltr", "ltr", "rtl", "ltr"]);

    // The app's own sentences that name a right-to-left nick keep their order: the nick as
    // a whole, then the rest of the sentence, left to right.
    let visible = format!("سارة{tag}");
    let notice = app
        .all("[data-testid='notice']")
        .into_iter()
        .find(|n| n.text_content().is_some_and(|t| t.contains(&visible) && t.contains("joined")))
        .expect("sara's notice");
    assert!(reads_left_to_right(&notice, &visible, "joined"), "{:?}", notice.text_content());
    sara.send(&ClientMsg::Typing { room: room.clone() });
    until("sara typing", || app.text("typing").contains(&visible)).await;
    let typing = app.find("typing");
    assert!(reads_left_to_right(&typing, &visible, "is typing"), "{:?}", typing.text_content());
}
