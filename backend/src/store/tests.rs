//! The store's rules, written once and run against every backend: ids per room, the
//! `cid` rule, ranges of history. Every backend is in [`backends`]; Redis runs as a real
//! `redis-server` of the test's own.

use std::path::{Path, PathBuf};

use common::{ChatMessage, Cid, Nick, RoomName, Text};
use tokio::sync::mpsc;

use super::{
    Appended, History, NewMessage, Outcome, Page, RoomSettings, SenderKey, Store, StoredRoom, Written,
};
use crate::cluster::Cluster;
use crate::config::SyncMode;
use crate::postgres_server::PostgresServer;
use crate::redis_server::RedisServer;
use crate::store::{Archive, Archiver};

/// The image of the messages whose cid starts with `img`.
pub const IMAGE: &str = "/media/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.gif";

/// Appends one message (its text names its cid; with an image when the cid starts with
/// `img`) and returns what the store said.
pub fn say(store: &mut Store, sender: &str, room: &str, cid: &str) -> Appended {
    store.append(NewMessage {
        sender: &SenderKey::from(sender),
        room: &RoomName::parse(room).unwrap(),
        nick: &Nick::parse("n").unwrap(),
        text: Text::parse(&format!("text {cid}")).unwrap(),
        cid: Cid::parse(cid).unwrap(),
        ts: 1,
        image: cid.starts_with("img").then(|| common::ImageRef::parse(IMAGE).unwrap()),
        reply_to: None,
    })
}

/// A backend under test, as the hub drives it.
pub struct Backend {
    pub name: &'static str,
    pub store: Store,
    pub history: History,
    written: Option<mpsc::Receiver<Written>>,
    /// What the Redis backend runs on: its writer task's runtime and its server, dropped
    /// (killed) with the backend.
    pub redis_server: Option<(tokio::runtime::Runtime, RedisServer)>,
    /// With an archive: the archiver, run after each message (so the hot window is
    /// always trimmed before the next step of a test), and PostgreSQL, killed when dropped.
    pub archive: Option<(Archiver, PostgresServer)>,
    /// The folder of its files, removed last.
    dir: Option<TempDb>,
}

/// What a `say` came to once the store is done with it.
#[derive(Debug, PartialEq)]
pub enum Said {
    /// Stored and delivered to the room.
    Delivered(ChatMessage),
    /// A retry: the stored message, for the sender alone.
    Again(ChatMessage),
    Failed,
}

impl Backend {
    /// Says and waits for the outcome, as the hub would act on it.
    pub fn say(&mut self, sender: &str, room: &str, cid: &str) -> Said {
        let said = self.say_without_archiving(sender, room, cid);
        self.archive_now();
        said
    }

    /// Says and waits for the outcome, without running the archiver after.
    pub fn say_without_archiving(&mut self, sender: &str, room: &str, cid: &str) -> Said {
        match say(&mut self.store, sender, room, cid) {
            Appended::Deliver(m) => Said::Delivered(m),
            Appended::Duplicate { room, id } => {
                Said::Again(self.history.message(&room, id).unwrap().expect("the stored message"))
            }
            Appended::Queued => {
                let written = self.written.as_mut().expect("a writer").blocking_recv().expect("an outcome");
                assert_eq!(written.len(), 1);
                let outcome = written.into_iter().next().unwrap();
                self.store.written(&outcome);
                match outcome {
                    // Published to the room's channel: the cluster's fan-out delivers it.
                    Outcome::Stored(_, m) | Outcome::Published(_, m) => Said::Delivered(m),
                    Outcome::Existing(_, m) => Said::Again(m),
                    Outcome::Failed(..) => Said::Failed,
                    other => panic!("{}: unexpected {other:?}", self.name),
                }
            }
            other => panic!("{}: unexpected {other:?}", self.name),
        }
    }

    /// Runs the archiver once, if there is one: copies and trims what was said.
    pub fn archive_now(&mut self) {
        if let (Some((archiver, _)), Some((rt, _))) = (self.archive.as_mut(), self.redis_server.as_ref()) {
            rt.block_on(archiver.pass()).expect("archiving");
        }
    }

