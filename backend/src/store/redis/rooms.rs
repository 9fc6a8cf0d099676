//! Rooms' settings and their owners and moderators, read and written by the cluster's
//! reader off the hub's lock. Without `--database` they are Redis's (`chat:room:<room>`,
//! a hash: `password`, the Argon2 PHC string, and `max`; `chat:roles:<room>`, token to
//! `owner` or `moderator`). With it they are PostgreSQL's alone (`postgres::rooms`), so
//! a flushed Redis loses none of them; what a Redis-only cluster stored is read from
//! Redis and moved there the first time the room is read.

use std::collections::HashMap;
use std::sync::Arc;

use common::RoomName;

use super::{RedisReader, roles_key, room_key, seq_key};
use crate::store::postgres::Legacy;
use crate::store::{Roles, RoomSettings, SenderKey, StoreError, StoredRoom};

/// Creates a room's settings unless it has settings or messages (its counter of ids exists
/// from its first message on). KEYS: the settings hash, the room's counter. ARGV: field,
/// value pairs. Returns 1 when created.
const CREATE_ROOM: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
";

impl RedisReader {
    pub fn room(&self, room: &RoomName) -> Result<StoredRoom, StoreError> {
        let (key, seq) = (room_key(room.as_str()), seq_key(room.as_str()));
        let roles_key = roles_key(room.as_str());
        let (fields, counter, held): (HashMap<String, String>, bool, HashMap<String, String>) =
            self.with(|c| redis::pipe().hgetall(&key).exists(&seq).hgetall(&roles_key).query(c))?;
        let mut roles = Roles::default();
        for (token, role) in held {
            if role == "owner" {
                roles.owner = Some(token.into());
            } else {
                roles.moderators.insert(token.into());
            }
        }
        let settings = (!fields.is_empty()).then(|| RoomSettings {
            password: fields.get("password").map(|p| Arc::from(p.as_str())),
            max: fields.get("max").and_then(|m| m.parse().ok()),
        });
        let legacy = Legacy { settings, roles, counter };
        if let Some((archive, rt)) = &self.archive {
            return rt.block_on(archive.room(room, legacy));
        }
        Ok(StoredRoom {
            exists: legacy.counter || legacy.settings.is_some(),
            settings: legacy.settings.unwrap_or_default(),
            roles: legacy.roles,
        })
    }

    pub fn set_owner(&self, room: &RoomName, token: &SenderKey) -> Result<(), StoreError> {
        if let Some(kept) = self.archived(|a| a.set_owner(room, token)) {
            return kept;
        }
        let key = roles_key(room.as_str());
        self.with(|c| redis::pipe().atomic().del(&key).hset(&key, &**token, "owner").query::<()>(c))
    }

    pub fn set_moderator(&self, room: &RoomName, token: &SenderKey, on: bool) -> Result<(), StoreError> {
        if let Some(kept) = self.archived(|a| a.set_moderator(room, token, on)) {
            return kept;
        }
        let key = roles_key(room.as_str());
        // Never over the owner: the owner's field is left as it is.
        let script = redis::Script::new(
            "if redis.call('HGET', KEYS[1], ARGV[1]) == 'owner' then return 0 end
             if ARGV[2] == '1' then redis.call('HSET', KEYS[1], ARGV[1], 'moderator')
             else redis.call('HDEL', KEYS[1], ARGV[1]) end
             return 1",
        );
        self.with(|c| script.key(&key).arg(&**token).arg(if on { "1" } else { "0" }).invoke::<i64>(c))
            .map(drop)
    }

    /// With an archive, a room whose counter of ids exists in Redis has messages and is
    /// not created; else PostgreSQL decides (its `rooms` row, its messages). A room's
    /// first `say` comes from a member, who joined it after it was created, so the two
    /// steps do not race with one.
    pub fn create_room(&self, room: &RoomName, settings: &RoomSettings) -> Result<bool, StoreError> {
        let seq = seq_key(room.as_str());
        if let Some((archive, rt)) = &self.archive {
            if self.with(|c| redis::cmd("EXISTS").arg(&seq).query::<bool>(c))? {
                return Ok(false);
            }
            return rt.block_on(archive.create_room(room, settings));
        }
        let script = redis::Script::new(CREATE_ROOM);
        let mut fields: Vec<String> = Vec::new();
        if let Some(password) = &settings.password {
            fields.extend(["password".to_owned(), password.to_string()]);
        }
        if let Some(max) = settings.max {
            fields.extend(["max".to_owned(), max.to_string()]);
        }
        // A room's settings are created only when it has some (a password or a limit).
        if fields.is_empty() {
            fields.extend(["public".to_owned(), "1".to_owned()]);
        }
        let key = room_key(room.as_str());
        let created: i64 = self.with(|c| script.key(&key).key(&seq).arg(&fields).invoke(c))?;
        Ok(created == 1)
    }
}
