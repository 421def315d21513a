//! Retained messages, shared subscriptions, topic aliases, MQTT 5 subscription options and
//! message properties, and the reaction to invalid topics.

mod common;

use common::packets::{pub5, publishes3, publishes5};
use common::*;
use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::Packet;
use rmqtt_codec::v5::{self, DisconnectReasonCode as Dr};
use std::num::NonZeroU16;

#[test]
fn retained_set_replace_clear_and_wildcard_delivery() {
    let b = TestBroker::new();
    let mut p = b.client();
    p.connect3("p", true);
    let retained = |topic: &str, payload: &'static [u8]| {
        let mut m = publish(topic, QoS::AtLeastOnce, 1, payload);
        m.retain = true;
        Packet::Publish(Box::new(m))
    };
    p.send3(retained("r/a", b"first"));
    p.send3(retained("r/a", b"second"));
    p.send3(retained("r/b", b"bee"));
    p.send3(retained("r/c", b"sea"));
    p.send3(retained("r/c", b""));

    let mut s = b.client();
    s.connect3("s", true);
    let out = s.send3(sub3(1, &[("r/+", QoS::AtLeastOnce)]));
    let mut got: Vec<_> = publishes3(&out)
        .into_iter()
        .map(|p| (p.topic.to_string(), p.payload.to_vec(), p.retain))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("r/a".into(), b"second".to_vec(), true),
            ("r/b".into(), b"bee".to_vec(), true)
        ]
    );

    // live messages to an existing subscriber carry retain 0 (MQTT-3.3.1-9)
    p.send3(retained("r/a", b"third"));
    let live = publishes3(&s.wake3());
    assert!(live.len() == 1 && !live[0].retain);

    // $-topics are not matched by a first-level wildcard
    p.send3(retained("$sys/x", b"hidden"));
    let mut s2 = b.client();
    s2.connect3("s2", true);
    let out = s2.send3(sub3(1, &[("#", QoS::AtMostOnce)]));
    let topics: Vec<_> = publishes3(&out)
        .into_iter()
        .map(|p| p.topic.to_string())
        .collect();
    assert!(!topics.contains(&"$sys/x".to_string()) && topics.contains(&"r/a".to_string()));
}

#[test]
fn retain_handling_and_retain_as_published() {
    let b = TestBroker::new();
    let mut p = b.client();
    p.connect5(connect5("p", true, 0));
    let mut m = publish("rh", QoS::AtMostOnce, 0, b"kept");
    m.retain = true;
    m.properties = Some(Default::default());
    p.send5(v5::Packet::Publish(Box::new(m.clone())));
    let mut s = b.client();
    s.connect5(connect5("s", true, 0));
    let never = v5::SubscriptionOptions {
        retain_handling: v5::RetainHandling::NoAtSubscribe,
        ..opts(QoS::AtMostOnce)
    };
    assert!(publishes5(&s.send5(sub5(1, &[("rh", never)]))).is_empty());
    let new_only = v5::SubscriptionOptions {
        retain_handling: v5::RetainHandling::AtSubscribeNew,
        retain_as_published: true,
        ..opts(QoS::AtMostOnce)
    };
    let out = s.send5(sub5(2, &[("rh", new_only)]));
    assert!(publishes5(&out).is_empty(), "the subscription existed");
    let mut s3 = b.client();
    s3.connect5(connect5("s3", true, 0));
    let got = publishes5(&s3.send5(sub5(1, &[("rh", new_only)])));
    assert!(
        got.len() == 1 && got[0].retain,
        "a new subscription gets it"
    );
    p.send5(v5::Packet::Publish(Box::new(m)));
    let got = publishes5(&s.wake5());
    assert!(got.len() == 1 && got[0].retain, "retain as published");
}

#[test]
fn shared_subscription_round_robin() {
    let b = TestBroker::new();
    let mut members: Vec<Client> = (0..2).map(|_| b.client()).collect();
    for (i, m) in members.iter_mut().enumerate() {
        m.connect5(connect5(&format!("m{i}"), true, 0));
        let out = m.send5(sub5(1, &[("$share/g/sh/+", opts(QoS::AtMostOnce))]));
        assert!(
            matches!(out.as_slice(), [v5::Packet::SubscribeAck(a)] if a.status == vec![v5::SubscribeAckReason::GrantedQos0])
        );
    }
    let mut p = b.client();
    p.connect5(connect5("p", true, 0));
    for _ in 0..4 {
        p.send5(pub5("sh/x", QoS::AtMostOnce, 0, b"m"));
    }
    let counts: Vec<usize> = members
        .iter_mut()
        .map(|m| publishes5(&m.wake5()).len())
        .collect();
    assert_eq!(counts, vec![2, 2]);
    // no local on a shared subscription is a protocol error
    let nl = v5::SubscriptionOptions {
        no_local: true,
        ..opts(QoS::AtMostOnce)
    };
    let out = members[0].send5(sub5(2, &[("$share/g/x", nl)]));
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == Dr::ProtocolError)
    );
}

