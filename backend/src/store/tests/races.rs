//! With `--database`, the moments when another client of Redis (an operator's
//! `FLUSHALL`, another node, the archiver) acts between two steps of a node's store, each
//! forced: nothing is numbered below what PostgreSQL holds or out of the order it was
//! sent in, and no read shows an edited message's old text.

use super::*;
use crate::store::redis::{BEFORE_SCRIPTS, say_alone};

/// A second node's store on the backend's Redis and PostgreSQL (its own writer, which
/// has seen none of the rooms).
fn other_node(b: &Backend) -> Backend {
    let (rt, server) = b.redis_server.as_ref().unwrap();
    let url = b.archive.as_ref().unwrap().1.url();
    let node = rt.block_on(Cluster::connect(&server.url())).unwrap();
    let archive = rt.block_on(Archive::connect(&url)).unwrap();
    let (store, history, written) =
        rt.block_on(async { Store::redis(node.commands(), node.client(), Some(archive)) });
    Backend {
        name: "other node",
        store,
        history,
        written: Some(written),
        redis_server: None,
        archive: None,
        dir: None,
    }
}

/// A connection of the test's own to the backend's Redis.
fn redis(b: &Backend) -> ::redis::Connection {
    let (_, server) = b.redis_server.as_ref().unwrap();
    ::redis::Client::open(server.url()).unwrap().get_connection().unwrap()
}

#[test]
fn a_redis_emptied_between_the_writers_check_and_its_script_numbers_on_from_postgresql() {
    let mut b = redis_postgres(2);
    for i in 1..=6 {
        b.say("alice", "flushed", &format!("c{i}"));
    }
    // The other node's writer checks the room's counter (there, at 6), then Redis is
    // emptied before its script runs.
    let mut other = other_node(&b);
    let mut c = redis(&b);
    let flush = move || ::redis::cmd("FLUSHALL").query::<()>(&mut c).unwrap();
    *BEFORE_SCRIPTS.lock().unwrap() = Some(("flushed".to_owned(), Box::new(flush)));
    let said = other.say_without_archiving("bob", "flushed", "d1");
    assert!(BEFORE_SCRIPTS.lock().unwrap().is_none(), "Redis was emptied at that moment");
    assert_eq!(id(said), 7, "numbered on from PostgreSQL's last, never from 1 again");
    assert_eq!(b.page(b.history.recent(&room("flushed"), 50).unwrap()), ((1..=7).collect(), true));
}

#[test]
fn a_say_after_one_refused_for_a_lost_counter_in_the_same_pipeline_is_refused_too() {
    let b = redis_postgres(2);
    let (rt, server) = b.redis_server.as_ref().unwrap();
    rt.block_on(async {
        let client = ::redis::Client::open(server.url()).unwrap();
        let mut conn = ::redis::aio::ConnectionManager::new(client).await.unwrap();
        // This node's pipeline: its first `say` finds the room's counter gone (Redis
        // emptied)...
        assert_eq!(say_alone(&mut conn, "r", "first", "chat:halt:p1").await, 3);
        // ...another node sets it again from PostgreSQL between the pipeline's scripts...
        ::redis::cmd("SET").arg("chat:seq:r").arg(6).query_async::<()>(&mut conn).await.unwrap();
        // ...and the second `say`, sent after the first, waits for it rather than take 7
        // while the first, sent again, would take 8.
        assert_eq!(say_alone(&mut conn, "r", "second", "chat:halt:p1").await, 3);
        // Sent again (a new pipeline), in their order.
        assert_eq!(say_alone(&mut conn, "r", "first", "chat:halt:p2").await, 1);
        assert_eq!(say_alone(&mut conn, "r", "second", "chat:halt:p2").await, 1);
    });
    let page = b.history.recent(&room("r"), 50).unwrap();
    let got: Vec<(u64, String)> = page.messages.iter().map(|m| (m.id, m.cid.clone().unwrap())).collect();
    assert_eq!(got, [(7, "first".to_owned()), (8, "second".to_owned())]);
}

#[test]
fn a_read_that_crosses_a_trim_shows_an_edited_message_as_edited() {
    use crate::change::Action;
    let mut b = redis_postgres(2);
    b.say("alice", "r", "c1");
    let edit = Action::Edit(Text::parse("edited").unwrap());
    let request = crate::change::ChangeRequest {
        actor: crate::change::Actor {
            sender: "alice".into(),
            nick: Nick::parse("alice").unwrap(),
            moderates: false,
        },
        room: room("r"),
        id: 1,
        action: edit,
        ts: 7,
    };
    assert!(matches!(b.change_unarchived(request), Some(Ok(_))));
    // What a reader's read of the stream returns before the trim: message 1 as first
    // sent (the edit is in `chat:cur`).
    let mut c = redis(&b);
    let before: Vec<u8> = ::redis::cmd("DUMP").arg("chat:log:r").query(&mut c).unwrap();
    // The archiver copies the edit, trims message 1 and drops its current version.
    for i in 2..=4 {
        b.say("alice", "r", &format!("c{i}"));
    }
    let mut c2 = redis(&b);
    let floor: u64 = ::redis::cmd("GET").arg("chat:floor:r").query(&mut c2).unwrap();
    assert!(floor > 1, "message 1 was trimmed");
    // The reader's stream read as it was, its floor and `chat:cur` read after the trim.
    ::redis::cmd("RESTORE").arg("chat:log:r").arg(0).arg(before).arg("REPLACE").query::<()>(&mut c).unwrap();
    let page = b.history.recent(&room("r"), 50).unwrap();
    let first = page.messages.iter().find(|m| m.id == 1).expect("message 1");
    assert_eq!((first.text.as_str(), first.edited), ("edited", Some(7)));
}
