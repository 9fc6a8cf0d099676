//! The "Open on phone" dialog: the address a phone on the same network can open (the
//! server's first LAN URL from `/api/info`, with the room shown in its hash) and the
//! server's QR code of that address (`/api/qr.svg?room=<name>`). Both come from the server
//! that served the page, so the paths are relative to it. Display only: it asks the
//! server, never the chat.

use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::dom::{Drawing, Drawn, add_text, element, set};
use super::{Ctx, ctx, effect, handler};
use crate::route;
use crate::words::{fill, words};

/// The first LAN URL of the server that served the page (`/api/info`'s `lan_urls`), if it
/// has one.
async fn lan_url() -> Result<Option<String>, JsValue> {
    // `fetch` resolves to a `Response`, or rejects.
    let response: web_sys::Response =
        JsFuture::from(window().fetch_with_str("/api/info")).await?.unchecked_into();
    if !response.ok() {
        return Err(JsValue::from(response.status()));
    }
    let info = JsFuture::from(response.json()?).await?;
    // Read with Reflect rather than a serde type: one field, and no decoder to ship.
    let urls: js_sys::Array = js_sys::Reflect::get(&info, &JsValue::from_str("lan_urls"))?.dyn_into()?;
    Ok(urls.iter().find_map(|url| url.as_string()))
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
    let Ctx { panels, .. } = ctx();
    move || panels.phone.get().then(|| view! { <DialogBody /> })
}

/// The open dialog; it asks the server each time it opens (the network may have changed).
#[component]
fn DialogBody() -> impl IntoView {
    let Ctx { panels, room, .. } = ctx();
    let w = words();
    let lookup = RwSignal::new(Lookup::Asking);
    leptos::task::spawn_local(async move {
        let found = match lan_url().await {
            Ok(url) => Lookup::Found(url),
            Err(e) => {
                // The error itself, for the console to show (formatting it would bring
                // `Debug` code into the wasm).
                web_sys::console::warn_2(&JsValue::from_str("chat: /api/info:"), &e);
                Lookup::Failed
            }
        };
        // The dialog may have been closed meanwhile.
        lookup.try_set(found);
    });
    let close_button = NodeRef::<html::Button>::new();
    // The keyboard lands in the dialog; closing it returns to the button that opened it.
    effect(Box::new(move || {
        if let Some(button) = close_button.get() {
            let _ = button.focus();
        }
    }));
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
    // Drawn rather than a `view!` (see `dom`): an answer never changes, another one
    // replaces it.
    let body = move || {
        let lookup = lookup.get();
        let room = if matches!(lookup, Lookup::Found(Some(_))) { room.name.get() } else { String::new() };
        Drawn::new(move || draw_answer(lookup, &room))
    };
    view! {
        // A sibling under the dialog rather than its parent: a click on it is a click
        // outside the dialog, whatever the dialog's own handlers do.
        <div class="dialog-backdrop" on:click=handler(move |_| close())></div>
        <div class="dialog" role="dialog" aria-modal="true" aria-label=w.open_on_phone on:keydown=handler(on_keydown)>
            <h2>{w.open_on_phone}</h2>
            {body}
            <button type="button" node_ref=close_button on:click=handler(move |_| close())>
                {w.close}
            </button>
        </div>
    }
}

/// What the dialog says for `lookup`, with the address of `room` once found.
fn draw_answer(lookup: Lookup, room: &str) -> Drawing {
    let w = words();
    let (text, test_id, base) = match lookup {
        Lookup::Asking => (w.asking_address, None, None),
        Lookup::Failed => (w.address_failed, None, None),
        Lookup::Found(None) => (w.local_only, Some("phone-local-only"), None),
        Lookup::Found(Some(base)) => (w.scan, None, Some(base)),
    };
    let sentence = element("p", "");
    if let Some(test_id) = test_id {
        set(&sentence, "data-testid", test_id);
    }
    add_text(&sentence, text);
    let answer = Drawing::new(sentence);
    let Some(base) = base else {
        return answer;
    };
    let url = route::room_url(&base, room);
    let address = element("p", "phone-url");
    set(&address, "data-testid", "phone-url");
    add_text(&address, &url);
    // The server draws the code of its own address with the room's hash, so a scanned
    // code opens the same room as the address above.
    let qr = element("img", "qr");
    set(&qr, "src", &format!("/api/qr.svg?room={}", js_sys::encode_uri_component(room)));
    set(&qr, "alt", &fill(w.qr_for, &[("url", &url)]));
    set(&qr, "width", "220");
    set(&qr, "height", "220");
    answer.then(address).then(qr)
}
