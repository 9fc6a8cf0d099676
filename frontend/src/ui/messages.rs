//! The room's log and the typing line under it. The log shows chat messages (with what
//! they went through: an edit, a deletion, reactions, the quote of the message they
//! answer, and their actions: reply, react, edit, delete), notices and our messages
//! still on their way (keyed by id, by sequence number, by `cid`), is kept
//! scrolled to the newest entry unless the user has scrolled up to read, and fetches
//! older messages when the user reaches its top, keeping what they were reading in place.
//! It renders what the [`RoomView`](super::RoomView) holds and nothing else; the
//! network's text becomes text nodes, never markup.

use std::sync::Arc;

use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Element;

use super::dom::{Drawing, Drawn, add_element, add_text, element, set};
use super::{Ctx, ctx, effect, handler};
use crate::client::Client;
use crate::state::changes::mentions;
use crate::state::{Entry, EntryKey, Older};
use crate::words::{fill, words};

/// Within this many pixels of the bottom, the log counts as "at the newest message".
const STICKY_PX: i32 = 48;
/// Within this many pixels of the top, older messages are fetched.
const TOP_PX: i32 = 64;

/// Runs `f` before the next repaint, once the browser has laid out what changed. Boxed, so
/// that every use shares one closure type (and its code in the wasm).
pub(super) fn after_layout(f: Box<dyn FnOnce()>) {
    request_animation_frame(f);
}

/// The local time of `ts` (ms since the epoch) as the page's language writes hours and
/// minutes ("9:05 PM", "오후 9:05"), and as an ISO string.
fn clock(ts: u64) -> (String, String) {
    let date = js_sys::Date::new(&JsValue::from_f64(ts as f64));
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"timeStyle".into(), &"short".into());
    let shown = date.to_locale_time_string_with_options(words().lang, &options);
    (shown.into(), date.to_iso_string().into())
}

/// One line of the log. A line never changes once drawn (when a message fails, or is
/// edited, deleted or reacted to, its key changes and a new line replaces it), so it is drawn rather than a `view!` (see
/// [`dom`](super::dom)).
fn entry_view(entry: Arc<Entry>) -> Drawn {
    let Ctx { client, me, .. } = ctx();
    Drawn::new(move || draw_line(&entry, client, &me.nick.get_untracked()))
}

/// The reactions "React" offers: the common ones of every chat app.
const PALETTE: [&str; 6] = ["👍", "❤️", "😂", "😮", "😢", "🎉"];

/// A `<button>` at the end of `parent` saying `text`, with its action `act` (`data-a`).
pub(super) fn add_button(parent: &Element, class: &str, act: &str, text: &str) -> Element {
    let button = add_element(parent, "button", class);
    set(&button, "type", "button");
    if !act.is_empty() {
        set(&button, "data-a", act);
    }
    add_text(&button, text);
    button
}

/// The button a click `ev` landed on (or in), if any.
pub(super) fn clicked(ev: JsValue) -> Option<Element> {
    let ev = ev.unchecked_into::<web_sys::Event>();
    ev.target().and_then(|t| t.unchecked_into::<Element>().closest("button").ok().flatten())
}

/// A click in the message `id` (saying `text`) of the line `li`: on one of its actions, a
/// reaction chip or an emoji of its `palette`.
fn act(li: &Element, palette: &Element, ev: JsValue, id: u64, text: &str, client: Client) {
    let Some(button) = clicked(ev) else {
        return;
    };
    if let Some(emoji) = button.get_attribute("data-e") {
        set(palette, "hidden", "");
        return client.change(|c| c.react(id, &emoji));
    }
    match button.get_attribute("data-a").as_deref() {
        Some("reply") => {
            client.reply(Some(id));
            focus(&document().query_selector("[data-testid=message-input]").ok().flatten());
        }
        Some("react") => {
            if palette.has_attribute("hidden") {
                let _ = palette.remove_attribute("hidden");
            } else {
                set(palette, "hidden", "");
            }
        }
        // Edit in place: a field in the text's place (Enter saves, Escape cancels).
        Some("edit") => {
            let said = li.query_selector(".text").ok().flatten();
            let field = element("input", "edit");
            set(&field, "aria-label", words().edit_message);
            set(&field, "data-testid", "edit-input");
            field.unchecked_ref::<web_sys::HtmlInputElement>().set_value(text);
            let _ = li.insert_before(&field, said.as_ref().map(|p| p.unchecked_ref::<web_sys::Node>()));
            if let Some(p) = &said {
                set(p, "hidden", "");
            }
            focus(&Some(field));
        }
        Some("delete") => client.change(|c| c.delete(id)),
        _ => {}
    }
}

