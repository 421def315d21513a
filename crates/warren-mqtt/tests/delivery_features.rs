//! QoS 2 both ways, retained messages, shared subscriptions, topic aliases, MQTT 5 options and
//! properties, and the reaction to invalid topics.

mod common;

use common::*;
use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::{self, Packet};
use rmqtt_codec::v5::{self, DisconnectReasonCode as Dr};
use std::num::NonZeroU16;

fn pub5(topic: &str, qos: QoS, id: u16, payload: &'static [u8]) -> v5::Packet {
    let mut p = publish(topic, qos, id, payload);
    p.properties = Some(v5::PublishProperties::default());
    v5::Packet::Publish(Box::new(p))
}

fn publishes5(out: &[v5::Packet]) -> Vec<rmqtt_codec::types::Publish> {
    out.iter()
        .filter_map(|p| match p {
            v5::Packet::Publish(p) => Some((**p).clone()),
            _ => None,
        })
        .collect()
}

fn publishes3(out: &[v3::Packet]) -> Vec<rmqtt_codec::types::Publish> {
    out.iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((**p).clone()),
            _ => None,
        })
        .collect()
}

fn ack2(id: u16) -> v5::PublishAck2 {
    v5::PublishAck2 {
        packet_id: pid(id),
        reason_code: v5::PublishAck2Reason::Success,
        properties: vec![],
        reason_string: None,
    }
}

#[test]
fn qos2_inbound_is_routed_once_and_outbound_completes() {
    let b = TestBroker::new();
    let mut s = b.client();
    s.connect3("s", true);
    s.send3(sub3(1, &[("q2", QoS::ExactlyOnce)]));
    let mut p = b.client();
    p.connect3("p", true);
    let rec = p.send3(Packet::Publish(Box::new(publish(
        "q2",
        QoS::ExactlyOnce,
        3,
        b"x",
    ))));
    assert_eq!(rec, vec![Packet::PublishReceived { packet_id: pid(3) }]);
    let mut dup = publish("q2", QoS::ExactlyOnce, 3, b"x");
    dup.dup = true;
    let rec = p.send3(Packet::Publish(Box::new(dup)));
    assert_eq!(rec, vec![Packet::PublishReceived { packet_id: pid(3) }]);
    assert_eq!(
        p.send3(Packet::PublishRelease { packet_id: pid(3) }),
        vec![Packet::PublishComplete { packet_id: pid(3) }]
    );

    let got = publishes3(&s.wake3());
    assert_eq!(got.len(), 1, "the duplicate was not routed again");
    assert_eq!(got[0].qos, QoS::ExactlyOnce);
    let id = got[0].packet_id.unwrap();
    assert_eq!(
        s.send3(Packet::PublishReceived { packet_id: id }),
        vec![Packet::PublishRelease { packet_id: id }]
    );
    assert!(s
        .send3(Packet::PublishComplete { packet_id: id })
        .is_empty());
    // after PUBREL the same id is a new message
    p.send3(Packet::Publish(Box::new(publish(
        "q2",
        QoS::ExactlyOnce,
        3,
        b"y",
    ))));
    assert_eq!(publishes3(&s.wake3()).len(), 1);
}

#[test]
fn receive_maximum_exceeded_is_disconnect_0x93() {
    let b = TestBroker::with_config(warren_mqtt::MqttConfig {
        receive_maximum: 2,
        ..Default::default()
    });
    let mut p = b.client();
    p.connect5(connect5("p", true, 0));
    p.send5(pub5("t", QoS::ExactlyOnce, 1, b"a"));
    p.send5(pub5("t", QoS::ExactlyOnce, 2, b"a"));
    let out = p.send5(pub5("t", QoS::ExactlyOnce, 3, b"a"));
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == Dr::ReceiveMaximumExceeded)
    );
}

