//! Typing notices across the cluster, on a channel of their own ([`CHANNEL`]), outside the
//! versioned shared state: a notice is ephemeral, so one lost does not matter.
//!
//! The hub queues a local `typing` for [`publish`] (bounded, dropped when full; only when
//! the room has members on other nodes), which PUBLISHes it once with this process's
//! random origin; every other node's subscription hands it back to its hub as a
//! [`ClusterEvent::Typing`](super::events::ClusterEvent::Typing), and the hub tells its
//! local members of the room as it would a local `typing` (the same bound in big rooms,
//! per typer). A node skips its own notices ([`notice`]): its members had them at once.

use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::events::Typing;

/// The channel typing notices cross the cluster on.
pub const CHANNEL: &str = "chat:typing";
/// This node's typing notices waiting to be published at most; past that they are
/// dropped (a notice is renewed by the typer every few seconds anyway).
pub const QUEUED_MAX: usize = 1024;
/// Typing notices published in one pipeline at most.
const BATCH: usize = 128;

/// A typing notice as published: origin, room, nick.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Wire {
    o: String,
    r: String,
    n: String,
}

/// Another node's typing notice (`None` for this node's own, or one that cannot be read).
pub fn notice(json: &str, origin: &str) -> Option<Typing> {
    let wire: Wire = serde_json::from_str(json).ok()?;
    (wire.o != origin).then_some(Typing { room: wire.r, nick: wire.n })
}

/// A random mark for this process's notices.
pub fn new_origin() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system's random generator works");
    data_encoding::HEXLOWER.encode(&bytes)
}

/// Publishes this node's typing notices as they are queued, a pipeline per batch, until
/// `shutdown`. A failed publish is dropped, not retried: a notice is stale in seconds.
pub async fn publish(
    mut commands: ConnectionManager,
    mut queued: mpsc::Receiver<Typing>,
    origin: String,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            n = queued.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    return;
                }
                let mut pipe = redis::pipe();
                for Typing { room, nick } in batch.drain(..) {
                    let wire = Wire { o: origin.clone(), r: room, n: nick };
                    let json = serde_json::to_string(&wire).expect("strings serialize");
                    pipe.publish(CHANNEL, json).ignore();
                }
                let sent = tokio::time::timeout(Duration::from_secs(2), pipe.query_async::<()>(&mut commands)).await;
                if let Some(e) = match sent {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some("no answer".to_owned()),
                } {
                    tracing::debug!(error = %e, notices = n, "typing notices not published; dropped");
                }
            }
        }
    }
}
