//! What the operator and moderators keep across the cluster: the audit log and bans
//! (`crate::store::bans`). Without `--database` they are Redis's: the audit log a list
//! (`chat:audit`), each ban a key (`chat:ban:<what>`) holding its end and expiring then
//! (`PXAT`), so Redis forgets an ended ban by itself. With it they are PostgreSQL's alone
//! (`postgres::moderation`), so a flushed Redis loses neither; what a Redis-only cluster
//! kept there is still read (the list after PostgreSQL's newer entries, the bans copied
//! over when a node reads them at its start).

use redis::Commands;

use super::RedisReader;
use crate::store::{AUDIT_KEPT, StoreError};

/// The key of the operator's audit log, a list of JSON entries, newest first.
const AUDIT_KEY: &str = "chat:audit";

/// The prefix of a ban's key.
const BAN_PREFIX: &str = "chat:ban:";

impl RedisReader {
    /// The cluster's audit log: a list, trimmed to [`AUDIT_KEPT`] at each write.
    pub fn audit(&self, entry: &str) -> Result<(), StoreError> {
        if let Some(kept) = self.archived(|a| a.audit(entry)) {
            return kept;
        }
        let kept = AUDIT_KEPT as isize;
        self.with(|c| {
            redis::pipe().atomic().lpush(AUDIT_KEY, entry).ltrim(AUDIT_KEY, 0, kept - 1).query::<()>(c)
        })
    }

    pub fn audit_log(&self) -> Result<Vec<String>, StoreError> {
        let mut log = match self.archived(|a| a.audit_log()) {
            Some(log) => log?,
            None => Vec::new(),
        };
        // Redis's list: the whole log without an archive, its older part with one.
        if log.len() < AUDIT_KEPT {
            let older: Vec<String> =
                self.with(|c| c.lrange(AUDIT_KEY, 0, (AUDIT_KEPT - log.len()) as isize - 1))?;
            log.extend(older);
        }
        Ok(log)
    }

    pub fn ban(&self, key: &str, until: u64, now: u64) -> Result<(), StoreError> {
        let one = [(key.to_owned(), until)];
        if let Some(kept) = self.archived(|a| a.ban(&one, now)) {
            return kept;
        }
        // Only ever to a later end: two nodes keeping the same ban agree.
        let script = redis::Script::new(
            "local now = tonumber(redis.call('GET', KEYS[1]) or '0')
             if tonumber(ARGV[1]) > now then redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[1]) end
             return 1",
        );
        let key = format!("{BAN_PREFIX}{key}");
        self.with(|c| script.key(&key).arg(until).invoke::<i64>(c)).map(drop)
    }

    pub fn bans(&self, now: u64) -> Result<Vec<(String, u64)>, StoreError> {
        let in_redis = self.with(|c| {
            let keys: Vec<String> =
                c.scan_match::<_, String>(format!("{BAN_PREFIX}*"))?.collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(keys.len());
            for chunk in keys.chunks(500) {
                let ends: Vec<Option<u64>> = redis::cmd("MGET").arg(chunk).query(c)?;
                for (key, end) in chunk.iter().zip(ends) {
                    if let (Some(what), Some(end)) = (key.strip_prefix(BAN_PREFIX), end)
                        && end > now
                    {
                        out.push((what.to_owned(), end));
                    }
                }
            }
            Ok(out)
        })?;
        // With an archive, the bans a Redis-only cluster kept are copied over (kept to the
        // later end, so copying again changes nothing), and PostgreSQL's are the answer.
        let kept = self.archived(|a| async {
            if !in_redis.is_empty() {
                a.ban(&in_redis, now).await?;
            }
            a.bans(now).await
        });
        match kept {
            Some(kept) => kept,
            None => Ok(in_redis),
        }
    }
}
