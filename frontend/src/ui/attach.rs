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
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Blob, DataTransfer, Event, FileList, ProgressEvent, XmlHttpRequest};

use super::{Ctx, ctx, handler};
use crate::client::Client;

thread_local! {
    /// The server's HTTP origin (the app's socket's), set by the [`App`](super::App).
    static BASE: RefCell<String> = const { RefCell::new(String::new()) };
    /// The files of uploads that have not succeeded yet, by `cid`, for a retry.
    static FILES: RefCell<Vec<(String, Blob)>> = const { RefCell::new(Vec::new()) };
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
                FILES.with(|f| f.borrow_mut().push((cid.clone(), file.clone())));
                send(client, cid, &file);
            }
        }
    }
}

/// Tries the upload of `cid` again.
pub fn retry(client: Client, cid: &str) {
    if let Some(file) = FILES.with(|f| f.borrow().iter().find(|(c, _)| c == cid).map(|(_, b)| b.clone())) {
        client.retry_upload(cid);
        send(client, cid.to_owned(), &file);
    }
}

/// Why an upload answered `status` failed, for the user.
fn failure(status: u16) -> &'static str {
    match status {
        401 => "not connected",
        413 => "too big",
        415 => "not a GIF, PNG, JPEG or WebP picture",
        429 | 503 => "too many at once",
        _ => "the upload failed",
    }
}

fn send(client: Client, cid: String, file: &Blob) {
    let Ok(xhr) = XmlHttpRequest::new() else { return };
    let url = media_url("/api/media");
    let opened = xhr.open("POST", &url).and_then(|()| {
        xhr.set_request_header("Authorization", &format!("Bearer {}", client.token().unwrap_or_default()))
    });
    if opened.is_err() {
        client.upload_failed(&cid, failure(0));
        return;
    }
    if let Ok(upload) = xhr.upload() {
        let id = cid.clone();
        let progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |e: ProgressEvent| {
            if e.length_computable() && e.total() > 0.0 {
                // Whole tens: each step redraws the line.
                let tens = (e.loaded() / e.total() * 10.0) as u8 * 10;
                client.upload_progress(&id, tens);
            }
        });
        upload.set_onprogress(Some(progress.into_js_value().unchecked_ref()));
    }
    let done = xhr.clone();
    let ended = Closure::once_into_js(move || {
        let status = done.status().unwrap_or(0);
        let answer = done.response_text().ok().flatten().and_then(|t| js_sys::JSON::parse(&t).ok());
        let url = answer.and_then(|a| js_sys::Reflect::get(&a, &"url".into()).ok()?.as_string());
        match url.filter(|_| status == 201) {
            Some(url) => {
                FILES.with(|f| f.borrow_mut().retain(|(c, _)| *c != cid));
                client.uploaded(&cid, url);
            }
            None => client.upload_failed(&cid, failure(status)),
        }
    });
    xhr.set_onloadend(Some(ended.unchecked_ref()));
    if xhr.send_with_opt_blob(Some(file)).is_err() {
        // `loadend` reports it.
    }
}

/// The files an event carries: a paste's clipboard or a drop's data.
fn files_of(ev: &Event) -> Option<FileList> {
    let data = js_sys::Reflect::get(ev, &if ev.type_() == "paste" { "clipboardData" } else { "dataTransfer" }.into())
        .ok()?
        .dyn_into::<DataTransfer>()
        .ok()?;
    data.files().filter(|f| f.length() > 0)
}

/// The attach button, and the page's paste and drop of pictures.
#[component]
pub fn Attach() -> impl IntoView {
    let Ctx { client, .. } = ctx();
    // Pictures pasted or dropped anywhere on the page go to the room shown. Text pasted
    // into the field stays the field's: only an event that carries files is taken.
    for name in ["paste", "drop", "dragover"] {
        let listener = window_event_listener_untyped(name, move |ev| {
            if name == "dragover" {
                ev.prevent_default(); // Else the browser refuses the drop.
            } else if let Some(files) = files_of(&ev) {
                ev.prevent_default();
                upload_all(client, Some(files));
            }
        });
        on_cleanup(move || listener.remove());
    }
    let on_change = move |ev: Event| {
        if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
            upload_all(client, input.files());
            // The same picture may be chosen again.
            input.set_value("");
        }
    };
    view! {
        <label class="attach" title="Attach a picture">
            <input
                type="file"
                accept="image/*"
                class="visually-hidden"
                data-testid="attach"
                aria-label="Attach a picture"
                on:change=handler(on_change)
            />
            <span aria-hidden="true">"📎"</span>
        </label>
    }
}
