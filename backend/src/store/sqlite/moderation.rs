//! The operator's audit log (table `audit`) and bans (`bans`, see `crate::store::bans`),
//! written from a reader's connection as rooms' settings are (an admin action is rare).

use rusqlite::params;

use super::SqliteReader;
use crate::store::{AUDIT_KEPT, StoreError};

impl SqliteReader {
    /// Written from a reader's connection, as [`SqliteReader::create_room`] is (an admin
    /// action is rare).
    pub fn audit(&self, entry: &str) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn.unchecked_transaction()?;
            tx.execute("INSERT INTO audit (entry) VALUES (?1)", params![entry])?;
            tx.execute(
                "DELETE FROM audit WHERE seq <= (SELECT max(seq) FROM audit) - ?1",
                params![AUDIT_KEPT as i64],
            )?;
            tx.commit()
        })
    }

    pub fn audit_log(&self) -> Result<Vec<String>, StoreError> {
        self.with(|conn| {
            let mut rows = conn.prepare_cached("SELECT entry FROM audit ORDER BY seq DESC LIMIT ?1")?;
            let entries = rows.query_map(params![AUDIT_KEPT as i64], |r| r.get(0))?;
            entries.collect()
        })
    }
    pub fn ban(&self, key: &str, until: u64, now: u64) -> Result<(), StoreError> {
        let (until, now) = (i64::try_from(until).unwrap_or(i64::MAX), i64::try_from(now).unwrap_or(i64::MAX));
        self.with(|conn| {
            let tx = conn.unchecked_transaction()?;
            tx.execute("DELETE FROM bans WHERE until <= ?1", params![now])?;
            tx.execute(
                "INSERT INTO bans (key, until) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET until = max(until, excluded.until)",
                params![key, until],
            )?;
            // Past the bound, the bans that end first go.
            tx.execute(
                "DELETE FROM bans WHERE key IN (SELECT key FROM bans ORDER BY until
                 LIMIT max(0, (SELECT count(*) FROM bans) - ?1))",
                params![crate::store::bans::BANS_KEPT as i64],
            )?;
            tx.commit()
        })
    }

    pub fn bans(&self, now: u64) -> Result<Vec<(String, u64)>, StoreError> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        self.with(|conn| {
            let mut rows = conn.prepare_cached("SELECT key, until FROM bans WHERE until > ?1")?;
            let bans = rows.query_map(params![now], |r| {
                Ok((r.get::<_, String>(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0)))
            })?;
            bans.collect()
        })
    }
}