/// A key in the field that edits the message `id`: Enter saves, Escape cancels; either
/// way the text is shown again (the `edited` redraws it with the new text).
fn edit_keys(ev: JsValue, id: u64, client: Client) {
    let ev = ev.unchecked_into::<web_sys::Event>();
    let key = ev.unchecked_ref::<web_sys::KeyboardEvent>();
    let Some(field) = ev.target().map(JsCast::unchecked_into::<web_sys::HtmlInputElement>) else {
        return;
    };
    let save = key.key() == "Enter" && !key.is_composing();
    if field.get_attribute("data-testid").as_deref() != Some("edit-input") || !(save || key.key() == "Escape")
    {
        return;
    }
    ev.prevent_default();
    if save {
        let text = field.value();
        client.change(|c| c.edit(id, &text));
    }
    let li = field.parent_element();
    field.remove();
    if let Some(li) = li {
        if let Ok(Some(p)) = li.query_selector(".text") {
            let _ = p.remove_attribute("hidden");
        }
        focus(&li.query_selector("[data-a=edit]").ok().flatten());
    }
}

fn focus(el: &Option<Element>) {
    if let Some(el) = el {
        let _ = el.unchecked_ref::<web_sys::HtmlElement>().focus();
    }
}

fn draw_line(entry: &Entry, client: Client, me: &str) -> Drawing {
    let li = element("li", "");
    let mut line = Drawing::new(li.clone());
    match entry {
        Entry::Notice { text, .. } => {
            set(&li, "class", "notice");
            set(&li, "data-testid", "notice");
            add_text(&li, text);
        }
        Entry::Message { msg, own, .. } => {
            set(&li, "class", if *own { "msg own" } else { "msg" });
            set(&li, "data-testid", "message");
            if *own {
                set(&li, "data-own", "true");
            }
            let w = words();
            if let Some(quote) = &msg.quote {
                let block = add_element(&li, "blockquote", "quote");
                set(&block, "data-testid", "quote");
                add_text(&add_element(&block, "bdi", "nick"), &quote.nick);
                let said = add_element(&block, "span", if quote.deleted { "gone" } else { "" });
                set(&said, "dir", "auto");
                add_text(&said, if quote.deleted { w.deleted } else { &quote.text });
            }
            let meta = add_meta(&li, &msg.nick);
            let (hhmm, iso) = clock(msg.ts);
            let time = add_element(&meta, "time", "");
            set(&time, "datetime", &iso);
            add_text(&time, &hhmm);
            if msg.edited.is_some() {
                let mark = add_element(&meta, "span", "edited");
                set(&mark, "data-testid", "edited");
                add_text(&mark, w.edited);
            }
            if msg.deleted {
                let gone = add_element(&li, "p", "text gone");
                set(&gone, "data-testid", "deleted");
                add_text(&gone, w.deleted);
                return line;
            }
            if let Some(image) = &msg.image {
                add_picture(&li, image, &fill(w.picture_from, &[("nick", &msg.nick)]));
            }
            if !msg.text.is_empty() {
                add_said(&li, &msg.text);
            }
            if !msg.reactions.is_empty() {
                let chips = add_element(&li, "div", "chips");
                for r in &msg.reactions {
                    let chip =
                        add_button(&chips, "chip", "", &(r.emoji.clone() + " " + &r.nicks.len().to_string()));
                    set(&chip, "data-e", &r.emoji);
                    set(
                        &chip,
                        "aria-pressed",
                        if r.nicks.iter().any(|n| n == me) { "true" } else { "false" },
                    );
                }
            }
            // Shown on hover or focus, by CSS: the line takes the focus (from Tab, a click,
            // or a tap or long press on a phone), and Tab then reaches them.
            set(&li, "tabindex", "0");
            let bar = add_element(&li, "div", "actions");
            add_button(&bar, "", "reply", w.reply);
            add_button(&bar, "", "react", w.react);
            if *own {
                add_button(&bar, "", "edit", w.edit);
            }
            // Another's message only for the room's owner and moderators (CSS, from the log's
            // `data-mod`: roles change without redrawing the lines).
            add_button(&bar, "del", "delete", w.delete);
            let palette = add_element(&li, "div", "palette");
            set(&palette, "hidden", "");
            for emoji in PALETTE {
                set(&add_button(&palette, "", "", emoji), "data-e", emoji);
            }
            let (id, text) = (msg.id, msg.text.clone());
            let on_li = li.clone();
            line = line.on_click(&li, Box::new(move |ev| act(&on_li, &palette, ev, id, &text, client))).on(
                &li,
                "keydown",
                Box::new(move |ev| edit_keys(ev, id, client)),
            );
        }
        Entry::Outgoing { cid, nick, text, failed, image, progress, retry } => {
            set(&li, "class", if failed.is_some() { "msg own outgoing failed" } else { "msg own outgoing" });
            set(&li, "data-testid", "message");
            set(&li, "data-own", "true");
            set(&li, if failed.is_some() { "data-failed" } else { "data-pending" }, "true");
            let meta = add_meta(&li, if nick.is_empty() { words().you } else { nick });
            let sending = add_element(&meta, "span", "sending");
            if failed.is_some() {
                set(&sending, "hidden", "");
            }
            match progress {
                // The bar tells how far (assistive technology reads it as a percentage).
                Some(percent) => {
                    add_text(&sending, words().uploading);
                    let bar = add_element(&li, "progress", "");
                    set(&bar, "max", "10");
                    set(
                        &bar,
                        "value",
                        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
                            [usize::from(*percent / 10).min(10)],
                    );
                    set(&bar, "aria-label", words().upload);
                }
                None => add_text(&sending, words().sending),
            }
            if let Some(image) = image {
                add_picture(&li, image, words().your_picture);
            }
            if !text.is_empty() {
                add_said(&li, text);
            }
            if let Some(why) = failed {
                let failure = add_element(&li, "p", "failure");
                let reason = add_element(&failure, "span", "");
                add_text(&reason, &fill(words().not_sent, &[("why", why)]));
                // A failed upload can be tried again.
                let again = add_element(&failure, "button", "quiet");
                set(&again, "type", "button");
                add_text(&again, words().retry);
                if !*retry {
                    set(&again, "hidden", "");
                }
                let discard = add_element(&failure, "button", "discard");
                set(&discard, "type", "button");
                set(&discard, "aria-label", words().discard);
                add_text(&discard, "×");
                let cid = cid.clone();
                // One listener for both buttons: a drawing holds one.
                line = line.on_click(
                    &failure,
                    Box::new(move |ev| {
                        let target = ev.unchecked_ref::<web_sys::Event>().target();
                        let on = |el: &Element| {
                            target.as_ref().is_some_and(|t| t.unchecked_ref::<Element>() == el)
                        };
                        if on(&again) {
                            super::attach::retry(client, &cid);
                        } else if on(&discard) {
                            client.discard(&cid);
                        }
                    }),
                );
            }
        }
    }
    line
}

