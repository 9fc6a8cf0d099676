//! The one connection to the server and the task that keeps it alive: a WebSocket
//! (gloo-net), or, where the network refuses WebSockets, the server's event stream with
//! the app's frames in `POST`s ([`http`]).
//!
//! [`start`] spawns a task that connects, feeds every decoded frame to
//! [`Chat::apply`](crate::state::Chat::apply), sends back what it answers, and on a close
//! or an error waits (exponential backoff with jitter, counted down each second in the
//! status) before connecting again, with the resume token of the last `welcome` so the
//! server knows it is the same client. The browser's `offline` event shows "Offline" and
//! parks the task once the socket is gone; `online` connects again at once (on a fresh
//! socket: the network changed); `visibilitychange` cuts a wait short. While connected it
//! also wakes the chat at [`Chat::next_deadline`] (typing indicators expire, refused
//! messages are retried) and sends what [`Chat::tick`] answers. The task ends when the
//! reactive owner that started it is cleaned up (the app is unmounted).
//!
//! Which way it connects is [`Choice`]'s: the WebSocket first; when it fails or says no
//! `welcome` within [`WELCOME_WITHIN_MS`], the stream at once (no backoff: the server is
//! there, the way is not). The choice is kept in `sessionStorage` for the tab. Over the
//! stream, `visibilitychange` and `pageshow` also reconnect at once when the stream was
//! cut while the page was hidden, which iOS does without an `error` event.
//!
//! This module must not decide what to send: the frames come from [`Chat`] (what to
//! replay after a reconnect) or from the [`Link`] (what the user just did). It never
//! touches the DOM beyond reading the browser's network and visibility state. Frames are
//! converted to and from JSON text by [`wire`], with `common`'s serde derive.

mod http;
mod wire;

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::channel::{mpsc, oneshot};
use futures::future;
use futures::stream::FusedStream;
use futures::{FutureExt, Sink, SinkExt, StreamExt};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, State, WebSocketError};
use gloo_timers::future::TimeoutFuture;
use leptos::logging::{log, warn};
use leptos::prelude::*;

use crate::backoff::{Backoff, seconds_left};
use crate::state::{Chat, Status};
use crate::storage;
use crate::transport::{Choice, STREAM_SILENT_MS, Transport, WELCOME_WITHIN_MS};
use common::{ClientMsg, ServerMsg};

/// Frames from the user waiting for the socket task. The task drains it at once while
/// connected, so it only fills if the task is starved; a full queue drops the frame,
/// which loses nothing for good: the [`Chat`] keeps every `say` in its outbox and the nick
/// request, and replays them after the next `welcome`.
const OUTGOING_CAPACITY: usize = 64;
/// A stream that has neither opened nor failed by then is abandoned.
const CONNECT_TIMEOUT_MS: u32 = 10_000;

/// The connection, whichever way it goes.
enum Conn {
    Ws(WebSocket),
    Http(http::Stream),
}

/// What came from the connection.
enum Incoming {
    /// A server frame's JSON.
    Text(String),
    /// The stream's heartbeat (or its opening): the server is there.
    Heard,
    /// The server closed the connection with this code (and a ban's reason, or not); the
    /// end follows.
    Closed(u16, bool),
    /// Nothing to act on (an `error` event before the close, a binary frame).
    Ignored,
    /// The connection is gone.
    End,
}

impl Conn {
    fn transport(&self) -> Transport {
        match self {
            Self::Ws(_) => Transport::WebSocket,
            Self::Http(_) => Transport::Http,
        }
    }

