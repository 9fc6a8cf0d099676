//! The relay: a client's `POST` for an HTTP stream that another node holds, handed to that
//! node through Redis and answered back, so that a balancer may send each request to any
//! node (no sticky sessions).
//!
//! Every node subscribes to a channel of its own, `chat:relay:<address>`, where the
//! address is the process's random mark (the one its typing notices carry): it lives as
//! long as the process, whatever happens to its id in the shared state. A stream's id
//! starts with the address of the node that holds it (see `stream`), so any node knows
//! where to hand a post. The node that received the post PUBLISHes an [`Ask`] on the
//! holder's channel and waits, at most [`WAIT`], for the [`Outcome`] the holder PUBLISHes
//! back on the asker's channel. Redis answers a PUBLISH with the number of subscribers
//! that got it: none means that no process holds that address any more (it stopped or
//! was killed), so the stream is gone and the client is told so at once.
//!
//! This module carries posts and outcomes; applying them is the stream's (`stream`), which
//! takes the asks addressed to this node from the receiver [`Relay::new`] returns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

/// The channels' common start; a node's own is this and its address.
pub const PREFIX: &str = "chat:relay:";
/// How long a node waits for the holder's answer before telling the client to retry.
pub const WAIT: Duration = Duration::from_secs(5);
/// Asks addressed to this node waiting to be applied at most; past that they are
/// answered [`Outcome::Busy`] (the client retries, and its post is applied once).
pub const ASKS_MAX: usize = 1024;
/// Posts this node forwarded and waits for at most; past that new ones are refused.
const PENDING_MAX: usize = 4096;

/// A client's post, as the node that holds its stream needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Post {
    pub stream: String,
    /// The bearer token the post came with (checked by the holder, which knows the stream's).
    pub token: String,
    pub seq: u64,
    /// The frames, each a JSON object already bounded by the node that read the body.
    pub frames: Vec<String>,
}

/// What the holder did with a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    /// Handed to the stream's session.
    Applied,
    /// A retry of a post already applied: answered, not applied again.
    Duplicate,
    /// No such stream (it ended).
    Unknown,
    /// Not the stream's resume token.
    WrongToken,
    /// The post before it has not come yet.
    TooEarly,
    /// Earlier posts are still being handled.
    Busy,
}

/// Why a forwarded post has no outcome.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("no node holds that address any more")]
    Gone,
    #[error("the holder did not answer within {WAIT:?}")]
    NoAnswer,
    #[error("too many posts waiting for other nodes")]
    Busy,
    #[error("Redis: {0}")]
    Redis(String),
}

/// A post another node asks this one to apply, and where its answer goes.
#[derive(Debug)]
pub struct Ask {
    pub post: Post,
    pub reply: ReplyTo,
}

/// Where the answer to an [`Ask`] goes: the asking node, and its number for the post.
#[derive(Debug)]
pub struct ReplyTo {
    from: String,
    id: u64,
}

/// What crosses the relay's channels.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum Wire {
    Ask { from: String, id: u64, post: Post },
    Answer { id: u64, outcome: Outcome },
}

/// This node's end of the relay: a cheap `Clone` handle.
#[derive(Clone)]
pub struct Relay(Arc<Shared>);

struct Shared {
    commands: ConnectionManager,
    address: String,
    /// Forwarded posts waiting for their answer, by id. A std mutex: held for map updates
    /// only, never across an await.
    pending: Mutex<HashMap<u64, oneshot::Sender<Outcome>>>,
    next: AtomicU64,
    asks: mpsc::Sender<Ask>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").field("address", &self.0.address).finish_non_exhaustive()
    }
}

impl Relay {
    /// The relay of the node whose address is `address`, and the asks addressed to it.
    pub fn new(commands: ConnectionManager, address: String) -> (Self, mpsc::Receiver<Ask>) {
        let (asks, rx) = mpsc::channel(ASKS_MAX);
        let shared =
            Shared { commands, address, pending: Mutex::new(HashMap::new()), next: AtomicU64::new(1), asks };
        (Self(Arc::new(shared)), rx)
    }

