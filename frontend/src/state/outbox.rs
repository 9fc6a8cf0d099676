//! What this user said that the server has not acknowledged yet, and what happens to it:
//! sent when its room is joined, re-sent with the same `cid` after a reconnect (the
//! server turns a repeat into a no-op), retried after `rate_limited`, failed for good on
//! any other refusal, and gone once its echo (or a page of history holding it) arrives.
//!
//! A picture is a message too: it waits here from the start of its upload (with its
//! progress; nothing is sent until the server has the file and gave its URL), then as a
//! `say` with that `image` like any other. A failed upload waits for the user's retry.
//!
//! The [`Outbox`] only records; whether a frame can go out now (connected, room joined)
//! is the caller's to say.

use std::fmt;

use common::{ChatMessage, ClientMsg, ErrorCode, Text};

use crate::words::{fill, words};

/// At most this many messages wait for the server's echo; further `say`s are refused
/// until the connection drains them.
pub const MAX_OUTBOX: usize = 100;
/// A `say` refused as `rate_limited` is sent again after this long, with the same `cid`.
pub const RETRY_MS: f64 = 1000.0;

/// Where a `say` the server has not echoed yet stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Sent, or waiting for the room to be (re)joined to be sent.
    Sending,
    /// Refused as `rate_limited`: sent again at this time (ms).
    RetryAt(f64),
    /// Refused for good (`invalid`): shown with the server's reason, never re-sent.
    Failed(String),
}

/// A `say` the server has not echoed yet; re-sent with the same `cid` after a reconnect,
/// which the server turns into a no-op if it had stored it already.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub room: String,
    pub text: String,
    pub cid: String,
    pub delivery: Delivery,
    /// A picture: what shows it here (the local file's `blob:` URL until the server's
    /// `/media/...` URL is known), and the server's URL once uploaded.
    pub preview: Option<String>,
    pub image: Option<String>,
    /// While its picture is being uploaded: how much of it went (percent).
    pub progress: Option<u8>,
    /// The message it answers.
    pub reply_to: Option<u64>,
}

impl Pending {
    /// The `say` that sends it; none while its picture is not uploaded.
    pub(super) fn frame(&self) -> Option<ClientMsg> {
        (self.preview.is_none() || self.image.is_some()).then(|| ClientMsg::Say {
            room: self.room.clone(),
            text: self.text.clone(),
            cid: self.cid.clone(),
            image: self.image.clone(),
            reply_to: self.reply_to,
        })
    }

    fn failed(&self) -> bool {
        matches!(self.delivery, Delivery::Failed(_))
    }
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SayError {
    /// Nothing but whitespace: silently not sent.
    Empty,
    /// Over the protocol's limit; `chars` is how many the user typed.
    TooLong { chars: usize },
    /// Refused for another reason (control characters), as a sentence.
    Invalid(String),
    /// Too many messages are still waiting for the server.
    OutboxFull,
}

impl fmt::Display for SayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = words();
        match self {
            Self::Empty => f.write_str(w.empty),
            Self::TooLong { chars } => {
                f.write_str(&fill(w.too_long, &[("n", &chars.to_string()), ("max", &Text::MAX.to_string())]))
            }
            Self::Invalid(why) => f.write_str(&fill(w.cannot_send, &[("why", why)])),
            Self::OutboxFull => f.write_str(w.outbox_full),
        }
    }
}

/// The messages sent and not yet echoed, oldest first. Bounded by [`MAX_OUTBOX`] (failed
/// ones aside: they stay until the user discards them).
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    pub(super) items: Vec<Pending>,
}

impl Outbox {
    /// [`MAX_OUTBOX`] messages are waiting: a new one must be refused.
    pub(super) fn is_full(&self) -> bool {
        self.items.iter().filter(|p| !p.failed()).count() >= MAX_OUTBOX
    }

    /// Records a new message (the caller checked [`Outbox::is_full`]).
    pub(super) fn push(&mut self, pending: Pending) {
        self.items.push(pending);
    }

    /// Whether `cid` is one of ours, still waiting: its echo is our own message.
    pub(super) fn holds(&self, cid: &str) -> bool {
        self.items.iter().any(|p| p.cid == cid)
    }

    /// The server has stored the message `cid`: it no longer waits.
    pub(super) fn acknowledge(&mut self, cid: &str) {
        self.items.retain(|p| p.cid != cid);
    }

    /// The messages of `page` that are ours were stored, whatever happened to their echo.
    pub(super) fn acknowledge_page(&mut self, page: &[ChatMessage]) {
        self.items.retain(|p| !page.iter().any(|m| m.cid.as_deref() == Some(p.cid.as_str())));
    }

    pub(super) fn get_mut(&mut self, cid: &str) -> Option<&mut Pending> {
        self.items.iter_mut().find(|p| p.cid == cid)
    }

    /// Forgets a message the server refused for good; a waiting one stays.
    pub(super) fn discard(&mut self, cid: &str) {
        self.items.retain(|p| p.cid != cid || !p.failed());
    }

    /// Forgets everything waiting to be said in `room` (it was left).
    pub(super) fn forget_room(&mut self, room: &str) {
        self.items.retain(|p| p.room != room);
    }

    /// The server refused `cid` with `code`: retried after [`RETRY_MS`] if it was only
    /// `rate_limited` or `unavailable` (nothing was stored; the same `cid` is safe to send
    /// again), failed with the server's `message` otherwise.
    pub(super) fn refused(&mut self, cid: &str, code: ErrorCode, message: String, now_ms: f64) {
        if let Some(pending) = self.items.iter_mut().find(|p| p.cid == cid) {
            pending.delivery = match code {
                ErrorCode::RateLimited | ErrorCode::Unavailable => Delivery::RetryAt(now_ms + RETRY_MS),
                _ => Delivery::Failed(message),
            };
        }
    }

    /// `room` was (re)joined on a new connection: every message of it that has not failed
    /// goes out now with its first `cid` (one waiting out `rate_limited` too). `online`
    /// false only marks them as sending, for the next `joined`.
    pub(super) fn resend(&mut self, room: &str, online: bool) -> Vec<ClientMsg> {
        let mut frames = Vec::new();
        for pending in self.items.iter_mut().filter(|p| p.room == room && !p.failed()) {
            if pending.progress.is_some() {
                continue; // Still uploading: said once the picture is up.
            }
            pending.delivery = Delivery::Sending;
            if online {
                frames.extend(pending.frame());
            }
        }
        frames
    }

    /// When the next refused message is due to be sent again (ms), if any is.
    pub(super) fn next_retry(&self) -> Option<f64> {
        self.items
            .iter()
            .filter_map(|p| match p.delivery {
                Delivery::RetryAt(at) => Some(at),
                _ => None,
            })
            .reduce(f64::min)
    }

    /// The retries due at `now_ms`, as frames for those whose room `can_send` says can
    /// take them now; the others wait for their room's next `joined`.
    pub(super) fn due(&mut self, now_ms: f64, can_send: impl Fn(&str) -> bool) -> Vec<ClientMsg> {
        let mut frames = Vec::new();
        for pending in &mut self.items {
            if let Delivery::RetryAt(at) = pending.delivery
                && at <= now_ms
            {
                pending.delivery = Delivery::Sending;
                if can_send(&pending.room) {
                    frames.extend(pending.frame());
                }
            }
        }
        frames
    }

    /// The messages waiting in `room`, oldest first.
    pub(super) fn in_room<'a>(&'a self, room: &'a str) -> impl Iterator<Item = &'a Pending> + 'a {
        self.items.iter().filter(move |p| p.room == room)
    }
}