    fn poll_incoming(&mut self, cx: &mut Context<'_>) -> Poll<Incoming> {
        match self {
            Self::Ws(ws) => ws.poll_next_unpin(cx).map(|frame| match frame {
                Some(Ok(Message::Text(text))) => Incoming::Text(text),
                Some(Ok(Message::Bytes(_))) => {
                    warn!("chat: ignored a binary frame");
                    Incoming::Ignored
                }
                // An `error` event; the `close` event follows.
                Some(Err(WebSocketError::ConnectionError)) => {
                    log!("chat: socket error");
                    Incoming::Ignored
                }
                Some(Err(WebSocketError::ConnectionClose(e))) => {
                    log!("chat: socket closed ({} {})", e.code, e.reason);
                    Incoming::Closed(e.code, http::banned(&e.reason))
                }
                Some(Err(e)) => {
                    log!("chat: socket: {e}");
                    Incoming::Ignored
                }
                None => Incoming::End,
            }),
            Self::Http(stream) => stream.poll_event(cx).map(|event| match event {
                http::Event::Frame(text) => Incoming::Text(text),
                http::Event::Opened | http::Event::Heartbeat => Incoming::Heard,
                http::Event::Closed(code, banned) => {
                    log!("chat: stream closed ({code})");
                    Incoming::Closed(code, banned)
                }
                http::Event::Ended => Incoming::End,
            }),
        }
    }

    /// Hands a frame over: gloo passes it to the browser at once; the stream posts it.
    fn send(&mut self, frame: &ClientMsg) {
        match self {
            Self::Ws(ws) => {
                if let Err(e) = Pin::new(ws).start_send(Message::Text(wire::encode(frame))) {
                    // The socket is closing; its `close` event ends the session and the
                    // chat replays what matters after the reconnect.
                    warn!("chat: send failed: {e}");
                }
            }
            Self::Http(stream) => stream.send(wire::encode(frame)),
        }
    }

    /// Closes the connection (only a courtesy to a server that may be gone).
    fn close(self) {
        match self {
            Self::Ws(ws) => {
                let _ = ws.close(None, None);
            }
            // Dropping the stream closes it.
            Self::Http(_) => {}
        }
    }
}

/// How a connection ended.
enum End {
    /// The socket closed or failed: wait, then try again.
    Closed,
    /// The server fell silent: close the socket (only a courtesy to a server that may be
    /// gone), wait, then try again.
    Silent,
    /// The socket closed while the browser was offline: wait for the network.
    Offline,
    /// The network is back: the old socket is likely dead (or bound to the old network),
    /// so connect again at once. The old socket is kept open until the new one is: the
    /// server then hands our nick over to the new connection (resume token) instead of
    /// freeing it when the old one closes.
    Renew,
    /// The WebSocket opened but said no `welcome` in time: try the stream at once.
    NoWelcome,
    /// The operator took this client off the server (close 4001): it must not come back
    /// by itself; the person reloads the page if they want to. The status to show:
    /// [`Status::Removed`], or [`Status::Banned`] for a ban.
    Removed(Status),
    /// The app is gone: the task ends.
    Gone,
}

/// Why the task woke up besides the socket itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// The browser is online again: try now, on a fresh connection.
    Online,
    /// The page became visible again: if waiting to reconnect, try now.
    Visible,
    /// The browser went offline.
    Offline,
}

/// The sending end of the socket task, for the views' commands.
#[derive(Debug)]
pub struct Link {
    tx: mpsc::Sender<ClientMsg>,
}

impl Link {
    /// Queues a frame for the socket. Never blocks; see [`OUTGOING_CAPACITY`] for when the
    /// queue is full.
    pub fn send(&mut self, frame: ClientMsg) {
        if let Err(e) = self.tx.try_send(frame) {
            warn!("chat: frame dropped, the socket task is behind or gone: {e}");
        }
    }
}

