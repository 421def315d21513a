//! Arbitrary bytes, fed in two pieces, through the STOMP decoder with small limits: it must
//! never panic, every frame it returns must be within the limits (its bytes on the wire, its
//! header count, its header lines), the two pieces must give what one piece gives, and every
//! frame must re-encode and decode to itself.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use warren_stomp::codec::{encode, Codec, FrameError, Limits};
use warren_stomp::{Frame, Version};

/// Small, so that inputs of a few hundred bytes reach every limit.
const LIMITS: Limits = Limits {
    max_frame_size: 256,
    max_headers: 8,
    max_header_line: 64,
};

/// The EOLs the decoder skips before a frame: `\n` and `\r\n`, not a lone `\r`.
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

/// Decodes `pieces` one after another, asserting the limits on every frame.
fn decode(pieces: &[&[u8]]) -> (Vec<Frame>, Option<FrameError>) {
    let mut codec = Codec::new(LIMITS);
    codec.set_version(Version::V1_2);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            let beats = leading_heartbeats(&buf);
            let before = buf.len();
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let size = before - buf.len() - beats;
                    assert!(size <= LIMITS.max_frame_size, "frame of {size} bytes");
                    assert!(frame.headers.len() <= LIMITS.max_headers);
                    assert!(frame.command.name().len() <= LIMITS.max_header_line);
                    for (name, value) in frame.headers.iter() {
                        // Decoded, so no longer than the line on the wire.
                        assert!(name.len() + 1 + value.len() <= LIMITS.max_header_line);
                    }
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

fuzz_target!(|data: &[u8]| {
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (a, b) = data.split_at(cut);
    let (frames, error) = decode(&[a, b]);
    let whole = decode(&[data]);
    assert_eq!((&frames, &error), (&whole.0, &whole.1), "split at {cut}");
    for frame in frames {
        let mut out = BytesMut::new();
        encode(&frame, Version::V1_2, &mut out);
        let mut again = Codec::new(Limits::default());
        again.set_version(Version::V1_2);
        let decoded = again.decode(&mut out).expect("re-encoded frame decodes");
        let decoded = decoded.expect("re-encoded frame is complete");
        assert_eq!(decoded.command, frame.command);
        assert_eq!(decoded.body, frame.body);
    }
});
