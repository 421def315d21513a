//! QoS 0, 1 and 2 in both directions with rumqttc (3.1.1 and 5); the delivered QoS is
//! min(subscription, message); QoS 2 is exactly once: a PUBLISH repeated with the same packet
//! id before PUBREL is routed once, PUBREL completes it, the id is free again afterwards.

use crate::mqtt;

use mqtt::*;

fn q4(n: u8) -> v4::QoS {
    match n {
        0 => v4::QoS::AtMostOnce,
        1 => v4::QoS::AtLeastOnce,
        _ => v4::QoS::ExactlyOnce,
    }
}

fn q5(n: u8) -> v5::QoS {
    match n {
        0 => v5::QoS::AtMostOnce,
        1 => v5::QoS::AtLeastOnce,
        _ => v5::QoS::ExactlyOnce,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_each_qos_round_trips_at_its_level() {
    let Some(t) = target() else { return };
    let root = topic("q4");
    let (mut sub, _) = v4::connect(t.v4(&name("sub"))).await;
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    sub.subscribe(&format!("{root}/#"), v4::QoS::ExactlyOnce)
        .await;
    for qos in 0..=2u8 {
        let topic = format!("{root}/{qos}");
        publ.publish(&topic, q4(qos), false, format!("m{qos}").as_bytes())
            .await;
        let got = sub.next_publish().await;
        assert_eq!(
            (got.topic.as_str(), v4::text(&got)),
            (topic.as_str(), format!("m{qos}"))
        );
        assert_eq!(got.qos, q4(qos));
        assert_eq!(got.pkid == 0, qos == 0, "packet id present iff QoS > 0");
        assert!(!got.dup && !got.retain);
    }
    sub.assert_no_publish(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_each_qos_round_trips_at_its_level() {
    let Some(t) = target() else { return };
    let root = topic("q5");
    let (mut sub, _) = v5::connect(t.v5(&name("sub"))).await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    sub.subscribe(&format!("{root}/#"), v5::QoS::ExactlyOnce)
        .await;
    for qos in 0..=2u8 {
        let topic = format!("{root}/{qos}");
        publ.publish(&topic, q5(qos), false, b"x").await;
        let got = sub.next_publish().await;
        assert_eq!(v5::topic_of(&got), topic);
        assert_eq!(got.qos, q5(qos));
    }
    sub.assert_no_publish(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_qos_is_the_minimum_of_subscription_and_message() {
    let Some(t) = target() else { return };
    let root = topic("min");
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    for sub_qos in 0..=2u8 {
        let (mut sub, _) = v4::connect(t.v4(&name("sub"))).await;
        let filter = format!("{root}/s{sub_qos}/+");
        let granted = sub.subscribe(&filter, q4(sub_qos)).await;
        assert_eq!(granted, v4::SubscribeReasonCode::Success(q4(sub_qos)));
        for msg_qos in 0..=2u8 {
            publ.publish(
                &format!("{root}/s{sub_qos}/m{msg_qos}"),
                q4(msg_qos),
                false,
                b"x",
            )
            .await;
            let got = sub.next_publish().await;
            assert_eq!(
                got.qos,
                q4(sub_qos.min(msg_qos)),
                "subscription QoS {sub_qos}, message QoS {msg_qos}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos1_messages_from_one_publisher_arrive_in_order() {
    let Some(t) = target() else { return };
    let topic = topic("order");
    let (mut sub, _) = v4::connect(t.v4(&name("sub"))).await;
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    sub.subscribe(&topic, v4::QoS::AtLeastOnce).await;
    for i in 0..50 {
        publ.publish(
            &topic,
            v4::QoS::AtLeastOnce,
            false,
            format!("{i}").as_bytes(),
        )
        .await;
    }
    for i in 0..50 {
        assert_eq!(v4::text(&sub.next_publish().await), format!("{i}"));
    }
}

async fn raw_client(t: &MqttTarget, level: u8) -> Raw {
    let (raw, ack) = Raw::open(t.mqtt_addr(), &Connect::new(level, &name("raw"))).await;
    assert_eq!(ack.connack().1, 0);
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_duplicate_publish_with_the_same_packet_id_is_delivered_once() {
    let Some(t) = target() else { return };
    let topic = topic("dup2");
    let (mut sub, _) = v4::connect(t.v4(&name("sub"))).await;
    sub.subscribe(&topic, v4::QoS::ExactlyOnce).await;
    let mut raw = raw_client(&t, V311).await;

    raw.send(&publish(&topic, 2, false, false, 7, b"once", None))
        .await;
    let rec = raw.recv_kind(kind::PUBREC).await;
    assert_eq!(rec.pkid(), 7);
    // The PUBREC was "lost": the client sends the PUBLISH again with DUP set (MQTT-4.3.3).
    raw.send(&publish(&topic, 2, false, true, 7, b"once", None))
        .await;
    assert_eq!(raw.recv_kind(kind::PUBREC).await.pkid(), 7);
    raw.send(&ack(kind::PUBREL, 7)).await;
    assert_eq!(raw.recv_kind(kind::PUBCOMP).await.pkid(), 7);

    assert_eq!(v4::text(&sub.next_publish().await), "once");
    sub.assert_no_publish(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_qos2_duplicate_publish_with_the_same_packet_id_is_delivered_once() {
    let Some(t) = target() else { return };
    let topic = topic("dup25");
    let (mut sub, _) = v5::connect(t.v5(&name("sub"))).await;
    sub.subscribe(&topic, v5::QoS::ExactlyOnce).await;
    let mut raw = raw_client(&t, V5).await;
    let none = Props::new();
    for dup in [false, true] {
        raw.send(&publish(&topic, 2, false, dup, 9, b"once", Some(&none)))
            .await;
        let rec = raw.recv_kind(kind::PUBREC).await;
        assert_eq!((rec.pkid(), rec.reason()), (9, 0));
    }
    raw.send(&ack(kind::PUBREL, 9)).await;
    assert_eq!(raw.recv_kind(kind::PUBCOMP).await.pkid(), 9);
    assert_eq!(v5::text(&sub.next_publish().await), "once");
    sub.assert_no_publish(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_packet_id_is_free_again_after_pubcomp() {
    let Some(t) = target() else { return };
    let topic = topic("reuse");
    let (mut sub, _) = v4::connect(t.v4(&name("sub"))).await;
    sub.subscribe(&topic, v4::QoS::ExactlyOnce).await;
    let mut raw = raw_client(&t, V311).await;
    for body in [&b"first"[..], b"second"] {
        raw.send(&publish(&topic, 2, false, false, 5, body, None))
            .await;
        assert_eq!(raw.recv_kind(kind::PUBREC).await.pkid(), 5);
        raw.send(&ack(kind::PUBREL, 5)).await;
        assert_eq!(raw.recv_kind(kind::PUBCOMP).await.pkid(), 5);
    }
    assert_eq!(v4::text(&sub.next_publish().await), "first");
    assert_eq!(v4::text(&sub.next_publish().await), "second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_pubrel_for_an_unknown_packet_id_is_completed() {
    let Some(t) = target() else { return };
    let mut raw = raw_client(&t, V311).await;
    raw.send(&ack(kind::PUBREL, 4242)).await;
    // MQTT-4.3.3: PUBREL is answered with PUBCOMP even if the id is already released.
    assert_eq!(raw.recv_kind(kind::PUBCOMP).await.pkid(), 4242);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_pubrel_for_an_unknown_packet_id_is_completed() {
    let Some(t) = target() else { return };
    let mut raw = raw_client(&t, V5).await;
    raw.send(&ack(kind::PUBREL, 4243)).await;
    let comp = raw.recv_kind(kind::PUBCOMP).await;
    assert_eq!(comp.pkid(), 4243);
    // Success, or 0x92 Packet Identifier not found (MQTT 5 section 3.7.2.1).
    assert!(
        [0, 0x92].contains(&comp.reason()),
        "reason {:#x}",
        comp.reason()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_outbound_flow_is_publish_pubrec_pubrel_pubcomp() {
    let Some(t) = target() else { return };
    let topic = topic("out2");
    let mut raw = raw_client(&t, V311).await;
    assert_eq!(raw_subscribe(&mut raw, 1, &topic, 2, false).await, 2);
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&topic, v4::QoS::ExactlyOnce, false, b"x")
        .await;

    let p = raw.recv_kind(kind::PUBLISH).await.publish(false);
    assert_eq!((p.qos, p.dup, p.payload.as_slice()), (2, false, &b"x"[..]));
    assert_ne!(p.pkid, 0);
    raw.send(&ack(kind::PUBREC, p.pkid)).await;
    let rel = raw.recv_kind(kind::PUBREL).await;
    assert_eq!(rel.pkid(), p.pkid);
    assert_eq!(
        rel.first & 0x0F,
        0x02,
        "PUBREL fixed-header flags (MQTT-3.6.1-1)"
    );
    raw.send(&ack(kind::PUBCOMP, p.pkid)).await;
    // Completed: nothing is resent.
    raw.send(&pingreq()).await;
    assert_eq!(raw.recv().await.kind(), kind::PINGRESP);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos1_outbound_is_not_resent_after_puback_on_a_live_connection() {
    let Some(t) = target() else { return };
    let topic = topic("out1");
    let mut raw = raw_client(&t, V311).await;
    assert_eq!(raw_subscribe(&mut raw, 1, &topic, 1, false).await, 1);
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&topic, v4::QoS::AtLeastOnce, false, b"a")
        .await;
    let p = raw.recv_kind(kind::PUBLISH).await.publish(false);
    assert_eq!((p.qos, p.payload.as_slice()), (1, &b"a"[..]));
    raw.send(&ack(kind::PUBACK, p.pkid)).await;
    publ.publish(&topic, v4::QoS::AtLeastOnce, false, b"b")
        .await;
    let p2 = raw.recv_kind(kind::PUBLISH).await.publish(false);
    assert_eq!(
        p2.payload, b"b",
        "next message, no redelivery of the acked one"
    );
    assert!(!p2.dup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos1_publish_is_acknowledged_with_its_packet_id() {
    let Some(t) = target() else { return };
    let mut raw = raw_client(&t, V311).await;
    let topic = topic("ack1");
    for pkid in [1u16, 65535, 300] {
        raw.send(&publish(&topic, 1, false, false, pkid, b"x", None))
            .await;
        assert_eq!(raw.recv_kind(kind::PUBACK).await.pkid(), pkid);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_payload_round_trips_intact() {
    let Some(t) = target() else { return };
    let topic = topic("big");
    let (mut sub, _) = v4::connect(t.v4(&name("sub"))).await;
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    sub.subscribe(&topic, v4::QoS::AtLeastOnce).await;
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    publ.publish(&topic, v4::QoS::AtLeastOnce, false, &body)
        .await;
    assert_eq!(sub.next_publish().await.payload.as_ref(), body.as_slice());
}
