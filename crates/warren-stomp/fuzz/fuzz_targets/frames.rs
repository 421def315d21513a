//! Arbitrary bytes, fed in two pieces, through the STOMP decoder with small limits: it must
//! never panic, and every frame it returns must re-encode and decode to itself.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use warren_stomp::codec::{encode, Codec, Limits};
use warren_stomp::Version;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_frame_size: 4096,
        max_headers: 16,
        max_header_line: 512,
    };
    let mut codec = Codec::new(limits);
    codec.set_version(Version::V1_2);
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut buf = BytesMut::from(&data[..cut]);
    let mut frames = Vec::new();
    for rest in [&data[cut..], &[][..]] {
        while let Ok(Some(frame)) = codec.decode(&mut buf) {
            frames.push(frame);
        }
        buf.extend_from_slice(rest);
    }
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
