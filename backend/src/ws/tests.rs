use super::*;

/// A client frame: masked, with the given first byte.
fn client(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut f = vec![first];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fn decode_all(bytes: &[u8]) -> Result<Vec<Message>, WsError> {
    let mut d = Decoder::new(16 * 1024);
    d.feed(bytes);
    let mut out = Vec::new();
    while let Some(m) = d.next()? {
        out.push(m);
    }
    Ok(out)
}

#[test]
fn the_accept_key_of_the_rfc_example() {
    assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn server_frames_have_the_shortest_header_for_their_length() {
    for (len, header) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
        let payload = vec![b'x'; len];
        let f = frame(opcode::TEXT, &payload);
        assert_eq!(f.len(), header + len, "payload of {len}");
        assert_eq!(f[0], 0x81);
        assert_eq!(payload_of(&f), &payload[..]);
    }
    assert_eq!(PING, &frame(opcode::PING, b"")[..]);
    let f = text_frame(|b| b.extend_from_slice(b"{\"type\":\"pong\"}"));
    assert_eq!(&f[..], b"\x81\x0f{\"type\":\"pong\"}");
}

fn payload_of(f: &[u8]) -> &[u8] {
    payload(f)
}

#[test]
fn close_frames_carry_the_code_and_a_cut_reason() {
    let f = close_frame(1013, "too slow");
    assert_eq!(&f[..], b"\x88\x0a\x03\xf5too slow");
    let long = "é".repeat(100);
    let f = close_frame(1000, &long);
    assert!(f.len() <= 2 + 125);
    assert!(std::str::from_utf8(&payload(&f)[2..]).is_ok());
}

#[test]
fn decodes_texts_split_anywhere() {
    let mut bytes = client(0x81, b"hello");
    bytes.extend(client(0x81, "wörld".as_bytes()));
    for cut in 0..bytes.len() {
        let mut d = Decoder::new(100);
        let mut got = Vec::new();
        for part in [&bytes[..cut], &bytes[cut..]] {
            d.feed(part);
            while let Some(m) = d.next().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, [Message::Text("hello".into()), Message::Text("wörld".into())], "cut at {cut}");
    }
}

#[test]
fn joins_fragments_around_control_frames() {
    let mut bytes = client(0x01, b"hel");
    bytes.extend(client(0x89, b"p"));
    bytes.extend(client(0x00, b"lo "));
    bytes.extend(client(0x80, b"there"));
    assert_eq!(
        decode_all(&bytes).unwrap(),
        [Message::Ping(b"p".to_vec()), Message::Text("hello there".into())]
    );
}

#[test]
fn lengths_of_16_and_64_bits() {
    let text = "x".repeat(300);
    assert_eq!(decode_all(&client(0x81, text.as_bytes())).unwrap(), [Message::Text(text)]);
    let mut d = Decoder::new(100_000);
    let big = "y".repeat(70_000);
    d.feed(&client(0x81, big.as_bytes()));
    assert_eq!(d.next().unwrap(), Some(Message::Text(big)));
}

#[test]
fn refuses_what_a_server_must_refuse() {
    let cases: [(Vec<u8>, WsError); 8] = [
        (vec![0x81, 0x02, b'h', b'i'], WsError::Protocol("client frames must be masked")),
        (client(0xC1, b"hi"), WsError::Protocol("reserved bits set without an extension")),
        (client(0x83, b"hi"), WsError::Protocol("unknown opcode")),
        (client(0x09, b"p"), WsError::Protocol("control frames must be final and at most 125 bytes")),
        (client(0x80, b"x"), WsError::Protocol("continuation without a message to continue")),
        (
            [client(0x01, b"a"), client(0x81, b"b")].concat(),
            WsError::Protocol("a new message inside a fragmented one"),
        ),
        (client(0x81, &[0xFF, 0xFE]), WsError::BadUtf8),
        (client(0x88, &[0x03]), WsError::Protocol("a close payload of one byte")),
    ];
    for (bytes, want) in cases {
        assert_eq!(decode_all(&bytes).unwrap_err(), want);
    }
    assert_eq!(
        decode_all(&client(0x88, &[0x03, 0xEE])).unwrap_err(),
        WsError::Protocol("invalid close code")
    );
}

#[test]
fn a_frame_over_the_limit_is_refused_from_its_header() {
    let mut d = Decoder::new(10);
    // Only the header of a huge frame: refused without waiting for (or buffering) it.
    d.feed(&[0x81, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(d.next().unwrap_err(), WsError::TooBig);
    // Fragments add up to the limit.
    let mut d = Decoder::new(10);
    d.feed(&client(0x01, b"123456"));
    d.feed(&client(0x80, b"7890a"));
    assert_eq!(d.next().unwrap_err(), WsError::TooBig);
    assert_eq!(WsError::TooBig.close_code(), 1009);
}

#[test]
fn close_frames_decode_with_or_without_a_code() {
    assert_eq!(decode_all(&client(0x88, b"")).unwrap(), [Message::Close(None)]);
    let mut p = 1000u16.to_be_bytes().to_vec();
    p.extend_from_slice(b"bye");
    assert_eq!(decode_all(&client(0x88, &p)).unwrap(), [Message::Close(Some(1000))]);
}

#[test]
fn close_codes_of_every_class() {
    for code in 0..=u16::MAX {
        let legal = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(b"why");
        let got = decode_all(&client(0x88, &payload));
        if legal {
            assert_eq!(got.unwrap(), [Message::Close(Some(code))], "{code}");
        } else {
            assert_eq!(got.unwrap_err(), WsError::Protocol("invalid close code"), "{code}");
        }
    }
    // The IANA registry's additions are legal; the codes no endpoint may send are not.
    assert!([1012, 1013, 1014].into_iter().all(is_legal_close_code));
    assert!(![1004, 1005, 1006, 1015, 1016, 2999, 5000].into_iter().any(is_legal_close_code));
    let not_utf8 = [0x03, 0xE8, 0xC3, 0x28];
    assert_eq!(decode_all(&client(0x88, &not_utf8)).unwrap_err(), WsError::BadUtf8);
}

#[test]
fn a_ping_between_fragments_is_not_limited_by_the_message_so_far() {
    let start = client(0x01, &[b'a'; 190]);
    let ping = client(0x89, &[b'p'; 125]);
    let mut d = Decoder::new(200);
    d.feed(&[start.clone(), ping.clone(), client(0x80, &[b'b'; 10])].concat());
    assert_eq!(d.next().unwrap(), Some(Message::Ping(vec![b'p'; 125])));
    let text = format!("{}{}", "a".repeat(190), "b".repeat(10));
    assert_eq!(d.next().unwrap(), Some(Message::Text(text)));
    // The data frames still add up to the limit.
    let mut d = Decoder::new(200);
    d.feed(&[start, ping, client(0x80, &[b'b'; 11])].concat());
    assert_eq!(d.next().unwrap(), Some(Message::Ping(vec![b'p'; 125])));
    assert_eq!(d.next().unwrap_err(), WsError::TooBig);
}

#[test]
fn fragments_out_of_order_are_refused_from_their_header() {
    let mut d = Decoder::new(100);
    d.feed(&client(0x01, b"a"));
    assert_eq!(d.next().unwrap(), None);
    // Only the header of a new text frame: no need to wait for its payload.
    d.feed(&[0x81, 0x80 | 50]);
    assert_eq!(d.next().unwrap_err(), WsError::Protocol("a new message inside a fragmented one"));
    let mut d = Decoder::new(100);
    d.feed(&[0x80, 0x80 | 50]);
    assert_eq!(d.next().unwrap_err(), WsError::Protocol("continuation without a message to continue"));
}

#[test]
fn utf8_is_checked_across_fragments_and_refused_early() {
    // A four-byte character cut into four fragments is whole again at the end.
    let clef = "𝄞".as_bytes();
    let mut bytes = client(0x01, &clef[..1]);
    bytes.extend(client(0x00, &clef[1..2]));
    bytes.extend(client(0x00, &clef[2..3]));
    bytes.extend(client(0x80, &clef[3..]));
    assert_eq!(decode_all(&bytes).unwrap(), [Message::Text("𝄞".into())]);
    // A character that the last fragment leaves unfinished is not.
    let bytes = [client(0x01, b"ok"), client(0x80, &clef[..3])].concat();
    assert_eq!(decode_all(&bytes).unwrap_err(), WsError::BadUtf8);
    // Bytes that no continuation can repair: refused from the first fragment alone.
    for bad in [&[0xC3, 0x28][..], &[0xED, 0xA0, 0x80], &[0xF4, 0x90], &[0xFF], &[b'a', 0x80]] {
        let mut d = Decoder::new(100);
        d.feed(&client(0x01, bad));
        assert_eq!(d.next().unwrap_err(), WsError::BadUtf8, "{bad:x?}");
    }
    // Binary messages are not text.
    let bytes = [client(0x02, &[0xFF]), client(0x80, &[0xFE])].concat();
    assert_eq!(decode_all(&bytes).unwrap(), [Message::Binary]);
}

#[test]
fn an_idle_decoder_holds_no_buffer() {
    let mut d = Decoder::new(100);
    d.feed(&client(0x81, b"hi"));
    assert!(d.next().unwrap().is_some());
    assert!(d.next().unwrap().is_none());
    assert_eq!(d.buf.capacity(), 0);
}
