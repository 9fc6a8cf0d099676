//! The room's log: chat messages and notices, keyed by id, kept scrolled to the newest
//! entry unless the user has scrolled up to read. It renders what the [`RoomView`] holds
//! and nothing else; the network's text becomes text nodes, never markup.

use std::sync::Arc;

use leptos::either::Either;
use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsValue;

use super::RoomView;
use crate::state::Entry;

/// Within this many pixels of the bottom, the log counts as "at the newest message".
const STICKY_PX: i32 = 48;

/// The local time of `ts` (ms since the epoch) as "HH:MM", and as an ISO string.
fn clock(ts: u64) -> (String, String) {
    let date = js_sys::Date::new(&JsValue::from_f64(ts as f64));
    let hhmm = format!("{:02}:{:02}", date.get_hours(), date.get_minutes());
    (hhmm, date.to_iso_string().into())
}

fn is_own(entry: &Entry) -> bool {
    matches!(entry, Entry::Message { own: true, .. })
}

fn entry_view(entry: Arc<Entry>) -> impl IntoView {
    // `Either` rather than `AnyView`: both shapes are known, no type erasure needed.
    match &*entry {
        Entry::Message { msg, own } => {
            let (hhmm, iso) = clock(msg.ts);
            Either::Left(view! {
                <li
                    class="msg"
                    class:own=*own
                    data-testid="message"
                    data-own=own.then_some("true")
                >
                    <div class="meta">
                        <span class="nick">{msg.nick.clone()}</span>
                        <time datetime=iso>{hhmm}</time>
                    </div>
                    <p class="text">{msg.text.clone()}</p>
                </li>
            })
        }
        Entry::Notice { text, .. } => Either::Right(view! {
            <li class="notice" data-testid="notice">
                {text.clone()}
            </li>
        }),
    }
}

#[component]
pub fn MessageLog() -> impl IntoView {
    let room: RoomView = expect_context();
    let log = NodeRef::<html::Div>::new();
    // Whether the user is at the newest message; scrolling up to read clears it.
    let stuck = RwSignal::new(true);

    let scroll_to_end = move || {
        if let Some(el) = log.get_untracked() {
            // After the browser has laid out the new entries.
            request_animation_frame(move || el.set_scroll_top(el.scroll_height()));
        }
    };
    Effect::new(move |_| {
        let own_last = room.entries.with(|entries| entries.last().is_some_and(|e| is_own(e)));
        // Our own message always brings the log to the end: we just sent it.
        if stuck.get_untracked() || own_last {
            scroll_to_end();
        }
    });
    let on_scroll = move |_| {
        if let Some(el) = log.get_untracked() {
            let gap = el.scroll_height() - el.scroll_top() - el.client_height();
            stuck.set(gap <= STICKY_PX);
        }
    };

    let busy = move || (!room.joined.get()).to_string();
    view! {
        <main class="log-wrap">
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
                <ol class="entries">
                    <For each=move || room.entries.get() key=|entry| entry.key() children=entry_view />
                </ol>
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
        </main>
    }
}
