//! The codec's limits: frame size (from `content-length` before the body arrives, and
//! without it), header count and header line length.

mod common;

use bytes::BytesMut;
use common::{decode_all, small};
use warren_stomp::codec::{Codec, FrameError};

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
fn a_whole_oversized_frame_in_one_buffer_is_refused() {
    // No content-length, the NUL already in the buffer: the frame is complete but too large.
    let mut bytes = b"SEND\n\n".to_vec();
    bytes.extend_from_slice(&[b'x'; 100]);
    bytes.push(0);
    let err = decode_all(&mut Codec::new(small()), &bytes).unwrap_err();
    // Without content-length the size is known only to be above the limit.
    assert_eq!(err, FrameError::TooLarge { size: 65, max: 64 });
    // The same with content-length.
    let mut bytes = b"SEND\ncontent-length:100\n\n".to_vec();
    bytes.extend_from_slice(&[b'x'; 100]);
    bytes.push(0);
    let err = decode_all(&mut Codec::new(small()), &bytes).unwrap_err();
    assert_eq!(err, FrameError::TooLarge { size: 126, max: 64 });
    // A head alone above the limit, with an empty body.
    let bytes = b"SEND\na:0123456789abcdefg\nb:0123456789abcdefg\nc:0123456789abcdefg\n\n\0";
    let err = decode_all(&mut Codec::new(small()), bytes).unwrap_err();
    assert_eq!(err, FrameError::TooLarge { size: 65, max: 64 });
}

#[test]
fn a_frame_of_exactly_the_limit_is_accepted_one_more_byte_is_not() {
    // 6 bytes of head, the body, 1 NUL: 64 in all.
    let mut bytes = b"SEND\n\n".to_vec();
    bytes.extend_from_slice(&[b'x'; 57]);
    bytes.push(0);
    assert_eq!(bytes.len(), 64);
    let frames = decode_all(&mut Codec::new(small()), &bytes).unwrap();
    assert_eq!(frames[0].body.len(), 57);
    bytes.insert(6, b'x');
    let err = decode_all(&mut Codec::new(small()), &bytes).unwrap_err();
    assert_eq!(err, FrameError::TooLarge { size: 65, max: 64 });
    // Fed byte by byte, the NUL that makes the frame 65 bytes is refused too.
    let mut codec = Codec::new(small());
    let mut buf = BytesMut::new();
    let mut result = Ok(None);
    for b in &bytes {
        buf.extend_from_slice(&[*b]);
        result = codec.decode(&mut buf);
        if result.is_err() {
            break;
        }
    }
    assert!(
        matches!(result, Err(FrameError::TooLarge { .. })),
        "{result:?}"
    );
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
