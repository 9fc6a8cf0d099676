//! Bans kept by the store, so that a node that restarts, or joins the cluster later, knows
//! them: what a ban keeps out (a string the hub makes and reads back, opaque here) and its
//! end in ms since the epoch. Every backend forgets a ban once it has ended (SQLite
//! deletes ended rows as new bans come, Redis expires each ban's key at its end, memory
//! drops them), and keeps at most [`BANS_KEPT`], those ending first going first.
//!
//! Written and read on the reading side ([`History`]), off the hub's lock and off the
//! async threads: a ban is rare, and read back only when a node starts.

use super::{History, StoreError};

/// Bans kept at most, as the hub keeps them.
pub const BANS_KEPT: usize = 100_000;

impl History {
    /// Keeps the ban `key` until `until` (or until its later end, if it is kept already);
    /// `now` lets the store drop ended bans.
    pub fn ban(&self, key: &str, until: u64, now: u64) -> Result<(), StoreError> {
        match self {
            Self::Memory(s) => {
                s.lock().ban(key, until, now);
                Ok(())
            }
            Self::Sqlite(s) => s.ban(key, until, now),
            Self::Redis(s) => s.ban(key, until, now),
        }
    }

    /// Every ban kept that has not ended at `now`, with its end.
    pub fn bans(&self, now: u64) -> Result<Vec<(String, u64)>, StoreError> {
        match self {
            Self::Memory(s) => Ok(s.lock().bans(now)),
            Self::Sqlite(s) => s.bans(now),
            Self::Redis(s) => s.bans(now),
        }
    }
}