    fn page(&self, page: Page) -> (Vec<u64>, bool) {
        (page.messages.iter().map(|m| m.id).collect(), page.complete)
    }
}

/// A SQLite file in a fresh folder of its own, removed when dropped (also when a test
/// panics). Derefs to the file's path.
#[derive(Debug)]
pub struct TempDb {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl std::ops::Deref for TempDb {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempDb {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

pub fn fresh_db() -> TempDb {
    let dir = tempfile::Builder::new().prefix("chat-store-test-").tempdir().expect("a temp folder");
    let path = dir.path().join("chat.db");
    TempDb { dir, path }
}

pub fn sqlite(path: &Path) -> Backend {
    let (store, history, written) = Store::sqlite(path, SyncMode::Normal).unwrap();
    Backend {
        name: "sqlite",
        store,
        history,
        written: Some(written),
        redis_server: None,
        archive: None,
        dir: None,
    }
}

/// The cluster's store on a `redis-server` of its own, empty.
pub fn redis() -> Backend {
    let dir = fresh_db();
    let server = RedisServer::start(&dir.dir.path().join("redis")).expect("a redis-server for the test");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let node = rt.block_on(Cluster::connect(&server.url())).expect("the test's Redis is reachable");
    let (store, history, written) = rt.block_on(async { Store::redis(node.commands(), node.client(), None) });
    let redis_server = Some((rt, server));
    Backend {
        name: "redis",
        store,
        history,
        written: Some(written),
        redis_server,
        archive: None,
        dir: Some(dir),
    }
}

/// The cluster's store on a `redis-server` of its own that keeps each room's newest
/// `window` messages, the rest archived in a PostgreSQL of its own, both empty.
pub fn redis_postgres(window: u64) -> Backend {
    let dir = fresh_db();
    let server = RedisServer::start(&dir.dir.path().join("redis")).expect("a redis-server for the test");
    let pg = PostgresServer::start(&dir.dir.path().join("pg")).expect("a PostgreSQL for the test");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let node = rt.block_on(Cluster::connect(&server.url())).expect("the test's Redis is reachable");
    let archive = rt.block_on(Archive::connect(&pg.url())).expect("the test's PostgreSQL is usable");
    let archiver = Archiver::new(node.commands(), archive.clone(), window);
    let (store, history, written) =
        rt.block_on(async { Store::redis(node.commands(), node.client(), Some(archive)) });
    Backend {
        name: "redis+postgres",
        store,
        history,
        written: Some(written),
        redis_server: Some((rt, server)),
        archive: Some((archiver, pg)),
        dir: Some(dir),
    }
}

/// Every backend, empty.
fn backends() -> Vec<Backend> {
    let (store, history) = Store::memory(10_000);
    let db = fresh_db();
    let mut sqlite = sqlite(&db);
    sqlite.dir = Some(db);
    vec![
        Backend {
            name: "memory",
            store,
            history,
            written: None,
            redis_server: None,
            archive: None,
            dir: None,
        },
        sqlite,
        redis(),
        // A hot window of two: every test's history crosses from Redis to PostgreSQL.
        redis_postgres(2),
    ]
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

fn id(said: Said) -> u64 {
    match said {
        Said::Delivered(m) | Said::Again(m) => m.id,
        Said::Failed => panic!("failed"),
    }
}

#[test]
fn ids_increase_per_room() {
    for mut b in backends() {
        let got: Vec<u64> = [("a", "1"), ("a", "2"), ("b", "3"), ("a", "4")]
            .iter()
            .map(|(r, c)| id(b.say("s", r, c)))
            .collect();
        assert_eq!(got, [1, 2, 1, 3], "{}", b.name);
    }
}

#[test]
fn a_cid_is_unique_per_sender_across_rooms() {
    for mut b in backends() {
        let Said::Delivered(first) = b.say("alice", "a", "c1") else { panic!("{}", b.name) };
        // The same sender retries, even naming another room: the stored one comes back.
        assert_eq!(b.say("alice", "a", "c1"), Said::Again(first.clone()), "{}", b.name);
        assert_eq!(b.say("alice", "b", "c1"), Said::Again(first), "{}", b.name);
        assert!(b.history.recent(&room("b"), 50).unwrap().messages.is_empty(), "{}", b.name);
        // Another sender may use the same cid.
        let Said::Delivered(other) = b.say("bob", "a", "c1") else { panic!("{}", b.name) };
        assert_eq!(other.id, 2, "{}", b.name);
        assert_eq!(b.page(b.history.recent(&room("a"), 50).unwrap()), (vec![1, 2], true), "{}", b.name);
    }
}

#[test]
fn history_ranges_and_completeness() {
    for mut b in backends() {
        for i in 1..=8 {
            b.say("s", "r", &i.to_string());
        }
        let r = room("r");
        let h = &b.history;
        assert_eq!(b.page(h.recent(&r, 3).unwrap()), (vec![6, 7, 8], false), "{}", b.name);
        assert_eq!(b.page(h.recent(&r, 8).unwrap()), ((1..=8).collect(), true), "{}", b.name);
        assert_eq!(b.page(h.after(&r, 5, 500).unwrap()), (vec![6, 7, 8], true), "{}", b.name);
        assert_eq!(b.page(h.after(&r, 5, 2).unwrap()), (vec![6, 7], false), "{}", b.name);
        assert_eq!(b.page(h.after(&r, 8, 500).unwrap()), (vec![], true), "{}", b.name);
        assert_eq!(b.page(h.before(&r, 7, 2).unwrap()), (vec![5, 6], false), "{}", b.name);
        assert_eq!(b.page(h.before(&r, 3, 50).unwrap()), (vec![1, 2], true), "{}", b.name);
        assert_eq!(b.page(h.recent(&room("nowhere"), 50).unwrap()), (vec![], true), "{}", b.name);
        let m = h.message(&r, 4).unwrap().unwrap();
        assert_eq!((m.id, m.text.as_str(), m.cid.as_deref()), (4, "text 4", Some("4")), "{}", b.name);
        assert_eq!(h.message(&r, 9).unwrap(), None, "{}", b.name);
    }
}

#[test]
fn a_room_is_created_once_with_its_settings_and_only_while_nothing_is_stored() {
    let private =
        RoomSettings { password: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()), max: Some(5) };
    let limited = RoomSettings { password: None, max: Some(2) };
    for mut b in backends() {
        let h = &b.history;
        assert_eq!(h.room(&room("den")).unwrap(), StoredRoom::default(), "{}: unknown", b.name);
        assert!(h.create_room(&room("den"), &private).unwrap(), "{}", b.name);
        let got = h.room(&room("den")).unwrap();
        assert_eq!(
            got,
            StoredRoom { exists: true, settings: private.clone(), roles: Default::default() },
            "{}",
            b.name
        );
        assert!(got.settings.is_private());
        // Created once: a second creator does not overwrite the first one's settings.
        assert!(!h.create_room(&room("den"), &limited).unwrap(), "{}", b.name);
        assert_eq!(h.room(&room("den")).unwrap().settings, private, "{}", b.name);
        // A room with messages exists, public, and can no longer be created with settings.
        b.say("s", "chat", "c1");
        let h = &b.history;
        assert_eq!(
            h.room(&room("chat")).unwrap(),
            StoredRoom { exists: true, settings: RoomSettings::default(), roles: Default::default() },
            "{}",
            b.name
        );
        assert!(!h.create_room(&room("chat"), &private).unwrap(), "{}", b.name);
        assert!(!h.room(&room("chat")).unwrap().settings.is_private(), "{}", b.name);
        // A public room with a limit.
        assert!(h.create_room(&room("pair"), &limited).unwrap(), "{}", b.name);
        assert_eq!(h.room(&room("pair")).unwrap().settings, limited, "{}", b.name);
    }
}

#[test]
fn a_room_s_owner_and_moderators_are_kept_and_a_new_owner_starts_afresh() {
    for b in backends() {
        let h = &b.history;
        let den = room("den");
        let (ann, bob, cat) =
            (SenderKey::from("ann-token"), SenderKey::from("bob-token"), SenderKey::from("cat-token"));
        h.set_owner(&den, &ann).unwrap();
        h.set_moderator(&den, &bob, true).unwrap();
        h.set_moderator(&den, &ann, true).unwrap();
        let stored = h.room(&den).unwrap();
        assert!(!stored.exists, "{}: roles alone do not make a room exist", b.name);
        assert_eq!(stored.roles.owner.as_deref(), Some("ann-token"), "{}", b.name);
        assert_eq!(
            stored.roles.moderators.iter().map(|t| &**t).collect::<Vec<_>>(),
            ["bob-token"],
            "{}",
            b.name
        );
        h.set_moderator(&den, &bob, false).unwrap();
        assert!(h.room(&den).unwrap().roles.moderators.is_empty(), "{}", b.name);
        h.set_moderator(&den, &bob, true).unwrap();
        // Created anew by someone else: the old roles go.
        h.set_owner(&den, &cat).unwrap();
        let roles = h.room(&den).unwrap().roles;
        assert_eq!((roles.owner.as_deref(), roles.moderators.len()), (Some("cat-token"), 0), "{}", b.name);
    }
}

#[test]
fn the_audit_log_keeps_the_newest_entries_newest_first() {
    for b in backends() {
        let h = &b.history;
        assert!(h.audit_log().unwrap().is_empty(), "{}", b.name);
        for i in 0..super::AUDIT_KEPT + 2 {
            h.audit(&format!("{{\"n\":{i}}}")).unwrap();
        }
        let log = h.audit_log().unwrap();
        assert_eq!(log.len(), super::AUDIT_KEPT, "{}", b.name);
        assert_eq!(log[0], format!("{{\"n\":{}}}", super::AUDIT_KEPT + 1), "{}", b.name);
        assert_eq!(log.last().unwrap(), "{\"n\":2}", "{}", b.name);
    }
}

#[test]
fn every_backend_keeps_a_messages_image() {
    for mut b in backends() {
        let Said::Delivered(m) = b.say("s", "r", "img-1") else { panic!("{}", b.name) };
        assert_eq!(m.image.as_deref(), Some(IMAGE), "{}", b.name);
        b.say("s", "r", "plain");
        assert_eq!(b.say("s", "r", "img-1"), Said::Again(m), "{}: a retry", b.name);
        let page = b.history.recent(&room("r"), 50).unwrap();
        let images: Vec<_> = page.messages.iter().map(|m| m.image.as_deref()).collect();
        assert_eq!(images, [Some(IMAGE), None], "{}", b.name);
    }
}

#[test]
fn sqlite_keeps_room_settings_across_a_restart_and_migrates_an_older_database() {
    let path = fresh_db();
    // A database of the version before private rooms: the messages table only.
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(
        "CREATE TABLE messages (room TEXT NOT NULL, id INTEGER NOT NULL, nick TEXT NOT NULL, text TEXT NOT NULL,
             ts INTEGER NOT NULL, sender TEXT NOT NULL, cid TEXT NOT NULL, PRIMARY KEY (room, id));
         CREATE UNIQUE INDEX messages_by_sender_cid ON messages (sender, cid);
         INSERT INTO messages VALUES ('old', 1, 'n', 'kept', 1, 's', 'c0');",
    )
    .unwrap();
    drop(old);
    let b = sqlite(&path);
    assert_eq!(b.page(b.history.recent(&room("old"), 50).unwrap()), (vec![1], true), "messages kept");
    let settings = RoomSettings { password: Some("$argon2id$phc".into()), max: None };
    assert!(b.history.create_room(&room("den"), &settings).unwrap());
    drop(b);
    let b = sqlite(&path);
    assert_eq!(
        b.history.room(&room("den")).unwrap(),
        StoredRoom { exists: true, settings, roles: Default::default() }
    );
}

#[test]
fn sqlite_renames_rooms_stored_decomposed_to_their_composed_name() {
    let path = fresh_db();
    let mut b = sqlite(&path);
    // Stored as an older server took them: "Café" decomposed, with a setting; and a room
    // decomposed whose composed name was stored too (two rooms, left apart).
    let settings = RoomSettings { password: None, max: Some(5) };
    assert!(b.history.create_room(&room("Cafe\u{301}"), &settings).unwrap());
    for (room, cid) in
        [("Cafe\u{301}", "c1"), ("Cafe\u{301}", "c2"), ("Bar\u{E9}", "c3"), ("Bare\u{301}", "c4")]
    {
        b.say("s", room, cid);
    }
    drop(b);
    let mut b = sqlite(&path);
    assert_eq!(b.page(b.history.recent(&room("Caf\u{E9}"), 50).unwrap()), (vec![1, 2], true));
    assert_eq!(
        b.history.room(&room("Caf\u{E9}")).unwrap(),
        StoredRoom { exists: true, settings, roles: Default::default() }
    );
    assert_eq!(b.page(b.history.recent(&room("Cafe\u{301}"), 50).unwrap()), (vec![], true));
    assert_eq!(b.page(b.history.recent(&room("Bar\u{E9}"), 50).unwrap()), (vec![1], true));
    assert_eq!(b.page(b.history.recent(&room("Bare\u{301}"), 50).unwrap()), (vec![1], true));
    // The renamed room goes on with its ids.
    let Said::Delivered(next) = b.say("s", "Caf\u{E9}", "c5") else { panic!() };
    assert_eq!(next.id, 3);
}

#[test]
fn sqlite_keeps_ids_and_the_cid_rule_across_a_restart() {
    let path = fresh_db();
    let mut b = sqlite(&path);
    let Said::Delivered(first) = b.say("alice", "a", "c1") else { panic!() };
    b.say("alice", "a", "c2");
    drop(b);
    let mut b = sqlite(&path);
    assert_eq!(b.say("alice", "b", "c1"), Said::Again(first));
    assert_eq!(id(b.say("alice", "a", "c3")), 3, "ids go on");
    assert_eq!(id(b.say("alice", "b", "c4")), 1);
}

#[test]
fn sqlite_tells_the_sender_when_the_disk_keeps_failing_and_takes_the_retry() {
    let path = fresh_db();
    let mut b = sqlite(&path);
    b.say("alice", "r", "c1");
    // Another connection takes the table away: every write and read now fails for real.
    let admin = rusqlite::Connection::open(&path).unwrap();
    admin.execute_batch("ALTER TABLE messages RENAME TO away").unwrap();
    assert_eq!(b.say("alice", "r", "c2"), Said::Failed);
    assert!(b.history.recent(&room("r"), 50).is_err(), "a read that fails says so");
    admin.execute_batch("ALTER TABLE away RENAME TO messages").unwrap();
    // The failed message was forgotten: its retry is stored, after the id it had skipped.
    assert_eq!(id(b.say("alice", "r", "c2")), 3);
    assert_eq!(b.page(b.history.recent(&room("r"), 50).unwrap()), (vec![1, 3], true));
}

#[test]
fn redis_fails_clearly_while_down_and_keeps_ids_and_the_cid_rule_across_a_crash() {
    let mut b = redis();
    let Said::Delivered(first) = b.say("alice", "a", "c1") else { panic!() };
    b.say("alice", "a", "c2");
    let (_, server) = b.redis_server.as_mut().unwrap();
    server.kill();
    assert_eq!(b.say("alice", "a", "c3"), Said::Failed, "the sender hears it was not stored");
    assert!(b.history.recent(&room("a"), 50).is_err(), "a read that fails says so");
    b.redis_server.as_mut().unwrap().1.restart().unwrap();
    // Back by itself, with everything acknowledged before the crash.
    assert_eq!(b.say("alice", "b", "c1"), Said::Again(first));
    assert_eq!(id(b.say("alice", "a", "c3")), 3, "ids go on");
    assert_eq!(b.page(b.history.recent(&room("a"), 50).unwrap()), (vec![1, 2, 3], true));
}

/// What a change came to once the store is done with it: the change, a refusal, or
/// nothing (it changed nothing).
type Judged = Option<Result<common::Change, crate::change::Refusal>>;

impl Backend {
    /// Asks `sender` (its nick is its name) for `action` on message `id` of `room`.
    fn change(&mut self, sender: &str, room: &str, id: u64, action: crate::change::Action) -> Judged {
        self.change_stored(sender, room, id, action).map(|r| r.map(|c| c.change))
    }

