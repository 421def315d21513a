//! Codec vectors per packet type and version, input split at every byte, the size guard, and
//! garbage that must not panic.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use warren_mqtt::codec::{
    frame_length, Codec, ConnAckPacket, Inbound, Outbound, Publish, PublishRef, QoS, Version,
};
use warren_mqtt::MqttError;

const CONNECT_311: &[u8] = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04abcd";
const CONNECT_31: &[u8] = b"\x10\x12\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x04abcd";
/// MQTT 5 CONNECT with Session Expiry 10 and Receive Maximum 5.
const CONNECT_5: &[u8] =
    b"\x10\x19\x00\x04MQTT\x05\x02\x00\x3c\x08\x11\x00\x00\x00\x0a\x21\x00\x05\x00\x04abcd";

fn decode_all(codec: &mut Codec, bytes: &[u8]) -> Vec<Inbound> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(p) = codec.decode(&mut buf).unwrap() {
        out.push(p);
    }
    assert!(buf.is_empty());
    out
}

fn stream_311() -> Vec<u8> {
    let mut s = CONNECT_311.to_vec();
    s.extend_from_slice(b"\x30\x07\x00\x03a/bhi"); // PUBLISH QoS 0
    s.extend_from_slice(b"\x32\x07\x00\x01a\x00\x05hi"); // PUBLISH QoS 1 id 5
    s.extend_from_slice(b"\x40\x02\x00\x09"); // PUBACK 9
    s.extend_from_slice(b"\x50\x02\x00\x0a"); // PUBREC 10
    s.extend_from_slice(b"\x62\x02\x00\x0b"); // PUBREL 11
    s.extend_from_slice(b"\x70\x02\x00\x0c"); // PUBCOMP 12
    s.extend_from_slice(b"\x82\x08\x00\x01\x00\x03a/+\x01"); // SUBSCRIBE
    s.extend_from_slice(b"\xa2\x07\x00\x02\x00\x03a/+"); // UNSUBSCRIBE
    s.extend_from_slice(b"\xc0\x00\xe0\x00"); // PINGREQ, DISCONNECT
    s
}

#[test]
fn v311_vectors() {
    let mut codec = Codec::new(1024);
    let packets = decode_all(&mut codec, &stream_311());
    assert_eq!(codec.version(), Some(Version::V311));
    assert_eq!(packets.len(), 11);
    assert!(
        matches!(&packets[0], Inbound::Connect(c) if c.client_id == "abcd" && c.clean_start && c.keep_alive == 60)
    );
    assert!(matches!(&packets[2], Inbound::Publish(p) if p.packet_id.map(|n| n.get()) == Some(5)));
    assert_eq!(packets[3], Inbound::PubAck(9));
    assert_eq!(packets[4], Inbound::PubRec(10));
    assert_eq!(packets[5], Inbound::PubRel(11));
    assert_eq!(packets[6], Inbound::PubComp(12));
    assert!(matches!(&packets[7], Inbound::Subscribe(s) if s.filters[0].0 == "a/+"));
    assert!(matches!(&packets[8], Inbound::Unsubscribe { id: 2, filters } if filters == &["a/+"]));
    assert_eq!(packets[9], Inbound::PingReq);
    assert!(matches!(packets[10], Inbound::Disconnect { reason: 0, .. }));
}

/// PUBACK's plain form (remaining length 2, id not 0) is read on a fast path in both
/// versions; its other forms still go the codec's way: a reason code (MQTT 5) is accepted,
/// flags or packet id 0 are malformed.
#[test]
fn puback_forms() {
    for connect in [CONNECT_311, CONNECT_5] {
        let mut codec = Codec::new(1024);
        decode_all(&mut codec, connect);
        let acks = decode_all(&mut codec, b"\x40\x02\x12\x34\x40\x02\xff\xff");
        assert_eq!(acks, [Inbound::PubAck(0x1234), Inbound::PubAck(0xffff)]);
        let mut split = BytesMut::from(&b"\x40\x02\x00"[..]);
        assert_eq!(codec.decode(&mut split).unwrap(), None, "incomplete");
        split.extend_from_slice(b"\x05");
        assert_eq!(codec.decode(&mut split).unwrap(), Some(Inbound::PubAck(5)));
        for malformed in [&b"\x40\x02\x00\x00"[..], b"\x41\x02\x00\x01"] {
            let mut fresh = Codec::new(1024);
            decode_all(&mut fresh, connect);
            let result = fresh.decode(&mut BytesMut::from(malformed));
            assert!(result.is_err(), "{malformed:?}: {result:?}");
        }
    }
    let mut v5 = Codec::new(1024);
    decode_all(&mut v5, CONNECT_5);
    let with_reason = decode_all(&mut v5, b"\x40\x03\x00\x07\x10");
    assert_eq!(with_reason, [Inbound::PubAck(7)]);
}

