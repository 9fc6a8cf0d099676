#![cfg(target_arch = "wasm32")]
//! Browser tests of the real [`App`], mounted in headless Chromium, one fresh container per
//! test, found by `data-testid` and driven with the events a user's actions fire.
//!
//! Most tests talk to a real chat server whose URL is read at compile time from
//! `CHAT_TEST_WS` (for example `ws://127.0.0.1:PORT/ws`); without it they fail, saying
//! so. The offline paths use a port where nothing listens. Waits poll the page until a
//! condition holds, with a deadline, instead of sleeping for fixed times.

use std::any::Any;

use frontend::App;
use frontend::storage::NICK_KEY;
use gloo_timers::future::TimeoutFuture;
use leptos::mount::mount_to;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, Event, EventInit, HtmlElement, HtmlInputElement, KeyboardEvent};

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

/// One [`App`] in its own container; unmounted and removed when dropped.
struct Mounted {
    root: HtmlElement,
    _handle: Box<dyn Any>,
}

impl Mounted {
    fn new(url: &'static str) -> Self {
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