#[test]
fn inbound_topic_aliases() {
    let b = TestBroker::new();
    let mut s = b.client();
    s.connect3("s", true);
    s.send3(sub3(1, &[("al/#", QoS::AtMostOnce)]));
    let mut p = b.client();
    p.connect5(connect5("p", true, 0));
    let mut m = publish("al/one", QoS::AtMostOnce, 0, b"1");
    m.properties = Some(v5::PublishProperties {
        topic_alias: NonZeroU16::new(3),
        ..Default::default()
    });
    p.send5(v5::Packet::Publish(Box::new(m.clone())));
    m.topic = "".into();
    p.send5(v5::Packet::Publish(Box::new(m.clone())));
    let topics: Vec<_> = publishes3(&s.wake3())
        .into_iter()
        .map(|p| p.topic.to_string())
        .collect();
    assert_eq!(topics, vec!["al/one", "al/one"]);
    m.properties = Some(v5::PublishProperties {
        topic_alias: NonZeroU16::new(65),
        ..Default::default()
    });
    let out = p.send5(v5::Packet::Publish(Box::new(m)));
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == Dr::TopicAliasInvalid)
    );
}

#[test]
fn no_local_subscription_ids_and_properties() {
    let b = TestBroker::new();
    let mut c = b.client();
    c.connect5(connect5("me", true, 0));
    let nl = v5::SubscriptionOptions {
        no_local: true,
        ..opts(QoS::AtLeastOnce)
    };
    c.send5(v5::Packet::Subscribe(v5::Subscribe {
        packet_id: pid(1),
        id: std::num::NonZeroU32::new(42),
        user_properties: vec![],
        topic_filters: vec![("nl/#".into(), nl)],
    }));
    c.send5(pub5("nl/x", QoS::AtMostOnce, 0, b"mine"));
    assert!(publishes5(&c.wake5()).is_empty(), "no local");

    let mut other = b.client();
    other.connect5(connect5("other", true, 0));
    let mut m = publish("nl/y", QoS::AtLeastOnce, 9, b"{}");
    m.properties = Some(v5::PublishProperties {
        content_type: Some("application/json".into()),
        response_topic: Some("replies/me".into()),
        correlation_data: Some("abc".into()),
        user_properties: vec![("k".into(), "v".into())],
        is_utf8_payload: true,
        message_expiry_interval: std::num::NonZeroU32::new(60),
        ..Default::default()
    });
    other.send5(v5::Packet::Publish(Box::new(m)));
    let got = publishes5(&c.wake5());
    assert_eq!(got.len(), 1);
    let props = got[0].properties.clone().unwrap();
    assert_eq!(
        props
            .subscription_ids
            .iter()
            .map(|n| n.get())
            .collect::<Vec<_>>(),
        vec![42]
    );
    assert_eq!(props.content_type.as_deref(), Some("application/json"));
    assert_eq!(props.response_topic.as_deref(), Some("replies/me"));
    assert_eq!(props.correlation_data.as_deref(), Some(&b"abc"[..]));
    assert_eq!(props.user_properties, vec![("k".into(), "v".into())]);
    assert!(props.is_utf8_payload);
    assert!(props
        .message_expiry_interval
        .is_some_and(|s| s.get() <= 60 && s.get() >= 59));
}

#[test]
fn invalid_topics_close_v3_and_disconnect_v5() {
    let b = TestBroker::new();
    let mut c = b.client();
    c.connect3("v3", true);
    c.send3(Packet::Publish(Box::new(publish(
        "a/+",
        QoS::AtMostOnce,
        0,
        b"x",
    ))));
    assert!(c.closed());
    let mut c = b.client();
    c.connect3("v3b", true);
    c.send3(sub3(1, &[("a/#/b", QoS::AtMostOnce)]));
    assert!(c.closed());

    let mut c = b.client();
    c.connect5(connect5("v5", true, 0));
    let out = c.send5(sub5(
        1,
        &[
            ("a/#/b", opts(QoS::AtMostOnce)),
            ("ok", opts(QoS::AtLeastOnce)),
        ],
    ));
    assert!(matches!(out.as_slice(), [v5::Packet::SubscribeAck(a)]
        if a.status == vec![v5::SubscribeAckReason::TopicFilterInvalid, v5::SubscribeAckReason::GrantedQos1]));
    let out = c.send5(pub5("a/#", QoS::AtMostOnce, 0, b"x"));
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == Dr::TopicNameInvalid)
    );
}

/// A subscriber whose deliveries are all skipped (its own, under No Local) writes nothing, so
/// no drain of its output follows: what its queue held back for want of room must still come.
#[test]
fn skipped_deliveries_do_not_hold_up_the_messages_behind_them() {
    let b = TestBroker::with_config(warren_mqtt::MqttConfig {
        max_outbox_bytes: 16 * 1024,
        ..Default::default()
    });
    let mut me = b.client();
    me.connect5(connect5("me", true, 0));
    let nl = v5::SubscriptionOptions {
        no_local: true,
        ..opts(QoS::AtMostOnce)
    };
    me.send5(sub5(1, &[("nl/#", nl)]));
    // Far more of its own than its outbox takes at once, in one read.
    let mine: Vec<u8> = (0..2000)
        .flat_map(|_| enc5(pub5("nl/mine", QoS::AtMostOnce, 0, b"m")).to_vec())
        .collect();
    assert!(me.raw(&mine).is_empty(), "all skipped");
    let mut other = b.client();
    other.connect5(connect5("other", true, 0));
    other.send5(pub5("nl/theirs", QoS::AtMostOnce, 0, b"t"));
    let received: Vec<_> = (0..50).flat_map(|_| publishes5(&me.wake5())).collect();
    let topics: Vec<&str> = received.iter().map(|p| p.topic.as_ref()).collect();
    assert_eq!(topics, ["nl/theirs"]);
}
