//! QoS 2 in both directions, session against the fake core of `warren-fake-core`. Besides
//! what the session writes to the client, each test checks what it asked of the core (the
//! fake's journal): what was published and settled.

mod common;

use common::fake_core::*;
use common::packets::publishes3;
use common::*;
use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::{self, Packet};
use rmqtt_codec::v5;
use warren_fake_core::Call;
use warren_model::{QueueHandle, Settlement};
use warren_mqtt::convert::message_qos;

fn ack2(id: u16, reason_code: v5::PublishAck2Reason) -> v5::PublishAck2 {
    v5::PublishAck2 {
        packet_id: pid(id),
        reason_code,
        properties: vec![],
        reason_string: None,
    }
}

#[test]
fn qos2_inbound_is_routed_once_until_pubrel_in_311() {
    let b = FakeCoreBroker::new();
    let seen = watch(b.vhost(), "seen", "a.#");
    let mut p = b.client();
    p.connect3("p", true);

    let rec = p.send3(Packet::Publish(Box::new(publish(
        "a/b",
        QoS::ExactlyOnce,
        3,
        b"x",
    ))));
    assert_eq!(rec, vec![Packet::PublishReceived { packet_id: pid(3) }]);
    assert_eq!(routed(b.vhost()), vec![routed_one(EXCHANGE, "a.b", b"x")]);
    let (_, _, message) = &b.vhost().publishes()[0];
    assert_eq!(message_qos(message), QoS::ExactlyOnce);
    assert!(message.is_persistent());

    let mut dup = publish("a/b", QoS::ExactlyOnce, 3, b"x");
    dup.dup = true;
    let rec = p.send3(Packet::Publish(Box::new(dup)));
    assert_eq!(rec, vec![Packet::PublishReceived { packet_id: pid(3) }]);
    assert_eq!(routed(b.vhost()).len(), 1, "the duplicate is not routed");
    assert_eq!(seen.message_count(), 1);

    assert_eq!(
        p.send3(Packet::PublishRelease { packet_id: pid(3) }),
        vec![Packet::PublishComplete { packet_id: pid(3) }]
    );
    assert_eq!(routed(b.vhost()).len(), 1, "PUBREL routes nothing");

    // Released, the id names a new message.
    let rec = p.send3(Packet::Publish(Box::new(publish(
        "a/b",
        QoS::ExactlyOnce,
        3,
        b"y",
    ))));
    assert_eq!(rec, vec![Packet::PublishReceived { packet_id: pid(3) }]);
    assert_eq!(
        routed(b.vhost()),
        vec![
            routed_one(EXCHANGE, "a.b", b"x"),
            routed_one(EXCHANGE, "a.b", b"y")
        ]
    );
    assert_eq!(seen.message_count(), 2);
}

#[test]
fn qos2_inbound_in_v5_and_an_unknown_pubrel_is_0x92() {
    let b = FakeCoreBroker::new();
    let seen = watch(b.vhost(), "seen", "q2");
    let mut p = b.client();
    p.connect5(connect5("p5", true, 0));
    let mut first = publish("q2", QoS::ExactlyOnce, 9, b"once");
    first.properties = Some(v5::PublishProperties::default());
    for _ in 0..2 {
        let out = p.send5(v5::Packet::Publish(Box::new(first.clone())));
        assert!(
            matches!(out.as_slice(), [v5::Packet::PublishReceived(r)]
                if r.packet_id == pid(9) && r.reason_code == v5::PublishAckReason::Success),
            "{out:?}"
        );
        first.dup = true;
    }
    assert_eq!(routed(b.vhost()), vec![routed_one(EXCHANGE, "q2", b"once")]);
    assert_eq!(seen.message_count(), 1);
    let release = v5::Packet::PublishRelease(ack2(9, v5::PublishAck2Reason::Success));
    assert_eq!(
        p.send5(release.clone()),
        vec![v5::Packet::PublishComplete(ack2(
            9,
            v5::PublishAck2Reason::Success
        ))]
    );
    assert_eq!(
        p.send5(release),
        vec![v5::Packet::PublishComplete(ack2(
            9,
            v5::PublishAck2Reason::PacketIdNotFound
        ))]
    );
    assert_eq!(routed(b.vhost()).len(), 1);
}

#[test]
fn qos2_outbound_settles_the_delivery_once_and_frees_the_id_on_pubcomp() {
    let b = FakeCoreBroker::new();
    let mut s = b.client();
    s.connect3("s", true);
    b.vhost().clear_calls();
    let ack = s.send3(sub3(1, &[("t/#", QoS::ExactlyOnce)]));
    assert!(
        matches!(ack.as_slice(), [Packet::SubscribeAck { status, .. }]
            if status == &[v3::SubscribeReturnCode::Success(QoS::ExactlyOnce)]),
        "{ack:?}"
    );
    let queue = session_queue("s");
    let conn = declared_by(b.vhost(), &queue);
    assert_eq!(
        b.vhost().calls(),
        vec![
            Call::DeclareQueue {
                name: queue.clone(),
                durable: false,
                exclusive: true,
                auto_delete: false,
                passive: false,
                owner: conn,
            },
            Call::Consume {
                queue: queue.clone(),
                tag: "mqtt-session".into(),
                no_ack: false,
                prefetch: 100,
            },
            Call::Bind {
                source: EXCHANGE.into(),
                queue: queue.clone(),
                key: "t.#".into(),
            },
        ],
        "a clean session's queue is exclusive, consumed, and bound with the mapped filter"
    );

    assert_eq!(core_publish(b.vhost(), "t.x", 2, b"once"), 1);
    let got = publishes3(&s.wake3());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].qos, got[0].dup), (QoS::ExactlyOnce, false));
    assert_eq!(
        (got[0].topic.as_ref(), &got[0].payload[..]),
        ("t/x", &b"once"[..])
    );
    let id = got[0].packet_id.unwrap();
    assert!(
        settles(b.vhost()).is_empty(),
        "nothing settled before PUBREC"
    );
    let q = b.vhost().queue(&queue).unwrap();
    assert_eq!(q.unacked().len(), 1);
    let seq = q.unacked()[0].seq;

    let pubrel = vec![Packet::PublishRelease { packet_id: id }];
    assert_eq!(s.send3(Packet::PublishReceived { packet_id: id }), pubrel);
    let once = vec![(queue.clone(), seq, Settlement::Ack)];
    assert_eq!(settles(b.vhost()), once, "the client owns it from PUBREC");
    assert_eq!(s.send3(Packet::PublishReceived { packet_id: id }), pubrel);
    assert!(s
        .send3(Packet::PublishComplete { packet_id: id })
        .is_empty());
    assert!(s
        .send3(Packet::PublishComplete { packet_id: id })
        .is_empty());
    assert_eq!(
        settles(b.vhost()),
        once,
        "a repeated PUBREC, PUBREL and PUBCOMP settle nothing more"
    );
    assert_eq!((q.acked(), q.unacked().len(), q.message_count()), (1, 0, 0));

    // The window is open again: the next message goes out and can use the freed id.
    core_publish(b.vhost(), "t.y", 2, b"next");
    let got = publishes3(&s.wake3());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(&got[0].payload[..], b"next");
}
