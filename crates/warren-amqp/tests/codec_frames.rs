//! Codec vectors, input split at every byte, and the frame guards.

mod common;

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::{basic, queue, AMQPClass};
use amq_protocol::types::{AMQPValue, FieldTable};
use bytes::BytesMut;
use common::{encode, s};
use warren_amqp::codec::{self, Frame, FrameWriter};
use warren_amqp::convert::properties_to_amqp;

fn sample_frames() -> Vec<AMQPFrame> {
    let mut args = FieldTable::default();
    args.insert(s("x-max-length"), AMQPValue::LongInt(10));
    let declare = queue::Declare {
        queue: s("q"),
        durable: true,
        arguments: args,
        ..Default::default()
    };
    let props = basic::AMQPProperties::default()
        .with_content_type(s("text/plain"))
        .with_delivery_mode(2);
    vec![
        AMQPFrame::Method(1, AMQPClass::Queue(queue::AMQPMethod::Declare(declare))),
        AMQPFrame::Header(
            1,
            AMQPContentHeader {
                class_id: 60,
                body_size: 5,
                properties: props,
            },
        ),
        AMQPFrame::Body(1, b"hello".to_vec()),
        AMQPFrame::Heartbeat,
    ]
}

fn as_amqp(frame: Frame) -> AMQPFrame {
    match frame {
        Frame::Method {
            channel, method, ..
        } => AMQPFrame::Method(channel, *method),
        Frame::Publish { channel, publish } => AMQPFrame::Method(
            channel,
            AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
                exchange: publish.exchange.as_str().into(),
                routing_key: publish.routing_key.as_str().into(),
                mandatory: publish.mandatory,
                immediate: publish.immediate,
            })),
        ),
        Frame::Header { channel, header } => AMQPFrame::Header(
            channel,
            AMQPContentHeader {
                class_id: header.class_id,
                body_size: header.body_size,
                properties: properties_to_amqp(&header.properties),
            },
        ),
        Frame::Body { channel, payload } => AMQPFrame::Body(channel, payload.to_vec()),
        Frame::Heartbeat { .. } => AMQPFrame::Heartbeat,
    }
}

fn decode_stream(chunks: &[&[u8]]) -> Vec<AMQPFrame> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(f) = codec::decode(&mut buf, 131_072).unwrap() {
            out.push(as_amqp(f));
        }
    }
    assert!(buf.is_empty());
    out
}

#[test]
fn heartbeat_vector() {
    let mut buf = BytesMut::from(&[8u8, 0, 0, 0, 0, 0, 0, 0xCE][..]);
    assert_eq!(
        codec::decode(&mut buf, 4096).unwrap(),
        Some(Frame::Heartbeat { channel: 0 })
    );
    let mut out = BytesMut::new();
    FrameWriter::heartbeat(&mut out);
    assert_eq!(&out[..], &[8u8, 0, 0, 0, 0, 0, 0, 0xCE]);
}

#[test]
fn channel_open_vector() {
    // channel.open on channel 1: class 20, method 10, reserved empty shortstr
    let bytes = [1u8, 0, 1, 0, 0, 0, 5, 0, 20, 0, 10, 0, 0xCE];
    let frames = decode_stream(&[&bytes]);
    assert_eq!(
        frames,
        vec![AMQPFrame::Method(
            1,
            AMQPClass::Channel(amq_protocol::protocol::channel::AMQPMethod::Open(
                Default::default()
            ))
        )]
    );
}

#[test]
fn frames_decode_as_amq_protocol_encoded_them() {
    let bytes = encode(&sample_frames());
    assert_eq!(decode_stream(&[&bytes]), sample_frames());
}

#[test]
fn input_split_at_every_byte_gives_the_same_frames() {
    let bytes = encode(&sample_frames());
    for at in 0..=bytes.len() {
        let (a, b) = bytes.split_at(at);
        assert_eq!(decode_stream(&[a, b]), sample_frames(), "split at {at}");
    }
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode_stream(&singles), sample_frames());
}

#[test]
fn frames_over_frame_max_are_refused_before_buffering() {
    let mut buf = BytesMut::from(&[1u8, 0, 1, 0, 0, 0x10, 0][..]);
    let err = codec::decode(&mut buf, 4096).unwrap_err();
    assert_eq!(err.code(), 501);
}

#[test]
fn a_missing_frame_end_is_a_frame_error() {
    let mut buf = BytesMut::from(&[8u8, 0, 0, 0, 0, 0, 0, 0x00][..]);
    assert_eq!(codec::decode(&mut buf, 4096).unwrap_err().code(), 501);
}

