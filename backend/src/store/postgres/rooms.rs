//! Rooms' settings (table `rooms`: a private room's Argon2 PHC string, never its password,
//! and its member limit) and their owners and moderators (`roles`, by resume token) in
//! PostgreSQL, the cluster's durable copy of them with `--database`: a Redis that is
//! flushed or loses its files loses no room's owner, moderators or password.
//!
//! A cluster that ran on Redis alone has these in Redis: the reader passes what Redis
//! holds of a room ([`Legacy`]), and a room that has no row here yet is moved over the
//! first time it is read (idempotently: a row or role that is here already wins).

use common::RoomName;

use super::Archive;
use crate::store::{Roles, RoomSettings, SenderKey, StoreError, StoredRoom};

/// What Redis holds of a room: its settings as a Redis-only cluster wrote them (`None`
/// when it has no settings hash), its roles, and whether its counter of ids exists (it
/// has messages, or had).
#[derive(Debug, Default)]
pub struct Legacy {
    pub settings: Option<RoomSettings>,
    pub roles: Roles,
    pub counter: bool,
}

impl Archive {
    /// The room's settings and roles, and whether it exists (settings here, messages here
    /// or in Redis); a room only Redis knows the settings of is copied here first.
    pub async fn room(&self, room: &RoomName, legacy: Legacy) -> Result<StoredRoom, StoreError> {
        let room = room.as_str();
        self.with(|mut c| async move {
            let tx = c.transaction().await?;
            let settings_stmt = tx.prepare_cached("SELECT password, max FROM rooms WHERE room = $1").await?;
            let mut row = tx.query_opt(&settings_stmt, &[&room]).await?;
            if row.is_none()
                && let Some(settings) = &legacy.settings
            {
                // Moved from a Redis-only cluster: its settings and roles come over once.
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO rooms (room, password, max) VALUES ($1, $2, $3)
                         ON CONFLICT (room) DO NOTHING",
                    )
                    .await?;
                let max = settings.max.map(i64::from);
                tx.execute(&insert, &[&room, &settings.password.as_deref(), &max]).await?;
                let role = tx
                    .prepare_cached(
                        "INSERT INTO roles (room, token, role) VALUES ($1, $2, $3)
                         ON CONFLICT (room, token) DO NOTHING",
                    )
                    .await?;
                if let Some(owner) = &legacy.roles.owner {
                    tx.execute(&role, &[&room, &&**owner, &"owner"]).await?;
                }
                for moderator in &legacy.roles.moderators {
                    tx.execute(&role, &[&room, &&**moderator, &"moderator"]).await?;
                }
                row = tx.query_opt(&settings_stmt, &[&room]).await?;
            }
            let settings = row.map(|r| RoomSettings {
                password: r.get::<_, Option<String>>(0).map(Into::into),
                max: r.get::<_, Option<i64>>(1).and_then(|m| u32::try_from(m).ok()),
            });
            let exists = settings.is_some() || legacy.counter || {
                let stmt =
                    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE room = $1)").await?;
                tx.query_one(&stmt, &[&room]).await?.get::<_, bool>(0)
            };
            let mut roles = Roles::default();
            let stmt = tx.prepare_cached("SELECT token, role FROM roles WHERE room = $1").await?;
            for row in tx.query(&stmt, &[&room]).await? {
                let (token, role): (String, &str) = (row.get(0), row.get(1));
                if role == "owner" {
                    roles.owner = Some(token.into());
                } else {
                    roles.moderators.insert(token.into());
                }
            }
            tx.commit().await?;
            Ok(StoredRoom { exists, settings: settings.unwrap_or_default(), roles })
        })
        .await
    }

    /// Records a new room's settings unless it has some or has messages here (the caller
    /// asked Redis first whether it has messages there). `false` when not created.
    pub async fn create_room(&self, room: &RoomName, settings: &RoomSettings) -> Result<bool, StoreError> {
        let (room, password, max) =
            (room.as_str(), settings.password.as_deref(), settings.max.map(i64::from));
        self.with(|c| async move {
            let stmt = c
                .prepare_cached(
                    "INSERT INTO rooms (room, password, max)
                     SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM messages WHERE room = $1)
                     ON CONFLICT (room) DO NOTHING",
                )
                .await?;
            Ok(c.execute(&stmt, &[&room, &password, &max]).await? == 1)
        })
        .await
    }

    /// Makes `token` the owner of a room being created, forgetting any earlier roles.
    pub async fn set_owner(&self, room: &RoomName, token: &SenderKey) -> Result<(), StoreError> {
        let (room, token) = (room.as_str(), &**token);
        self.with(|mut c| async move {
            let tx = c.transaction().await?;
            let forget = tx.prepare_cached("DELETE FROM roles WHERE room = $1").await?;
            tx.execute(&forget, &[&room]).await?;
            let own =
                tx.prepare_cached("INSERT INTO roles (room, token, role) VALUES ($1, $2, 'owner')").await?;
            tx.execute(&own, &[&room, &token]).await?;
            Ok(tx.commit().await?)
        })
        .await
    }

    /// Gives or takes a moderator's role; never over the owner's.
    pub async fn set_moderator(
        &self,
        room: &RoomName,
        token: &SenderKey,
        on: bool,
    ) -> Result<(), StoreError> {
        let (room, token) = (room.as_str(), &**token);
        let sql = if on {
            "INSERT INTO roles (room, token, role) VALUES ($1, $2, 'moderator') ON CONFLICT (room, token) DO NOTHING"
        } else {
            "DELETE FROM roles WHERE room = $1 AND token = $2 AND role = 'moderator'"
        };
        self.with(|c| async move {
            let stmt = c.prepare_cached(sql).await?;
            Ok(c.execute(&stmt, &[&room, &token]).await.map(drop)?)
        })
        .await
    }
}
