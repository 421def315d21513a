//! Codec vectors for the frame grammar: line ends, bodies, heart-beats, repeated headers,
//! escaping per version, malformed frames, and the encoder.

mod common;

use bytes::BytesMut;
use common::{connected, decode_all};
use warren_stomp::codec::{encode, Codec, FrameError, Limits};
use warren_stomp::{Command, Frame, Version};

fn one(bytes: &[u8]) -> Frame {
    let frames = decode_all(&mut Codec::new(Limits::default()), bytes).unwrap();
    assert_eq!(frames.len(), 1, "{frames:?}");
    frames.into_iter().next().unwrap()
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
    // 1.1 has no escape for a carriage return: it goes as a space.
    let mut out = BytesMut::new();
    encode(&frame, Version::V1_1, &mut out);
    assert_eq!(
        &out[..],
        b"MESSAGE\na\\cb:c\\nd\\\\e f\ncontent-length:3\n\nx\0y\0"
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
