//! Codec vectors: every grammar rule, every limit, escaping per version, and input split at
//! every byte.

use bytes::BytesMut;
use proptest::prelude::*;
use warren_stomp::codec::{encode, Codec, FrameError, Limits};
use warren_stomp::{Command, Frame, Version};

fn decode_all(codec: &mut Codec, bytes: &[u8]) -> Result<Vec<Frame>, FrameError> {
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = codec.decode(&mut buf)? {
        frames.push(frame);
    }
    Ok(frames)
}

fn one(bytes: &[u8]) -> Frame {
    let frames = decode_all(&mut Codec::new(Limits::default()), bytes).unwrap();
    assert_eq!(frames.len(), 1, "{frames:?}");
    frames.into_iter().next().unwrap()
}

fn connected(version: Version) -> Codec {
    let mut codec = Codec::new(Limits::default());
    codec.set_version(version);
    codec
}

#[test]
fn a_plain_frame() {
    let f = one(b"SEND\ndestination:/queue/a\n\nhello\0");
    assert_eq!(f.command, Command::Send);
    assert_eq!(f.get("destination"), Some("/queue/a"));
    assert_eq!(&f.body[..], b"hello");
}

#[test]
fn crlf_line_ends() {
    let f = one(b"SEND\r\ndestination:/queue/a\r\nx:y\r\n\r\nbody\0");
    assert_eq!(f.get("destination"), Some("/queue/a"));
    assert_eq!(f.get("x"), Some("y"));
    assert_eq!(&f.body[..], b"body");
}

#[test]
fn content_length_allows_embedded_nul() {
    let f = one(b"SEND\ndestination:/queue/a\ncontent-length:5\n\na\0b\0c\0");
    assert_eq!(&f.body[..], b"a\0b\0c");
}

#[test]
fn without_content_length_the_body_ends_at_the_first_nul() {
    let frames = decode_all(&mut connected(Version::V1_2), b"SEND\n\nab\0SEND\n\ncd\0").unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(&frames[1].body[..], b"cd");
}

#[test]
fn heartbeat_eols_between_frames_are_skipped() {
    let bytes = b"\n\r\n\nSEND\n\na\0\n\n\r\nSEND\n\nb\0\n";
    let frames = decode_all(&mut connected(Version::V1_2), bytes).unwrap();
    assert_eq!(frames.len(), 2);
    let mut only_beats = BytesMut::from(&b"\n\r\n\n"[..]);
    assert_eq!(
        connected(Version::V1_2).decode(&mut only_beats).unwrap(),
        None
    );
    assert!(only_beats.is_empty());
}

#[test]
fn repeated_headers_first_wins() {
    let f = one(b"MESSAGE\nfoo:World\nfoo:Hello\n\n\0");
    assert_eq!(f.get("foo"), Some("World"));
    assert_eq!(f.headers.len(), 2);
    assert_eq!(f.headers.effective().count(), 1);
}

#[test]
fn a_colon_in_a_value_is_kept() {
    let f = one(b"SEND\nurl:http://x:80/\n\n\0");
    assert_eq!(f.get("url"), Some("http://x:80/"));
}

#[test]
fn escapes_decode_in_1_1_and_1_2() {
    let bytes = b"SEND\na\\cb:c\\nd\\\\e\n\n\0";
    for v in [Version::V1_1, Version::V1_2] {
        let f = decode_all(&mut connected(v), bytes).unwrap().remove(0);
        assert_eq!(f.get("a:b"), Some("c\nd\\e"), "{v:?}");
    }
    let f = decode_all(&mut connected(Version::V1_0), bytes)
        .unwrap()
        .remove(0);
    assert_eq!(f.get("a\\cb"), Some("c\\nd\\\\e"));
}

#[test]
fn carriage_return_escape_is_1_2_only() {
    let bytes = b"SEND\nk:a\\rb\n\n\0";
    let f = decode_all(&mut connected(Version::V1_2), bytes)
        .unwrap()
        .remove(0);
    assert_eq!(f.get("k"), Some("a\rb"));
    let err = decode_all(&mut connected(Version::V1_1), bytes).unwrap_err();
    assert!(matches!(err, FrameError::BadEscape(_)), "{err:?}");
}

#[test]
fn undefined_escapes_are_fatal() {
    let err = decode_all(&mut connected(Version::V1_2), b"SEND\nk:a\\tb\n\n\0").unwrap_err();
    assert!(matches!(err, FrameError::BadEscape(_)));
    let err = decode_all(&mut connected(Version::V1_2), b"SEND\nk:a\\\n\n\0").unwrap_err();
    assert!(matches!(err, FrameError::BadEscape(_)));
}

#[test]
fn connect_headers_are_never_unescaped() {
    let f = decode_all(
        &mut connected(Version::V1_2),
        b"CONNECT\npasscode:a\\cb\n\n\0",
    )
    .unwrap()
    .remove(0);
    assert_eq!(f.get("passcode"), Some("a\\cb"));
}

