//! The HTTP way to the server in the browser, for networks that refuse WebSockets: the
//! server's frames on an event stream (the browser's `EventSource`), the app's frames up
//! in `POST`s (`XMLHttpRequest`, whose bindings the picture upload links already; gloo's
//! `eventsource` wrapper and `fetch` would each add their own).
//!
//! [`Stream`] is polled by the socket task like the WebSocket: [`Stream::poll_event`]
//! gives the next [`Event`] and, on the way, posts what is queued, one `POST` at a time,
//! numbered and retried by [`Posts`]. It decides nothing about the chat; what to do with
//! an answer is [`Posts::answered`]'s.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::FutureExt;
use gloo_timers::future::TimeoutFuture;
use leptos::logging::warn;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::JsValue;
use web_sys::{EventSource, XmlHttpRequest};

use crate::transport::{Answer, Posts};

/// Events the browser delivered that the task has not taken yet. The task takes them as
/// they come, so this only fills when it is starved; then the stream is ended, and the
/// app opens a new one with its resume token and rejoins with `join.after`, losing nothing.
const INBOX: usize = 512;
/// A `POST` that got no answer (or `429`, or a proxy's error) is sent again after this.
const RETRY_MS: u32 = 1_000;

/// What the stream brought.
#[derive(Debug)]
pub enum Event {
    /// The `stream` event: the stream is open (its id is kept for the posts).
    Opened,
    /// A server frame's JSON.
    Frame(String),
    Heartbeat,
    /// The server ended the stream with this close code; [`Event::Ended`] follows.
    /// The close's code, and whether its reason says it is a ban.
    Closed(u16, bool),
    /// The stream failed or ended (`EventSource` would reconnect without the resume
    /// token, so it is closed instead), or a `POST` found it gone.
    Ended,
}

/// What the browser's callbacks share with the task.
#[derive(Default)]
struct Shared {
    inbox: VecDeque<Event>,
    /// The id of the stream, from its first event.
    id: Option<String>,
    /// The status of the `POST` in flight, once it ended (0: no answer).
    answered: Option<u16>,
    waker: Option<Waker>,
}

impl Shared {
    fn push(&mut self, event: Event) {
        if self.inbox.len() < INBOX {
            self.inbox.push_back(event);
        } else {
            self.inbox.clear();
            self.inbox.push_back(Event::Ended);
        }
    }
}

/// Runs `f` on the shared state, then wakes the task (after the borrow ends).
fn touch(shared: &RefCell<Shared>, f: impl FnOnce(&mut Shared)) {
    let waker = {
        let mut s = shared.borrow_mut();
        f(&mut s);
        s.waker.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

type Listener = Closure<dyn FnMut(JsValue)>;

/// A field of a JSON object given as text (an event's `data`).
fn field(json: &str, key: &str) -> Option<JsValue> {
    let v = js_sys::JSON::parse(json).ok()?;
    js_sys::Reflect::get(&v, &key.into()).ok()
}

fn data_of(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"data".into()).ok().and_then(|d| d.as_string()).unwrap_or_default()
}

/// One stream and its posts.
pub struct Stream {
    source: EventSource,
    shared: Rc<RefCell<Shared>>,
    /// The stream's listeners, alive as long as it is.
    listeners: Vec<Listener>,
    /// Every post's `loadend` listener: it reads the status from the event's target.
    on_posted: Listener,
    /// `http://host` of the server.
    base: String,
    /// The resume token: the posts' credential, from `welcome`.
    token: Option<String>,
    posts: Posts,
    post: Option<XmlHttpRequest>,
    retry: Option<TimeoutFuture>,
    ended: bool,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("base", &self.base).field("posts", &self.posts).finish()
    }
}