/// Starts the socket task for `url`, writing into `chat`. Must be called inside a
/// reactive owner (a component): the task and its browser listeners end with it.
pub fn start(url: String, chat: RwSignal<Chat>) -> Link {
    let (tx, outgoing) = mpsc::channel(OUTGOING_CAPACITY);
    // Two pending wake-ups are as good as many (the task acts on the latest state of the
    // browser): when the queue is full, newer ones are dropped.
    let (wake_tx, wakes) = mpsc::channel(1);
    let (stop, stopped) = oneshot::channel::<()>();

    let wake_tx = Rc::new(RefCell::new(wake_tx));
    let wake = move |why: Wake| {
        // Full or closed are both fine: a wake-up is pending, or nobody listens anymore.
        let _ = wake_tx.borrow_mut().try_send(why);
    };
    let online = window_event_listener(leptos::ev::online, {
        let wake = wake.clone();
        move |_| wake(Wake::Online)
    });
    let offline = window_event_listener(leptos::ev::offline, {
        let wake = wake.clone();
        move |_| wake(Wake::Offline)
    });
    // `visibilitychange` is fired at the document and bubbles up to the window.
    let visible = window_event_listener_untyped("visibilitychange", {
        let wake = wake.clone();
        move |_| {
            if document().visibility_state() == web_sys::VisibilityState::Visible {
                wake(Wake::Visible);
            }
        }
    });
    // A page back from the browser's back-forward cache (or thawed on iOS) gets `pageshow`.
    let shown = window_event_listener_untyped("pageshow", move |_| wake(Wake::Visible));
    on_cleanup(move || {
        online.remove();
        offline.remove();
        visible.remove();
        shown.remove();
        // Dropping `stop` ends the task at its next await, which closes the socket.
        drop(stop);
    });

    leptos::task::spawn_local(async move {
        let run = Box::pin(run(url, chat, outgoing, wakes));
        // `stopped` first: once the owner is gone, the task must not touch `chat` again.
        future::select(stopped, run).await;
    });
    Link { tx }
}

/// Writes into the chat; `None` if it was disposed (the app is being unmounted).
fn update<R>(chat: RwSignal<Chat>, f: impl FnOnce(&mut Chat) -> R) -> Option<R> {
    chat.try_update(f)
}

fn set_status(chat: RwSignal<Chat>, status: Status) {
    update(chat, |c| {
        if c.status() != status {
            c.set_status(status);
        }
    });
}

fn browser_online() -> bool {
    window().navigator().on_line()
}

/// The task's life: connect, talk, wait, again.
async fn run(
    url: String,
    chat: RwSignal<Chat>,
    mut outgoing: mpsc::Receiver<ClientMsg>,
    mut wakes: mpsc::Receiver<Wake>,
) {
    let mut backoff = Backoff::default();
    // Trust the browser's `offline` event even where `navigator.onLine` lags behind it;
    // the `online` event (or the page becoming visible while online) ends it.
    let mut offline = !browser_online();
    // A connection being replaced, kept open until its successor has connected.
    let mut replaced: Option<Conn> = None;
    let mut choice = storage::load_choice();
    // The WebSocket opened but said nothing: the next attempt goes straight to the stream.
    let mut no_welcome = false;
    loop {
        if offline {
            set_status(chat, Status::Offline);
            loop {
                match wakes.next().await {
                    Some(Wake::Online) => break,
                    Some(Wake::Visible) if browser_online() => break,
                    Some(_) => {}
                    None => return,
                }
            }
        }
        set_status(chat, Status::Connecting);
        let Some(resume) = chat.try_with_untracked(|c| c.resume().map(str::to_owned)) else {
            return;
        };
        let started = js_sys::Date::now();
        let mut connected = None;
        if !std::mem::take(&mut no_welcome) && choice.first(started) == Transport::WebSocket {
            let target = match &resume {
                Some(token) => format!("{url}?resume={}", js_sys::encode_uri_component(token)),
                None => url.clone(),
            };
            connected = connect(&target).await.map(Conn::Ws);
        }
        if connected.is_none() {
            connected = open_stream(&crate::http_base(&url), resume.as_deref()).await.map(Conn::Http);
        }
        drop(replaced.take());
        if let Some(mut conn) = connected {
            let (status, welcome_by) = match conn {
                Conn::Ws(_) => (Status::Connected, Some(started + f64::from(WELCOME_WITHIN_MS))),
                Conn::Http(_) => (Status::ConnectedHttp, None),
            };
            set_status(chat, status);
            let mut link = Talk { conn: &mut conn, chat, choice: &mut choice, backoff: &mut backoff };
            let end = link.talk(&mut outgoing, &mut wakes, welcome_by).await;
            update(chat, Chat::disconnected);
            match end {
                End::Closed => {}
                End::Silent => conn.close(),
                End::Offline => {
                    offline = true;
                    continue;
                }
                End::Renew => {
                    replaced = Some(conn);
                    continue;
                }
                End::NoWelcome => {
                    log!("chat: no welcome over the WebSocket; trying the stream");
                    conn.close();
                    no_welcome = true;
                    continue;
                }
                End::Removed(status) => {
                    set_status(chat, status);
                    return;
                }
                End::Gone => return,
            }
        }
        let delay = backoff.next_delay(js_sys::Math::random());
        offline = count_down(delay, chat, &mut wakes).await == Some(Wake::Offline);
    }
}

