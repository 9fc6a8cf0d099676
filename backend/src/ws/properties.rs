//! Properties of the decoder over generated input: how the bytes are cut never matters,
//! nothing panics, and whatever a client may legally send comes out as it went in.

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;

/// Small enough that generated fragments sometimes add up past it.
const MAX: usize = 1024;

/// A client frame with the given first byte and mask; `long` writes the length in
/// 64 bits whatever it is (legal for a data frame, not for a control frame).
fn masked(first: u8, payload: &[u8], mask: Option<[u8; 4]>, long: bool) -> Vec<u8> {
    let bit = if mask.is_some() { 0x80 } else { 0 };
    let mut f = vec![first];
    match payload.len() {
        n if n < 126 && !long => f.push(bit | n as u8),
        n if n <= 0xFFFF && !long => {
            f.push(bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask = mask.unwrap_or_default();
    if bit != 0 {
        f.extend_from_slice(&mask);
    }
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Feeds `chunks` one at a time, taking every message after each, until the first
/// error: what a session would have acted on, and why it stopped, if it did.
fn decode_chunks<'a>(
    max: usize,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<Message>, Option<WsError>) {
    let mut d = Decoder::new(max);
    let mut out = Vec::new();
    for chunk in chunks {
        d.feed(chunk);
        loop {
            match d.next() {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

/// `bytes` cut at the given points (in any order, maybe the same twice).
fn split<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    at.sort_unstable();
    at.push(bytes.len());
    let mut start = 0;
    at.into_iter()
        .map(|end| {
            let part = &bytes[start..end];
            start = end;
            part
        })
        .collect()
}

/// A frame as a client might send it, or nearly: mostly legal headers, sometimes
/// any first byte at all, no mask or a 64-bit length; payloads mostly UTF-8.
fn any_frame() -> impl Strategy<Value = Vec<u8>> {
    let first = prop_oneof![
        8 => (any::<bool>(), prop::sample::select(vec![0u8, 1, 2, 8, 9, 10]))
            .prop_map(|(fin, op)| if fin || op & 0x8 != 0 { 0x80 | op } else { op }),
        1 => any::<u8>(),
    ];
    let payload = prop_oneof![
        3 => "(?s).{0,40}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ];
    (first, payload, any::<[u8; 4]>(), prop::bool::weighted(0.95), prop::bool::weighted(0.1)).prop_map(
        |(first, payload, mask, masked_, long)| masked(first, &payload, masked_.then_some(mask), long),
    )
}

/// A message as a client may legally send it.
#[derive(Debug, Clone)]
enum Sent {
    /// A text (or binary) message cut into fragments at `cuts` (even inside a
    /// character), with the pings of `pings` sent between the fragments.
    Data {
        text: bool,
        payload: Vec<u8>,
        cuts: Vec<Index>,
        pings: Vec<Vec<u8>>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

fn control_payload() -> impl Strategy<Value = Vec<u8>> + Clone {
    prop::collection::vec(any::<u8>(), 0..=125)
}

fn sent() -> impl Strategy<Value = Sent> {
    let legal_code = prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999];
    let cuts = prop::collection::vec(any::<Index>(), 0..4);
    let pings = prop::collection::vec(control_payload(), 0..3);
    prop_oneof![
        4 => ("(?s).{0,300}", cuts.clone(), pings.clone()).prop_map(|(text, cuts, pings)| {
            Sent::Data { text: true, payload: String::into_bytes(text), cuts, pings }
        }),
        1 => (prop::collection::vec(any::<u8>(), 0..300), cuts, pings)
            .prop_map(|(payload, cuts, pings)| Sent::Data { text: false, payload, cuts, pings }),
        1 => control_payload().prop_map(Sent::Ping),
        1 => control_payload().prop_map(Sent::Pong),
        // A reason of at most 30 characters fits the 123 bytes a close leaves for it.
        1 => prop::option::of((legal_code, "(?s).{0,30}")).prop_map(Sent::Close),
    ]
}

/// The bytes of `messages`, each frame masked with the next of `masks`, and the
/// messages the decoder must make of them, in order.
fn encode(messages: &[Sent], masks: &[[u8; 4]]) -> (Vec<u8>, Vec<Message>) {
    let mut masks = masks.iter().copied().cycle();
    let mut bytes = Vec::new();
    let mut want = Vec::new();
    let mut put = |first: u8, payload: &[u8]| bytes.extend(masked(first, payload, masks.next(), false));
    for m in messages {
        match m {
            Sent::Data { text, payload, cuts, pings } => {
                let parts = split(payload, cuts);
                let last = parts.len() - 1;
                for (i, part) in parts.into_iter().enumerate() {
                    let op = match (i, text) {
                        (0, true) => opcode::TEXT,
                        (0, false) => opcode::BINARY,
                        _ => opcode::CONTINUATION,
                    };
                    put(if i == last { 0x80 | op } else { op }, part);
                    if let Some(ping) = pings.get(i).filter(|_| i < last) {
                        put(0x80 | opcode::PING, ping);
                        want.push(Message::Ping(ping.clone()));
                    }
                }
                want.push(if *text {
                    Message::Text(String::from_utf8(payload.clone()).unwrap())
                } else {
                    Message::Binary
                });
            }
            Sent::Ping(p) => {
                put(0x80 | opcode::PING, p);
                want.push(Message::Ping(p.clone()));
            }
            Sent::Pong(p) => {
                put(0x80 | opcode::PONG, p);
                want.push(Message::Pong);
            }
            Sent::Close(close) => {
                let payload = close.as_ref().map_or_else(Vec::new, |(code, reason)| {
                    [&code.to_be_bytes()[..], reason.as_bytes()].concat()
                });
                put(0x80 | opcode::CLOSE, &payload);
                want.push(Message::Close(close.as_ref().map(|(code, _)| *code)));
            }
        }
    }
    (bytes, want)
}

proptest! {
    #[test]
    fn any_split_decodes_as_the_whole(
        frames in prop::collection::vec(any_frame(), 0..12),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let bytes = frames.concat();
        let whole = decode_chunks(MAX, [&bytes[..]]);
        prop_assert_eq!(&decode_chunks(MAX, split(&bytes, &cuts)), &whole);
        prop_assert_eq!(&decode_chunks(MAX, bytes.chunks(1)), &whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..8),
        masked_ in any::<bool>(),
        max in 0usize..2000,
    ) {
        let mut chunks = chunks;
        // Past the mask check, so the rest of the header is read too.
        if let Some(b) = chunks.first_mut().and_then(|c| c.get_mut(1)).filter(|_| masked_) {
            *b |= 0x80;
        }
        let (messages, _) = decode_chunks(max, chunks.iter().map(Vec::as_slice));
        for m in messages {
            if let Message::Text(t) = m {
                prop_assert!(t.len() <= max);
            }
        }
    }

    #[test]
    fn masked_messages_round_trip(
        messages in prop::collection::vec(sent(), 0..10),
        masks in prop::collection::vec(any::<[u8; 4]>(), 1..8),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let (bytes, want) = encode(&messages, &masks);
        let want = (want, None);
        prop_assert_eq!(&decode_chunks(common::MAX_FRAME_BYTES, [&bytes[..]]), &want);
        prop_assert_eq!(&decode_chunks(common::MAX_FRAME_BYTES, split(&bytes, &cuts)), &want);
    }
}
