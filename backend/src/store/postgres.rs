//! The cluster's archive of messages in PostgreSQL (`--database`): every message a room
//! ever had, without limit, on disk, in a database operators already run and replicate.
//!
//! Redis stays where messages are taken, numbered and fanned out (see `store::redis`);
//! PostgreSQL receives them afterwards, room by room and in id order (see
//! `store::archive`), and Redis then drops what PostgreSQL holds beyond its hot window.
//! This file knows SQL: the tables (numbered migrations), the copy of a run of messages
//! (idempotent: a message copied twice is kept once) and the reads of the archived part
//! of a room's history. Whatever else a cluster keeps durably lives here too, written and
//! read directly (not through Redis): rooms' settings and roles (`rooms`), the audit log
//! and bans (`moderation`).
//!
//! One pool of connections, bounded ([`POOL_MAX`]); statements are prepared once per
//! connection (the pool's statement cache). Every call is bounded by [`CALL_TIMEOUT`], so
//! a PostgreSQL that went away costs a reader at most that long before it hears
//! `unavailable`, and the pool reconnects by itself once it is back.

use std::time::Duration;

use common::{Change, ChatMessage};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::StoreError;

mod moderation;
mod rooms;

pub use rooms::Legacy;

/// Connections to PostgreSQL a node keeps at most: the archiver's one, and the readers of
/// archived history (scroll-back past the hot window, a resume from long ago), which are
/// rare; a read that finds every connection busy waits for one.
const POOL_MAX: usize = 8;
/// How long one call (taking a connection included) may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// The schema, as migrations: the table `schema_migrations` lists those applied, and a
/// node applies the rest in order at start, each in its own transaction, under an
/// advisory lock so that nodes starting together do not race. Never edit one that has
/// shipped; add the next.
const MIGRATIONS: [&str; 3] = [HISTORY, KEPT, REPLIES];

/// A room's messages and changes as the protocol sends them (their JSON, as Redis's
/// streams hold them: a message's is its current one, so an edit or a deletion reaches
/// this table too) with who sent each message (its resume token, which decides who may
/// edit it), and how far each room's stream was copied.
const HISTORY: &str = "
    CREATE TABLE messages (
        room   TEXT   NOT NULL,
        id     BIGINT NOT NULL,
        json   TEXT   NOT NULL,
        sender TEXT,
        PRIMARY KEY (room, id)
    );
    CREATE TABLE changes (
        room TEXT   NOT NULL,
        seq  BIGINT NOT NULL,
        id   BIGINT NOT NULL,
        json TEXT   NOT NULL,
        PRIMARY KEY (room, seq)
    );
    CREATE INDEX changes_by_message ON changes (room, id);
    CREATE TABLE copied (
        room TEXT   NOT NULL PRIMARY KEY,
        upto BIGINT NOT NULL
    );
";

/// What else is durable in a cluster, which Redis alone kept before: rooms' settings
/// (`password`, an Argon2 PHC string, never the password; NULL for a public room),
/// their owners and moderators by resume token, the operator's audit log, and bans
/// (`until`, their end in ms since the epoch). See `rooms` and `moderation`.
const KEPT: &str = "
    CREATE TABLE rooms (
        room     TEXT NOT NULL PRIMARY KEY,
        password TEXT,
        max      BIGINT
    );
    CREATE TABLE roles (
        room  TEXT NOT NULL,
        token TEXT NOT NULL,
        role  TEXT NOT NULL CHECK (role IN ('owner', 'moderator')),
        PRIMARY KEY (room, token)
    );
    CREATE TABLE audit (
        seq   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        entry TEXT NOT NULL
    );
    CREATE TABLE bans (
        key   TEXT   NOT NULL PRIMARY KEY,
        until BIGINT NOT NULL
    );
    CREATE INDEX bans_by_end ON bans (until);
";

/// Which message each reply answers, so that an edit or a deletion of a message reaches
/// the quote of every reply PostgreSQL alone holds (see [`Archive::copy`]); and who gave
/// each reaction (`reactions`: Redis's JSON of `[emoji, resume token, nick]`), so that a
/// message's givers leave Redis with it and come back when it is reacted to again.
const REPLIES: &str = "
    ALTER TABLE messages ADD COLUMN reply_to BIGINT;
    ALTER TABLE messages ADD COLUMN reactions TEXT;
    UPDATE messages SET reply_to = (json::jsonb->>'reply_to')::BIGINT WHERE json LIKE '%\"reply_to\":%';
    CREATE INDEX messages_replies ON messages (room, reply_to) WHERE reply_to IS NOT NULL;