#[test]
fn v31_and_v5_connect_vectors() {
    let mut codec = Codec::new(1024);
    let p = decode_all(&mut codec, CONNECT_31);
    assert_eq!(codec.version(), Some(Version::V31));
    assert!(matches!(&p[0], Inbound::Connect(c) if c.version == Version::V31));
    let mut codec = Codec::new(1024);
    let p = decode_all(&mut codec, CONNECT_5);
    assert!(
        matches!(&p[0], Inbound::Connect(c) if c.version == Version::V5 && c.session_expiry == 10 && c.receive_max == 5)
    );
    // AUTH (reason 0x18 continue, no properties)
    let auth = decode_all(&mut codec, b"\xf0\x02\x18\x00");
    assert_eq!(auth, vec![Inbound::Auth]);
}

#[test]
fn input_split_at_every_byte_decodes_the_same() {
    assert_split_anywhere(&stream_311());
}

/// A packet: first byte, Remaining Length, body.
fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut n = body.len();
    loop {
        let byte = (n % 128) as u8;
        n /= 128;
        out.push(if n > 0 { byte | 0x80 } else { byte });
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// A length-prefixed string.
fn lp(s: &[u8]) -> Vec<u8> {
    let mut out = (s.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(s);
    out
}

/// An MQTT 5 property block.
fn props(p: &[u8]) -> Vec<u8> {
    let mut out = vec![p.len() as u8];
    out.extend_from_slice(p);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// PUBLISH QoS 1 id 7 on `a/b` with Payload Format, Message Expiry 60, Content Type, Response
/// Topic, Correlation Data and a User Property.
fn publish_5() -> Vec<u8> {
    let p = cat(&[
        b"\x01\x01",
        b"\x02\x00\x00\x00\x3c",
        &cat(&[b"\x03", &lp(b"text/plain")]),
        &cat(&[b"\x08", &lp(b"r/1")]),
        &cat(&[b"\x09", &lp(b"c1")]),
        &cat(&[b"\x26", &lp(b"k"), &lp(b"v")]),
    ]);
    packet(0x32, &cat(&[&lp(b"a/b"), b"\x00\x07", &props(&p), b"hi"]))
}

/// CONNECT 5.0 with a will (QoS 1, retained, delay 5, content type), user name and password,
/// Session Expiry 3600, Receive Maximum 10, Maximum Packet Size 4096, Topic Alias Maximum 8.
fn connect_5_full() -> Vec<u8> {
    let p = cat(&[
        b"\x11\x00\x00\x0e\x10",
        b"\x21\x00\x0a",
        b"\x27\x00\x00\x10\x00",
        b"\x22\x00\x08",
    ]);
    let will = cat(&[
        b"\x18\x00\x00\x00\x05",
        &cat(&[b"\x03", &lp(b"text/plain")]),
    ]);
    // flags: user name, password, will retain, will QoS 1, will, clean start
    let flags = 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02;
    let body = cat(&[
        &lp(b"MQTT"),
        &[5, flags, 0x00, 0x1e],
        &props(&p),
        &lp(b"full"),
        &props(&will),
        &lp(b"w/t"),
        &lp(b"bye"),
        &lp(b"user"),
        &lp(b"pass"),
    ]);
    packet(0x10, &body)
}

/// Every 5.0 packet a client sends, with properties and reason codes.
fn stream_5() -> Vec<u8> {
    cat(&[
        CONNECT_5,
        &publish_5(),
        // SUBSCRIBE id 2, Subscription Identifier 5, `a/+` QoS 1 + No Local + Retain As
        // Published + Retain Handling 2
        &packet(
            0x82,
            &cat(&[b"\x00\x02", &props(b"\x0b\x05"), &lp(b"a/+"), b"\x2d"]),
        ),
        // UNSUBSCRIBE id 3
        &packet(0xa2, &cat(&[b"\x00\x03", &props(b""), &lp(b"a/+")])),
        // PUBACK 9, 0x10 with a Reason String
        &packet(
            0x40,
            &cat(&[b"\x00\x09\x10", &props(&cat(&[b"\x1f", &lp(b"no")]))]),
        ),
        b"\x50\x02\x00\x0a",     // PUBREC 10, short form
        b"\x62\x03\x00\x0b\x92", // PUBREL 11, 0x92 without properties
        b"\x70\x02\x00\x0c",     // PUBCOMP 12
        b"\xc0\x00",             // PINGREQ
        // AUTH 0x18 with an Authentication Method
        &packet(0xf0, &cat(&[b"\x18", &props(&cat(&[b"\x15", &lp(b"m")]))])),
        // DISCONNECT 0x04 with Session Expiry 30
        &packet(0xe0, &cat(&[b"\x04", &props(b"\x11\x00\x00\x00\x1e")])),
    ])
}

/// 3.1 (`MQIsdp`): a QoS 2 flow, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT.
fn stream_31() -> Vec<u8> {
    let mut s = CONNECT_31.to_vec();
    s.extend_from_slice(b"\x34\x07\x00\x01q\x00\x06hi"); // PUBLISH QoS 2 id 6
    s.extend_from_slice(b"\x62\x02\x00\x06"); // PUBREL 6
    s.extend_from_slice(b"\x50\x02\x00\x07"); // PUBREC 7
    s.extend_from_slice(b"\x70\x02\x00\x07"); // PUBCOMP 7
    s.extend_from_slice(b"\x82\x08\x00\x01\x00\x03a/#\x02"); // SUBSCRIBE QoS 2
    s.extend_from_slice(b"\xa2\x07\x00\x02\x00\x03a/#"); // UNSUBSCRIBE
    s.extend_from_slice(b"\xc0\x00\xe0\x00"); // PINGREQ, DISCONNECT
    s
}

#[test]
fn v5_vectors() {
    let mut codec = Codec::new(1024);
    let packets = decode_all(&mut codec, &stream_5());
    assert_eq!(codec.version(), Some(Version::V5));
    assert_eq!(packets.len(), 11);
    let Inbound::Publish(p) = &packets[1] else {
        panic!("{:?}", packets[1])
    };
    assert_eq!(
        (
            p.topic.as_ref(),
            p.qos,
            p.packet_id.map(|n| n.get()),
            &p.payload[..]
        ),
        ("a/b", QoS::AtLeastOnce, Some(7), &b"hi"[..])
    );
    let props = p.properties.as_ref().expect("properties");
    assert!(props.is_utf8_payload);
    assert_eq!(props.message_expiry_interval.map(|n| n.get()), Some(60));
    assert_eq!(props.content_type.as_deref(), Some("text/plain"));
    assert_eq!(props.response_topic.as_deref(), Some("r/1"));
    assert_eq!(props.correlation_data.as_deref(), Some(&b"c1"[..]));
    assert_eq!(props.user_properties.len(), 1);
    let Inbound::Subscribe(sub) = &packets[2] else {
        panic!("{:?}", packets[2])
    };
    assert_eq!((sub.id, sub.sub_id), (2, Some(5)));
    let (filter, o) = &sub.filters[0];
    assert_eq!(filter, "a/+");
    assert_eq!(
        (o.qos, o.no_local, o.retain_as_published, o.retain_handling),
        (QoS::AtLeastOnce, true, true, 2)
    );
    assert!(matches!(&packets[3], Inbound::Unsubscribe { id: 3, filters } if filters == &["a/+"]));
    assert_eq!(packets[4], Inbound::PubAck(9));
    assert_eq!(packets[5], Inbound::PubRec(10));
    assert_eq!(packets[6], Inbound::PubRel(11));
    assert_eq!(packets[7], Inbound::PubComp(12));
    assert_eq!(packets[8], Inbound::PingReq);
    assert_eq!(packets[9], Inbound::Auth);
    assert_eq!(
        packets[10],
        Inbound::Disconnect {
            reason: 0x04,
            session_expiry: Some(30)
        }
    );
}

#[test]
fn v5_connect_with_will_credentials_and_limits() {
    let mut codec = Codec::new(1024);
    let p = decode_all(&mut codec, &connect_5_full());
    let [Inbound::Connect(c)] = p.as_slice() else {
        panic!("{p:?}")
    };
    assert_eq!(
        (c.version, c.clean_start, c.keep_alive, c.client_id.as_str()),
        (Version::V5, true, 30, "full")
    );
    assert_eq!(c.username.as_deref(), Some("user"));
    assert_eq!(c.password.as_deref(), Some(&b"pass"[..]));
    assert_eq!(
        (
            c.session_expiry,
            c.receive_max,
            c.max_packet_size,
            c.topic_alias_max
        ),
        (3600, 10, Some(4096), 8)
    );
    let w = c.will.as_ref().expect("will");
    assert_eq!(
        (
            w.topic.as_str(),
            &w.payload[..],
            w.qos,
            w.retain,
            w.delay_secs
        ),
        ("w/t", &b"bye"[..], QoS::AtLeastOnce, true, 5)
    );
    assert_eq!(w.properties.content_type.as_deref(), Some("text/plain"));
    assert_eq!(c.auth_method, None);
}

#[test]
fn v31_vectors() {
    let mut codec = Codec::new(1024);
    let packets = decode_all(&mut codec, &stream_31());
    assert_eq!(codec.version(), Some(Version::V31));
    assert_eq!(packets.len(), 9);
    assert!(
        matches!(&packets[1], Inbound::Publish(p) if p.qos == QoS::ExactlyOnce && p.packet_id.map(|n| n.get()) == Some(6))
    );
    assert_eq!(packets[2], Inbound::PubRel(6));
    assert_eq!(packets[3], Inbound::PubRec(7));
    assert_eq!(packets[4], Inbound::PubComp(7));
    assert!(
        matches!(&packets[5], Inbound::Subscribe(s) if s.filters[0].0 == "a/#" && s.filters[0].1.qos == QoS::ExactlyOnce)
    );
    assert!(matches!(&packets[6], Inbound::Unsubscribe { id: 2, .. }));
    assert_eq!(packets[7], Inbound::PingReq);
    assert!(matches!(packets[8], Inbound::Disconnect { reason: 0, .. }));
}

/// Every stream decodes the same whatever byte it is cut at.
#[test]
fn v5_and_v31_input_split_at_every_byte_decodes_the_same() {
    for stream in [stream_5(), stream_31(), connect_5_full()] {
        assert_split_anywhere(&stream);
    }
}

fn assert_split_anywhere(stream: &[u8]) {
    let whole = decode_all(&mut Codec::new(1024), stream);
    for cut in 0..stream.len() {
        let mut codec = Codec::new(1024);
        let mut buf = BytesMut::from(&stream[..cut]);
        let mut got = Vec::new();
        while let Some(p) = codec.decode(&mut buf).unwrap() {
            got.push(p);
        }
        buf.extend_from_slice(&stream[cut..]);
        while let Some(p) = codec.decode(&mut buf).unwrap() {
            got.push(p);
        }
        assert_eq!(got, whole, "split at {cut}");
    }
}

#[test]
fn oversized_packets_are_refused_from_the_fixed_header() {
    // PUBLISH declaring 2^21 bytes; only its header is present
    let header = [0x30u8, 0x80, 0x80, 0x80, 0x01];
    assert!(matches!(
        frame_length(&header, 1024),
        Err(MqttError::TooLarge { .. })
    ));
    let mut codec = Codec::new(1024);
    decode_all(&mut codec, CONNECT_311);
    let mut buf = BytesMut::from(&header[..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(MqttError::TooLarge { .. })
    ));
    assert!(buf.capacity() < 4096, "nothing was reserved for the body");
    // a varint longer than 4 bytes is malformed
    assert!(matches!(
        frame_length(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01], u32::MAX),
        Err(MqttError::Malformed(_))
    ));
}

#[test]
fn first_packet_rules() {
    let mut codec = Codec::new(1024);
    assert!(matches!(
        codec.decode(&mut BytesMut::from(&b"\xc0\x00"[..])),
        Err(MqttError::Protocol(_))
    ));
    let mut codec = Codec::new(1024);
    let level9 = b"\x10\x10\x00\x04MQTT\x09\x02\x00\x3c\x00\x04abcd";
    assert_eq!(
        codec.decode(&mut BytesMut::from(&level9[..])),
        Err(MqttError::UnsupportedVersion)
    );
    let mut codec = Codec::new(1024);
    let name = b"\x10\x10\x00\x04MQTX\x04\x02\x00\x3c\x00\x04abcd";
    assert!(matches!(
        codec.decode(&mut BytesMut::from(&name[..])),
        Err(MqttError::Protocol(_))
    ));
}

#[test]
fn encoder_vectors_and_the_client_maximum() {
    let mut codec = Codec::new(1024);
    decode_all(&mut codec, CONNECT_311);
    let mut out = BytesMut::new();
    let connack = ConnAckPacket {
        session_present: true,
        code: 0x86,
        ..Default::default()
    };
    codec
        .encode(Outbound::ConnAck(Box::new(connack)), &mut out)
        .unwrap();
    codec.encode(Outbound::PubAck(5, 0), &mut out).unwrap();
    codec
        .encode(Outbound::SubAck(1, vec![1, 0x8f], None), &mut out)
        .unwrap();
    codec.encode(Outbound::PingResp, &mut out).unwrap();
    assert!(!codec
        .encode(Outbound::Disconnect(0x8e, None), &mut out)
        .unwrap());
    assert_eq!(
        &out[..],
        b"\x20\x02\x01\x04\x40\x02\x00\x05\x90\x04\x00\x01\x01\x80\xd0\x00"
    );

    let mut codec = Codec::new(1024);
    decode_all(&mut codec, CONNECT_5);
    codec.set_max_outbound(Some(4));
    let mut out = BytesMut::new();
    assert!(codec.encode(Outbound::PingResp, &mut out).unwrap());
    assert!(!codec
        .encode(Outbound::SubAck(1, vec![0, 1, 2], None), &mut out)
        .unwrap());
    assert_eq!(&out[..], b"\xd0\x00");
}

/// The PUBLISH a 3.x client gets, written by Warren's own encoder, is byte for byte what the
/// codec writes; what the codec refuses is refused too.
fn publish_v3_matches_the_codec(publish: Publish) {
    let mut warren = Codec::new(1024);
    decode_all(&mut warren, CONNECT_311);
    let mut by_ref = BytesMut::new();
    let by_ref_result = warren.encode_publish_v3(&PublishRef::of(&publish), &mut by_ref);
    let mut ours = BytesMut::new();
    let our_result = warren.encode(Outbound::Publish(Box::new(publish.clone())), &mut ours);
    assert_eq!((&by_ref_result, &by_ref), (&our_result, &ours));
    let mut theirs = BytesMut::new();
    let their_result = tokio_util::codec::Encoder::encode(
        &mut rmqtt_codec::v3::Codec::default(),
        rmqtt_codec::v3::Packet::Publish(Box::new(publish)),
        &mut theirs,
    );
    match (our_result, their_result) {
        (Ok(true), Ok(())) => assert_eq!(ours, theirs),
        (Err(_), Err(_)) => assert!(ours.is_empty()),
        (ours, theirs) => panic!("ours {ours:?}, the codec's {theirs:?}"),
    }
}

#[test]
fn publish_v3_edge_cases_match_the_codec() {
    let base = Publish {
        dup: false,
        retain: false,
        qos: QoS::AtMostOnce,
        topic: "a/b".into(),
        packet_id: None,
        payload: Bytes::from_static(b"hi"),
        properties: None,
    };
    let id = std::num::NonZeroU16::new(7);
    let big = Bytes::from(vec![7u8; 200_000]);
    for publish in [
        base.clone(),
        Publish {
            qos: QoS::AtLeastOnce,
            packet_id: id,
            dup: true,
            retain: true,
            ..base.clone()
        },
        Publish {
            qos: QoS::ExactlyOnce,
            packet_id: id,
            ..base.clone()
        },
        Publish {
            packet_id: id,
            ..base.clone()
        },
        Publish {
            qos: QoS::AtLeastOnce,
            ..base.clone()
        },
        Publish {
            topic: "t".repeat(70_000).into(),
            ..base.clone()
        },
        Publish {
            payload: Bytes::from(vec![1u8; 125]),
            ..base.clone()
        },
        Publish {
            payload: big.clone(),
            ..base.clone()
        },
        Publish {
            payload: Bytes::new(),
            topic: "".into(),
            ..base.clone()
        },
    ] {
        publish_v3_matches_the_codec(publish);
    }
}

proptest! {
    #[test]
    fn publish_v3_matches_the_codec_for_any_packet(
        topic in "[a-z/]{0,40}",
        payload in proptest::collection::vec(any::<u8>(), 0..400),
        qos in 0u8..3,
        id in proptest::option::of(1u16..),
        dup in any::<bool>(),
        retain in any::<bool>(),
    ) {
        let qos = match qos { 0 => QoS::AtMostOnce, 1 => QoS::AtLeastOnce, _ => QoS::ExactlyOnce };
        publish_v3_matches_the_codec(Publish {
            dup,
            retain,
            qos,
            topic: topic.into(),
            packet_id: id.and_then(std::num::NonZeroU16::new),
            payload: Bytes::from(payload),
            properties: None,
        });
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), connect_first in any::<bool>()) {
        let mut codec = Codec::new(256);
        let mut buf = BytesMut::new();
        if connect_first {
            buf.extend_from_slice(if bytes.len() % 2 == 0 { CONNECT_5 } else { CONNECT_311 });
        }
        buf.extend_from_slice(&bytes);
        for _ in 0..400 {
            match codec.decode(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
}