/// MQTT 5 section 3.3.4: Receive Maximum bounds the QoS 1 and 2 PUBLISHes not yet
/// acknowledged, so a QoS 1 one whose PUBACK waits for the disk counts, as a QoS 2 one does
/// until PUBREL.
#[test]
fn qos1_publishes_awaiting_the_disk_count_against_receive_maximum() {
    let config = warren_mqtt::MqttConfig {
        receive_maximum: 2,
        ..Default::default()
    };
    let (b, disk) = TestBroker::with_held_writes(config);
    let mut s = b.client();
    s.connect5(connect5("s", true, 0));
    s.send5(sub5(1, &[("t", opts(QoS::AtLeastOnce))]));
    let mut p = b.client();
    p.connect5(connect5("p", true, 0));

    // one QoS 1 held at the disk and one QoS 2 held: two unacknowledged
    assert!(p.send5(pub5("t", QoS::AtLeastOnce, 1, b"a")).is_empty());
    assert!(p.send5(pub5("t", QoS::ExactlyOnce, 2, b"b")).is_empty());
    assert_eq!(disk.complete_all(), 2);
    let acks = p.wake5();
    assert!(
        matches!(acks.as_slice(), [v5::Packet::PublishAck(a), v5::Packet::PublishReceived(r)]
            if a.packet_id == pid(1) && r.packet_id == pid(2)),
        "{acks:?}"
    );
    // the QoS 2 one still counts until PUBREL: one QoS 1 more is allowed, not two
    assert!(p.send5(pub5("t", QoS::AtLeastOnce, 3, b"c")).is_empty());
    let out = p.send5(pub5("t", QoS::AtLeastOnce, 4, b"d"));
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == Dr::ReceiveMaximumExceeded),
        "{out:?}"
    );
    assert!(p.closed());

    // two QoS 1 held are the maximum too; once written the window opens again
    let mut q = b.client();
    q.connect5(connect5("q", true, 0));
    assert!(q.send5(pub5("t", QoS::AtLeastOnce, 1, b"e")).is_empty());
    assert!(q.send5(pub5("t", QoS::AtLeastOnce, 2, b"f")).is_empty());
    disk.complete_all();
    assert_eq!(q.wake5().len(), 2, "both PUBACKs once written");
    assert!(q.send5(pub5("t", QoS::AtLeastOnce, 3, b"g")).is_empty());
    assert!(q.send5(pub5("t", QoS::AtLeastOnce, 4, b"h")).is_empty());
    let out = q.send5(pub5("t", QoS::ExactlyOnce, 5, b"i"));
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == Dr::ReceiveMaximumExceeded),
        "{out:?}"
    );
}

/// A publish whose disk write failed is never acknowledged: 5.0 DISCONNECT 0x80, 3.x close,
/// so the client sends it again elsewhere.
#[test]
fn a_failed_disk_write_is_disconnect_0x80_without_an_ack() {
    let (b, disk) = TestBroker::with_held_writes(warren_mqtt::MqttConfig::default());
    let mut s = b.client();
    s.connect5(connect5("s", true, 0));
    s.send5(sub5(1, &[("t", opts(QoS::AtLeastOnce))]));
    let mut p5 = b.client();
    p5.connect5(connect5("p5", true, 0));
    assert!(p5.send5(pub5("t", QoS::AtLeastOnce, 1, b"a")).is_empty());
    let mut p3 = b.client();
    p3.connect3("p3", true);
    let held = p3.send3(Packet::Publish(Box::new(publish(
        "t",
        QoS::AtLeastOnce,
        1,
        b"b",
    ))));
    assert!(held.is_empty());
    assert_eq!(disk.fail_all(), 2);
    let out = p5.wake5();
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)] if d.reason_code == Dr::UnspecifiedError),
        "{out:?}"
    );
    assert!(p5.closed());
    assert_eq!(p3.wake3(), vec![], "no PUBACK");
    assert!(p3.closed());
}