";

/// The advisory lock the migrations are applied under (any constant of ours).
const MIGRATION_LOCK: i64 = 0x6368_6174; // "chat"

/// A message as PostgreSQL keeps it, for Redis to take back (see `redis::tiers`).
#[derive(Debug)]
pub struct Stored {
    pub msg: ChatMessage,
    /// Its sender's resume token.
    pub sender: Option<String>,
    /// Who gave its reactions, Redis's JSON.
    pub givers: Option<String>,
}

/// A run of one room's stream to copy ([`Archive::copy`]), with what Redis holds beside
/// it about the messages it holds or changes.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub messages: &'a [ChatMessage],
    pub changes: &'a [Change],
    /// The current JSON of what the run holds or changed (edited, deleted, requoted).
    pub current: &'a [(u64, String)],
    /// Who sent each of its messages (their resume tokens).
    pub senders: &'a [(u64, String)],
    /// Who gave the reactions of each message the run's reactions concern, as Redis keeps
    /// them (`None`: none left).
    pub givers: &'a [(u64, Option<String>)],
    /// The run's last number.
    pub upto: u64,
}

/// The archive: a pool of connections to PostgreSQL.
#[derive(Clone)]
pub struct Archive {
    pool: Pool,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive").field("pool", &self.pool.status()).finish()
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Postgres(e.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Postgres(e.to_string())
    }
}

