//! QoS 0, 1 and 2 in both directions, against the real core.

mod common;

use common::*;
use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::{self, Packet};

#[test]
fn qos0_and_qos1_round_trip_between_two_311_clients() {
    let broker = TestBroker::new();
    let mut sub = broker.client();
    let mut publ = broker.client();
    assert!(!sub.connect3("sub", true));
    assert!(!publ.connect3("pub", true));
    let ack = sub.send3(sub3(
        1,
        &[("a/b", QoS::AtLeastOnce), ("x/+", QoS::AtMostOnce)],
    ));
    assert!(
        matches!(ack.as_slice(), [Packet::SubscribeAck { status, .. }]
        if status == &[v3::SubscribeReturnCode::Success(QoS::AtLeastOnce), v3::SubscribeReturnCode::Success(QoS::AtMostOnce)])
    );

    assert!(publ
        .send3(Packet::Publish(Box::new(publish(
            "a/b",
            QoS::AtMostOnce,
            0,
            b"zero"
        ))))
        .is_empty());
    let got = sub.wake3();
    let [Packet::Publish(p)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(
        (p.topic.as_ref(), p.qos, &p.payload[..]),
        ("a/b", QoS::AtMostOnce, &b"zero"[..])
    );

    let acked = publ.send3(Packet::Publish(Box::new(publish(
        "a/b",
        QoS::AtLeastOnce,
        7,
        b"one",
    ))));
    assert_eq!(acked, vec![Packet::PublishAck { packet_id: pid(7) }]);
    let got = sub.wake3();
    let [Packet::Publish(p)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(p.qos, QoS::AtLeastOnce);
    let id = p.packet_id.unwrap();
    assert!(sub.send3(Packet::PublishAck { packet_id: id }).is_empty());

    // delivered QoS is min(subscription, message)
    publ.send3(Packet::Publish(Box::new(publish(
        "x/y",
        QoS::AtLeastOnce,
        8,
        b"capped",
    ))));
    let got = sub.wake3();
    let [Packet::Publish(p)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!((p.qos, p.packet_id), (QoS::AtMostOnce, None));
}
