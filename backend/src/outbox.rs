//! The way everything reaches one connection: a bounded queue of encoded frames plus a
//! close signal. Only the connection's writer task touches the socket; the hub and the
//! session only push here.
//!
//! When the queue is full the client cannot keep up: rather than block the sender (which
//! would slow every other member of the room) or grow without bound, the connection is
//! told to close with `too_slow`; the client resumes with `join.after` and loses nothing.

use std::sync::{Arc, OnceLock};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, mpsc};

/// An encoded text frame. Cloning it shares the bytes: a broadcast is encoded once.
pub type Frame = Utf8Bytes;

/// Why the writer must close the socket.
#[derive(Debug, Clone)]
pub struct Close {
    pub code: u16,
    pub reason: &'static str,
    /// Sent just before the close frame, if any.
    pub last_frame: Option<Frame>,
}

#[derive(Debug, Default)]
pub struct CloseSignal {
    reason: OnceLock<Close>,
    notify: Notify,
}

impl CloseSignal {
    /// The first reason wins; later calls are ignored.
    pub fn close(&self, close: Close) {
        if self.reason.set(close).is_ok() {
            // Both the reader and the writer of the connection wait here: wake them all.
            self.notify.notify_waiters();
        }
    }

    /// Resolves once a close is requested, however many tasks wait on it.
    pub async fn closed(&self) -> &Close {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check: a close between the check and the await still
            // wakes us (notify_waiters only reaches waiters registered at that moment).
            notified.as_mut().enable();
            if let Some(c) = self.reason.get() {
                return c;
            }
            notified.await;
        }
    }
}

/// A cheap handle to one connection's queue.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Frame>,
    close: Arc<CloseSignal>,
}

/// What happened to a pushed frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// The queue was full: the connection is being closed as too slow.
    TooSlow,
    /// The connection is already gone; nothing to do.
    Gone,
}

impl Outbox {
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Frame>, Arc<CloseSignal>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let close = Arc::new(CloseSignal::default());
        (Self { tx, close: close.clone() }, rx, close)
    }

    /// Queues a frame without waiting. A full queue closes the connection as too slow.
    pub fn push(&self, frame: Frame) -> Pushed {
        match self.tx.try_send(frame) {
            Ok(()) => Pushed::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close.close(Close {
                    code: common::close::TRY_AGAIN_LATER,
                    reason: "too slow",
                    last_frame: Some(crate::error::too_slow_frame()),
                });
                Pushed::TooSlow
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Pushed::Gone,
        }
    }

    pub fn close(&self, close: Close) {
        self.close.close(close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_close_wakes_every_waiter() {
        let (outbox, _rx, signal) = Outbox::new(1);
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let s = signal.clone();
                tokio::spawn(async move { s.closed().await.code })
            })
            .collect();
        tokio::task::yield_now().await;
        outbox.close(Close { code: 4000, reason: "test", last_frame: None });
        for w in waiters {
            assert_eq!(
                tokio::time::timeout(std::time::Duration::from_secs(1), w).await.unwrap().unwrap(),
                4000
            );
        }
        // And one that starts waiting after the fact.
        assert_eq!(signal.closed().await.code, 4000);
    }

    #[test]
    fn a_full_queue_closes_as_too_slow() {
        let (outbox, _rx, signal) = Outbox::new(1);
        assert_eq!(outbox.push("a".into()), Pushed::Queued);
        assert_eq!(outbox.push("b".into()), Pushed::TooSlow);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(rt.block_on(signal.closed()).code, common::close::TRY_AGAIN_LATER);
    }
}
