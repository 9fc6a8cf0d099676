//! The cluster's store with an archive (`--database`): reads that reach below a room's
//! floor (what the archiver trimmed from its stream) take the rest from PostgreSQL, and
//! writes that need a trimmed message (an edit, a deletion, a reaction, a reply's quote)
//! first bring it back into the room's hash of current messages, where the scripts look.
//!
//! Reads are ordered so that a trim in between never leaves a gap: the stream first, then
//! the floor, then PostgreSQL below that floor. A trim only removes what PostgreSQL has,
//! and raises the floor in the same step, so whatever the stream no longer had when it
//! was read is below the floor read after it; what both tiers return is taken once, from
//! PostgreSQL (the stream's entry is the text as first sent, and the trim dropped the
//! current version of a changed message from Redis).

use common::{Change, ChatMessage, RoomName};
use redis::aio::ConnectionManager;

use super::{RedisReader, cur_key, floor_key, from_key, log_key, rx_key, seq_key, timed};
use crate::store::StoreError;
use crate::store::postgres::{Archive, Stored};

/// Sets again the counters (and floors) of the batch's rooms that Redis lost (flushed,
/// or restarted without its files) from what PostgreSQL has of them, before any script
/// takes a number: a counter that started again from 1 would give out numbers PostgreSQL
/// already holds, and the archiver would copy the new messages over the old ones. The
/// floor says that everything up to there is PostgreSQL's. A Redis emptied in the moment
/// between this check and the batch's scripts is caught by the `say` script, which
/// refuses a message whose counter is gone (see `writer::Counters`). Returns the rooms
/// new to both Redis and PostgreSQL: their counters start from nothing, so their first
/// `say`s carry no such check (a counter emptied meanwhile starts from nothing as well).
pub async fn restore<'r>(
    conn: &mut ConnectionManager,
    archive: &Archive,
    rooms: &[&'r str],
) -> Result<Vec<&'r str>, StoreError> {
    let mut new = Vec::new();
    let mut pipe = redis::pipe();
    for room in rooms {
        pipe.exists(seq_key(room));
    }
    let known: Vec<bool> = timed(pipe.query_async(conn)).await?;
    for (room, known) in rooms.iter().zip(known) {
        if known {
            continue;
        }
        let last = archive.last(room).await?;
        if last == 0 {
            new.push(*room); // A new room: its counter starts from nothing.
            continue;
        }
        let script = redis::Script::new(RESTORE);
        let restored: i64 =
            timed(script.key(seq_key(room)).key(floor_key(room)).arg(last).invoke_async(conn)).await?;
        if restored == 1 {
            tracing::warn!(room, last, "Redis had lost a room's counter; set again from PostgreSQL");
        }
    }
    Ok(new)
}

/// Sets a lost counter (KEYS[1]) to ARGV[1] and the floor (KEYS[2]) above it, unless the
/// counter exists (another node restored it first). Returns 1 when set.
const RESTORE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
local floor = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) + 1 > floor then redis.call('SET', KEYS[2], tonumber(ARGV[1]) + 1) end
return 1
";

/// Brings back into `chat:cur:<room>` (their senders into `chat:from:<room>`, the givers
/// of their reactions into `chat:rx:<room>`) the
/// archived messages a batch's changes and replies concern (`concerned`: their rooms and
/// ids), when the stream no longer holds them (the scripts read a message from there or
/// from the stream). Such a message then stays in the hash, as every changed message
/// does.
pub async fn rehydrate(
    conn: &mut ConnectionManager,
    archive: &Archive,
    concerned: impl Iterator<Item = (&str, u64)>,
) -> Result<(), StoreError> {
    for (room, id) in concerned {
        let (floor, known, kept): (Option<u64>, bool, redis::streams::StreamRangeReply) = timed(
            redis::pipe()
                .get(floor_key(room))
                .hexists(cur_key(room), id)
                .xrange(log_key(room), format!("{id}-0"), format!("{id}-0"))
                .query_async(conn),
        )
        .await?;
        if known || !kept.ids.is_empty() || id >= floor.unwrap_or(0) {
            continue;
        }
        if let Some(Stored { msg, sender, givers }) = archive.stored(room, id).await? {
            let json = serde_json::to_string(&msg).map_err(|e| StoreError::Decode(e.to_string()))?;
            let mut pipe = redis::pipe();
            pipe.cmd("HSETNX").arg(cur_key(room)).arg(id).arg(json).ignore();
            if let Some(sender) = sender {
                // Who may edit it: the archiver dropped it from Redis with the message.
                pipe.cmd("HSETNX").arg(from_key(room)).arg(id).arg(sender).ignore();
            }
            if let Some(givers) = givers {
                // Who gave its reactions, so that a reaction now adds to theirs.
                pipe.cmd("HSETNX").arg(rx_key(room)).arg(id).arg(givers).ignore();
            }
            let () = timed(pipe.query_async(conn)).await?;
        }
    }
    Ok(())
}

