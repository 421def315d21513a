//! Input split at every byte gives the same frames and the same error, for every version, line
//! end and limit; as vectors and as a proptest over streams of STOMP pieces, with a round trip
//! and arbitrary bytes that must not panic.

mod common;

use bytes::BytesMut;
use common::{connected, decode_all, small};
use proptest::prelude::*;
use warren_stomp::codec::{encode, Codec, FrameError, Limits};
use warren_stomp::{Command, Frame, Version};

/// How a test codec is set up: its limits and the version it was told, if any.
#[derive(Clone, Copy)]
struct Setup {
    limits: Limits,
    version: Option<Version>,
}

impl Setup {
    fn new(limits: Limits, version: Option<Version>) -> Self {
        Self { limits, version }
    }

    fn codec(&self) -> Codec {
        let mut codec = Codec::new(self.limits);
        if let Some(v) = self.version {
            codec.set_version(v);
        }
        codec
    }
}

/// The EOLs `decode` skips before a frame: `\n` and `\r\n`, not a lone `\r`.
fn leading_heartbeats(buf: &[u8]) -> usize {
    let mut n = 0;
    loop {
        match buf.get(n..) {
            Some([b'\n', ..]) => n += 1,
            Some([b'\r', b'\n', ..]) => n += 2,
            _ => return n,
        }
    }
}

/// `decode`, asserting that a frame it returns is within the limits: the bytes it took
/// (heart-beats before it excluded) are at most the frame size, and its header count and
/// header lines (decoded, so no longer than on the wire) within theirs.
fn decode_within(
    codec: &mut Codec,
    limits: &Limits,
    buf: &mut BytesMut,
) -> Result<Option<Frame>, FrameError> {
    let beats = leading_heartbeats(buf);
    let before = buf.len();
    let frame = codec.decode(buf)?;
    if let Some(f) = &frame {
        let size = before - buf.len() - beats;
        assert!(size <= limits.max_frame_size, "a frame of {size} bytes");
        assert!(f.headers.len() <= limits.max_headers, "{f:?}");
        assert!(f.command.name().len() <= limits.max_header_line);
        for (name, value) in f.headers.iter() {
            assert!(
                name.len() + 1 + value.len() <= limits.max_header_line,
                "{f:?}"
            );
        }
    }
    Ok(frame)
}

/// What a codec made of some input: the frames, then the error that stopped it, if any.
#[derive(Debug, PartialEq)]
struct Outcome {
    frames: Vec<Frame>,
    error: Option<FrameError>,
}

/// Decodes `pieces` arriving one after another, decoding after each as a session does.
fn feed_pieces(setup: Setup, pieces: &[&[u8]]) -> Outcome {
    let mut codec = setup.codec();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match decode_within(&mut codec, &setup.limits, &mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        frames,
                        error: Some(error),
                    }
                }
            }
        }
    }
    Outcome {
        frames,
        error: None,
    }
}

