//! Which way the app reaches the server, and the bookkeeping of the plain-HTTP way, as
//! plain values: no browser API, no timer, no socket, so that the rules are tested on the
//! host (`cargo test -p frontend --lib`). The socket task does the waiting and the I/O.
//!
//! The app tries the WebSocket first. When the upgrade fails, or no `welcome` comes
//! within [`WELCOME_WITHIN_MS`], it opens the server's event stream and sends its frames
//! by `POST` instead (docs/protocol.md, "When a WebSocket cannot be opened"). [`Choice`]
//! remembers for the tab that the HTTP way worked, so that reconnects (and reloads of the
//! tab) do not wait for a WebSocket that will not come, and tries the WebSocket again
//! once the choice is an hour old; a new tab starts with the WebSocket. [`Posts`] turns
//! the frames to send into numbered batches, one `POST` in flight, a retry with the same
//! number, and says what each answer means.

use std::collections::VecDeque;

/// The WebSocket gets this long, from the attempt to the `welcome`, before the app falls
/// back to the stream.
pub const WELCOME_WITHIN_MS: u32 = 3_000;
/// A choice of HTTP holds this long; after it, a reconnect tries the WebSocket again (the
/// network may have changed: a phone leaving a hotel's Wi-Fi).
pub const RETRY_WEBSOCKET_AFTER_MS: f64 = 3_600_000.0;
/// The server sends an event at least every 15 s; a stream silent longer than this when
/// the page comes back to the foreground was cut while it was hidden (iOS ends a
/// suspended page's streams without telling it).
pub const STREAM_SILENT_MS: f64 = 20_000.0;
/// The `sessionStorage` key of the choice.
pub const CHOICE_KEY: &str = "chat.transport";

/// The most frames in one `POST`, and the most bytes in its body (the server's limits).
pub const POST_MAX_FRAMES: usize = 32;
pub const POST_MAX_BYTES: usize = 2 * common::MAX_FRAME_BYTES;
/// Frames waiting to be posted. The socket task hands frames over as the user acts and
/// a `POST` takes up to 32 at a time, so this only fills when the server stops answering;
/// a full queue drops the frame, which loses nothing for good: the chat keeps every `say`
/// in its outbox and replays it after the next `welcome`.
pub const POST_QUEUE: usize = 128;

/// How the app reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    /// The event stream down, `POST`s up.
    Http,
}

/// What the tab remembers of the way that worked: since when (ms since the epoch) the
/// HTTP way is the one, or nothing (the WebSocket).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Choice {
    http_since: Option<f64>,
}

impl Choice {
    /// The choice as stored (`"http:<seconds since the epoch>"`); anything else is no
    /// choice. Whole seconds in a `u32` (until 2106): the app formats and parses no wider
    /// numbers, whose code would cost the first load (bench/TUNING.md).
    pub fn parse(stored: Option<&str>) -> Self {
        let secs = stored.and_then(|s| s.strip_prefix("http:")).and_then(|s| s.parse::<u32>().ok());
        Self { http_since: secs.map(|s| f64::from(s) * 1000.0) }
    }

    /// What to store, or `None` to remove the key.
    pub fn stored(&self) -> Option<String> {
        self.http_since.map(|ms| format!("http:{}", (ms / 1000.0) as u32))
    }

    /// The way to try first at `now`.
    pub fn first(&self, now: f64) -> Transport {
        match self.http_since {
            Some(since) if now - since < RETRY_WEBSOCKET_AFTER_MS => Transport::Http,
            _ => Transport::WebSocket,
        }
    }

    /// A connection said `welcome` over `transport` at `now`. Choosing HTTP again after
    /// the WebSocket was retried in vain starts the hour again.
    pub fn worked(&mut self, transport: Transport, now: f64) {
        self.http_since = match transport {
            Transport::WebSocket => None,
            Transport::Http if self.first(now) == Transport::Http => self.http_since,
            Transport::Http => Some(now),
        };
    }
}

/// One `POST`: its number in the stream and its body, a JSON list of frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub seq: u32,
    pub body: String,
}

