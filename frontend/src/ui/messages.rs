//! The room's log and the typing line under it. The log shows chat messages, notices and
//! our messages still on their way (keyed by id, by sequence number, by `cid`), is kept
//! scrolled to the newest entry unless the user has scrolled up to read, and fetches older
//! messages when the user reaches its top, keeping what they were reading in place. It
//! renders what the [`RoomView`] holds and nothing else; the network's text becomes text
//! nodes, never markup.

use std::sync::Arc;

use leptos::either::EitherOf3;
use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use super::RoomView;
use crate::client::Client;
use crate::state::{Entry, EntryKey, Older};

/// Within this many pixels of the bottom, the log counts as "at the newest message".
const STICKY_PX: i32 = 48;
/// Within this many pixels of the top, older messages are fetched.
const TOP_PX: i32 = 64;

/// The local time of `ts` (ms since the epoch) as "HH:MM", and as an ISO string.
fn clock(ts: u64) -> (String, String) {
    let date = js_sys::Date::new(&JsValue::from_f64(ts as f64));
    let hhmm = format!("{:02}:{:02}", date.get_hours(), date.get_minutes());
    (hhmm, date.to_iso_string().into())
}

fn entry_view(entry: Arc<Entry>) -> impl IntoView {
    let client: Client = expect_context();
    // `EitherOf3` rather than `AnyView`: the shapes are known, no type erasure needed.
    match &*entry {
        Entry::Message { msg, own } => {
            let (hhmm, iso) = clock(msg.ts);
            EitherOf3::A(view! {
                <li class="msg" class:own=*own data-testid="message" data-own=own.then_some("true")>
                    <div class="meta">
                        <span class="nick">{msg.nick.clone()}</span>
                        <time datetime=iso>{hhmm}</time>
                    </div>
                    <p class="text">{msg.text.clone()}</p>
                </li>
            })
        }
        Entry::Notice { text, .. } => EitherOf3::B(view! {
            <li class="notice" data-testid="notice">
                {text.clone()}
            </li>
        }),
        Entry::Outgoing { cid, nick, text, failed } => {
            let nick = if nick.is_empty() { "You".to_owned() } else { nick.clone() };
            let cid = cid.clone();
            let failure = failed.clone().map(|why| {
                view! {
                    <p class="failure">
                        <span>"Not sent: " {why}</span>
                        <button
                            type="button"
                            class="discard"
                            aria-label="Discard"
                            on:click=move |_| client.discard(&cid)
                        >
                            "×"
                        </button>
                    </p>
                }
            });
            EitherOf3::C(view! {
                <li
                    class="msg own outgoing"
                    class:failed=failed.is_some()
                    data-testid="message"
                    data-own="true"
                    data-pending=failed.is_none().then_some("true")
                    data-failed=failed.is_some().then_some("true")
                >
                    <div class="meta">
                        <span class="nick">{nick}</span>
                        <span class="sending" hidden=failed.is_some()>
                            "sending…"
                        </span>
                    </div>
                    <p class="text">{text.clone()}</p>
                    {failure}
                </li>
            })
        }
    }
}

/// The top of the log: how much older history there is.
#[component]
fn HistoryEdge() -> impl IntoView {
    let room: RoomView = expect_context();
    let client: Client = expect_context();
    move || match room.older.get() {
        Older::Complete => Some(EitherOf3::A(view! {
            <p class="edge" data-testid="history-start">
                "Beginning of #"
                {room.name}
            </p>
        })),
        Older::Loading => Some(EitherOf3::B(view! {
            <p class="edge" data-testid="history-loading">
                "Loading older messages…"
            </p>
        })),
        // Scrolling up fetches them too; the button is for a log too short to scroll and
        // for keyboards.
        Older::More => Some(EitherOf3::C(view! {
            <p class="edge">
                <button type="button" class="quiet" data-testid="load-older" on:click=move |_| client.load_older()>
                    "Load older messages"
                </button>
            </p>
        })),
        Older::Unknown => None,
    }
}

#[component]
pub fn MessageLog() -> impl IntoView {
    let room: RoomView = expect_context();
    let client: Client = expect_context();
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
            request_animation_frame(move || {
                el.set_scroll_top(el.scroll_height());
                settling.set_value(false);
            });
        }
    };
    Effect::new(move |last: Option<(String, Option<EntryKey>)>| {
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
            request_animation_frame(move || {
                let moved = top.offset_top() - offset;
                if top.is_connected() && moved != 0 {
                    el.set_scroll_top(el.scroll_top() + moved);
                    anchor.set_value(None);
                }
            });
        }
        (name, newest)
    });
    let load_older = move |el: &web_sys::HtmlElement| {
        if room.older.get_untracked() != Older::More {
            return;
        }
        let top = el
            .query_selector(".entries > li")
            .ok()
            .flatten()
            .and_then(|li| li.dyn_into::<web_sys::HtmlElement>().ok());
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

    let busy = move || (!room.joined.get()).to_string();
    view! {
        <div class="log-wrap">
            <div
                class="log"
                role="log"
                aria-live="polite"
                aria-label="Messages"
                aria-busy=busy
                data-testid="messages"
                node_ref=log
                on:scroll=on_scroll
            >
                <HistoryEdge />
                // Rebuilt for each room: ids are only unique within a room, so a key of
                // one room must not reuse the line of another's.
                {move || {
                    room.name.track();
                    view! {
                        <ol class="entries">
                            <For each=move || room.entries.get() key=|entry| entry.key() children=entry_view />
                        </ol>
                    }
                }}
            </div>
            <button
                type="button"
                class="jump"
                hidden=stuck
                on:click=move |_| {
                    stuck.set(true);
                    scroll_to_end();
                }
            >
                "↓ Newest"
            </button>
        </div>
    }
}

/// "bob is typing…" under the log; empty when nobody is.
#[component]
pub fn TypingLine() -> impl IntoView {
    let room: RoomView = expect_context();
    view! {
        <p class="typing" data-testid="typing" aria-live="polite">
            {room.typing}
        </p>
    }
}
