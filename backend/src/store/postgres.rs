//! The cluster's archive of messages in PostgreSQL (`--database`): every message a room
//! ever had, without limit, on disk, in a database operators already run and replicate.
//!
//! Redis stays where messages are taken, numbered and fanned out (see `store::redis`);
//! PostgreSQL receives them afterwards, room by room and in id order (see
//! `store::archive`), and Redis then drops what PostgreSQL holds beyond its hot window.
//! This file knows SQL: the tables (numbered migrations), the copy of a run of messages
//! (idempotent: a message copied twice is kept once) and the reads of the archived part
//! of a room's history.
//!
//! One pool of connections, bounded ([`POOL_MAX`]); statements are prepared once per
//! connection (the pool's statement cache). Every call is bounded by [`CALL_TIMEOUT`], so
//! a PostgreSQL that went away costs a reader at most that long before it hears
//! `unavailable`, and the pool reconnects by itself once it is back.

use std::time::Duration;

use common::{ChatMessage, RoomName};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::StoreError;

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
const MIGRATIONS: [&str; 1] = [MESSAGES];

/// A room's messages: ids as Redis gave them, the rest as the protocol sends it.
const MESSAGES: &str = "
    CREATE TABLE messages (
        room  TEXT   NOT NULL,
        id    BIGINT NOT NULL,
        nick  TEXT   NOT NULL,
        text  TEXT   NOT NULL,
        ts    BIGINT NOT NULL,
        cid   TEXT,
        image TEXT,
        PRIMARY KEY (room, id)
    );
";

/// The advisory lock the migrations are applied under (any constant of ours).
const MIGRATION_LOCK: i64 = 0x6368_6174; // "chat"

const COLUMNS: &str = "room, id, nick, text, ts, cid, image";

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

    /// The newest id of `room` held here (0 for none): everything up to it is here too,
    /// since a room is copied in id order, each run in one transaction.
    pub async fn last_id(&self, room: &str) -> Result<u64, StoreError> {
        self.with(|c| async move {
            let stmt = c.prepare_cached("SELECT coalesce(max(id), 0) FROM messages WHERE room = $1").await?;
            let id: i64 = c.query_one(&stmt, &[&room]).await?.get(0);
            Ok(u64::try_from(id).unwrap_or(0))
        })
        .await
    }

    /// Copies a run of one room's messages in one transaction; a message already here is
    /// left as it is, so a copy that is repeated (a node died after its commit and before
    /// it told Redis) changes nothing.
    pub async fn copy(&self, room: &str, messages: &[ChatMessage]) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = messages.iter().map(|m| i64::try_from(m.id).unwrap_or(i64::MAX)).collect();
        let nicks: Vec<&str> = messages.iter().map(|m| m.nick.as_str()).collect();
        let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
        let ts: Vec<i64> = messages.iter().map(|m| i64::try_from(m.ts).unwrap_or(i64::MAX)).collect();
        let cids: Vec<Option<&str>> = messages.iter().map(|m| m.cid.as_deref()).collect();
        let images: Vec<Option<&str>> = messages.iter().map(|m| m.image.as_deref()).collect();
        self.with(|c| async move {
            // One statement for the whole run: the arrays are unnested into rows.
            let stmt = c
                .prepare_cached(
                    "INSERT INTO messages (room, id, nick, text, ts, cid, image)
                     SELECT $1, * FROM unnest($2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::TEXT[], $7::TEXT[])
                     ON CONFLICT (room, id) DO NOTHING",
                )
                .await?;
            c.execute(&stmt, &[&room, &ids, &nicks, &texts, &ts, &cids, &images]).await?;
            Ok(())
        })
        .await
    }

    /// Messages of `room` with `after < id < below`, oldest first, at most `max`.
    pub async fn after(
        &self,
        room: &RoomName,
        after: u64,
        below: u64,
        max: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM messages WHERE room = $1 AND id > $2 AND id < $3 ORDER BY id LIMIT $4"
        );
        self.query(sql, room, after, below, max).await
    }

    /// Messages of `room` with `id < below`, newest first, at most `max`.
    pub async fn before(
        &self,
        room: &RoomName,
        below: u64,
        max: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM messages WHERE room = $1 AND id > $2 AND id < $3 ORDER BY id DESC LIMIT $4"
        );
        self.query(sql, room, 0, below, max).await
    }

    /// One message, if it is here.
    pub async fn message(&self, room: &str, id: u64) -> Result<Option<ChatMessage>, StoreError> {
        let room = room.to_owned();
        self.with(|c| async move {
            let stmt = c
                .prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE room = $1 AND id = $2"))
                .await?;
            let rows = c.query(&stmt, &[&room, &i64::try_from(id).unwrap_or(i64::MAX)]).await?;
            Ok(rows.first().map(row_to_message))
        })
        .await
    }

    async fn query(
        &self,
        sql: String,
        room: &RoomName,
        above: u64,
        below: u64,
        max: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let bound = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let (above, below, max) = (bound(above), bound(below), i64::try_from(max).unwrap_or(i64::MAX));
        let room = room.as_str().to_owned();
        self.with(|c| async move {
            let stmt = c.prepare_cached(&sql).await?;
            let rows = c.query(&stmt, &[&room, &above, &below, &max]).await?;
            Ok(rows.iter().map(row_to_message).collect())
        })
        .await
    }
}

fn row_to_message(r: &tokio_postgres::Row) -> ChatMessage {
    ChatMessage {
        room: r.get(0),
        id: u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
        nick: r.get(2),
        text: r.get(3),
        ts: u64::try_from(r.get::<_, i64>(4)).unwrap_or(0),
        cid: r.get(5),
        image: r.get(6),
    }
}