#[test]
fn malformed_frames_are_refused() {
    let cases: [&[u8]; 6] = [
        b"FOO\n\n\0",
        b"send\n\n\0",
        b"SEND\nno-colon\n\n\0",
        b"SEND\n:empty-name\n\n\0",
        b"SEND\ncontent-length:3\n\nabcd\0",
        b"SEND\ncontent-length:x\n\nabc\0",
    ];
    for bytes in cases {
        assert!(
            decode_all(&mut connected(Version::V1_2), bytes).is_err(),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    let cr = decode_all(&mut connected(Version::V1_2), b"SEND\nk:a\rb\n\n\0");
    assert!(cr.is_err(), "a bare CR inside a header line");
    let utf8 = decode_all(&mut connected(Version::V1_2), b"SEND\nk:\xff\n\n\0");
    assert!(utf8.is_err());
}

#[test]
fn unknown_commands_name_themselves() {
    let err = decode_all(&mut connected(Version::V1_2), b"FOO\n\n\0").unwrap_err();
    assert_eq!(err, FrameError::UnknownCommand("FOO".into()));
}

fn small() -> Limits {
    Limits {
        max_frame_size: 64,
        max_headers: 3,
        max_header_line: 20,
    }
}

#[test]
fn frame_size_is_limited_from_content_length_before_the_body_arrives() {
    let mut codec = Codec::new(small());
    let mut buf = BytesMut::from(&b"SEND\ncontent-length:1000\n\n"[..]);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(matches!(err, FrameError::TooLarge { .. }), "{err:?}");
}

#[test]
fn frame_size_is_limited_without_content_length() {
    let mut codec = Codec::new(small());
    let mut buf = BytesMut::from(&b"SEND\n\n"[..]);
    buf.extend_from_slice(&[b'x'; 100]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::TooLarge { .. })
    ));
}

#[test]
fn header_count_and_line_length_are_limited() {
    let mut codec = Codec::new(small());
    let err = decode_all(&mut codec, b"SEND\na:1\nb:2\nc:3\nd:4\n\n\0").unwrap_err();
    assert_eq!(err, FrameError::TooManyHeaders(3));
    let mut codec = Codec::new(small());
    let err = decode_all(&mut codec, b"SEND\nk:0123456789012345678901\n\n\0").unwrap_err();
    assert_eq!(err, FrameError::HeaderTooLong(20));
    // A line that never ends is refused once it passes the limit, not buffered on.
    let mut codec = Codec::new(small());
    let mut buf = BytesMut::from(&b"SEND\nk:0123456789012345678901"[..]);
    assert_eq!(
        codec.decode(&mut buf).unwrap_err(),
        FrameError::HeaderTooLong(20)
    );
}

#[test]
fn the_encoder_escapes_per_version_and_adds_content_length() {
    let frame = Frame::new(Command::Message)
        .header("a:b", "c\nd\\e\rf")
        .body(&b"x\0y"[..]);
    let mut out = BytesMut::new();
    encode(&frame, Version::V1_2, &mut out);
    assert_eq!(
        &out[..],
        b"MESSAGE\na\\cb:c\\nd\\\\e\\rf\ncontent-length:3\n\nx\0y\0"
    );
    let mut out = BytesMut::new();
    encode(&frame, Version::V1_0, &mut out);
    assert_eq!(
        &out[..],
        b"MESSAGE\na b:c d\\e f\ncontent-length:3\n\nx\0y\0"
    );
    let connected = Frame::new(Command::Connected).header("server", "a:b");
    let mut out = BytesMut::new();
    encode(&connected, Version::V1_2, &mut out);
    assert_eq!(&out[..], b"CONNECTED\nserver:a:b\n\n\0");
}

fn sample_stream() -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"\nSEND\r\ndestination:/queue/a\r\nk:v\\c1\r\n\r\nhello\0\n");
    bytes.extend_from_slice(b"SEND\ncontent-length:3\n\na\0b\0\r\n");
    bytes.extend_from_slice(b"ACK\nid:1\n\n\0");
    bytes
}

#[test]
fn every_split_of_the_input_gives_the_same_frames() {
    let stream = sample_stream();
    let whole = decode_all(&mut connected(Version::V1_2), &stream).unwrap();
    assert_eq!(whole.len(), 3);
    for cut in 0..=stream.len() {
        let mut codec = connected(Version::V1_2);
        let mut buf = BytesMut::from(&stream[..cut]);
        let mut frames = Vec::new();
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            frames.push(f);
        }
        buf.extend_from_slice(&stream[cut..]);
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            frames.push(f);
        }
        assert_eq!(frames, whole, "split at {cut}");
    }
}

#[test]
fn byte_by_byte_gives_the_same_frames() {
    let stream = sample_stream();
    let whole = decode_all(&mut connected(Version::V1_2), &stream).unwrap();
    let mut codec = connected(Version::V1_2);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for b in &stream {
        buf.extend_from_slice(&[*b]);
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            frames.push(f);
        }
    }
    assert_eq!(frames, whole);
}

fn header_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z:\\\\\n\r é-]{1,12}").unwrap()
}

proptest! {
    /// Encode then decode is the identity for server frames, whatever the header text.
    #[test]
    fn round_trip(headers in proptest::collection::vec((header_text(), header_text()), 0..6),
                  body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut frame = Frame::new(Command::Message).body(body.clone());
        for (n, v) in &headers {
            frame.headers.push(n.as_str(), v.as_str());
        }
        let mut out = BytesMut::new();
        encode(&frame, Version::V1_2, &mut out);
        let decoded = decode_all(&mut connected(Version::V1_2), &out).unwrap();
        prop_assert_eq!(decoded.len(), 1);
        let d = &decoded[0];
        prop_assert_eq!(&d.body[..], &body[..]);
        let got: Vec<(&str, &str)> = d.headers.iter().filter(|(n, _)| *n != "content-length").collect();
        let want: Vec<(&str, &str)> = frame.headers.iter().collect();
        prop_assert_eq!(got, want);
    }

    /// Arbitrary bytes never panic the decoder, and a decoded frame never exceeds the limit.
    #[test]
    fn fuzz_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut codec = Codec::new(small());
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(frame)) = codec.decode(&mut buf) {
            prop_assert!(frame.body.len() <= 64);
        }
    }
}