/// Opens the event stream and waits for its first event; `None` on `error` or timeout.
async fn open_stream(base: &str, resume: Option<&str>) -> Option<http::Stream> {
    let mut stream = http::Stream::open(base, resume)?;
    let mut timeout = TimeoutFuture::new(CONNECT_TIMEOUT_MS);
    let opened = future::poll_fn(|cx| match stream.poll_event(cx) {
        Poll::Ready(event) => Poll::Ready(matches!(event, http::Event::Opened)),
        Poll::Pending => timeout.poll_unpin(cx).map(|()| false),
    })
    .await;
    if opened {
        Some(stream)
    } else {
        log!("chat: could not open the stream at {base}");
        None
    }
}

/// Opens a socket and waits for its `open` event; `None` on `error`, `close` or when it
/// is not open within [`WELCOME_WITHIN_MS`] (the stream is tried then).
async fn connect(url: &str) -> Option<WebSocket> {
    // Offering `chat.v2` asks for version 2 (member pages, counted presence in big rooms);
    // a server that only speaks version 1 ignores the offer, and `welcome.protocol` says
    // which one this connection speaks.
    let mut ws = match WebSocket::open_with_protocol(url, common::v2::SUBPROTOCOL) {
        Ok(ws) => ws,
        Err(e) => {
            warn!("chat: cannot open {url}: {e}");
            return None;
        }
    };
    // gloo's sink is ready once the socket has left CONNECTING: on `open`, or on `error`.
    let mut timeout = TimeoutFuture::new(WELCOME_WITHIN_MS);
    let settled = future::poll_fn(|cx| {
        if ws.poll_ready_unpin(cx).is_ready() {
            Poll::Ready(true)
        } else {
            timeout.poll_unpin(cx).map(|()| false)
        }
    })
    .await;
    if !settled {
        log!("chat: connecting to {url} timed out");
        None
    } else if matches!(ws.state(), State::Open) {
        Some(ws)
    } else {
        log!("chat: could not connect to {url}");
        None
    }
}

/// Quiet this long (no frame at all), the app asks the server `ping`...
const SILENCE_MS: f64 = 20_000.0;
/// ...and reconnects when this long passes without an answer.
const PROBE_MS: f64 = 10_000.0;

/// What [`Talk::talk`] woke up for, looked at in this order: the connection first.
enum Event {
    Frame(Incoming),
    Outgoing(Option<ClientMsg>),
    Wake(Option<Wake>),
    Silence,
    Due,
    /// The WebSocket's time to say `welcome` ran out.
    NoWelcome,
}

/// A timer that fires one millisecond after `at` (ms since the epoch): late rather than
/// early, so that what it waits for is found due.
fn timer_until(at: f64) -> TimeoutFuture {
    TimeoutFuture::new((at - js_sys::Date::now()).max(0.0) as u32 + 1)
}

/// The next wake-up. Once the queue has ended (and said so once), it is never ready
/// again: the other events still count.
fn poll_wake(wakes: &mut mpsc::Receiver<Wake>, cx: &mut Context<'_>) -> Poll<Option<Wake>> {
    if wakes.is_terminated() { Poll::Pending } else { wakes.poll_next_unpin(cx) }
}

