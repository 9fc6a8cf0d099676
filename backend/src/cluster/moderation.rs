//! Kicks and bans across the cluster, and the cluster's nodes as the operator sees them.
//!
//! A kick or ban is published as JSON ([`Moderation`]) on its own channel by the presence
//! task (in order with the node's other changes) and applied by every node to what it
//! holds. Nothing of it is kept in Redis: a ban lives in the memory of the nodes that were
//! up when it was made (a node started later does not know it).
//!
//! [`Nodes`] reads the live nodes and their connection counts straight from the shared
//! state (`chat:p:nodes`, `chat:p:alive:<node>`, `chat:p:node:<node>`), so the
//! operator's overview is as fresh as the last heartbeat.

use redis::aio::ConnectionManager;

use super::events::Moderation;

/// The channel kicks and bans are published on.
pub const CHANNEL: &str = "chat:mod";

/// A published kick or ban; `None` (and a log line) for anything else.
pub fn parse(json: &str) -> Option<Moderation> {
    serde_json::from_str(json)
        .map_err(|e| tracing::warn!(error = %e, "ignored a malformed moderation event"))
        .ok()
}

/// The cluster's nodes, read from Redis.
#[derive(Clone)]
pub struct Nodes(ConnectionManager);

impl std::fmt::Debug for Nodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nodes")
    }
}

impl Nodes {
    pub fn new(conn: ConnectionManager) -> Self {
        Self(conn)
    }

    /// Every live node (its heartbeat not expired) and its open connections.
    pub async fn list(&self) -> redis::RedisResult<Vec<(String, u64)>> {
        let mut conn = self.0.clone();
        let nodes: Vec<String> = redis::cmd("SMEMBERS").arg("chat:p:nodes").query_async(&mut conn).await?;
        let mut pipe = redis::pipe();
        for node in &nodes {
            pipe.exists(format!("chat:p:alive:{node}")).scard(format!("chat:p:node:{node}"));
        }
        // Two replies a node: whether its heartbeat is there, and its members.
        let replies: Vec<u64> = pipe.query_async(&mut conn).await?;
        let mut live: Vec<(String, u64)> = nodes
            .into_iter()
            .zip(replies.chunks(2))
            .filter(|(_, r)| r.first() == Some(&1))
            .map(|(n, r)| (n, r.get(1).copied().unwrap_or(0)))
            .collect();
        live.sort();
        Ok(live)
    }
}
