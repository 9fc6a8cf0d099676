//! The operator's audit log (table `audit`, the newest [`AUDIT_KEPT`] kept) and bans
//! (`bans`, see `crate::store::bans`: what a ban keeps out and its end in ms since the
//! epoch, ended ones deleted as new ones come, at most [`BANS_KEPT`]) in PostgreSQL, the
//! cluster's durable copy of them with `--database`.
//!
//! What a Redis-only cluster kept of them stays readable: the reader adds Redis's audit
//! list after these entries (it is older) and Redis's bans to these (copying them here).

use crate::store::bans::BANS_KEPT;
use crate::store::{AUDIT_KEPT, StoreError};

use super::Archive;

/// A number of PostgreSQL's `BIGINT`.
fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Archive {
    /// Adds an entry to the audit log, forgetting the oldest past [`AUDIT_KEPT`].
    pub async fn audit(&self, entry: &str) -> Result<(), StoreError> {
        let kept = big(AUDIT_KEPT as u64);
        self.with(|mut c| async move {
            let tx = c.transaction().await?;
            let add = tx.prepare_cached("INSERT INTO audit (entry) VALUES ($1)").await?;
            tx.execute(&add, &[&entry]).await?;
            let trim =
                tx.prepare_cached("DELETE FROM audit WHERE seq <= (SELECT max(seq) FROM audit) - $1").await?;
            tx.execute(&trim, &[&kept]).await?;
            Ok(tx.commit().await?)
        })
        .await
    }

    /// The audit log, newest first, at most [`AUDIT_KEPT`] entries.
    pub async fn audit_log(&self) -> Result<Vec<String>, StoreError> {
        let kept = big(AUDIT_KEPT as u64);
        self.with(|c| async move {
            let stmt = c.prepare_cached("SELECT entry FROM audit ORDER BY seq DESC LIMIT $1").await?;
            Ok(c.query(&stmt, &[&kept]).await?.iter().map(|r| r.get(0)).collect())
        })
        .await
    }

    /// Keeps the bans `(key, until)` each until its end (or a later one kept already).
    pub async fn ban(&self, bans: &[(String, u64)], now: u64) -> Result<(), StoreError> {
        let (keys, ends): (Vec<&str>, Vec<i64>) = bans.iter().map(|(k, u)| (k.as_str(), big(*u))).unzip();
        let (now, kept) = (big(now), big(BANS_KEPT as u64));
        self.with(|mut c| async move {
            let tx = c.transaction().await?;
            let ended = tx.prepare_cached("DELETE FROM bans WHERE until <= $1").await?;
            tx.execute(&ended, &[&now]).await?;
            let keep = tx
                .prepare_cached(
                    "INSERT INTO bans (key, until) SELECT * FROM unnest($1::TEXT[], $2::BIGINT[])
                     ON CONFLICT (key) DO UPDATE SET until = greatest(bans.until, EXCLUDED.until)",
                )
                .await?;
            tx.execute(&keep, &[&keys, &ends]).await?;
            // Past the bound, the bans that end first go.
            let bound = tx
                .prepare_cached(
                    "DELETE FROM bans WHERE key IN (SELECT key FROM bans ORDER BY until
                     LIMIT greatest(0, (SELECT count(*) FROM bans) - $1))",
                )
                .await?;
            tx.execute(&bound, &[&kept]).await?;
            Ok(tx.commit().await?)
        })
        .await
    }

    /// Every ban kept that has not ended at `now`, with its end.
    pub async fn bans(&self, now: u64) -> Result<Vec<(String, u64)>, StoreError> {
        let now = big(now);
        self.with(|c| async move {
            let stmt = c.prepare_cached("SELECT key, until FROM bans WHERE until > $1").await?;
            let rows = c.query(&stmt, &[&now]).await?;
            Ok(rows.iter().map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap_or(0))).collect())
        })
        .await
    }
}