/// The outcome of `stream` in one piece, asserting that every split into two pieces, and
/// byte by byte, gives the same frames and the same error.
fn same_however_split(setup: Setup, stream: &[u8]) -> Outcome {
    let whole = feed_pieces(setup, &[stream]);
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        assert_eq!(feed_pieces(setup, &[a, b]), whole, "split at {cut}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(feed_pieces(setup, &bytes), whole, "byte by byte");
    whole
}

fn frame(command: Command, headers: &[(&str, &str)], body: &[u8]) -> Frame {
    let mut f = Frame::new(command).body(body.to_vec());
    for (n, v) in headers {
        f.headers.push(*n, *v);
    }
    f
}

#[test]
fn every_split_of_a_1_2_stream_gives_the_same_frames() {
    let mut stream = Vec::new();
    stream.extend_from_slice(b"\nSEND\r\ndestination:/queue/a\r\nk:v\\c1\r\n\r\nhello\0\n");
    stream.extend_from_slice(b"SEND\ncontent-length:3\n\na\0b\0\r\n");
    stream.extend_from_slice(b"ACK\nid:1\n\n\0");
    let outcome = same_however_split(Setup::new(Limits::default(), Some(Version::V1_2)), &stream);
    let want = vec![
        frame(
            Command::Send,
            &[("destination", "/queue/a"), ("k", "v:1")],
            b"hello",
        ),
        frame(Command::Send, &[("content-length", "3")], b"a\0b"),
        frame(Command::Ack, &[("id", "1")], b""),
    ];
    assert_eq!(
        outcome,
        Outcome {
            frames: want,
            error: None
        }
    );
}

#[test]
fn every_split_of_connect_and_stomp_frames_keeps_their_headers_unescaped() {
    let stream = b"CONNECT\naccept-version:1.0,1.1,1.2\nlogin:a\\cb\npasscode:p\\nq\\\\\n\n\0\
        \r\nSTOMP\r\nhost:/\r\npasscode:x\\ty\r\n\r\n\0\
        SEND\nk:a\\cb\n\n\0";
    let want = |send_value: &str| Outcome {
        frames: vec![
            frame(
                Command::Connect,
                &[
                    ("accept-version", "1.0,1.1,1.2"),
                    ("login", "a\\cb"),
                    ("passcode", "p\\nq\\\\"),
                ],
                b"",
            ),
            frame(Command::Stomp, &[("host", "/"), ("passcode", "x\\ty")], b""),
            frame(Command::Send, &[("k", send_value)], b""),
        ],
        error: None,
    };
    for version in [Version::V1_1, Version::V1_2] {
        let outcome = same_however_split(Setup::new(Limits::default(), Some(version)), stream);
        assert_eq!(outcome, want("a:b"), "{version:?}");
    }
    let outcome = same_however_split(Setup::new(Limits::default(), Some(Version::V1_0)), stream);
    assert_eq!(outcome, want("a\\cb"));
}

#[test]
fn every_split_of_a_1_0_stream_leaves_backslashes_alone() {
    let stream = b"SEND\ndestination:/queue/a\nk\\c:a\\cb\\n\\r\\t\\\n\nx\0\nSEND\r\nk:v\r\n\r\n\0";
    let outcome = same_however_split(Setup::new(Limits::default(), Some(Version::V1_0)), stream);
    let want = vec![
        frame(
            Command::Send,
            &[("destination", "/queue/a"), ("k\\c", "a\\cb\\n\\r\\t\\")],
            b"x",
        ),
        frame(Command::Send, &[("k", "v")], b""),
    ];
    assert_eq!(
        outcome,
        Outcome {
            frames: want,
            error: None
        }
    );
}

#[test]
fn every_split_of_a_1_1_stream_unescapes_without_carriage_return() {
    let stream = b"SEND\na\\cb:c\\nd\\\\e\n\n\0SEND\r\nk:\\\\r\r\n\r\n\0";
    let setup = Setup::new(Limits::default(), Some(Version::V1_1));
    let outcome = same_however_split(setup, stream);
    let want = vec![
        frame(Command::Send, &[("a:b", "c\nd\\e")], b""),
        frame(Command::Send, &[("k", "\\r")], b""),
    ];
    assert_eq!(
        outcome,
        Outcome {
            frames: want,
            error: None
        }
    );
    let outcome = same_however_split(setup, b"ACK\nid:1\n\n\0SEND\nk:a\\rb\n\n\0");
    assert_eq!(
        outcome.frames,
        vec![frame(Command::Ack, &[("id", "1")], b"")]
    );
    assert_eq!(outcome.error, Some(FrameError::BadEscape("a\\rb".into())));
}

#[test]
fn every_split_of_crlf_lines_bodies_with_nuls_and_heartbeats_gives_the_same_frames() {
    let stream = b"\r\n\n\r\nSEND\r\ncontent-length:4\r\n\r\n\0\0\0\0\0\r\n\n\
        MESSAGE\r\nk:v\r\nk:w\r\n\r\n\0\r\n\
        SEND\ncontent-length:0\n\n\0\n\n\r\n\r";
    let outcome = same_however_split(Setup::new(Limits::default(), Some(Version::V1_2)), stream);
    let want = vec![
        frame(Command::Send, &[("content-length", "4")], b"\0\0\0\0"),
        frame(Command::Message, &[("k", "v"), ("k", "w")], b""),
        frame(Command::Send, &[("content-length", "0")], b""),
    ];
    assert_eq!(
        outcome,
        Outcome {
            frames: want,
            error: None
        }
    );
    // Heart-beats alone, ending in a lone CR whose LF has not come: no frame, no error.
    let outcome = same_however_split(Setup::new(Limits::default(), None), b"\n\r\n\n\r");
    assert_eq!(
        outcome,
        Outcome {
            frames: vec![],
            error: None
        }
    );
}

#[test]
fn every_split_of_a_bad_frame_gives_the_same_error() {
    let good = b"ACK\nid:1\n\n\0\n";
    let x60 = "x".repeat(60);
    let x100 = "x".repeat(100);
    let cases: Vec<(String, FrameError)> = vec![
        // A whole frame above the limit, without and with content-length.
        (
            format!("SEND\n\n{x100}\0"),
            FrameError::TooLarge { size: 65, max: 64 },
        ),
        (
            format!("SEND\ncontent-length:100\n\n{x100}\0"),
            FrameError::TooLarge { size: 126, max: 64 },
        ),
        // A content-length above the limit, the body never sent.
        (
            "SEND\ncontent-length:100\n\n".into(),
            FrameError::TooLarge { size: 126, max: 64 },
        ),
        // A head above the limit, passing it before a fourth header would be too many.
        (
            "SEND\na:0123456789abcdefg\nb:0123456789abcdefg\nc:0123456789abcdefg\nd:1\n\n\0".into(),
            FrameError::TooLarge { size: 65, max: 64 },
        ),
        // Too many headers before the frame passes its limit.
        (
            format!("SEND\na:1\nb:2\nc:3\nd:4\ne:{x60}\n\n\0"),
            FrameError::TooManyHeaders(3),
        ),
        // A line passing its limit before the frame passes its own, ended or not.
        (
            format!("SEND\nk:{x60}\n\n\0"),
            FrameError::HeaderTooLong(20),
        ),
        (format!("SEND\nk:{x60}"), FrameError::HeaderTooLong(20)),
        (
            "SEND\nk:0123456789012345678901\n\n\0".into(),
            FrameError::HeaderTooLong(20),
        ),
        // A CR at the limit that does not end the line.
        (
            "SEND\nk:012345678901234567\rX\n\n\0".into(),
            FrameError::HeaderTooLong(20),
        ),
        ("FOO\n\n\0".into(), FrameError::UnknownCommand("FOO".into())),
        (
            "SEND\nk:a\\tb\n\n\0".into(),
            FrameError::BadEscape("a\\tb".into()),
        ),
        (
            "SEND\nno-colon\n\n\0".into(),
            FrameError::Malformed("bad command or header line".into()),
        ),
        (
            "SEND\nk:a\rb\n\n\0".into(),
            FrameError::Malformed("bad command or header line".into()),
        ),
        (
            "SEND\ncontent-length:3\n\nabcd\0".into(),
            FrameError::Malformed("body not terminated by NUL after content-length octets".into()),
        ),
        (
            "SEND\ncontent-length:x\n\nabc\0".into(),
            FrameError::Malformed("invalid content-length 'x'".into()),
        ),
    ];
    for (bad, error) in cases {
        let mut stream = good.to_vec();
        stream.extend_from_slice(bad.as_bytes());
        let outcome = same_however_split(Setup::new(small(), Some(Version::V1_2)), &stream);
        assert_eq!(
            outcome,
            Outcome {
                frames: vec![frame(Command::Ack, &[("id", "1")], b"")],
                error: Some(error),
            },
            "{bad:?}"
        );
    }
    let outcome = same_however_split(Setup::new(small(), None), b"SEND\nk:\xff\n\n\0");
    assert_eq!(
        outcome.error,
        Some(FrameError::Malformed("header is not UTF-8".into()))
    );
}

#[test]
fn every_split_at_the_limits_is_accepted() {
    let mut at_limit = b"SEND\n\n".to_vec();
    at_limit.extend_from_slice(&[b'x'; 57]);
    at_limit.push(0);
    let streams: [&[u8]; 4] = [
        &at_limit,
        b"SEND\r\nk:012345678901234567\r\n\r\n\0",
        b"SEND\na:1\nb:2\nc:3\n\n\0",
        b"SEND\ncontent-length:39\n\n012345678901234567890123456789012345678\0",
    ];
    for stream in streams {
        let outcome = same_however_split(Setup::new(small(), Some(Version::V1_2)), stream);
        assert_eq!(outcome.error, None, "{:?}", String::from_utf8_lossy(stream));
        assert_eq!(outcome.frames.len(), 1);
    }
}

const TOKENS: [&[u8]; 20] = [
    b"SEND\n",
    b"ACK\r\n",
    b"CONNECT\n",
    b"FOO\n",
    b"\n",
    b"\r\n",
    b"\r",
    b"\0",
    b"k:v\n",
    b"k:",
    b":",
    b"\\c",
    b"\\r",
    b"\\t",
    b"content-length:2\n",
    b"content-length:40\n",
    b"0123456789",
    b"abcdefghijklmnopqrstuvwxyz",
    b"\xff",
    b"x",
];

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

    /// Arbitrary bytes never panic the decoder, and a decoded frame never exceeds the limits.
    #[test]
    fn fuzz_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut codec = Codec::new(small());
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = decode_within(&mut codec, &small(), &mut buf) {}
    }

    /// Streams made of STOMP's pieces give the same frames and the same error in one piece,
    /// in two pieces cut anywhere, and byte by byte; no frame exceeds the limits.
    #[test]
    fn any_split_gives_the_same_outcome(
        tokens in proptest::collection::vec(proptest::sample::select(TOKENS.to_vec()), 0..40),
        cut in any::<proptest::sample::Index>(),
        version in proptest::sample::select(vec![None, Some(Version::V1_0), Some(Version::V1_1), Some(Version::V1_2)]),
    ) {
        let stream = tokens.concat();
        let setup = Setup::new(small(), version);
        let whole = feed_pieces(setup, &[&stream]);
        let (a, b) = stream.split_at(cut.index(stream.len() + 1));
        prop_assert_eq!(&feed_pieces(setup, &[a, b]), &whole);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        prop_assert_eq!(&feed_pieces(setup, &bytes), &whole);
    }
}
