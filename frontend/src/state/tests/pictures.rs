//! Pictures: uploaded first, then said, retried or discarded, and sent after going offline.

use super::*;

#[test]
fn a_picture_waits_for_its_upload_then_is_said_and_shown_until_its_echo() {
    let mut chat = connected("alice");
    let cid = chat.start_upload("blob:local".into()).unwrap();
    let pending = |chat: &Chat| match &*chat.log()[0] {
        Entry::Outgoing { image, progress, failed, retry, .. } => {
            (image.clone(), *progress, failed.clone(), *retry)
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(pending(&chat), (Some("blob:local".into()), Some(0), None, true));
    chat.upload(&cid, Upload::Progress(40));
    assert_eq!(chat.log()[0].key(), EntryKey::Outgoing(cid.clone(), false, Some(40)));
    // A reconnect meanwhile sends nothing for it: there is no URL to say yet.
    chat.disconnected();
    let frames = chat.apply(welcome("alice"), 0.0);
    let frames = [frames, chat.apply(joined(LOBBY, vec![]), 0.0)].concat();
    assert!(!frames.iter().any(|f| matches!(f, ClientMsg::Say { .. })), "{frames:?}");
    let url = "/media/ab.png".to_owned();
    let say = chat.upload(&cid, Upload::Done(url.clone())).expect("said at once");
    assert_eq!(
        say,
        ClientMsg::Say {
            room: LOBBY.into(),
            text: String::new(),
            cid: cid.clone(),
            image: Some(url.clone()),
            reply_to: None,
        }
    );
    assert_eq!(
        pending(&chat),
        (Some("blob:local".into()), None, None, false),
        "sending, no longer uploading"
    );
    let echo = ChatMessage { image: Some(url.clone()), ..msg(LOBBY, 1, "alice", "", Some(&cid)) };
    chat.apply(ServerMsg::Message(echo), 0.0);
    assert!(matches!(&*chat.log()[0], Entry::Message { msg, own: true, .. } if msg.image == Some(url)));
    assert!(chat.outbox.items.is_empty());
}

#[test]
fn a_failed_upload_is_shown_with_a_retry_and_can_be_discarded() {
    let mut chat = connected("alice");
    let cid = chat.start_upload("blob:x".into()).unwrap();
    chat.upload(&cid, Upload::Failed("too big"));
    assert_eq!(texts(&chat), ["!too big"]);
    assert!(matches!(&*chat.log()[0], Entry::Outgoing { retry: true, progress: None, .. }));
    chat.upload(&cid, Upload::Retry);
    assert!(matches!(&*chat.log()[0], Entry::Outgoing { failed: None, progress: Some(0), .. }));
    chat.upload(&cid, Upload::Failed("again"));
    chat.discard(&cid);
    assert!(chat.log().is_empty());
}

#[test]
fn a_picture_uploaded_while_offline_is_said_on_the_next_joined() {
    let mut chat = connected("alice");
    let cid = chat.start_upload("blob:y".into()).unwrap();
    chat.disconnected();
    assert_eq!(chat.upload(&cid, Upload::Done("/media/cd.gif".into())), None);
    chat.apply(welcome("alice"), 0.0);
    let frames = chat.apply(joined(LOBBY, vec![]), 0.0);
    assert!(
        frames.iter().any(|f| matches!(f, ClientMsg::Say { image: Some(i), .. } if i == "/media/cd.gif")),
        "{frames:?}"
    );
}