impl Stream {
    /// Opens the stream at `base` (`http://host`), resuming with `resume`, asking for
    /// protocol version 2. Its events start coming at once; the first is [`Event::Opened`].
    pub fn open(base: &str, resume: Option<&str>) -> Option<Self> {
        let mut url = format!("{base}/http/stream?v=2");
        if let Some(token) = resume {
            url.push_str("&resume=");
            url.push_str(&String::from(js_sys::encode_uri_component(token)));
        }
        let source = match EventSource::new(&url) {
            Ok(s) => s,
            Err(e) => {
                warn!("chat: cannot open {url}: {e:?}");
                return None;
            }
        };
        let shared = Rc::new(RefCell::new(Shared::default()));
        let on_posted: Listener = Closure::new({
            let shared = shared.clone();
            move |e: JsValue| {
                let status = js_sys::Reflect::get(&e, &"target".into())
                    .ok()
                    .map_or(0, |t| t.unchecked_into::<XmlHttpRequest>().status().unwrap_or(0));
                touch(&shared, |s| s.answered = Some(status));
            }
        });
        let mut stream = Self {
            source,
            shared,
            listeners: Vec::new(),
            on_posted,
            base: base.to_owned(),
            token: None,
            posts: Posts::default(),
            post: None,
            retry: None,
            ended: false,
        };
        stream.listen("message", |s, e| s.push(Event::Frame(data_of(&e))));
        stream.listen("heartbeat", |s, _| s.push(Event::Heartbeat));
        stream.listen("stream", |s, e| {
            s.id = field(&data_of(&e), "stream").and_then(|id| id.as_string());
            s.push(Event::Opened);
        });
        stream.listen("close", |s, e| {
            let data = data_of(&e);
            let code = field(&data, "code").and_then(|c| c.as_f64()).unwrap_or(0.0);
            let reason = field(&data, "reason").and_then(|r| r.as_string()).unwrap_or_default();
            s.push(Event::Closed(code as u16, banned(&reason)));
        });
        stream.listen("error", |s, _| s.push(Event::Ended));
        Some(stream)
    }

    fn listen(&mut self, event: &str, on: fn(&mut Shared, JsValue)) {
        let shared = self.shared.clone();
        let listener: Listener = Closure::new(move |e| touch(&shared, |s| on(s, e)));
        if self.source.add_event_listener_with_callback(event, listener.as_ref().unchecked_ref()).is_ok() {
            self.listeners.push(listener);
        }
    }

    /// `welcome` named the resume token: posts may go out.
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    /// Queues a frame's JSON for the next `POST`; `poll_event` sends it.
    pub fn send(&mut self, frame: String) {
        if !self.posts.push(frame) {
            warn!("chat: frame dropped, the posts are behind");
        }
    }

    /// The stream ended, as far as the browser knows (it may also have been cut without
    /// a word: see `transport::STREAM_SILENT_MS`).
    pub fn is_closed(&self) -> bool {
        self.ended || self.source.ready_state() == EventSource::CLOSED
    }

    /// The next event, posting what is queued on the way.
    pub fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if self.ended {
            return Poll::Pending;
        }
        self.shared.borrow_mut().waker = Some(cx.waker().clone());
        let answered = self.shared.borrow_mut().answered.take();
        if let Some(status) = answered {
            self.post = None;
            match self.posts.answered(status) {
                Answer::Next => {}
                Answer::Retry => self.retry = Some(TimeoutFuture::new(RETRY_MS)),
                Answer::Reopen => return self.end(),
                Answer::Dropped => warn!("chat: the server refused a post ({status})"),
            }
        }
        if self.retry.as_mut().is_some_and(|r| r.poll_unpin(cx).is_ready()) {
            self.retry = None;
        }
        if self.post.is_none() && self.retry.is_none() {
            self.post_next();
        }
        let event = self.shared.borrow_mut().inbox.pop_front();
        match event {
            Some(Event::Ended) => self.end(),
            Some(event) => Poll::Ready(event),
            None => Poll::Pending,
        }
    }

    fn end(&mut self) -> Poll<Event> {
        self.ended = true;
        self.source.close();
        Poll::Ready(Event::Ended)
    }

    /// Posts the next batch (or the one in flight again), if the stream's id and the
    /// token are known.
    fn post_next(&mut self) {
        let id = self.shared.borrow().id.clone();
        let (Some(id), Some(token)) = (id, self.token.as_deref()) else { return };
        let Some(batch) = self.posts.to_post() else { return };
        let Ok(xhr) = XmlHttpRequest::new() else { return };
        let url = format!("{}/http/send?stream={id}&seq={}", self.base, batch.seq);
        let opened = xhr.open("POST", &url).and_then(|()| {
            xhr.set_request_header("Authorization", &format!("Bearer {token}"))?;
            xhr.set_request_header("Content-Type", "application/json")
        });
        if opened.is_err() {
            return;
        }
        if xhr.add_event_listener_with_callback("loadend", self.on_posted.as_ref().unchecked_ref()).is_err() {
            return;
        }
        // A failure to send is reported by `loadend` too.
        let _ = xhr.send_with_opt_str(Some(&batch.body));
        self.post = Some(xhr);
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.source.close();
        if let Some(xhr) = self.post.take() {
            // Its `loadend` comes now, while the listener still lives.
            let _ = xhr.abort();
        }
    }
}

/// Whether a close's reason says it is a ban (`docs/protocol.md`: close 4001 with a reason
/// starting "banned"), rather than a kick.
pub fn banned(reason: &str) -> bool {
    reason.starts_with("banned")
}
