//! The top of the app: the connection status line, the nickname form and the alert bar.
//! These components only display what their context signals say and act through the
//! [`Client`]; they hold no chat state of their own.

use std::time::Duration;

use leptos::html;
use leptos::prelude::*;

use super::{AlertView, NickView, StatusView};
use crate::client::Client;
use crate::state::Status;

/// How long an alert stays unless dismissed earlier.
const ALERT_MS: u64 = 8000;

/// "Connecting…", "Connected", "Reconnecting in N s" or "Offline".
#[component]
pub fn StatusLine() -> impl IntoView {
    let StatusView(status) = expect_context();
    let state = move || match status.get() {
        Status::Connecting => "connecting",
        Status::Connected => "connected",
        Status::Reconnecting { .. } => "reconnecting",
        Status::Offline => "offline",
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
    let me: NickView = expect_context();
    let client: Client = expect_context();
    let input = NodeRef::<html::Input>::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(el) = input.get_untracked() {
            // A refusal lands in `me.error`, shown below.
            let _ = client.set_nick(&el.value());
        }
    };
    view! {
        <form class="nick-form" on:submit=submit>
            <label class="nick-field">
                <span class="nick-label">"Nickname"</span>
                <input
                    type="text"
                    data-testid="nick-input"
                    node_ref=input
                    prop:value=move || me.nick.get()
                    autocomplete="nickname"
                    autocapitalize="off"
                    spellcheck="false"
                    enterkeyhint="done"
                />
            </label>
            <button type="submit" data-testid="nick-set">
                "Set"
            </button>
            <p class="nick-error" role="alert" data-testid="nick-error">
                {move || me.error.get()}
            </p>
        </form>
    }
}

/// The last error from the server, until dismissed or after [`ALERT_MS`].
#[component]
pub fn AlertBar() -> impl IntoView {
    let AlertView(alert) = expect_context();
    let client: Client = expect_context();
    Effect::new(move |_| {
        if let Some(seq) = alert.with(|a| a.as_ref().map(|a| a.seq)) {
            set_timeout(move || client.dismiss_alert(seq), Duration::from_millis(ALERT_MS));
        }
    });
    view! {
        <div class="alerts" role="alert" data-testid="alert">
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
                                    aria-label="Dismiss"
                                    on:click=move |_| client.dismiss_alert(seq)
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