    /// This node's address, the start of its streams' ids.
    pub fn address(&self) -> &str {
        &self.0.address
    }

    /// This node's channel.
    pub fn channel(&self) -> String {
        format!("{PREFIX}{}", self.0.address)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Outcome>>> {
        self.0.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `post` to the node at `address` and waits for what it did, at most [`WAIT`].
    pub async fn forward(&self, address: &str, post: Post) -> Result<Outcome, RelayError> {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending();
            if pending.len() >= PENDING_MAX {
                return Err(RelayError::Busy);
            }
            pending.insert(id, tx);
        }
        // Whatever way this ends (an answer, a timeout, the client gone), the entry goes.
        let _forget = Forget { relay: self, id };
        let wire = Wire::Ask { from: self.0.address.clone(), id, post };
        let json = serde_json::to_string(&wire).expect("strings serialize");
        let waited = tokio::time::timeout(WAIT, async {
            let got = self.publish(&format!("{PREFIX}{address}"), json).await?;
            if got == 0 {
                return Err(RelayError::Gone);
            }
            rx.await.map_err(|_| RelayError::NoAnswer)
        })
        .await;
        waited.unwrap_or(Err(RelayError::NoAnswer))
    }

    /// Tells the node that asked what this node did with its post. A lost answer is not
    /// retried: the asker answers its client `504` and the client's retry is applied once.
    pub async fn answer(&self, to: ReplyTo, outcome: Outcome) {
        let json = serde_json::to_string(&Wire::Answer { id: to.id, outcome }).expect("strings serialize");
        if let Err(e) = self.publish(&format!("{PREFIX}{}", to.from), json).await {
            tracing::debug!(error = %e, "a relayed post's answer was not published");
        }
    }

    /// PUBLISHes `json` on `channel`: how many subscribers got it.
    async fn publish(&self, channel: &str, json: String) -> Result<u64, RelayError> {
        let mut commands = self.0.commands.clone();
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(json)
            .query_async(&mut commands)
            .await
            .map_err(|e| RelayError::Redis(e.to_string()))
    }

    /// Takes what the subscription brought on this node's channel: an answer wakes the
    /// post waiting for it, an ask is queued for the streams. Never waits.
    pub fn received(&self, json: &str) {
        match serde_json::from_str(json) {
            Ok(Wire::Answer { id, outcome }) => {
                if let Some(waiting) = self.pending().remove(&id) {
                    // The client may have gone meanwhile: nobody to tell is fine.
                    let _ = waiting.send(outcome);
                }
            }
            Ok(Wire::Ask { from, id, post }) => {
                let ask = Ask { post, reply: ReplyTo { from, id } };
                if let Err(mpsc::error::TrySendError::Full(ask)) = self.0.asks.try_send(ask) {
                    let relay = self.clone();
                    tokio::spawn(async move { relay.answer(ask.reply, Outcome::Busy).await });
                }
            }
            Err(e) => tracing::warn!(error = %e, "a relayed message cannot be read; skipped"),
        }
    }
}

/// Removes a forwarded post's entry when its wait ends.
struct Forget<'a> {
    relay: &'a Relay,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.relay.pending().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_and_answers_cross_as_json() {
        let post = Post {
            stream: "a.b".into(),
            token: "t".into(),
            seq: 3,
            frames: vec![r#"{"type":"ping"}"#.into()],
        };
        let json =
            serde_json::to_string(&Wire::Ask { from: "n1".into(), id: 7, post: post.clone() }).unwrap();
        match serde_json::from_str(&json).unwrap() {
            Wire::Ask { from, id, post: got } => assert_eq!((from.as_str(), id, got), ("n1", 7, post)),
            Wire::Answer { .. } => panic!("{json}"),
        }
        let json = serde_json::to_string(&Wire::Answer { id: 7, outcome: Outcome::TooEarly }).unwrap();
        assert!(matches!(
            serde_json::from_str(&json).unwrap(),
            Wire::Answer { id: 7, outcome: Outcome::TooEarly }
        ));
    }
}