/// A picture at the end of `li`, at a bounded size, opening full size in a new tab.
fn add_picture(li: &Element, url: &str, alt: &str) {
    let url = super::attach::media_url(url);
    let link = add_element(li, "a", "pic");
    set(&link, "href", &url);
    set(&link, "target", "_blank");
    set(&link, "rel", "noopener");
    let img = add_element(&link, "img", "");
    set(&img, "src", &url);
    set(&img, "alt", alt);
    set(&img, "data-testid", "picture");
}

/// The `<div class="meta">` of a message line, with the author's nick, at the end of `li`.
/// The nick is a `<bdi>`: its direction is its own (an Arabic or Hebrew nick reads right to
/// left), and a direction control in it ends with it, whatever the line's layout.
fn add_meta(li: &Element, nick: &str) -> Element {
    let meta = add_element(li, "div", "meta");
    add_text(&add_element(&meta, "bdi", "nick"), nick);
    meta
}

/// What someone wrote, as written, in a paragraph at the end of `li` whose direction is
/// that of the text's first letter (`dir="auto"`): an Arabic or Hebrew message reads right
/// to left, and a direction control in it (U+202E, right-to-left override) ends with the
/// paragraph rather than reaching the lines around it.
/// `@nick` mentions in it are marked.
fn add_said(li: &Element, text: &str) {
    let p = add_element(li, "p", "text");
    set(&p, "dir", "auto");
    let mut at = 0;
    // Each mention starts after an ASCII `@`: the cuts are at character boundaries.
    for (start, end) in mentions(text) {
        add_text(&p, text.get(at..start - 1).unwrap_or_default());
        add_text(&add_element(&p, "mark", "mention"), text.get(start - 1..end).unwrap_or_default());
        at = end;
    }
    add_text(&p, text.get(at..).unwrap_or_default());
}

/// The top of the log: how much older history there is. One paragraph, drawn anew when the
/// state changes (see [`dom`](super::dom)).
#[component]
fn HistoryEdge() -> impl IntoView {
    let Ctx { room, client, .. } = ctx();
    move || {
        let older = room.older.get();
        let name = if older == Older::Complete { room.name.get() } else { String::new() };
        (older != Older::Unknown).then(|| Drawn::new(move || draw_edge(older, &name, client)))
    }
}