impl Archive {
    /// Connects to `url` (for example `postgres://chat@db.example/chat`) and brings its
    /// tables up to date; an error says plainly what is wrong, for the node to exit with.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            anyhow::anyhow!("{url} is not a PostgreSQL URL (for example postgres://user@host/db): {e}")
        })?;
        let manager =
            Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_MAX)
            .wait_timeout(Some(CALL_TIMEOUT))
            .create_timeout(Some(CALL_TIMEOUT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()?;
        let archive = Self { pool };
        archive.migrate().await.map_err(|e| {
            anyhow::anyhow!("cannot use PostgreSQL at {url}: {e} (is it running there? see --database)")
        })?;
        Ok(archive)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
        let result = async {
            client
                .batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
                .await?;
            let done: i32 = client
                .query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])
                .await?
                .get(0);
            for (version, sql) in (1i32..).zip(MIGRATIONS).skip(usize::try_from(done).unwrap_or(0)) {
                let tx = client.transaction().await?;
                tx.batch_execute(sql).await?;
                tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&version]).await?;
                tx.commit().await?;
                tracing::info!(version, "applied a PostgreSQL migration");
            }
            Ok::<_, StoreError>(())
        }
        .await;
        client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await?;
        result
    }

    /// Runs `call` on a connection of the pool, bounded by [`CALL_TIMEOUT`].
    async fn with<T, F>(&self, call: impl FnOnce(deadpool_postgres::Object) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let work = async {
            let client = self.pool.get().await?;
            call(client).await
        };
        match tokio::time::timeout(CALL_TIMEOUT, work).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout),
        }
    }

    /// `SELECT 1`, for the readiness check.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.with(|c| async move { Ok(c.simple_query("SELECT 1").await.map(drop)?) }).await
    }

    /// How far a room's stream was copied here (the last number, 0 for none): a room is
    /// copied in order, each run in one transaction with this mark.
    pub async fn copied(&self, room: &str) -> Result<u64, StoreError> {
        self.with(|c| async move {
            let stmt = c.prepare_cached("SELECT upto FROM copied WHERE room = $1").await?;
            let upto: Option<i64> = c.query_opt(&stmt, &[&room]).await?.map(|r| r.get(0));
            Ok(upto.and_then(|u| u64::try_from(u).ok()).unwrap_or(0))
        })
        .await
    }

    /// The last number a room took that PostgreSQL knows of (0 for none): how far its
    /// stream was copied, or its newest message or change, whichever is higher.
    pub async fn last(&self, room: &str) -> Result<u64, StoreError> {
        self.with(|c| async move {
            let stmt = c
                .prepare_cached(
                    "SELECT greatest(
                        (SELECT upto FROM copied WHERE room = $1),
                        (SELECT max(id) FROM messages WHERE room = $1),
                        (SELECT max(seq) FROM changes WHERE room = $1))",
                )
                .await?;
            let last: Option<i64> = c.query_one(&stmt, &[&room]).await?.get(0);
            Ok(last.and_then(|l| u64::try_from(l).ok()).unwrap_or(0))
        })
        .await
    }

    /// Copies a run of one room's stream in one transaction, up to `run.upto`: its messages
    /// (each with its current JSON when `current` has one), its changes, and the current
    /// JSON of what they changed (an edited message, a deleted one's tombstone, replies
    /// whose quote went with it). A deletion also takes the deleted message's earlier
    /// changes away, as it does in Redis. Copying again what was copied changes nothing.
    pub async fn copy(&self, room: &str, run: &Run<'_>) -> Result<(), StoreError> {
        let Run { messages, changes, current, senders, givers, upto } = *run;
        let big = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let mut msg_ids = Vec::new();
        let mut msg_json = Vec::new();
        let (mut seqs, mut targets, mut change_json, mut deleted) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut answers = Vec::new();
        for m in messages {
            msg_ids.push(big(m.id));
            msg_json.push(serde_json::to_string(m).map_err(|e| StoreError::Decode(e.to_string()))?);
            answers.push(m.reply_to.map(big));
        }
        for c in changes {
            seqs.push(big(c.seq()));
            targets.push(big(c.id()));
            change_json.push(serde_json::to_string(c).map_err(|e| StoreError::Decode(e.to_string()))?);
            if matches!(c, Change::Deleted(_)) {
                deleted.push((big(c.id()), big(c.seq())));
            }
        }
        for (id, json) in current {
            msg_ids.push(big(*id));
            msg_json.push(json.clone());
            let msg: ChatMessage =
                serde_json::from_str(json).map_err(|e| StoreError::Decode(e.to_string()))?;
            answers.push(msg.reply_to.map(big));
        }
        // What each change does to the quotes of its message's replies, in order: an edit
        // gives them its text's first 100 characters, a deletion empties them.
        let mut requotes = Vec::new();
        for c in changes {
            match c {
                Change::Edited(e) => {
                    requotes.push((big(e.id), Some(e.text.chars().take(100).collect::<String>())))
                }
                Change::Deleted(d) => requotes.push((big(d.id), None)),
                Change::Reacted(_) => {}
            }
        }
        let (sender_ids, sender_tokens): (Vec<i64>, Vec<&str>) =
            senders.iter().map(|(id, s)| (big(*id), s.as_str())).unzip();
        let (giver_ids, giver_json): (Vec<i64>, Vec<Option<&str>>) =
            givers.iter().map(|(id, g)| (big(*id), g.as_deref())).unzip();
        let upto = big(upto);
        self.with(|mut c| async move {
            let tx = c.transaction().await?;
            // Later rows of one id win: the current JSON comes after the stream's.
            let messages = tx
                .prepare_cached(
                    "INSERT INTO messages (room, id, json, reply_to)
                     SELECT DISTINCT ON (id) $1, id, json, reply_to
                     FROM unnest($2::BIGINT[], $3::TEXT[], $4::BIGINT[]) WITH ORDINALITY AS t(id, json, reply_to, n)
                     ORDER BY id, n DESC
                     ON CONFLICT (room, id) DO UPDATE SET json = EXCLUDED.json, reply_to = EXCLUDED.reply_to",
                )
                .await?;
            tx.execute(&messages, &[&room, &msg_ids, &msg_json, &answers]).await?;
            let senders = tx
                .prepare_cached(
                    "UPDATE messages SET sender = t.sender
                     FROM unnest($2::BIGINT[], $3::TEXT[]) AS t(id, sender)
                     WHERE messages.room = $1 AND messages.id = t.id",
                )
                .await?;
            tx.execute(&senders, &[&room, &sender_ids, &sender_tokens]).await?;
            let givers = tx
                .prepare_cached(
                    "UPDATE messages SET reactions = t.givers
                     FROM unnest($2::BIGINT[], $3::TEXT[]) AS t(id, givers)
                     WHERE messages.room = $1 AND messages.id = t.id",
                )
                .await?;
            tx.execute(&givers, &[&room, &giver_ids, &giver_json]).await?;
            let changes = tx
                .prepare_cached(
                    "INSERT INTO changes (room, seq, id, json)
                     SELECT $1, * FROM unnest($2::BIGINT[], $3::BIGINT[], $4::TEXT[])
                     ON CONFLICT (room, seq) DO NOTHING",
                )
                .await?;
            tx.execute(&changes, &[&room, &seqs, &targets, &change_json]).await?;
            // The replies' quotes, also of those Redis no longer holds (whose current JSON
            // it could not change); a reply whose quoted message was deleted keeps that.
            let edit = tx
                .prepare_cached(
                    "UPDATE messages SET json = jsonb_set(json::jsonb, '{quote,text}', to_jsonb($3::TEXT))::TEXT
                     WHERE room = $1 AND reply_to = $2
                       AND NOT coalesce((json::jsonb->'quote'->>'deleted')::BOOLEAN, false)",
                )
                .await?;
            // A deleted message's reactions go with it, as in Redis.
            let unreact = tx.prepare_cached("UPDATE messages SET reactions = NULL WHERE room = $1 AND id = $2").await?;
            for (id, _) in &deleted {
                tx.execute(&unreact, &[&room, id]).await?;
            }
            let delete = tx
                .prepare_cached(
                    "UPDATE messages SET json = jsonb_set(json::jsonb, '{quote}',
                       jsonb_build_object('nick', json::jsonb->'quote'->'nick', 'text', '', 'deleted', true))::TEXT
                     WHERE room = $1 AND reply_to = $2",
                )
                .await?;
            for (id, text) in &requotes {
                match text {
                    Some(text) => tx.execute(&edit, &[&room, id, text]).await?,
                    None => tx.execute(&delete, &[&room, id]).await?,
                };
            }
            let forget =
                tx.prepare_cached("DELETE FROM changes WHERE room = $1 AND id = $2 AND seq < $3").await?;
            for (id, seq) in &deleted {
                tx.execute(&forget, &[&room, id, seq]).await?;
            }
            let mark = tx
                .prepare_cached(
                    "INSERT INTO copied (room, upto) VALUES ($1, $2)
                     ON CONFLICT (room) DO UPDATE SET upto = greatest(copied.upto, EXCLUDED.upto)",
                )
                .await?;
            tx.execute(&mark, &[&room, &upto]).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Messages of `room` with `after < id < below`, oldest first, at most `max`.
    pub async fn after(
        &self,
        room: &str,
        after: u64,
        below: u64,
        max: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let sql = "SELECT json FROM messages WHERE room = $1 AND id > $2 AND id < $3 ORDER BY id LIMIT $4";
        self.query(sql, room, after, below, max).await
    }

    /// Messages of `room` with `id < below`, newest first, at most `max`.
    pub async fn before(&self, room: &str, below: u64, max: usize) -> Result<Vec<ChatMessage>, StoreError> {
        let sql =
            "SELECT json FROM messages WHERE room = $1 AND id > $2 AND id < $3 ORDER BY id DESC LIMIT $4";
        self.query(sql, room, 0, below, max).await
    }

    /// One message, if it is here.
    pub async fn message(&self, room: &str, id: u64) -> Result<Option<ChatMessage>, StoreError> {
        Ok(self.after(room, id.saturating_sub(1), id.saturating_add(1), 1).await?.pop())
    }

    /// One message, who sent it and who reacted to it, if it is here.
    pub async fn stored(&self, room: &str, id: u64) -> Result<Option<Stored>, StoreError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        self.with(|c| async move {
            let stmt = c
                .prepare_cached("SELECT json, sender, reactions FROM messages WHERE room = $1 AND id = $2")
                .await?;
            let Some(row) = c.query_opt(&stmt, &[&room, &id]).await? else { return Ok(None) };
            let msg =
                serde_json::from_str(row.get::<_, &str>(0)).map_err(|e| StoreError::Decode(e.to_string()))?;
            Ok(Some(Stored { msg, sender: row.get(1), givers: row.get(2) }))
        })
        .await
    }

    /// The changes of `room` with `after < seq < below` that concern messages with
    /// `id <= after`, oldest first, at most `max` (what a resume from `after` is told).
    pub async fn changes(
        &self,
        room: &str,
        after: u64,
        below: u64,
        max: usize,
    ) -> Result<Vec<Change>, StoreError> {
        let sql = "SELECT json FROM changes WHERE room = $1 AND seq > $2 AND seq < $3 AND id <= $2
                   ORDER BY seq LIMIT $4";
        self.query(sql, room, after, below, max).await
    }

    async fn query<T: serde::de::DeserializeOwned>(
        &self,
        sql: &'static str,
        room: &str,
        above: u64,
        below: u64,
        max: usize,
    ) -> Result<Vec<T>, StoreError> {
        let bound = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let (above, below, max) = (bound(above), bound(below), i64::try_from(max).unwrap_or(i64::MAX));
        self.with(|c| async move {
            let stmt = c.prepare_cached(sql).await?;
            let rows = c.query(&stmt, &[&room, &above, &below, &max]).await?;
            rows.iter()
                .map(|r| {
                    serde_json::from_str(r.get::<_, &str>(0)).map_err(|e| StoreError::Decode(e.to_string()))
                })
                .collect()
        })
        .await
    }
}