    /// [`Backend::change`], with what the store said beside the change (an orphaned picture).
    fn change_stored(
        &mut self,
        sender: &str,
        room: &str,
        id: u64,
        action: crate::change::Action,
    ) -> Option<Result<super::Changed, crate::change::Refusal>> {
        let actor = crate::change::Actor {
            sender: sender.into(),
            nick: Nick::parse(sender).unwrap(),
            moderates: false,
        };
        let request = crate::change::ChangeRequest { actor, room: self::room(room), id, action, ts: 7 };
        let changed = self.change_unarchived(request);
        // The archiver copies the change (and what it changed) and trims, as after a say.
        self.archive_now();
        changed
    }

    fn change_unarchived(
        &mut self,
        request: crate::change::ChangeRequest,
    ) -> Option<Result<super::Changed, crate::change::Refusal>> {
        use super::Changing;
        match self.store.change(request) {
            Changing::Deliver(changed) => Some(Ok(changed)),
            Changing::Nothing => None,
            Changing::Refused(refusal) => Some(Err(refusal)),
            Changing::Queued => {
                let written = self.written.as_mut().expect("a writer").blocking_recv().expect("an outcome");
                let outcome = written.into_iter().next()?;
                self.store.written(&outcome);
                match outcome {
                    Outcome::Changed(changed) => Some(Ok(changed)),
                    Outcome::Refused { refusal, .. } => Some(Err(refusal)),
                    other => panic!("{}: unexpected {other:?}", self.name),
                }
            }
            Changing::Busy => panic!("{}: busy", self.name),
        }
    }
}

#[test]
fn changes_number_on_and_pages_keep_their_tombstones() {
    use crate::change::{Action, Refusal};
    for mut b in backends() {
        let name = b.name;
        for i in 1..=6 {
            b.say("s", "r", &i.to_string());
        }
        let text = |t: &str| Action::Edit(Text::parse(t).unwrap());
        let thumbs = |on| Action::React { emoji: "👍".into(), on };
        assert_eq!(b.change("t", "r", 5, text("no")), Some(Err(Refusal::Forbidden)), "{name}");
        assert_eq!(b.change("s", "r", 9, Action::Delete), Some(Err(Refusal::NotFound)), "{name}");
        let seq = |j: Judged| j.unwrap_or_else(|| panic!("{name}: nothing")).unwrap().seq();
        // Numbers go on from the messages' (SQLite may leave the refused ones' unused).
        let seqs = vec![
            seq(b.change("s", "r", 2, Action::Delete)),
            seq(b.change("s", "r", 4, Action::Delete)),
            seq(b.change("s", "r", 5, text("five, fixed"))),
            seq(b.change("t", "r", 3, thumbs(true))),
        ];
        assert!(seqs[0] > 6 && seqs.windows(2).all(|w| w[0] < w[1]), "{name}: {seqs:?}");
        assert_eq!(b.change("t", "r", 3, thumbs(true)), None, "{name}: the same again is nothing");
        assert_eq!(b.change("t", "r", 2, thumbs(true)), Some(Err(Refusal::NotFound)), "{name}");
        let r = room("r");
        let h = &b.history;
        let page = h.recent(&r, 10).unwrap();
        assert_eq!(b.page(h.recent(&r, 10).unwrap()), ((1..=6).collect(), true), "{name}");
        let deleted: Vec<bool> = page.messages.iter().map(|m| m.deleted).collect();
        assert_eq!(deleted, [false, true, false, true, false, false], "{name}");
        assert!(page.messages[1].text.is_empty() && page.messages[1].cid.is_none(), "{name}");
        assert_eq!(
            (page.messages[4].text.as_str(), page.messages[4].edited),
            ("five, fixed", Some(7)),
            "{name}"
        );
        assert_eq!(page.messages[2].reactions.len(), 1, "{name}");
        assert_eq!(b.page(h.before(&r, 4, 2).unwrap()), (vec![2, 3], false), "{name}");
        assert_eq!(b.page(h.before(&r, 3, 5).unwrap()), (vec![1, 2], true), "{name}");
        assert_eq!(b.page(h.after(&r, 1, 3).unwrap()), (vec![2, 3, 4], false), "{name}");
        assert_eq!(b.page(h.after(&r, 3, 500).unwrap()), (vec![4, 5, 6], true), "{name}");
        assert!(h.message(&r, 4).unwrap().unwrap().deleted, "{name}");
        let (changes, complete) = h.changes(&r, 6, 500).unwrap();
        assert_eq!(changes.iter().map(common::Change::seq).collect::<Vec<_>>(), seqs, "{name}");
        assert!(complete, "{name}");
        assert_eq!(h.changes(&r, 3, 500).unwrap().0.len(), 2, "{name}: the changes of 1 to 3");
        // The next message's id goes on after the changes.
        assert!(id(b.say("s", "r", "7")) > seqs[3], "{name}");
    }
}

#[test]
fn a_picture_is_orphaned_by_the_deletion_of_the_last_message_naming_it() {
    use crate::change::Action;
    for mut b in backends() {
        let name = b.name;
        let a = id(b.say("s", "r", "img-a"));
        let c = id(b.say("s", "other", "img-c"));
        let orphan = |j: Option<Result<super::Changed, _>>| j.unwrap().unwrap().orphan;
        assert_eq!(orphan(b.change_stored("s", "r", a, Action::Delete)), None, "{name}: still named");
        assert_eq!(orphan(b.change_stored("s", "other", c, Action::Delete)), Some(IMAGE.into()), "{name}");
    }
}

#[test]
fn bans_are_kept_to_their_latest_end_and_forgotten_once_ended() {
    for b in backends() {
        let h = &b.history;
        let now = crate::hub::now_ms();
        assert!(h.bans(now).unwrap().is_empty(), "{}", b.name);
        h.ban("t:*:tok-a", now + 60_000, now).unwrap();
        // A shorter ban of the same never shortens it; a longer one extends it.
        h.ban("t:*:tok-a", now + 1_000, now).unwrap();
        h.ban("a:den:192.0.2.7", now + 600, now).unwrap();
        let mut bans = h.bans(now).unwrap();
        bans.sort();
        assert_eq!(
            bans,
            [("a:den:192.0.2.7".to_owned(), now + 600), ("t:*:tok-a".to_owned(), now + 60_000)],
            "{}",
            b.name
        );
        h.ban("t:*:tok-a", now + 120_000, now).unwrap();
        // Ended: gone by itself (Redis expires the key; the others filter and prune).
        std::thread::sleep(std::time::Duration::from_millis(800));
        let later = crate::hub::now_ms();
        assert_eq!(h.bans(later).unwrap(), [("t:*:tok-a".to_owned(), now + 120_000)], "{}", b.name);
    }
}

/// The length of a room's stream in the backend's Redis.
fn stream_len(b: &Backend, room: &str) -> usize {
    let (rt, server) = b.redis_server.as_ref().unwrap();
    let client = ::redis::Client::open(server.url()).unwrap();
    rt.block_on(async {
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        ::redis::cmd("XLEN").arg(super::redis::log_key(room)).query_async(&mut c).await.unwrap()
    })
}

#[test]
fn redis_keeps_a_hot_window_and_history_reads_through_to_postgres_which_may_restart() {
    let mut b = redis_postgres(3);
    let Said::Delivered(first) = b.say("alice", "r", "1") else { panic!() };
    for i in 2..=10 {
        b.say("alice", "r", &i.to_string());
    }
    assert_eq!(stream_len(&b, "r"), 3, "Redis keeps the newest three");
    let (rt, server) = b.redis_server.as_ref().unwrap();
    let senders: usize = rt.block_on(async {
        let client = ::redis::Client::open(server.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        ::redis::cmd("HLEN").arg(super::redis::from_key("r")).query_async(&mut c).await.unwrap()
    });
    assert_eq!(senders, 3, "and the senders of those three only");
    let (r, h) = (room("r"), &b.history);
    assert_eq!(b.page(h.recent(&r, 50).unwrap()), ((1..=10).collect(), true));
    assert_eq!(b.page(h.recent(&r, 5).unwrap()), ((6..=10).collect(), false));
    assert_eq!(b.page(h.after(&r, 2, 3).unwrap()), (vec![3, 4, 5], false));
    assert_eq!(b.page(h.after(&r, 6, 50).unwrap()), ((7..=10).collect(), true));
    assert_eq!(b.page(h.before(&r, 9, 4).unwrap()), (vec![5, 6, 7, 8], false));
    assert_eq!(b.page(h.before(&r, 5, 50).unwrap()), (vec![1, 2, 3, 4], true));
    assert_eq!(h.message(&r, 1).unwrap(), Some(first.clone()));
    // A retry of a message that only PostgreSQL still has is recognised.
    assert_eq!(b.say("alice", "r", "1"), Said::Again(first.clone()));

    // PostgreSQL goes away: messages are still taken (Redis holds them), the hot window
    // still reads, and what needs PostgreSQL fails clearly.
    b.archive.as_mut().unwrap().1.kill();
    assert_eq!(id(b.say_without_archiving("alice", "r", "11")), 11);
    assert_eq!(id(b.say_without_archiving("alice", "r", "12")), 12);
    assert_eq!(b.page(b.history.recent(&r, 2).unwrap()), (vec![11, 12], false));
    assert!(b.history.recent(&r, 50).is_err(), "a read of the archive says it failed");
    assert!(b.history.ping().is_err(), "the readiness check sees it");
    // Back: the archiver copies what came meanwhile and trims; nothing is lost or doubled.
    b.archive.as_mut().unwrap().1.restart().unwrap();
    b.archive_now();
    assert_eq!(stream_len(&b, "r"), 3);
    assert_eq!(b.page(b.history.recent(&room("r"), 50).unwrap()), ((1..=12).collect(), true));
    b.history.ping().unwrap();
}

#[test]
fn an_untrimmed_stream_of_a_redis_only_cluster_is_archived_before_it_is_trimmed() {
    let mut b = redis_postgres(2);
    let (archiver, pg) = b.archive.take().unwrap();
    // Written as a Redis-only cluster writes: nothing marks the room for archiving.
    {
        let (rt, server) = b.redis_server.as_ref().unwrap();
        let node = rt.block_on(Cluster::connect(&server.url())).unwrap();
        let (store, history, written) =
            rt.block_on(async { Store::redis(node.commands(), node.client(), None) });
        let mut plain = Backend {
            name: "redis",
            store,
            history,
            written: Some(written),
            redis_server: None,
            archive: None,
            dir: None,
        };
        for i in 1..=6 {
            plain.say("s", "old", &i.to_string());
        }
    }
    b.archive = Some((archiver, pg));
    b.archive_now();
    assert_eq!(stream_len(&b, "old"), 2, "copied, then trimmed");
    assert_eq!(b.page(b.history.recent(&room("old"), 50).unwrap()), ((1..=6).collect(), true));
    // Once: a second pass changes nothing, and new messages go on from there.
    b.archive_now();
    assert_eq!(id(b.say("s", "old", "7")), 7);
    // A retry of a message said before the archive is still recognised (its `cid` is in
    // the sender's hash of before), though its message is in PostgreSQL only.
    let Said::Again(again) = b.say("s", "old", "2") else { panic!("a retry") };
    assert_eq!((again.id, again.text.as_str()), (2, "text 2"));
    assert_eq!(b.page(b.history.recent(&room("old"), 50).unwrap()), ((1..=7).collect(), true));
}

#[test]
fn a_deletion_reaches_postgresql_and_the_text_goes_from_it() {
    use crate::change::Action;
    let mut b = redis_postgres(2);
    for i in 1..=4 {
        b.say("s", "r", &format!("secret{i}"));
    }
    // Message 1 is archived and trimmed from Redis by now; deleting it still works.
    assert!(matches!(b.change_stored("s", "r", 1, Action::Delete), Some(Ok(_))));
    for i in 5..=8 {
        b.say("s", "r", &i.to_string());
    }
    let (rt, _) = b.redis_server.as_ref().unwrap();
    let url = b.archive.as_ref().unwrap().1.url();
    let rows: Vec<String> = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let rows = client.query("SELECT json FROM messages WHERE room = 'r' ORDER BY id", &[]).await.unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    });
    assert_eq!(rows.len(), 8, "{rows:?}");
    assert!(!rows[0].contains("secret1") && rows[0].contains("\"deleted\":true"), "{}", rows[0]);
    assert!(rows[1].contains("secret2"));
    let page = b.history.recent(&room("r"), 50).unwrap();
    assert!(page.messages[0].deleted && page.messages[0].text.is_empty());
}

mod kept;
mod quotes;
mod races;
