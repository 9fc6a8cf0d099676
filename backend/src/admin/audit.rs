//! The audit log: every action of the operator (who, from where, what, to whom, when),
//! newest first, kept in the store (a SQLite table, the cluster's Redis list, or memory;
//! see `store`), bounded there. A write the store refuses is logged, with the action: the
//! log line (`admin action`) is the record of last resort.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::store::History;

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
    /// The message a deletion took away (its sender is `nick`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
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
            id: None,
        }
    }
}

/// A cheap handle to the log: the store's reading side, used off the async threads.
#[derive(Debug, Clone)]
pub struct Audit {
    history: History,
}

impl Audit {
    pub fn new(history: History) -> Self {
        Self { history }
    }

    /// The store the log is kept in (the admin API reads a message there too).
    pub fn history(&self) -> &History {
        &self.history
    }

    pub async fn record(&self, entry: Entry) {
        // Serializing a plain struct of strings and numbers cannot fail.
        let json = serde_json::to_string(&entry).unwrap_or_default();
        let history = self.history.clone();
        let written = tokio::task::spawn_blocking(move || history.audit(&json)).await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::error!(?written, "the audit log could not be written to the store");
        }
    }

    /// Every entry kept, newest first; empty (and logged) when the store fails.
    pub async fn entries(&self) -> Vec<Entry> {
        let history = self.history.clone();
        match tokio::task::spawn_blocking(move || history.audit_log()).await {
            Ok(Ok(entries)) => entries.iter().filter_map(|j| serde_json::from_str(j).ok()).collect(),
            other => {
                tracing::error!(?other, "the audit log could not be read from the store");
                Vec::new()
            }
        }
    }
}
