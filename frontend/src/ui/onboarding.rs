//! The "Open on phone" dialog: the address a phone on the same network can open (the
//! server's first LAN URL from `/api/info`, with the room shown in its hash) and the
//! server's QR code of that address (`/api/qr.svg?room=<name>`). Both come from the server
//! that served the page, so the paths are relative to it. Display only: it asks the
//! server, never the chat.

use leptos::either::EitherOf4;
use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::{Panels, RoomView};
use crate::route;

/// The LAN URLs of the server that served the page (`/api/info`'s `lan_urls`).
async fn lan_urls() -> Result<Vec<String>, JsValue> {
    let response: web_sys::Response =
        JsFuture::from(window().fetch_with_str("/api/info")).await?.dyn_into()?;
    if !response.ok() {
        return Err(JsValue::from(response.status()));
    }
    let info = JsFuture::from(response.json()?).await?;
    // Read with Reflect rather than a serde type: one field, and no decoder to ship.
    let urls: js_sys::Array = js_sys::Reflect::get(&info, &JsValue::from_str("lan_urls"))?.dyn_into()?;
    Ok(urls.iter().filter_map(|url| url.as_string()).collect())
}

/// What the dialog knows: still asking, the server's first LAN URL (if any), or failure.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lookup {
    Asking,
    Found(Option<String>),
    Failed,
}

#[component]
pub fn PhoneDialog() -> impl IntoView {
    let panels: Panels = expect_context();
    move || panels.phone.get().then(|| view! { <DialogBody /> })
}

/// The open dialog; it asks the server each time it opens (the network may have changed).
#[component]
fn DialogBody() -> impl IntoView {
    let panels: Panels = expect_context();
    let room: RoomView = expect_context();
    let lookup = RwSignal::new(Lookup::Asking);
    leptos::task::spawn_local(async move {
        let found = match lan_urls().await {
            Ok(urls) => Lookup::Found(urls.into_iter().next()),
            Err(e) => {
                leptos::logging::warn!("chat: /api/info: {e:?}");
                Lookup::Failed
            }
        };
        // The dialog may have been closed meanwhile.
        lookup.try_set(found);
    });
    let close_button = NodeRef::<html::Button>::new();
    // The keyboard lands in the dialog; closing it returns to the button that opened it.
    Effect::new(move |_| {
        if let Some(button) = close_button.get() {
            let _ = button.focus();
        }
    });
    let close = move || {
        panels.phone.set(false);
        if let Some(opener) = panels.phone_opener.get_untracked() {
            let _ = opener.focus();
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            close();
        }
    };
    let body = move || match lookup.get() {
        Lookup::Asking => EitherOf4::A(view! { <p>"Asking the server for its address…"</p> }),
        Lookup::Failed => {
            EitherOf4::B(view! { <p>"Could not ask the server for its address; try again."</p> })
        }
        Lookup::Found(None) => EitherOf4::C(view! {
            <p data-testid="phone-local-only">
                "This server listens on this machine only; start it with --addr 0.0.0.0:3000 to let phones in."
            </p>
        }),
        Lookup::Found(Some(base)) => {
            let name = room.name.get();
            let url = route::room_url(&base, &name);
            // The server draws the code of its own address with the room's hash, so a
            // scanned code opens the same room as the address above.
            let qr = format!("/api/qr.svg?room={}", js_sys::encode_uri_component(&name));
            EitherOf4::D(view! {
                <p>"On a phone on the same network, scan this code or open:"</p>
                <p class="phone-url" data-testid="phone-url">
                    {url.clone()}
                </p>
                <img class="qr" src=qr alt=format!("QR code for {url}") width="220" height="220" />
            })
        }
    };
    view! {
        // A sibling under the dialog rather than its parent: a click on it is a click
        // outside the dialog, whatever the dialog's own handlers do.
        <div class="dialog-backdrop" on:click=move |_| close()></div>
        <div class="dialog" role="dialog" aria-modal="true" aria-label="Open on phone" on:keydown=on_keydown>
            <h2>"Open on phone"</h2>
            {body}
            <button type="button" node_ref=close_button on:click=move |_| close()>
                "Close"
            </button>
        </div>
    }
}