/// One open connection and what serving it touches.
struct Talk<'a> {
    conn: &'a mut Conn,
    chat: RwSignal<Chat>,
    choice: &'a mut Choice,
    backoff: &'a mut Backoff,
}

impl Talk<'_> {
    /// Serves an open connection until it closes, the network comes back after being
    /// offline, or the app is gone; a WebSocket also ends when it has said no `welcome` by
    /// `welcome_by`. While the browser says it is offline the connection is kept (it may
    /// well survive a short outage) and the status says "Offline".
    async fn talk(
        &mut self,
        outgoing: &mut mpsc::Receiver<ClientMsg>,
        wakes: &mut mpsc::Receiver<Wake>,
        welcome_by: Option<f64>,
    ) -> End {
        // Frames queued while disconnected are stale: the chat replays what still matters
        // once the server says `welcome`.
        while outgoing.try_recv().is_ok() {}
        let mut session =
            Session { offline: false, heard: js_sys::Date::now(), probing: false, welcome_by, removed: None };
        loop {
            let mut silence = timer_until(session.quiet_until());
            // The chat's next timed event, recomputed after every event: only frames
            // (typing, a refused `say`) and ticks create or move deadlines, and they all
            // pass here.
            let mut due = self.chat.try_with_untracked(Chat::next_deadline).flatten().map(timer_until);
            let mut no_welcome = session.welcome_by.map(timer_until);
            let conn = &mut *self.conn;
            let event = future::poll_fn(|cx| {
                if let Poll::Ready(frame) = conn.poll_incoming(cx) {
                    Poll::Ready(Event::Frame(frame))
                } else if let Poll::Ready(frame) = outgoing.poll_next_unpin(cx) {
                    Poll::Ready(Event::Outgoing(frame))
                } else if let Poll::Ready(wake) = poll_wake(wakes, cx) {
                    Poll::Ready(Event::Wake(wake))
                } else if silence.poll_unpin(cx).is_ready() {
                    Poll::Ready(Event::Silence)
                } else if due.as_mut().is_some_and(|due| due.poll_unpin(cx).is_ready()) {
                    Poll::Ready(Event::Due)
                } else if no_welcome.as_mut().is_some_and(|t| t.poll_unpin(cx).is_ready()) {
                    Poll::Ready(Event::NoWelcome)
                } else {
                    Poll::Pending
                }
            })
            .await;
            if let Some(end) = session.handle(event, self) {
                return end;
            }
        }
    }

    fn send(&mut self, frame: &ClientMsg) {
        self.conn.send(frame);
    }
}

/// What [`Talk::talk`] knows of its connection between events.
struct Session {
    /// The browser said it went offline.
    offline: bool,
    /// When the last frame arrived (ms since the epoch).
    heard: f64,
    /// A `ping` went out after a silence and is not answered yet.
    probing: bool,
    /// A WebSocket not welcomed yet: when its time runs out.
    welcome_by: Option<f64>,
    /// The server closed with 4001 (kicked or banned by the operator), over either
    /// transport: the status to show.
    removed: Option<Status>,
}

impl Session {
    /// Browsers answer the server's WebSocket pings without telling the page, so a dead
    /// connection (a phone that changed networks, a server that vanished) looks open.
    /// After SILENCE_MS without a frame the app asks `ping`; no answer in PROBE_MS more
    /// and it reconnects: a silent server is noticed within 30 s.
    fn quiet_until(&self) -> f64 {
        self.heard + if self.probing { SILENCE_MS + PROBE_MS } else { SILENCE_MS }
    }

