//! With `--database`, the quote a reply carries of its message follows that message's
//! edit and deletion also once the reply is PostgreSQL's alone (trimmed from Redis): a
//! deleted message's text leaves every reply that quoted it.

use super::*;
use crate::change::Action;

/// A reply from `sender` in `room` to message `to`.
fn reply(b: &mut Backend, sender: &str, room: &str, cid: &str, to: u64) -> u64 {
    let appended = b.store.append(NewMessage {
        sender: &SenderKey::from(sender),
        room: &RoomName::parse(room).unwrap(),
        nick: &Nick::parse("n").unwrap(),
        text: Text::parse(&format!("text {cid}")).unwrap(),
        cid: Cid::parse(cid).unwrap(),
        ts: 1,
        image: None,
        reply_to: Some(to),
    });
    assert!(matches!(appended, Appended::Queued), "{appended:?}");
    let written = b.written.as_mut().unwrap().blocking_recv().unwrap();
    let outcome = written.into_iter().next().unwrap();
    b.store.written(&outcome);
    b.archive_now();
    match outcome {
        Outcome::Published(_, m) => m.id,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_trimmed_reply_loses_the_text_of_its_deleted_message_and_follows_its_edit() {
    let mut b = redis_postgres(2);
    let secret = id(b.say("s", "r", "secret"));
    let edited = id(b.say("s", "r", "plain"));
    let (to_secret, to_edited) =
        (reply(&mut b, "t", "r", "r1", secret), reply(&mut b, "t", "r", "r2", edited));
    for i in 0..4 {
        b.say("s", "r", &format!("later{i}"));
    }
    // Both replies are PostgreSQL's alone now.
    assert!(matches!(
        b.change_stored("s", "r", edited, Action::Edit(Text::parse("changed").unwrap())),
        Some(Ok(_))
    ));
    assert!(matches!(b.change_stored("s", "r", secret, Action::Delete), Some(Ok(_))));
    for i in 4..8 {
        b.say("s", "r", &format!("later{i}"));
    }
    let r = room("r");
    let quote = |id| b.history.message(&r, id).unwrap().unwrap().quote.unwrap();
    let gone = quote(to_secret);
    assert!(gone.deleted && gone.text.is_empty(), "{gone:?}");
    assert_eq!(quote(to_edited).text, "changed");
    let (rt, _) = b.redis_server.as_ref().unwrap();
    let url = b.archive.as_ref().unwrap().1.url();
    let rows: Vec<String> = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let rows = client.query("SELECT json FROM messages WHERE room = 'r'", &[]).await.unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    });
    assert!(rows.iter().all(|row| !row.contains("text secret")), "{rows:?}");
}

#[test]
fn reactions_leave_redis_with_their_message_and_come_back_with_it() {
    let mut b = redis_postgres(2);
    let x = id(b.say("s", "r", "x"));
    let react = |emoji: &str| Action::React { emoji: emoji.into(), on: true };
    assert!(matches!(b.change_stored("t", "r", x, react("👍")), Some(Ok(_))));
    for i in 0..4 {
        b.say("s", "r", &format!("later{i}"));
    }
    let (rt, server) = b.redis_server.as_ref().unwrap();
    let client = ::redis::Client::open(server.url()).unwrap();
    let givers: usize = rt.block_on(async {
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        ::redis::cmd("HLEN").arg("chat:rx:r").query_async(&mut c).await.unwrap()
    });
    assert_eq!(givers, 0, "Redis forgets who reacted to a message it no longer holds");
    // Another reaction to the old message: the first one is still there, and still t's.
    assert!(matches!(b.change_stored("u", "r", x, react("👍")), Some(Ok(_))));
    assert!(matches!(b.change_stored("t", "r", x, react("🎉")), Some(Ok(_))));
    let reactions = b.history.message(&room("r"), x).unwrap().unwrap().reactions;
    let seen: Vec<(String, Vec<String>)> = reactions.into_iter().map(|r| (r.emoji, r.nicks)).collect();
    assert_eq!(
        seen,
        [("👍".to_owned(), vec!["t".to_owned(), "u".to_owned()]), ("🎉".to_owned(), vec!["t".to_owned()])]
    );
    // Taken back by t: no change twice.
    let off = Action::React { emoji: "👍".into(), on: false };
    assert!(matches!(b.change_stored("t", "r", x, off), Some(Ok(_))));
}