/// A persistent session's queue (not exclusive) deleted under it, over AMQP say:
/// DISCONNECT 0x83.
#[test]
fn deleting_the_session_queue_is_disconnect_0x83() {
    use warren_model::{ConnectionId, QueueName, VHostName};
    let b = TestBroker::new();
    let mut s = b.client();
    s.connect5(connect5("gone", true, 600));
    s.send5(sub5(1, &[("t", opts(QoS::AtLeastOnce))]));
    let vhost = b
        .core
        .vhost_by_name(&VHostName::try_from("/").unwrap())
        .unwrap();
    let queue = QueueName::try_from("mqtt-subscription-gone").unwrap();
    vhost
        .delete_queue(&queue, false, false, ConnectionId(0))
        .unwrap();
    let out = s.wake5();
    assert!(
        matches!(out.as_slice(), [v5::Packet::Disconnect(d)]
            if d.reason_code == Dr::ImplementationSpecificError
                && d.reason_string.as_ref().is_some_and(|r| r.contains("session queue deleted"))),
        "{out:?}"
    );
    assert!(s.closed());
}

/// 3.x clients are never told a Receive Maximum: a QoS 1 publisher is not cut off because
/// its PUBACKs wait for the disk; they go out in order once written.
#[test]
fn v3_qos1_publishes_awaiting_the_disk_are_not_limited() {
    let config = warren_mqtt::MqttConfig {
        receive_maximum: 2,
        ..Default::default()
    };
    let (b, disk) = TestBroker::with_held_writes(config);
    let mut s = b.client();
    s.connect3("s", true);
    s.send3(sub3(1, &[("t", QoS::AtLeastOnce)]));
    let mut p = b.client();
    p.connect3("p", true);
    for id in 1..=4 {
        let out = p.send3(Packet::Publish(Box::new(publish(
            "t",
            QoS::AtLeastOnce,
            id,
            b"x",
        ))));
        assert!(out.is_empty(), "{out:?}");
    }
    assert!(!p.closed());
    assert_eq!(disk.complete_all(), 4);
    let acks: Vec<_> = (1..=4)
        .map(|id| Packet::PublishAck { packet_id: pid(id) })
        .collect();
    assert_eq!(p.wake3(), acks);
}

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

#[test]
fn qos2_outbound_in_v5_and_pubrel_resent_after_reconnect() {
    let b = TestBroker::new();
    let mut s = b.client();
    s.connect5(connect5("q2s", false, 100));
    s.send5(sub5(1, &[("z", opts(QoS::ExactlyOnce))]));
    let mut p = b.client();
    p.connect5(connect5("q2p", true, 0));
    p.send5(pub5("z", QoS::ExactlyOnce, 1, b"once"));
    let got = publishes5(&s.wake5());
    let id = got[0].packet_id.unwrap().get();
    let rec = v5::PublishAck {
        packet_id: pid(id),
        reason_code: v5::PublishAckReason::Success,
        properties: vec![],
        reason_string: None,
    };
    let out = s.send5(v5::Packet::PublishReceived(rec));
    assert_eq!(out, vec![v5::Packet::PublishRelease(ack2(id))]);
    s.close();
    let mut back = b.client();
    let out = back.input_only(&enc5(v5::Packet::Connect(Box::new(connect5(
        "q2s", false, 100,
    )))));
    let out = back.decode5(out);
    assert!(matches!(&out[0], v5::Packet::ConnectAck(a) if a.session_present));
    assert_eq!(
        out[1..],
        [v5::Packet::PublishRelease(ack2(id))],
        "PUBREL resent"
    );
    assert!(
        publishes5(&back.wake5()).is_empty(),
        "the message is not sent again after PUBREC"
    );
    let comp = v5::Packet::PublishComplete(ack2(id));
    assert!(back.send5(comp).is_empty());
}

#[test]
fn a_packet_above_the_client_maximum_is_dropped() {
    let b = TestBroker::new();
    let mut s = b.client();
    let mut conn = connect5("small", true, 0);
    conn.max_packet_size = std::num::NonZeroU32::new(64);
    s.connect5(conn);
    s.send5(sub5(1, &[("big", opts(QoS::AtLeastOnce))]));
    let mut p = b.client();
    p.connect5(connect5("bp", true, 0));
    p.send5(pub5("big", QoS::AtLeastOnce, 1, &[b'x'; 100]));
    p.send5(pub5("big", QoS::AtLeastOnce, 2, b"small"));
    let got = publishes5(&s.wake5());
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].payload[..], b"small");
}