fn draw_edge(older: Older, name: &str, client: Client) -> Drawing {
    let p = element("p", "edge");
    let mut edge = Drawing::new(p.clone());
    match older {
        Older::Complete => {
            set(&p, "data-testid", "history-start");
            add_text(&p, &fill(words().history_start, &[("room", name)]));
        }
        Older::Loading => {
            set(&p, "data-testid", "history-loading");
            add_text(&p, words().loading_older);
        }
        // Scrolling up fetches them too; the button is for a log too short to scroll and
        // for keyboards.
        Older::More => {
            let button = add_element(&p, "button", "quiet");
            set(&button, "type", "button");
            set(&button, "data-testid", "load-older");
            add_text(&button, words().load_older);
            edge = edge.on_click(&button, Box::new(move |_| client.load_older()));
        }
        Older::Unknown => {}
    }
    edge
}

#[component]
pub fn MessageLog() -> impl IntoView {
    let Ctx { room, client, .. } = ctx();
    let log = NodeRef::<html::Div>::new();
    // Whether the user is at the newest message; scrolling up to read clears it.
    let stuck = RwSignal::new(true);
    // The entry at the top of the log and its offset when older messages were asked for:
    // once they are in, the log scrolls by as much as that entry moved down.
    let anchor = StoredValue::new(None::<(web_sys::HtmlElement, i32)>);

    // True from a room switch until the log has been brought to its end: the scroll
    // events the browser fires while the new room's entries are laid out (at the top,
    // before the jump to the end) are not the user's and must not fetch older messages.
    let settling = StoredValue::new(true);
    let scroll_to_end = move || {
        if let Some(el) = log.get_untracked() {
            // After the browser has laid out the new entries.
            after_layout(Box::new(move || {
                el.set_scroll_top(el.scroll_height());
                settling.set_value(false);
            }));
        }
    };
    // The room and the newest entry shown when the effect last ran.
    let mut last: Option<(String, Option<EntryKey>)> = None;
    effect(Box::new(move || {
        let name = room.name.get();
        let (newest, own) = room.entries.with(|entries| match entries.last() {
            Some(e) => (Some(e.key()), e.is_own()),
            None => (None, false),
        });
        if last.as_ref().is_none_or(|(shown, _)| *shown != name) {
            // Another room: its newest messages, and no anchor from the last one.
            anchor.set_value(None);
            stuck.set(true);
            settling.set_value(true);
            scroll_to_end();
        } else if last.as_ref().is_some_and(|(_, last)| *last != newest) && (stuck.get_untracked() || own) {
            // Only a new last entry moves the log: a page of older messages leaves it be.
            // Our own message always brings the log to the end: we just sent it.
            scroll_to_end();
        }
        if let Some((top, offset)) = anchor.get_value()
            && let Some(el) = log.get_untracked()
        {
            after_layout(Box::new(move || {
                let moved = top.offset_top() - offset;
                if top.is_connected() && moved != 0 {
                    el.set_scroll_top(el.scroll_top() + moved);
                    anchor.set_value(None);
                }
            }));
        }
        last = Some((name, newest));
    }));
    let load_older = move |el: &web_sys::HtmlElement| {
        if room.older.get_untracked() != Older::More {
            return;
        }
        let top = el
            .query_selector(".entries > li")
            .ok()
            .flatten()
            // Every `li` is an HTML element.
            .map(JsCast::unchecked_into::<web_sys::HtmlElement>);
        anchor.set_value(top.map(|li| {
            let offset = li.offset_top();
            (li, offset)
        }));
        client.load_older();
    };
    let on_scroll = move |_| {
        if settling.get_value() {
            return;
        }
        if let Some(el) = log.get_untracked() {
            let gap = el.scroll_height() - el.scroll_top() - el.client_height();
            let at_end = gap <= STICKY_PX;
            if stuck.get_untracked() != at_end {
                stuck.set(at_end);
            }
            if el.scroll_top() <= TOP_PX {
                load_older(&el);
            }
        }
    };

    let busy = move || if room.joined.get() { "false" } else { "true" };
    view! {
        <div class="log-wrap">
            <div
                class="log"
                role="log"
                aria-live="polite"
                aria-label=words().messages
                aria-busy=busy
                data-mod=move || room.moderator.get().then_some("")
                data-testid="messages"
                node_ref=log
                on:scroll=handler(on_scroll)
            >
                <HistoryEdge />
                // Keyed by room and id: a line of one room is never reused for another's.
                <ol class="entries">
                    <For each=move || room.entries.get() key=|entry| entry.key() children=entry_view />
                </ol>
            </div>
            <button
                type="button"
                class="jump"
                hidden=move || stuck.get().then_some("")
                on:click=handler(move |_| {
                    stuck.set(true);
                    scroll_to_end();
                })
            >
                {words().newest}
            </button>
        </div>
    }
}

/// "bob is typing…" under the log; empty when nobody is.
#[component]
pub fn TypingLine() -> impl IntoView {
    let Ctx { room, .. } = ctx();
    view! {
        <p class="typing" data-testid="typing" aria-live="polite">
            {room.typing}
        </p>
    }
}
