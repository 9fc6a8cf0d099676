//! The bars of the app: the top bar (the buttons that open the room drawer and the phone
//! dialog, the connection status line, the nickname form), the alert bar, and the room
//! header (the room's name, the members button, Leave). These components only display
//! what their context signals say and act through the [`Client`](crate::client::Client)
//! or on the [`Panels`](super::Panels); they hold no chat state of their own.

use std::time::Duration;

use leptos::html;
use leptos::prelude::*;

use super::{AlertView, Ctx, StatusView, ctx, effect, handler, text_of};
use crate::state::Status;
use crate::words::words;

/// How long an alert stays unless dismissed earlier.
const ALERT_MS: u64 = 8000;

/// The top of the page: the room drawer's button (phones only), the title, the status,
/// the phone dialog's button and the nickname form.
#[component]
pub fn TopBar() -> impl IntoView {
    let Ctx { panels, rooms, .. } = ctx();
    let unread = rooms.unread();
    let w = words();
    view! {
        <header class="top">
            <button
                type="button"
                class="icon-button rooms-toggle"
                aria-label=w.rooms
                aria-expanded=move || if panels.rooms.get() { "true" } else { "false" }
                on:click=handler(move |_| {
                    panels.members.set(false);
                    panels.rooms.update(|open| *open = !*open);
                })
            >
                <svg viewBox="0 0 24 24" aria-hidden="true">
                    <path d="M4 6h16M4 12h16M4 18h16" />
                </svg>
                // The unread total, also in the page title; the room list says where.
                <span class="badge" aria-hidden="true" hidden=move || (unread() == 0).then_some("")>
                    {unread}
                </span>
            </button>
            <h1>{w.chat}</h1>
            <StatusLine />
            <button
                type="button"
                class="icon-button phone-button"
                aria-label=w.open_on_phone
                aria-haspopup="dialog"
                node_ref=panels.phone_opener
                on:click=handler(move |_| panels.phone.set(true))
            >
                <svg viewBox="0 0 24 24" aria-hidden="true">
                    <rect x="7" y="3" width="10" height="18" rx="2" />
                    <path d="M11 18h2" />
                </svg>
                <span class="button-label" aria-hidden="true">
                    {w.open_on_phone}
                </span>
            </button>
            <NickForm />
        </header>
    }
}

/// Above the log: the room's name, the members button (phones only) and Leave.
#[component]
pub fn RoomHeader() -> impl IntoView {
    let Ctx { room, panels, client, .. } = ctx();
    let w = words();
    view! {
        <div class="room-head">
            <h2 class="room-title" data-testid="room-title">
                "#"
                {room.name}
            </h2>
            <button
                type="button"
                class="icon-button members-toggle"
                aria-expanded=move || if panels.members.get() { "true" } else { "false" }
                on:click=handler(move |_| {
                    panels.rooms.set(false);
                    panels.members.update(|open| *open = !*open);
                })
            >
                <svg viewBox="0 0 24 24" aria-hidden="true">
                    <circle cx="9" cy="8" r="3.2" />
                    <path d="M3 19c0-3.3 2.7-5.5 6-5.5s6 2.2 6 5.5M15.5 5.2a3.2 3.2 0 0 1 0 6M18 13.8c1.9.7 3 2.6 3 5.2" />
                </svg>
                // Named by what it shows, the count, after the word (WCAG "label in name").
                <span class="visually-hidden">{w.members}" "</span>
                <span>{room.count}</span>
            </button>
            <button type="button" class="quiet leave" on:click=handler(move |_| client.leave())>
                {w.leave}
            </button>
        </div>
    }
}

/// "Connecting…", "Connected" (with " · HTTP" over the fallback), "Reconnecting in N s" or "Offline".
#[component]
pub fn StatusLine() -> impl IntoView {
    let Ctx { status: StatusView(status), .. } = ctx();
    let state = move || match status.get() {
        Status::Connecting => "connecting",
        Status::Connected | Status::ConnectedHttp => "connected",
        Status::Reconnecting { .. } => "reconnecting",
        Status::Offline => "offline",
        Status::Removed | Status::Banned => "removed",
    };
    let text = move || status.get().to_string();
    view! {
        <p class="status" role="status" data-testid="status" data-state=state>
            {text}
        </p>
    }
}

/// Shows our nickname and lets the user ask for another one.
#[component]
pub fn NickForm() -> impl IntoView {
    let Ctx { me, client, .. } = ctx();
    let w = words();
    let input = NodeRef::<html::Input>::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(el) = input.get_untracked() {
            // A refusal lands in `me.error`, shown below.
            let _ = client.set_nick(&el.value());
        }
    };
    // The field shows our nick, again whenever the server confirms one. (An effect rather
    // than `prop:value`: one kind of reactive property less in the wasm.)
    effect(Box::new(move || {
        let nick = me.nick.get();
        if let Some(el) = input.get() {
            el.set_value(&nick);
        }
    }));
    view! {
        <form class="nick-form" on:submit=handler(submit)>
            <label class="nick-field">
                <span class="nick-label">{w.nickname}</span>
                <input
                    type="text"
                    data-testid="nick-input"
                    node_ref=input
                    autocomplete="nickname"
                    autocapitalize="off"
                    spellcheck="false"
                    enterkeyhint="done"
                />
            </label>
            <button type="submit" data-testid="nick-set">
                {w.set_nick}
            </button>
            <p class="nick-error" role="alert" data-testid="nick-error">
                {text_of(me.error)}
            </p>
        </form>
    }
}

/// The last error from the server, until dismissed or after [`ALERT_MS`].
#[component]
pub fn AlertBar() -> impl IntoView {
    let Ctx { alert: AlertView(alert), client, .. } = ctx();
    effect(Box::new(move || {
        if let Some(seq) = alert.with(|a| a.as_ref().map(|a| a.seq)) {
            set_timeout(move || client.dismiss_alert(seq), Duration::from_millis(ALERT_MS));
        }
    }));
    view! {
        <div class="alerts" role="alert" data-testid="alert">
            // A `view!`, not drawn (see `dom`): when another alert replaces this one, the
            // Dismiss button stays, and so does the focus on it.
            {move || {
                alert
                    .get()
                    .map(|a| {
                        let seq = a.seq;
                        view! {
                            <p class="alert">
                                <span>{a.text}</span>
                                <button
                                    type="button"
                                    class="dismiss"
                                    aria-label=words().dismiss
                                    on:click=handler(move |_| client.dismiss_alert(seq))
                                >
                                    "×"
                                </button>
                            </p>
                        }
                    })
            }}
        </div>
    }
}
