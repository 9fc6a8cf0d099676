//! Pictures: the attach button (a file input for images, which a phone offers its camera
//! for), a picture pasted or dropped on the page, and their upload to the server.
//!
//! A picture is shown in the log at once, from the local file, with the upload's progress
//! (`XMLHttpRequest`, whose upload reports it, where `fetch` does not); once the server
//! has it (`POST /api/media`, the connection's resume token as the credential), the
//! [`Client`] says it with its URL and it waits for its echo like any message. A failed
//! upload keeps its file here, for the retry button of its line. The chat's rules (what
//! waits, what is sent when) are the state's; this module only moves files.

use std::cell::RefCell;

use leptos::prelude::*;
use leptos::tachys::renderer::Rndr;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, DataTransfer, FileList, HtmlInputElement, XmlHttpRequest};

use super::dom::{Drawing, Drawn, add_element, add_text, element, set};
use crate::client::Client;
use crate::state::Upload;
use crate::words::words;

thread_local! {
    /// The server's HTTP origin (the app's socket's), set by the [`App`](super::App).
    static BASE: RefCell<String> = const { RefCell::new(String::new()) };
    /// The files of uploads that have not succeeded yet, by `cid`, for a retry: a
    /// JavaScript object, whose code the browser has, rather than a Rust map's in the wasm.
    static FILES: js_sys::Object = js_sys::Object::new();
}

/// Sets the server that pictures go to and come from (`crate::http_base`).
pub fn set_server(base: String) {
    BASE.with(|b| *b.borrow_mut() = base);
}

/// Where the picture `url` (the server's `/media/...`, or a local `blob:`) is shown from.
pub fn media_url(url: &str) -> String {
    if url.starts_with('/') { BASE.with(|b| format!("{}{url}", b.borrow())) } else { url.to_owned() }
}

/// Uploads every image of `files` to the room shown.
fn upload_all(client: Client, files: Option<FileList>) {
    let Some(files) = files else { return };
    for i in 0..files.length() {
        if let Some(file) = files.get(i).filter(|f| f.type_().starts_with("image/")) {
            let file: Blob = file.into();
            let Ok(preview) = web_sys::Url::create_object_url_with_blob(&file) else { continue };
            if let Ok(cid) = client.start_upload(preview) {
                FILES.with(|f| js_sys::Reflect::set(f, &cid.as_str().into(), &file).ok());
                send(client, cid, &file);
            }
        }
    }
}

/// Tries the upload of `cid` again.
pub fn retry(client: Client, cid: &str) {
    let file = FILES.with(|f| js_sys::Reflect::get(f, &cid.into()).ok()).filter(|f| f.is_object());
    if let Some(file) = file {
        client.upload(cid, Upload::Retry);
        send(client, cid.to_owned(), file.unchecked_ref());
    }
}

/// Why an upload answered `status` failed, for the user.
fn failure(status: u16) -> &'static str {
    let w = words();
    match status {
        401 => w.upload_not_connected,
        413 => w.upload_too_big,
        415 => w.upload_not_picture,
        429 | 503 => w.upload_busy,
        _ => w.upload_failed,
    }
}

/// Listens to `event` on any event target (an upload, a request): the listener code the
/// drawn views use (see [`dom`](super::dom)), rather than a closure type of its own. The
/// listener lives as long as its target (dropping the handle would remove it).
fn listen(target: &JsValue, event: &str, f: Box<dyn FnMut(JsValue)>) {
    std::mem::forget(Rndr::add_event_listener(target.unchecked_ref(), event, f));
}

/// A number field of a JavaScript object (0 when absent).
fn number(obj: &JsValue, key: &str) -> f64 {
    js_sys::Reflect::get(obj, &key.into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0)
}

fn send(client: Client, cid: String, file: &Blob) {
    let Ok(xhr) = XmlHttpRequest::new() else { return };
    let url = media_url("/api/media");
    let opened = xhr.open("POST", &url).and_then(|()| {
        xhr.set_request_header("Authorization", &format!("Bearer {}", client.token().unwrap_or_default()))
    });
    if opened.is_err() {
        client.upload(&cid, Upload::Failed(failure(0)));
        return;
    }
    if let Ok(upload) = xhr.upload() {
        let id = cid.clone();
        listen(
            &upload,
            "progress",
            Box::new(move |e| {
                let total = number(&e, "total");
                if total > 0.0 {
                    // Whole tens: each step redraws the line.
                    client.upload(&id, Upload::Progress((number(&e, "loaded") / total * 10.0) as u8 * 10));
                }
            }),
        );
    }
    let done = xhr.clone();
    listen(
        &xhr,
        "loadend",
        Box::new(move |_| {
            let status = done.status().unwrap_or(0);
            let answer = done.response_text().ok().flatten().and_then(|t| js_sys::JSON::parse(&t).ok());
            let url = answer.and_then(|a| js_sys::Reflect::get(&a, &"url".into()).ok()?.as_string());
            match url.filter(|_| status == 201) {
                Some(url) => {
                    FILES.with(|f| js_sys::Reflect::delete_property(f, &cid.as_str().into()).ok());
                    client.upload(&cid, Upload::Done(url));
                }
                None => client.upload(&cid, Upload::Failed(failure(status))),
            }
        }),
    );
    // A failure to send is reported by `loadend` too.
    let _ = xhr.send_with_opt_blob(Some(file));
}

/// The files an event carries: a paste's clipboard or a drop's data.
fn files_of(ev: &JsValue) -> Option<FileList> {
    let get = |key: &str| js_sys::Reflect::get(ev, &key.into()).ok().filter(JsValue::is_object);
    let data: DataTransfer = get("dataTransfer").or_else(|| get("clipboardData"))?.unchecked_into();
    data.files().filter(|f| f.length() > 0)
}

/// The attach button: a file input for images (a phone offers its camera), drawn once.
/// While it is in the page, pictures pasted or dropped anywhere on the page go to the room
/// shown too; text pasted into the field stays the field's (only an event that carries
/// files is taken).
pub fn button(client: Client) -> Drawn {
    Drawn::new(move || {
        let label = element("label", "attach");
        let attach = words().attach;
        set(&label, "title", attach);
        let input = add_element(&label, "input", "visually-hidden");
        set(&input, "type", "file");
        set(&input, "accept", "image/*");
        set(&input, "data-testid", "attach");
        set(&input, "aria-label", attach);
        // A plus, as messaging apps show it: every font has the glyph (an emoji may not).
        let icon = add_element(&label, "span", "");
        set(&icon, "aria-hidden", "true");
        add_text(&icon, "+");
        let chosen = input.clone().unchecked_into::<HtmlInputElement>();
        let mut drawing = Drawing::new(label);
        let page: &JsValue = &window();
        for name in ["paste", "drop", "dragover"] {
            let take = move |ev: JsValue| {
                let ev: &web_sys::Event = ev.unchecked_ref();
                if name == "dragover" {
                    ev.prevent_default(); // Else the browser refuses the drop.
                } else if let Some(files) = files_of(ev) {
                    ev.prevent_default();
                    upload_all(client, Some(files));
                }
            };
            drawing = drawing.on(page.unchecked_ref(), name, Box::new(take));
        }
        drawing.on(
            &input,
            "change",
            Box::new(move |_| {
                upload_all(client, chosen.files());
                // The same picture may be chosen again.
                chosen.set_value("");
            }),
        )
    })
}
