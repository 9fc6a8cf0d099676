//! The audit log: every action of the operator (who, from where, what, to whom, when),
//! newest first, bounded ([`KEPT`] entries).
//!
//! With `--redis` it is the cluster's, a list in Redis (`chat:audit`, trimmed to
//! [`KEPT`] at each write), so every node's admin API shows every node's actions; a write
//! Redis refuses is logged and kept here instead. Without Redis it is this node's memory
//! (the log lines of `admin` stay the durable record: each action is logged with the same
//! fields).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

/// Entries kept at most.
pub const KEPT: usize = 1000;
const KEY: &str = "chat:audit";

/// One action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// ms since the epoch.
    pub ts: u64,
    /// `operator`, or the nick of a room's owner or moderator.
    pub who: String,
    /// Where the call came from.
    pub client: String,
    pub action: String,
    pub nick: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u64>,
}

impl Entry {
    pub fn new(
        who: &str,
        client: IpAddr,
        action: &str,
        nick: &str,
        room: Option<&str>,
        minutes: Option<u64>,
    ) -> Self {
        Self {
            ts: crate::hub::now_ms(),
            who: who.to_owned(),
            client: client.to_string(),
            action: action.to_owned(),
            nick: nick.to_owned(),
            room: room.map(str::to_owned),
            minutes,
        }
    }
}

/// A cheap handle to the log.
#[derive(Clone, Default)]
pub struct Audit {
    memory: Arc<Mutex<VecDeque<Entry>>>,
    redis: Option<ConnectionManager>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").field("redis", &self.redis.is_some()).finish_non_exhaustive()
    }
}

impl Audit {
    /// The cluster's log in Redis (`Some`), or this node's.
    pub fn new(redis: Option<ConnectionManager>) -> Self {
        Self { memory: Arc::default(), redis }
    }

    pub async fn record(&self, entry: Entry) {
        if let Some(conn) = &self.redis {
            let mut conn = conn.clone();
            // Serializing a plain struct of strings and numbers cannot fail.
            let json = serde_json::to_string(&entry).unwrap_or_default();
            let written: redis::RedisResult<()> = redis::pipe()
                .lpush(KEY, json)
                .ignore()
                .ltrim(KEY, 0, KEPT as isize - 1)
                .ignore()
                .query_async(&mut conn)
                .await;
            match written {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "the audit log could not be written to Redis; kept on this node")
                }
            }
        }
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        if memory.len() >= KEPT {
            memory.pop_back();
        }
        memory.push_front(entry);
    }

    /// Every entry kept, newest first.
    pub async fn entries(&self) -> Vec<Entry> {
        let mut entries = Vec::new();
        if let Some(conn) = &self.redis {
            let mut conn = conn.clone();
            let listed: redis::RedisResult<Vec<String>> =
                redis::cmd("LRANGE").arg(KEY).arg(0).arg(KEPT - 1).query_async(&mut conn).await;
            match listed {
                Ok(listed) => entries.extend(listed.iter().filter_map(|j| serde_json::from_str(j).ok())),
                Err(e) => tracing::warn!(error = %e, "the audit log could not be read from Redis"),
            }
        }
        let memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        entries.extend(memory.iter().cloned());
        entries.sort_by_key(|e| std::cmp::Reverse(e.ts));
        entries
    }
}