/// What an answer to a `POST` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Taken (or taken before: a retry): post the next batch, if any.
    Next,
    /// Not taken yet (no answer at all, `429`, a server or proxy error): send the same
    /// batch, with the same `seq`, again after a pause. The server applies it once.
    Retry,
    /// The stream is gone (`404`), or the server does not know this client's posts
    /// (`401`, `409`): open a new stream with the resume token, which loses nothing.
    Reopen,
    /// The server refused the batch for good (`400`, `413`: a bug of ours); it is
    /// dropped. The chat's outbox replays what matters after the next reconnect.
    Dropped,
}

/// The frames of one stream on their way up: queued, then posted in numbered batches,
/// one at a time.
#[derive(Debug, Default)]
pub struct Posts {
    queue: VecDeque<String>,
    in_flight: Option<Batch>,
    /// The `seq` of the last batch taken by the server (0: none yet).
    taken: u32,
}

impl Posts {
    /// Queues one frame's JSON. `false` when it was dropped: the queue is full, or the
    /// frame is larger than the server takes.
    pub fn push(&mut self, frame: String) -> bool {
        if self.queue.len() >= POST_QUEUE || frame.len() > common::MAX_FRAME_BYTES {
            return false;
        }
        self.queue.push_back(frame);
        true
    }

    /// A batch is posted and not answered yet.
    pub fn busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The batch to post now: the one in flight again (a retry), or, when none is, the
    /// next one made of what is queued (up to the server's limits). `None`: nothing to send.
    pub fn to_post(&mut self) -> Option<&Batch> {
        if self.in_flight.is_none() && !self.queue.is_empty() {
            let mut body = String::from("[");
            let mut frames = 0;
            while let Some(frame) = self.queue.front() {
                // The comma (or the opening bracket) and the closing bracket.
                if frames == POST_MAX_FRAMES || body.len() + frame.len() + 2 > POST_MAX_BYTES {
                    break;
                }
                if frames > 0 {
                    body.push(',');
                }
                body.push_str(frame);
                frames += 1;
                self.queue.pop_front();
            }
            body.push(']');
            self.in_flight = Some(Batch { seq: self.taken + 1, body });
        }
        self.in_flight.as_ref()
    }

