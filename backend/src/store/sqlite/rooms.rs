//! Rooms' settings (table `rooms`) and their owners and moderators (`roles`), written from
//! a reader's connection beside the writer thread: a room is created or a role given
//! rarely, off the hub's lock, and its caller waits for it.

use common::RoomName;
use rusqlite::{OptionalExtension, params};

use super::SqliteReader;
use crate::store::{Roles, RoomSettings, SenderKey, StoreError, StoredRoom};

impl SqliteReader {
    pub fn room(&self, room: &RoomName) -> Result<StoredRoom, StoreError> {
        self.with(|conn| {
            let settings = conn
                .prepare_cached("SELECT password, max FROM rooms WHERE room = ?1")?
                .query_row(params![room.as_str()], |r| {
                    Ok(RoomSettings {
                        password: r.get::<_, Option<String>>(0)?.map(Into::into),
                        max: r.get::<_, Option<i64>>(1)?.and_then(|m| u32::try_from(m).ok()),
                    })
                })
                .optional()?;
            let exists = settings.is_some()
                || conn
                    .prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE room = ?1)")?
                    .query_row(params![room.as_str()], |r| r.get::<_, bool>(0))?;
            let mut roles = Roles::default();
            let mut rows = conn.prepare_cached("SELECT token, role FROM roles WHERE room = ?1")?;
            for row in rows
                .query_map(params![room.as_str()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            {
                let (token, role) = row?;
                if role == "owner" {
                    roles.owner = Some(token.into());
                } else {
                    roles.moderators.insert(token.into());
                }
            }
            Ok(StoredRoom { exists, settings: settings.unwrap_or_default(), roles })
        })
    }

    /// Written from a reader's connection, as [`SqliteReader::create_room`] is. A room
    /// whose stored roles are already this owner alone is left as it is: a room with
    /// neither messages nor settings is created again by each first joiner after a
    /// restart, and its owner coming back (every client of a reconnect storm) must not
    /// cost a synced transaction per room for a write that changes nothing.
    pub fn set_owner(&self, room: &RoomName, token: &SenderKey) -> Result<(), StoreError> {
        self.with(|conn| {
            // This owner's row alone (no other owner, no moderators) is what the write makes.
            let (rows, owned): (i64, bool) = conn
                .prepare_cached(
                    "SELECT COUNT(*), COALESCE(SUM(token = ?2 AND role = 'owner'), 0) = 1
                     FROM roles WHERE room = ?1",
                )?
                .query_row(params![room.as_str(), &**token], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if rows == 1 && owned {
                return Ok(());
            }
            let tx = conn.unchecked_transaction()?;
            tx.prepare_cached("DELETE FROM roles WHERE room = ?1")?.execute(params![room.as_str()])?;
            tx.prepare_cached("INSERT INTO roles (room, token, role) VALUES (?1, ?2, 'owner')")?
                .execute(params![room.as_str(), &**token])?;
            tx.commit()
        })
    }

    pub fn set_moderator(&self, room: &RoomName, token: &SenderKey, on: bool) -> Result<(), StoreError> {
        self.with(|conn| {
            let sql = if on {
                "INSERT INTO roles (room, token, role) VALUES (?1, ?2, 'moderator') ON CONFLICT (room, token) DO NOTHING"
            } else {
                "DELETE FROM roles WHERE room = ?1 AND token = ?2 AND role = 'moderator'"
            };
            conn.prepare_cached(sql)?.execute(params![room.as_str(), &**token]).map(drop)
        })
    }

    /// Written from a reader's connection, beside the writer thread (WAL allows one writer
    /// at a time; the busy timeout waits for a batch to commit): this runs once per room
    /// created, off the hub's lock, and its caller waits for it.
    pub fn create_room(&self, room: &RoomName, settings: &RoomSettings) -> Result<bool, StoreError> {
        self.with(|conn| {
            let n = conn
                .prepare_cached(
                    "INSERT INTO rooms (room, password, max)
                     SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM messages WHERE room = ?1)
                     ON CONFLICT (room) DO NOTHING",
                )?
                .execute(params![room.as_str(), settings.password.as_deref(), settings.max])?;
            Ok(n == 1)
        })
    }
}
