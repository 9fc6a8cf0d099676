//! What a room's stream holds, as the cluster's store reads it: messages (field `m`) and
//! changes of them (field `c`), each numbered from the room's one sequence.

use common::{Change, ChatMessage};

use crate::store::StoreError;

/// What a room's stream holds: messages, and changes of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Message(ChatMessage),
    Change(Change),
}

impl Entry {
    /// Its number in the room's sequence (a message's id, a change's `seq`).
    pub fn number(&self) -> u64 {
        match self {
            Self::Message(m) => m.id,
            Self::Change(c) => c.seq(),
        }
    }

    pub fn room(&self) -> &str {
        match self {
            Self::Message(m) => &m.room,
            Self::Change(c) => c.room(),
        }
    }

    pub(super) fn message(self) -> Option<ChatMessage> {
        match self {
            Self::Message(m) => Some(m),
            Self::Change(_) => None,
        }
    }

    /// A published entry: a change's JSON has its `type`, a message's does not.
    pub fn parse(json: &str) -> Result<Self, StoreError> {
        match serde_json::from_str::<Change>(json) {
            Ok(change) => Ok(Self::Change(change)),
            Err(_) => {
                serde_json::from_str(json).map(Self::Message).map_err(|e| StoreError::Decode(e.to_string()))
            }
        }
    }
}

/// A stream entry: a message (its JSON in the field `m`) or a change (in `c`).
pub fn decode_entry(entry: &redis::streams::StreamId) -> Result<Entry, StoreError> {
    let decode = |e: serde_json::Error| StoreError::Decode(e.to_string());
    if let Some(json) = entry.get::<String>("m") {
        return serde_json::from_str(&json).map(Entry::Message).map_err(decode);
    }
    let json: String =
        entry.get("c").ok_or_else(|| StoreError::Decode(format!("entry {} has no message", entry.id)))?;
    serde_json::from_str(&json).map(Entry::Change).map_err(decode)
}
