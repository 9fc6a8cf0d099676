//! `GET /healthz` and `GET /readyz`, for load balancers and orchestrators.
//!
//! `/healthz` (liveness): the process accepts and answers requests. Nothing is read or
//! locked, so it answers while the server is full or flooded, as long as it accepts.
//!
//! `/readyz` (readiness): whether this node can take users now. Not while it is shutting
//! down (from the moment the signal arrives, so a balancer stops sending users here
//! before the sockets close; see `--drain-secs`), and not while its store does not answer:
//! the store's reading side does one trivial read ([`History::ping`]: SQLite reads its
//! schema, a `--redis` node's Redis answers `PING`), off the async threads as every read
//! of the store is. A hung store must give a `503`, never a hung probe: the check gets
//! [`CHECK_TIMEOUT`], and only one runs at a time, so probes that keep coming while the
//! store hangs each wait at most that long and hold no more than one blocking thread.
//!
//! Both are answered for any `Host` (see `hosts`). This module knows the store only
//! through [`History`]; it knows nothing of the chat.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::store::History;

/// How long the store gets to answer a readiness check: below the one second that
/// Kubernetes gives a probe by default, above what a healthy store ever needs.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(800);

/// What `/readyz` looks at: a cheap handle, cloned into the router.
#[derive(Debug, Clone)]
pub struct Readiness {
    history: History,
    /// Cancelled when a shutdown begins (before the drain and the closes).
    stopping: CancellationToken,
    /// One check of the store at a time: a hung store holds at most one thread.
    checking: Arc<Semaphore>,
    /// The last answer, so the log says when it changes, not at every probe.
    was_ready: Arc<AtomicBool>,
}

impl Readiness {
    pub fn new(history: History, stopping: CancellationToken) -> Self {
        Self {
            history,
            stopping,
            checking: Arc::new(Semaphore::new(1)),
            was_ready: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Whether the node can take users: not stopping, and its store answers within
    /// [`CHECK_TIMEOUT`]. Says why not.
    pub async fn check(&self) -> Result<(), &'static str> {
        if self.stopping.is_cancelled() {
            return Err("shutting down");
        }
        if !self.history.may_block() {
            return self.history.ping().map_err(|_| "the store does not answer");
        }
        let checked = tokio::time::timeout(CHECK_TIMEOUT, async {
            let permit = self.checking.clone().acquire_owned().await.map_err(|_| "shutting down")?;
            let history = self.history.clone();
            // The permit goes with the read: a read that outlives the timeout still holds
            // it, and the next probes wait for it (and time out) instead of adding threads.
            let read = tokio::task::spawn_blocking(move || {
                let result = history.ping();
                drop(permit);
                result
            });
            match read.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "the store's readiness check failed");
                    Err("the store does not answer")
                }
                Err(_) => Err("the store's check failed"),
            }
        })
        .await;
        checked.unwrap_or(Err("the store did not answer in time"))
    }

    /// Logs a change of the answer (not every probe: balancers ask every few seconds).
    fn note(&self, now: Result<(), &'static str>) -> Result<(), &'static str> {
        let ready = now.is_ok();
        if self.was_ready.swap(ready, Ordering::Relaxed) != ready {
            match now {
                Ok(()) => tracing::info!("ready again: /readyz answers 200"),
                Err(why) if self.stopping.is_cancelled() => tracing::debug!(why, "not ready"),
                Err(why) => tracing::warn!(why, "not ready: /readyz answers 503"),
            }
        }
        now
    }
}

/// `GET /healthz`: the process runs and answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: `200` when the node can take users, `503` (with the reason) otherwise.
pub async fn readyz(State(readiness): State<Readiness>) -> (StatusCode, String) {
    match readiness.note(readiness.check().await) {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn ready_until_a_shutdown_begins() {
        let (_store, history) = Store::memory(10);
        let stopping = CancellationToken::new();
        let readiness = Readiness::new(history, stopping.clone());
        assert_eq!(readiness.check().await, Ok(()));
        stopping.cancel();
        assert_eq!(readiness.check().await, Err("shutting down"));
    }

    #[tokio::test]
    async fn a_sqlite_store_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, history, _written) =
            Store::sqlite(&dir.path().join("chat.db"), crate::config::SyncMode::Normal).unwrap();
        let readiness = Readiness::new(history, CancellationToken::new());
        assert_eq!(readiness.check().await, Ok(()));
    }
}
