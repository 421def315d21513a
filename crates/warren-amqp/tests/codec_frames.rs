//! Codec vectors, input split at every byte, and the frame guards.

mod common;

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::{basic, queue, AMQPClass};
use amq_protocol::types::{AMQPValue, FieldTable};
use bytes::BytesMut;
use common::{encode, s};
use warren_amqp::codec::{self, Frame, FrameWriter};

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
        } => AMQPFrame::Method(channel, method),
        Frame::Header { channel, header } => AMQPFrame::Header(channel, header),
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
        .content(&mut out, 3, Default::default(), &body, 4096)
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
