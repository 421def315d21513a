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

/// Publishes `a/b` at QoS 1 from `publ` and returns the QoS `sub` receives it at, if any
/// (acknowledging it).
fn send_and_receive(publ: &mut Client, sub: &mut Client, id: u16) -> Option<QoS> {
    publ.send3(Packet::Publish(Box::new(publish(
        "a/b",
        QoS::AtLeastOnce,
        id,
        b"m",
    ))));
    let got = sub.wake3();
    let p = match got.as_slice() {
        [Packet::Publish(p)] => p,
        [] => return None,
        other => panic!("{other:?}"),
    };
    if let Some(id) = p.packet_id {
        sub.send3(Packet::PublishAck { packet_id: id });
    }
    Some(p.qos)
}

/// A subscriber keeps receiving one topic while its subscriptions change: each delivery
/// follows the subscriptions as they are now, not as they were for the previous message.
#[test]
fn deliveries_follow_subscription_changes_on_a_repeated_topic() {
    let broker = TestBroker::new();
    let mut sub = broker.client();
    let mut publ = broker.client();
    assert!(!sub.connect3("sub", true));
    assert!(!publ.connect3("pub", true));
    sub.send3(sub3(1, &[("a/b", QoS::AtMostOnce)]));
    assert_eq!(
        send_and_receive(&mut publ, &mut sub, 1),
        Some(QoS::AtMostOnce)
    );
    assert_eq!(
        send_and_receive(&mut publ, &mut sub, 2),
        Some(QoS::AtMostOnce)
    );
    sub.send3(sub3(2, &[("a/b", QoS::AtLeastOnce)]));
    let upgraded = send_and_receive(&mut publ, &mut sub, 3);
    assert_eq!(upgraded, Some(QoS::AtLeastOnce));
    sub.send3(sub3(3, &[("a/#", QoS::AtMostOnce)]));
    let best_of_both = send_and_receive(&mut publ, &mut sub, 4);
    assert_eq!(best_of_both, Some(QoS::AtLeastOnce));
    sub.send3(Packet::Unsubscribe {
        packet_id: pid(4),
        topic_filters: vec!["a/b".into()],
    });
    let only_the_wildcard = send_and_receive(&mut publ, &mut sub, 5);
    assert_eq!(only_the_wildcard, Some(QoS::AtMostOnce));
    sub.send3(Packet::Unsubscribe {
        packet_id: pid(5),
        topic_filters: vec!["a/#".into()],
    });
    assert_eq!(
        send_and_receive(&mut publ, &mut sub, 6),
        None,
        "nothing matches"
    );
}