    /// Acts on one event; `Some` ends the connection.
    fn handle(&mut self, event: Event, talk: &mut Talk<'_>) -> Option<End> {
        let chat = talk.chat;
        match event {
            Event::Frame(frame) => match frame {
                Incoming::Text(text) => {
                    self.heard = js_sys::Date::now();
                    self.probing = false;
                    let msg = decode(&text)?;
                    if let ServerMsg::Welcome { resume, .. } = &msg {
                        // The server speaks the protocol: this connection counts as a
                        // success, and the next failure waits only briefly again.
                        talk.backoff.reset();
                        self.welcome_by = None;
                        talk.choice.worked(talk.conn.transport(), self.heard);
                        storage::save_choice(talk.choice);
                        if let Conn::Http(stream) = &mut *talk.conn {
                            stream.set_token(resume.clone());
                        }
                    }
                    if let ServerMsg::You { nick } = &msg {
                        storage::save_nick(nick);
                    }
                    let now = js_sys::Date::now();
                    let Some(replies) = update(chat, |c| c.apply(msg, now)) else {
                        return Some(End::Gone);
                    };
                    for frame in replies {
                        talk.send(&frame);
                    }
                }
                Incoming::Heard => self.heard = js_sys::Date::now(),
                Incoming::Closed(code, banned) => {
                    if code == common::close::REPLACED {
                        // A newer connection took our resume token over: it must not be used again.
                        update(chat, Chat::forget_resume);
                    }
                    if code == common::close::KICKED {
                        self.removed = Some(if banned { Status::Banned } else { Status::Removed });
                    }
                }
                Incoming::Ignored => {}
                Incoming::End if self.removed.is_some() => {
                    return Some(End::Removed(self.removed.unwrap_or(Status::Removed)));
                }
                Incoming::End if self.offline => return Some(End::Offline),
                Incoming::End => return Some(End::Closed),
            },
            Event::Outgoing(frame) => match frame {
                Some(frame) => talk.send(&frame),
                // The link is gone with the app: nothing more to do.
                None => return Some(End::Gone),
            },
            Event::Wake(wake) => match wake {
                Some(Wake::Offline) => {
                    self.offline = true;
                    set_status(chat, Status::Offline);
                }
                Some(Wake::Online) => return Some(End::Renew),
                // Back in the foreground: a stream cut while the page was hidden (iOS
                // does it without an `error` event) is replaced at once.
                Some(Wake::Visible) => {
                    if let Conn::Http(stream) = &*talk.conn
                        && !self.offline
                        && (stream.is_closed() || js_sys::Date::now() - self.heard > STREAM_SILENT_MS)
                    {
                        log!("chat: the stream was cut while the page was hidden; reconnecting");
                        return Some(End::Renew);
                    }
                }
                None => {}
            },
            Event::Silence => {
                if !self.probing {
                    self.probing = true;
                    talk.send(&ClientMsg::Ping);
                    return None;
                }
                log!("chat: the server fell silent; reconnecting");
                return Some(End::Silent);
            }
            Event::Due => {
                let now = js_sys::Date::now();
                let Some(frames) = update(chat, |c| c.tick(now)) else {
                    return Some(End::Gone);
                };
                for frame in frames {
                    talk.send(&frame);
                }
            }
            Event::NoWelcome => return Some(End::NoWelcome),
        }
        None
    }
}

fn decode(text: &str) -> Option<ServerMsg> {
    let msg = wire::decode(text);
    if msg.is_none() {
        warn!("chat: ignored a frame that does not decode: {text}");
    }
    msg
}

/// Shows "Reconnecting in N s" for `delay_ms`, one step per second; ends early on a wake.
async fn count_down(delay_ms: f64, chat: RwSignal<Chat>, wakes: &mut mpsc::Receiver<Wake>) -> Option<Wake> {
    let mut remaining = delay_ms;
    while remaining > 0.0 {
        let secs = seconds_left(remaining);
        set_status(chat, Status::Reconnecting { secs });
        // Sleep to the next whole second of the count (or to the end).
        let step = (remaining - f64::from(secs - 1) * 1000.0).max(1.0);
        let mut sleep = TimeoutFuture::new(step as u32);
        let woken = future::poll_fn(|cx| match poll_wake(wakes, cx) {
            Poll::Ready(wake) => Poll::Ready(Some(wake)),
            Poll::Pending => sleep.poll_unpin(cx).map(|()| None),
        })
        .await;
        if let Some(wake) = woken {
            return wake;
        }
        remaining -= step;
    }
    None
}
