//! Codec vectors per packet type and version, input split at every byte, the size guard, and
//! garbage that must not panic.

use bytes::BytesMut;
use proptest::prelude::*;
use warren_mqtt::codec::{frame_length, Codec, ConnAckPacket, Inbound, Outbound, Version};
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
    let stream = stream_311();
    let whole = decode_all(&mut Codec::new(1024), &stream);
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

proptest! {
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
