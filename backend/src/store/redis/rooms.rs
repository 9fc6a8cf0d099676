//! Rooms' settings (`chat:room:<room>`, a hash: `password`, the Argon2 PHC string, and
//! `max`) and their owners and moderators (`chat:roles:<room>`), read and written by the
//! cluster's reader off the hub's lock.

use std::collections::HashMap;
use std::sync::Arc;

use common::RoomName;

use super::{RedisReader, roles_key, room_key, seq_key};
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
        let (fields, stored, held): (HashMap<String, String>, bool, HashMap<String, String>) =
            self.with(|c| redis::pipe().hgetall(&key).exists(&seq).hgetall(&roles_key).query(c))?;
        let mut roles = Roles::default();
        for (token, role) in held {
            if role == "owner" {
                roles.owner = Some(token.into());
            } else {
                roles.moderators.insert(token.into());
            }
        }
        let settings = RoomSettings {
            password: fields.get("password").map(|p| Arc::from(p.as_str())),
            max: fields.get("max").and_then(|m| m.parse().ok()),
        };
        Ok(StoredRoom { exists: stored || !fields.is_empty(), settings, roles })
    }

    pub fn set_owner(&self, room: &RoomName, token: &SenderKey) -> Result<(), StoreError> {
        let key = roles_key(room.as_str());
        self.with(|c| redis::pipe().atomic().del(&key).hset(&key, &**token, "owner").query::<()>(c))
    }

    pub fn set_moderator(&self, room: &RoomName, token: &SenderKey, on: bool) -> Result<(), StoreError> {
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

    pub fn create_room(&self, room: &RoomName, settings: &RoomSettings) -> Result<bool, StoreError> {
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
        let (key, seq) = (room_key(room.as_str()), seq_key(room.as_str()));
        let created: i64 = self.with(|c| script.key(&key).key(&seq).arg(&fields).invoke(c))?;
        Ok(created == 1)
    }
}
