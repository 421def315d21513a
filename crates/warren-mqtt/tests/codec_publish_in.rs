//! A 3.x PUBLISH from the client is read on a fast path (`codec/hot.rs`); whatever the bytes,
//! the answer must be the wire codec's: the same packet, or an error where it errs.

use bytes::BytesMut;
use proptest::prelude::*;
use rmqtt_codec::v3;
use tokio_util::codec::Decoder;
use warren_mqtt::codec::{Codec, Inbound};
use warren_mqtt::MqttError;

const CONNECT_311: &[u8] = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04abcd";
const CONNECT_31: &[u8] = b"\x10\x12\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x04abcd";

/// A codec that has read CONNECT at 3.1.1 (or 3.1).
fn connected(connect: &[u8]) -> Codec {
    let mut codec = Codec::new(1 << 20);
    let mut buf = BytesMut::from(connect);
    assert!(matches!(
        codec.decode(&mut buf),
        Ok(Some(Inbound::Connect(_)))
    ));
    codec
}

/// `first`, the Remaining Length of `body`, and `body`.
fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut n = body.len();
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            break;
        }
        out.push(low | 0x80);
    }
    out.extend_from_slice(body);
    out
}

/// Decodes `bytes` (one whole packet) with Warren's codec and with the wire codec alone, and
/// checks that they agree; returns Warren's answer.
fn agrees_with_the_codec(connect: &[u8], bytes: &[u8]) -> Result<Option<Inbound>, MqttError> {
    let mut ours_in = BytesMut::from(bytes);
    let ours = connected(connect).decode(&mut ours_in);
    let mut theirs_in = BytesMut::from(bytes);
    let theirs = v3::Codec::new(0).decode(&mut theirs_in);
    match (&ours, theirs) {
        (Ok(Some(Inbound::Publish(a))), Ok(Some((v3::Packet::Publish(b), _)))) => {
            assert_eq!(a, &b, "{bytes:?}");
            assert!(ours_in.is_empty(), "the whole packet is taken");
        }
        (Err(_), Err(_)) => {}
        (ours, theirs) => panic!("{bytes:?}: ours {ours:?}, the codec's {theirs:?}"),
    }
    ours
}

#[test]
fn every_qos_flag_and_size_reads_as_the_codec_reads_it() {
    for connect in [CONNECT_311, CONNECT_31] {
        for first in 0x30..=0x3f_u8 {
            for payload in [&b""[..], b"hi", &[9u8; 200][..], &[1u8; 70_000][..]] {
                let mut body = b"\x00\x03a/b".to_vec();
                if first & 0b0110 != 0 {
                    body.extend_from_slice(b"\x12\x34");
                }
                body.extend_from_slice(payload);
                let decoded = agrees_with_the_codec(connect, &frame(first, &body));
                if first & 0b0110 != 0b0110 {
                    let Ok(Some(Inbound::Publish(p))) = decoded else {
                        panic!("{first:#x}: {decoded:?}");
                    };
                    assert_eq!((p.topic.as_ref(), p.payload.as_ref()), ("a/b", payload));
                    assert_eq!((p.dup, p.retain), (first & 8 != 0, first & 1 != 0));
                }
            }
        }
    }
}

#[test]
fn refused_forms_keep_the_codecs_errors() {
    let refused = [
        (frame(0x30, b"\x00\x00hi"), "empty topic"),
        (frame(0x32, b"\x00\x01a\x00\x00hi"), "packet id 0"),
        (frame(0x36, b"\x00\x01a\x00\x01hi"), "QoS 3"),
        (frame(0x30, b"\x00\x09a/b"), "topic past the end"),
        (frame(0x32, b"\x00\x01a\x00"), "packet id past the end"),
        (frame(0x30, b"\x00"), "no topic length"),
    ];
    for (bytes, why) in refused {
        assert!(agrees_with_the_codec(CONNECT_311, &bytes).is_err(), "{why}");
    }
    let empty = agrees_with_the_codec(CONNECT_311, &frame(0x30, b"\x00\x00hi"));
    assert!(matches!(empty, Err(MqttError::TopicName(_))), "{empty:?}");
    let not_utf8 = agrees_with_the_codec(CONNECT_311, &frame(0x30, b"\x00\x02\xc3\x28hi"));
    assert!(
        matches!(not_utf8, Err(MqttError::Malformed(_))),
        "{not_utf8:?}"
    );
}

#[test]
fn publishes_back_to_back_and_split_anywhere_read_whole() {
    let mut stream = Vec::new();
    for (i, first) in [0x30_u8, 0x32, 0x3d, 0x31].into_iter().enumerate() {
        let mut body = format!("\x00\x05top/{i}").into_bytes();
        if first & 0b0110 != 0 {
            body.extend_from_slice(&[0, i as u8 + 1]);
        }
        body.extend_from_slice(&vec![i as u8; 130 * i]);
        stream.extend(frame(first, &body));
    }
    for cut in 0..=stream.len() {
        let mut codec = connected(CONNECT_311);
        let mut buf = BytesMut::from(&stream[..cut]);
        let mut topics = Vec::new();
        let mut read = |buf: &mut BytesMut| {
            while let Some(packet) = codec.decode(buf).unwrap() {
                let Inbound::Publish(p) = packet else {
                    panic!("{packet:?}");
                };
                topics.push(p.topic.to_string());
            }
        };
        read(&mut buf);
        buf.extend_from_slice(&stream[cut..]);
        read(&mut buf);
        assert_eq!(topics, ["top/0", "top/1", "top/2", "top/3"], "cut at {cut}");
    }
}

proptest! {
    #[test]
    fn any_publish_bytes_read_as_the_codec_reads_them(
        flags in 0u8..16,
        topic in proptest::collection::vec(any::<u8>(), 0..24),
        topic_len_lie in proptest::option::of(0u16..40),
        id in proptest::option::of(any::<u16>()),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        v31 in any::<bool>(),
    ) {
        let topic_len = topic_len_lie.unwrap_or(topic.len() as u16);
        let mut body = topic_len.to_be_bytes().to_vec();
        body.extend_from_slice(&topic);
        if let Some(id) = id {
            body.extend_from_slice(&id.to_be_bytes());
        }
        body.extend_from_slice(&payload);
        let connect = if v31 { CONNECT_31 } else { CONNECT_311 };
        agrees_with_the_codec(connect, &frame(0x30 | flags, &body)).ok();
    }
}
