//! The hand-rolled packets are checked against Warren's MQTT codec.

use warren_mqtt::codec::{Codec, Inbound, QoS};

use super::*;

fn decode_all(version: u8, packets: impl FnOnce(&mut BytesMut)) -> Vec<Inbound> {
    let mut bytes = BytesMut::new();
    connect(&mut bytes, version, "c1", 30, "guest", "pw");
    packets(&mut bytes);
    let mut codec = Codec::new(1 << 20);
    let mut out = Vec::new();
    while let Some(p) = codec.decode(&mut bytes).expect("Warren decodes it") {
        out.push(p);
    }
    assert!(bytes.is_empty());
    out
}

#[test]
fn connect_subscribe_and_publish_decode_in_both_versions() {
    for version in [4, 5] {
        let packets = decode_all(version, |b| {
            subscribe(b, version, 1, "bench/x", 1);
            publish(b, version, "bench/x", 1, 7, 200, 55);
            ack(b, PUBACK, 3);
        });
        let Inbound::Connect(c) = &packets[0] else {
            panic!("{packets:?}")
        };
        assert_eq!(
            (c.client_id.as_str(), c.keep_alive, c.clean_start),
            ("c1", 30, true)
        );
        assert_eq!(c.username.as_deref(), Some("guest"));
        let Inbound::Subscribe(s) = &packets[1] else {
            panic!("{packets:?}")
        };
        assert_eq!(s.filters[0].0, "bench/x");
        let Inbound::Publish(p) = &packets[2] else {
            panic!("{packets:?}")
        };
        assert_eq!(
            (p.qos, p.packet_id.map(|n| n.get())),
            (QoS::AtLeastOnce, Some(7))
        );
        assert_eq!(
            (p.payload.len(), crate::payload::stamp(&p.payload)),
            (200, Some(55))
        );
        assert!(matches!(packets[3], Inbound::PubAck { .. }), "{packets:?}");
    }
}

#[test]
fn publish_parts_reads_both_versions() {
    for version in [4, 5] {
        let mut out = BytesMut::new();
        publish(&mut out, version, "t", 2, 513, 16, 9);
        let (packet, used) = parse(&out).unwrap().unwrap();
        assert_eq!((packet.kind, used), (PUBLISH, out.len()));
        let (qos, id, payload) = publish_parts(version, packet.flags, packet.body).unwrap();
        assert_eq!(
            (qos, id, payload.len(), crate::payload::stamp(payload)),
            (2, 513, 16, Some(9))
        );
    }
}

#[test]
fn long_remaining_lengths_and_partial_input() {
    let mut out = BytesMut::new();
    publish(&mut out, 4, "t", 0, 0, 20_000, 1);
    assert_eq!(out[1..4], [0xA3, 0x9C, 0x01], "20003 as a 3-byte varint");
    for cut in [0, 1, 2, 3, 100, out.len() - 1] {
        assert_eq!(parse(&out[..cut]).unwrap(), None, "cut at {cut}");
    }
    assert!(parse(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0]).is_err());
}
