//! Codec helpers shared by the codec test files.
#![allow(dead_code)]

use bytes::BytesMut;
use warren_stomp::codec::{Codec, FrameError, Limits};
use warren_stomp::{Frame, Version};

pub fn decode_all(codec: &mut Codec, bytes: &[u8]) -> Result<Vec<Frame>, FrameError> {
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = codec.decode(&mut buf)? {
        frames.push(frame);
    }
    Ok(frames)
}

pub fn connected(version: Version) -> Codec {
    let mut codec = Codec::new(Limits::default());
    codec.set_version(version);
    codec
}

pub fn small() -> Limits {
    Limits {
        max_frame_size: 64,
        max_headers: 3,
        max_header_line: 20,
    }
}
