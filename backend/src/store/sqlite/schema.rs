//! SQLite's schema: the numbered migrations (`PRAGMA user_version` counts those applied)
//! and the repairs of databases older servers wrote, run once when the store opens.

use rusqlite::Connection;

/// The schema, as migrations: `PRAGMA user_version` counts those applied, and opening a
/// database applies the rest in order, each in its own transaction. Never edit one that
/// has shipped; add the next.
pub(super) const MIGRATIONS: [&str; 6] = [SCHEMA, ROOMS, ROLES, AUDIT, CHANGES, BANS];

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS messages (
        room   TEXT    NOT NULL,
        id     INTEGER NOT NULL,
        nick   TEXT    NOT NULL,
        text   TEXT    NOT NULL,
        ts     INTEGER NOT NULL,
        sender TEXT    NOT NULL,
        cid    TEXT    NOT NULL,
        image  TEXT,
        PRIMARY KEY (room, id)
    );
    CREATE UNIQUE INDEX IF NOT EXISTS messages_by_sender_cid ON messages (sender, cid);
";

/// Private rooms: the settings a room was created with. `password` is an Argon2 PHC string
/// (hash, salt and parameters), never the password; NULL for a public room with a limit.
const ROOMS: &str = "
    CREATE TABLE rooms (
        room     TEXT    NOT NULL PRIMARY KEY,
        password TEXT,
        max      INTEGER
    );
";

/// Rooms' owners and moderators: `role` is `owner` or `moderator`, `token` the session's
/// resume token (as `messages.sender` keeps it).
const ROLES: &str = "
    CREATE TABLE roles (
        room  TEXT NOT NULL,
        token TEXT NOT NULL,
        role  TEXT NOT NULL,
        PRIMARY KEY (room, token)
    );
";

/// The operator's audit log: one JSON entry a row, the newest [`crate::store::AUDIT_KEPT`] kept.
const AUDIT: &str = "
    CREATE TABLE audit (
        seq   INTEGER PRIMARY KEY,
        entry TEXT    NOT NULL
    );
";

/// Changing a message after it was said: what a message went through (its last edit, a
/// deletion, the message it answers and its quote), the changes themselves as they are
/// told (`body`, the frame's JSON, for `joined.changes`), and who reacted with what.
const CHANGES: &str = "
    ALTER TABLE messages ADD COLUMN edited INTEGER;
    ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN reply_to INTEGER;
    ALTER TABLE messages ADD COLUMN quote_nick TEXT;
    ALTER TABLE messages ADD COLUMN quote_text TEXT;
    ALTER TABLE messages ADD COLUMN quote_deleted INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX messages_by_reply ON messages (room, reply_to) WHERE reply_to IS NOT NULL;
    CREATE INDEX messages_by_image ON messages (image) WHERE image IS NOT NULL;
    CREATE TABLE changes (
        room TEXT    NOT NULL,
        seq  INTEGER NOT NULL,
        id   INTEGER NOT NULL,
        body TEXT    NOT NULL,
        PRIMARY KEY (room, seq)
    );
    CREATE INDEX changes_by_message ON changes (room, id);
    CREATE TABLE reactions (
        room   TEXT    NOT NULL,
        id     INTEGER NOT NULL,
        emoji  TEXT    NOT NULL,
        sender TEXT    NOT NULL,
        nick   TEXT    NOT NULL,
        seq    INTEGER NOT NULL,
        PRIMARY KEY (room, id, sender, emoji)
    );
";

/// Bans (see `crate::store::bans`): what a ban keeps out, as the hub names it, and its end in ms
/// since the epoch; ended ones are deleted as new ones come.
const BANS: &str = "
    CREATE TABLE bans (
        key   TEXT    NOT NULL PRIMARY KEY,
        until INTEGER NOT NULL
    );
    CREATE INDEX bans_by_end ON bans (until);
";

/// Brings the database's schema up to date: the [`MIGRATIONS`] not applied yet, then the
/// `image` column of `messages`, added to a table an older server created (`NULL` in the
/// rows it already holds). The column is checked for rather than numbered: databases of
/// servers with either change and not the other exist.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let done: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in (1i64..).zip(MIGRATIONS).skip(usize::try_from(done).unwrap_or(0)) {
        if i == 3 {
            // The changes' index of pictures needs the column.
            add_image_column(conn)?;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i)?;
        tx.commit()?;
    }
    add_image_column(conn)
}

/// Adds the `image` column to a `messages` table an older server created without it.
fn add_image_column(conn: &mut Connection) -> rusqlite::Result<()> {
    let has_image =
        conn.prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'image'")?.exists([])?;
    if !has_image {
        conn.execute_batch("ALTER TABLE messages ADD COLUMN image TEXT")?;
        tracing::info!("added the image column to the messages table");
    }
    Ok(())
}

/// Renames the rooms stored under a name that is not in NFC (a server before names were
/// normalised stored them as the client sent them) to their NFC name, which is the only
/// one a client can now ask for, so that their history and settings stay reachable. A
/// room whose NFC name is another stored room's keeps its name (merging two rooms' ids is
/// not done) and is reported. Run at each start: one pass over the rooms' index, as
/// reading each room's last id is, and a no-op once done.
pub(super) fn normalise_room_names(conn: &mut Connection) -> rusqlite::Result<()> {
    use unicode_normalization::{UnicodeNormalization, is_nfc};
    let tx = conn.transaction()?;
    let names: Vec<String> = tx
        .prepare("SELECT DISTINCT room FROM messages UNION SELECT room FROM rooms")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for old in names.iter().filter(|name| !is_nfc(name)) {
        let new: String = old.nfc().collect();
        let taken = tx
            .prepare("SELECT 1 FROM messages WHERE room = ?1 UNION SELECT 1 FROM rooms WHERE room = ?1")?
            .exists([&new])?;
        if taken {
            tracing::warn!(
                room = %old,
                composed = %new,
                "a stored room's composed name is another stored room's: it keeps its name, \
                 which clients can no longer ask for"
            );
            continue;
        }
        tx.execute("UPDATE messages SET room = ?2 WHERE room = ?1", [old, &new])?;
        tx.execute("UPDATE rooms SET room = ?2 WHERE room = ?1", [old, &new])?;
        tracing::info!(room = %new, "a stored room's name is now in its composed (NFC) form");
    }
    tx.commit()
}
