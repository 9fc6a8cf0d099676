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