/// A message the archive holds, for a retried `say` whose message was trimmed.
pub async fn archived_message(
    archive: &Archive,
    room: &str,
    id: u64,
) -> Result<Option<ChatMessage>, StoreError> {
    archive.message(room, id).await
}

impl RedisReader {
    /// Waits for a call to the archive, if there is one (a reader blocks, as on Redis).
    pub(super) fn archived<'a, T, F: Future<Output = Result<T, StoreError>>>(
        &'a self,
        call: impl FnOnce(&'a Archive) -> F,
    ) -> Option<Result<T, StoreError>> {
        let (archive, rt) = self.archive.as_ref()?;
        Some(rt.block_on(call(archive)))
    }

    /// The room's floor: every number below it is archived (0 when nothing was trimmed).
    ///
    /// A room Redis knows nothing of (no floor, no counter: new, or lost with a flushed
    /// Redis) takes its floor from PostgreSQL, so its archived history is still read.
    fn floor(&self, room: &RoomName) -> Result<u64, StoreError> {
        let (key, seq) = (floor_key(room.as_str()), seq_key(room.as_str()));
        let (floor, known): (Option<u64>, bool) =
            self.with(|c| redis::pipe().get(&key).exists(&seq).query(c))?;
        match floor {
            Some(floor) => Ok(floor),
            None if known => Ok(0),
            None => {
                let last = self.archived(|a| a.last(room.as_str())).unwrap_or(Ok(0))?;
                Ok(if last == 0 { 0 } else { last + 1 })
            }
        }
    }

    /// As [`RedisReader::messages`], across the stream and the archive below its floor.
    pub(super) fn tiered(
        &self,
        room: &RoomName,
        from: u64,
        to: u64,
        want: usize,
        rev: bool,
    ) -> Result<(Vec<ChatMessage>, bool), StoreError> {
        let (mut out, done) = self.messages(room, from, to, want, rev)?;
        if self.archive.is_none() || (rev && out.len() >= want) {
            return Ok((out, done));
        }
        let floor = self.floor(room)?;
        let older = if rev {
            if floor <= to.max(1) {
                return Ok((out, done));
            }
            let below = floor.min(from.saturating_add(1));
            self.archived(|a| a.before(room.as_str(), below, want)).unwrap_or(Ok(Vec::new()))?
        } else {
            if floor <= from {
                return Ok((out, done));
            }
            let below = floor.min(to.saturating_add(1));
            self.archived(|a| a.after(room.as_str(), from - 1, below, want)).unwrap_or(Ok(Vec::new()))?
        };
        for m in older {
            if m.id < to.min(from) || m.id > to.max(from) {
                continue;
            }
            // A message both tiers returned was trimmed between the two reads: the
            // archive's copy is taken, since the trim dropped the changed message's
            // current version from Redis with it (unless a change PostgreSQL has not
            // copied yet concerns it, which `merge` then puts over this copy), and the
            // stream's entry holds the text as first sent.
            match out.iter_mut().find(|o| o.id == m.id) {
                Some(o) => *o = m,
                None => out.push(m),
            }
        }
        if rev {
            out.sort_unstable_by_key(|m| std::cmp::Reverse(m.id));
        } else {
            out.sort_unstable_by_key(|m| m.id);
        }
        let done = out.len() < want;
        out.truncate(want);
        Ok((out, done))
    }

    /// A message the stream no longer holds, from the archive.
    pub(super) fn archived_one(&self, room: &RoomName, id: u64) -> Result<Option<ChatMessage>, StoreError> {
        self.archived(|a| a.message(room.as_str(), id)).unwrap_or(Ok(None))
    }

    /// Adds to the changes found in the stream for a resume from `after` those the
    /// archive holds below the floor.
    pub(super) fn tiered_changes(
        &self,
        room: &RoomName,
        after: u64,
        max: usize,
        (found, complete): (Vec<Change>, bool),
    ) -> Result<(Vec<Change>, bool), StoreError> {
        if self.archive.is_none() {
            return Ok((found, complete));
        }
        let floor = self.floor(room)?;
        if floor <= after.saturating_add(1) {
            return Ok((found, complete));
        }
        let mut all =
            self.archived(|a| a.changes(room.as_str(), after, floor, max + 1)).unwrap_or(Ok(Vec::new()))?;
        for c in found {
            if !all.iter().any(|o| o.seq() == c.seq()) {
                all.push(c);
            }
        }
        all.sort_unstable_by_key(Change::seq);
        let complete = complete && all.len() <= max;
        all.truncate(max);
        Ok((all, complete))
    }
}
