//! The JSON of a `say` split around its id, whatever the room is called.

use super::writer::split_json;
use common::ChatMessage;

#[test]
fn the_json_splits_around_the_id_whatever_the_room_is_called() {
    for room in ["r", "x\",\"id\":0", "a,\"id\":0"] {
        let msg = ChatMessage {
            room: room.into(),
            id: 0,
            nick: "n".into(),
            text: ",\"id\":0".into(),
            ts: 5,
            cid: Some("c".into()),
            ..ChatMessage::default()
        };
        let (head, tail) = split_json(&msg);
        let back: ChatMessage = serde_json::from_str(&format!("{head}42{tail}")).unwrap();
        assert_eq!(back, ChatMessage { id: 42, ..msg });
    }
}