    /// The server answered the batch in flight with `status` (0: no answer reached us).
    pub fn answered(&mut self, status: u16) -> Answer {
        let answer = match status {
            200..=299 => Answer::Next,
            404 | 401 | 409 => Answer::Reopen,
            400 | 403 | 413 => Answer::Dropped,
            _ => Answer::Retry,
        };
        match answer {
            Answer::Next => {
                self.taken += 1;
                self.in_flight = None;
            }
            // Numbers are per stream: a dropped batch's `seq` was not taken, so the next
            // batch carries it.
            Answer::Dropped => self.in_flight = None,
            Answer::Retry | Answer::Reopen => {}
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: f64 = RETRY_WEBSOCKET_AFTER_MS;

    #[test]
    fn a_new_tab_tries_the_websocket() {
        assert_eq!(Choice::parse(None).first(0.0), Transport::WebSocket);
        assert_eq!(Choice::parse(Some("websocket")).first(0.0), Transport::WebSocket);
        assert_eq!(Choice::parse(Some("http:nonsense")).first(0.0), Transport::WebSocket);
    }

    #[test]
    fn http_is_remembered_for_an_hour_then_the_websocket_is_tried_again() {
        let mut choice = Choice::default();
        choice.worked(Transport::Http, 1_765_000_000_000.0);
        let stored = choice.stored();
        assert_eq!(stored.as_deref(), Some("http:1765000000"));
        let choice = Choice::parse(stored.as_deref());
        let since = 1_765_000_000_000.0;
        assert_eq!(choice.first(since + HOUR - 1.0), Transport::Http, "a reconnect within the hour");
        assert_eq!(choice.first(since + HOUR), Transport::WebSocket, "a reconnect after an hour");
    }

    #[test]
    fn the_hour_starts_again_when_the_websocket_failed_again() {
        let mut choice = Choice::default();
        choice.worked(Transport::Http, 0.0);
        choice.worked(Transport::Http, 30_000.0);
        assert_eq!(choice.stored().as_deref(), Some("http:0"), "reconnects within the hour keep its start");
        choice.worked(Transport::Http, HOUR + 5.0);
        assert_eq!(choice.first(HOUR + 10.0), Transport::Http);
        assert_eq!(choice.first(2.0 * HOUR + 5.0), Transport::WebSocket);
    }

    #[test]
    fn a_websocket_that_works_ends_the_choice() {
        let mut choice = Choice::parse(Some("http:0"));
        choice.worked(Transport::WebSocket, HOUR + 1.0);
        assert_eq!(choice.stored(), None);
        assert_eq!(choice.first(HOUR + 2.0), Transport::WebSocket);
    }

    fn frame(i: usize) -> String {
        format!(r#"{{"type":"say","room":"lobby","text":"{i}"}}"#)
    }

    #[test]
    fn queued_frames_go_in_one_numbered_batch_one_post_at_a_time() {
        let mut posts = Posts::default();
        assert_eq!(posts.to_post(), None, "nothing to send");
        assert!(posts.push(frame(1)));
        assert!(posts.push(frame(2)));
        let first = posts.to_post().cloned().expect("a batch");
        assert_eq!(first.seq, 1);
        assert_eq!(first.body, format!("[{},{}]", frame(1), frame(2)));
        assert!(posts.push(frame(3)));
        assert_eq!(posts.to_post(), Some(&first), "one post in flight: the same batch until answered");
        assert_eq!(posts.answered(200), Answer::Next);
        assert!(!posts.busy());
        let second = posts.to_post().cloned().expect("the next batch");
        assert_eq!((second.seq, second.body), (2, format!("[{}]", frame(3))));
    }

    #[test]
    fn an_unanswered_post_is_sent_again_with_the_same_seq() {
        let mut posts = Posts::default();
        posts.push(frame(1));
        let sent = posts.to_post().cloned().expect("a batch");
        for status in [0, 429, 502, 503] {
            assert_eq!(posts.answered(status), Answer::Retry, "{status}");
            posts.push(frame(9));
            assert_eq!(posts.to_post(), Some(&sent), "after {status}: the same seq and body");
        }
        assert_eq!(posts.answered(200), Answer::Next);
        assert_eq!(posts.to_post().map(|b| b.seq), Some(2));
    }

    #[test]
    fn a_gone_stream_is_reopened_and_a_refused_batch_dropped() {
        let mut posts = Posts::default();
        posts.push(frame(1));
        posts.to_post();
        for status in [404, 401, 409] {
            assert_eq!(posts.answered(status), Answer::Reopen, "{status}");
        }
        assert_eq!(posts.answered(413), Answer::Dropped);
        assert!(!posts.busy());
        posts.push(frame(2));
        assert_eq!(posts.to_post().map(|b| b.seq), Some(1), "a dropped batch's seq was not taken");
    }

    #[test]
    fn batches_stay_within_the_servers_limits() {
        let mut posts = Posts::default();
        for i in 0..40 {
            assert!(posts.push(frame(i)));
        }
        let first = posts.to_post().cloned().expect("a batch");
        assert_eq!(first.body.matches(r#""type""#).count(), POST_MAX_FRAMES);
        posts.answered(200);
        assert_eq!(posts.to_post().map(|b| b.body.matches(r#""type""#).count()), Some(8));

        let mut posts = Posts::default();
        let big = format!(r#"{{"type":"say","room":"lobby","text":"{}"}}"#, "x".repeat(12_000));
        for _ in 0..3 {
            assert!(posts.push(big.clone()));
        }
        let body = posts.to_post().map(|b| b.body.clone()).expect("a batch");
        assert!(body.len() <= POST_MAX_BYTES, "{} bytes", body.len());
        assert_eq!(body.matches(r#""type""#).count(), 2);
        assert!(!posts.push("x".repeat(common::MAX_FRAME_BYTES + 1)), "the server would refuse it");
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut posts = Posts::default();
        for i in 0..POST_QUEUE {
            assert!(posts.push(frame(i)));
        }
        assert!(!posts.push(frame(0)), "full: dropped");
    }
}