#[test]
fn unknown_frame_types_and_classes_are_refused() {
    let mut buf = BytesMut::from(&[9u8, 0, 0, 0, 0, 0, 0, 0xCE][..]);
    assert_eq!(codec::decode(&mut buf, 4096).unwrap_err().code(), 501);
    let mut buf = BytesMut::from(&[1u8, 0, 1, 0, 0, 0, 4, 0, 99, 0, 1, 0xCE][..]);
    assert_eq!(codec::decode(&mut buf, 4096).unwrap_err().code(), 540);
    let mut buf = BytesMut::from(&[1u8, 0, 1, 0, 0, 0, 5, 0, 50, 0, 10, 7, 0xCE][..]);
    assert_eq!(codec::decode(&mut buf, 4096).unwrap_err().code(), 502);
}

#[test]
fn bodies_are_written_in_frame_max_pieces() {
    let mut out = BytesMut::new();
    let body = vec![7u8; 10_000];
    FrameWriter::default()
        .content(&mut out, 3, &Default::default(), &body, 4096)
        .unwrap();
    let frames = common::decode_all(&out);
    assert_eq!(frames.len(), 1 + 3);
    assert!(frames[1..]
        .iter()
        .all(|f| matches!(f, AMQPFrame::Body(3, b) if b.len() <= 4088)));
}

#[test]
fn truncated_input_never_panics() {
    let bytes = encode(&sample_frames());
    for end in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..end]);
        while let Ok(Some(_)) = codec::decode(&mut buf, 131_072) {}
    }
    // every single-byte corruption either decodes or errors
    for at in 0..bytes.len() {
        let mut corrupt = bytes.clone();
        corrupt[at] ^= 0xFF;
        let mut buf = BytesMut::from(&corrupt[..]);
        while let Ok(Some(_)) = codec::decode(&mut buf, 131_072) {}
    }
}

/// Hand-written bytes of queue.declare("q", durable) with arguments {x-max-length: 10},
/// a content header (text/plain, persistent, 5 bytes) and a body "hello", on channel 1:
/// checked against the spec's layout, not against amq-protocol's encoder.
fn hand_written_stream() -> Vec<u8> {
    let mut bytes = Vec::new();
    // queue.declare: class 50, method 10, reserved-1 u16, shortstr "q", bits (durable = 0x02),
    // table { "x-max-length": 'I' 10 } (4-byte length 18).
    let mut declare = vec![0, 50, 0, 10, 0, 0, 1, b'q', 0x02, 0, 0, 0, 18, 12];
    declare.extend_from_slice(b"x-max-length");
    declare.extend_from_slice(&[b'I', 0, 0, 0, 10]);
    push_frame(&mut bytes, 1, 1, &declare);
    // Content header: class 60, weight 0, body size 5, flags content-type (bit 15) and
    // delivery-mode (bit 12), shortstr "text/plain", octet 2.
    let mut header = vec![0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0x90, 0x00, 10];
    header.extend_from_slice(b"text/plain");
    header.push(2);
    push_frame(&mut bytes, 2, 1, &header);
    push_frame(&mut bytes, 3, 1, b"hello");
    bytes
}

fn push_frame(out: &mut Vec<u8>, kind: u8, channel: u16, payload: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(0xCE);
}

#[test]
fn hand_written_method_header_and_body_vectors() {
    let bytes = hand_written_stream();
    let expected: Vec<AMQPFrame> = sample_frames().into_iter().take(3).collect();
    assert_eq!(decode_stream(&[&bytes]), expected);
    for at in 0..=bytes.len() {
        let (a, b) = bytes.split_at(at);
        assert_eq!(decode_stream(&[a, b]), expected, "split at {at}");
    }
}

#[test]
fn the_protocol_header_is_recognised_however_it_is_split() {
    let header = b"AMQP\x00\x00\x09\x01";
    for at in 0..header.len() {
        let mut input = BytesMut::from(&header[..at]);
        assert_eq!(codec::read_protocol_header(&mut input), None, "after {at}");
        input.extend_from_slice(&header[at..]);
        input.extend_from_slice(&[8, 0, 0]);
        assert_eq!(codec::read_protocol_header(&mut input), Some(true));
        assert_eq!(&input[..], &[8, 0, 0], "only the header is consumed");
    }
}

#[test]
fn another_protocol_header_is_refused_as_soon_as_it_differs() {
    assert_eq!(
        codec::read_protocol_header(&mut BytesMut::from(&b"AMQP\x00\x00\x08"[..])),
        Some(false),
        "AMQP 0-8"
    );
    assert_eq!(
        codec::read_protocol_header(&mut BytesMut::from(&b"GET"[..])),
        Some(false),
        "HTTP"
    );
    assert_eq!(
        codec::read_protocol_header(&mut BytesMut::from(&b"AM"[..])),
        None
    );
}

/// A frame moves from the decoder to its handler; beyond 128 bytes each move is a `memcpy`
/// call (see [`Frame`]).
#[test]
fn a_frame_is_small_enough_to_move_without_memcpy() {
    assert!(
        std::mem::size_of::<Frame>() <= 128,
        "{}",
        std::mem::size_of::<Frame>()
    );
}
