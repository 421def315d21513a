//! Topic mapping tables (lossless and `rabbitmq`), the lossless round trip, topic/filter
//! validation, and sessions that depend on the mapping.

mod common;

use common::*;
use proptest::prelude::*;
use rmqtt_codec::types::QoS;
use rmqtt_codec::{v3, v5};
use warren_mqtt::topic::{
    filter_to_key, key_to_mqtt, matches, matches_mapped, mqtt_to_key, FilterSpec, TopicFilter,
    TopicName,
};
use warren_mqtt::MqttConfig;
use warren_mqtt::TopicMapping::{Lossless, RabbitMq};

#[test]
fn mapping_table() {
    let cases = [
        ("a/b", "a.b", "a.b"),
        ("a.b/c", "a/b.c", "a.b.c"),
        ("/a", ".a", ".a"),
        ("a//b", "a..b", "a..b"),
        ("sensors/temp.c", "sensors.temp/c", "sensors.temp.c"),
    ];
    for (topic, lossless, rabbit) in cases {
        assert_eq!(mqtt_to_key(topic, Lossless), lossless);
        assert_eq!(mqtt_to_key(topic, RabbitMq), rabbit);
        assert_eq!(key_to_mqtt(lossless, Lossless), topic);
    }
}

#[test]
fn filter_mapping_table() {
    let cases = [
        ("a/+/c", "a.*.c"),
        ("a/#", "a.#"),
        ("#", "#"),
        ("+", "*"),
        ("a.b/+", "a/b.*"),
    ];
    for (filter, key) in cases {
        let f = TopicFilter::try_from(filter).unwrap();
        assert_eq!(filter_to_key(&f, Lossless), key);
    }
}

#[test]
fn topic_name_validation() {
    for ok in ["a", "a/b", "/", "a//b", "$SYS/x", "é/ü"] {
        assert!(TopicName::try_from(ok).is_ok(), "{ok}");
    }
    for bad in ["", "a/+", "a/#", "+", "a\0b", "a+b"] {
        assert!(TopicName::try_from(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn filter_validation() {
    for ok in [
        "#",
        "+",
        "a/#",
        "+/+",
        "a/+/b",
        "/",
        "a//b",
        "+/",
        "$share/g/a/#",
    ] {
        assert!(FilterSpec::try_from(ok).is_ok(), "{ok}");
    }
    let bad = [
        "",
        "a#",
        "a/#/b",
        "a/b#",
        "a+",
        "a/+b",
        "#/a",
        "a\0",
        "$share/g",
        "$share//a",
        "$share/g+/a",
        "$share/g#/a",
        "$share/g/",
    ];
    for b in bad {
        assert!(FilterSpec::try_from(b).is_err(), "{b:?}");
    }
}

#[test]
fn shared_filters_split_group_and_filter() {
    let spec = FilterSpec::try_from("$share/group1/a/+").unwrap();
    assert!(matches!(&spec, FilterSpec::Shared { group, filter }
        if group == "group1" && filter.as_str() == "a/+"));
    assert_eq!(spec.to_string(), "$share/group1/a/+");
}

#[test]
fn dollar_topics_escape_first_level_wildcards() {
    let hash = TopicFilter::try_from("#").unwrap();
    let sys = TopicFilter::try_from("$SYS/#").unwrap();
    assert!(!matches(&hash, "$SYS/broker"));
    assert!(matches(&sys, "$SYS/broker"));
}

proptest! {
    #[test]
    fn lossless_mapping_round_trips(topic in "[a-z./$ é0-9_-]{1,40}") {
        prop_assume!(TopicName::try_from(topic.as_str()).is_ok());
        let key = mqtt_to_key(&topic, Lossless);
        prop_assert_eq!(key_to_mqtt(&key, Lossless), topic);
    }

    #[test]
    fn a_filter_with_one_level_made_plus_matches_its_topic(levels in proptest::collection::vec("[a-c]{0,2}", 1..5), wild in 0usize..5) {
        let topic = levels.join("/");
        prop_assume!(!topic.is_empty());
        let mut filter_levels = levels.clone();
        if wild < filter_levels.len() {
            filter_levels[wild] = "+".into();
        }
        let filter = TopicFilter::try_from(filter_levels.join("/").as_str()).unwrap();
        prop_assert!(matches(&filter, &topic));
    }
}

#[test]
fn rabbitmq_mapping_table() {
    // topic -> key, and key -> the topic delivered: `.` and `/` are one separator, so the
    // way back only knows `/`.
    let cases = [
        ("a/b", "a.b", "a/b"),
        ("a.b/c", "a.b.c", "a/b/c"),
        ("/a", ".a", "/a"),
        ("a//b", "a..b", "a//b"),
        ("sensors/temp.c", "sensors.temp.c", "sensors/temp/c"),
    ];
    for (topic, key, back) in cases {
        assert_eq!(mqtt_to_key(topic, RabbitMq), key);
        assert_eq!(key_to_mqtt(key, RabbitMq), back);
    }
    let filters = [
        ("a/+/c", "a.*.c"),
        ("a/#", "a.#"),
        ("#", "#"),
        ("+", "*"),
        ("a.b/+", "a.b.*"),
        ("a.b/c", "a.b.c"),
        ("a/b/c", "a.b.c"),
        ("+/x.y/#", "*.x.y.#"),
    ];
    for (filter, key) in filters {
        let f = TopicFilter::try_from(filter).unwrap();
        assert_eq!(filter_to_key(&f, RabbitMq), key, "{filter}");
    }
}

#[test]
fn matching_follows_the_routing_of_each_mapping() {
    let f = |s: &str| TopicFilter::try_from(s).unwrap();
    // filter, topic as delivered, lossless, rabbitmq
    let cases = [
        ("a.b/c", "a/b/c", false, true),
        ("a/b/c", "a.b/c", false, true),
        ("a.b/c", "a.b/c", true, true),
        ("a.b/+", "a/b/x", false, true),
        ("a/+", "a/b.c", true, false),
        ("a/#", "a.b", false, true),
        ("#", "$SYS.x", false, false),
        ("$SYS/#", "$SYS.x", false, true),
        ("+/x", "$a/x", false, false),
    ];
    for (filter, topic, lossless, rabbit) in cases {
        assert_eq!(
            matches_mapped(&f(filter), topic, Lossless),
            lossless,
            "lossless {filter} vs {topic}"
        );
        assert_eq!(
            matches_mapped(&f(filter), topic, RabbitMq),
            rabbit,
            "rabbitmq {filter} vs {topic}"
        );
    }
}

fn pub3(topic: &str, qos: QoS, id: u16, payload: &'static [u8]) -> v3::Packet {
    v3::Packet::Publish(Box::new(publish(topic, qos, id, payload)))
}

fn topics3(out: &[v3::Packet]) -> Vec<String> {
    out.iter()
        .filter_map(|p| match p {
            v3::Packet::Publish(p) => Some(p.topic.to_string()),
            _ => None,
        })
        .collect()
}

fn rabbitmq_broker() -> TestBroker {
    TestBroker::with_config(MqttConfig {
        topic_mapping: RabbitMq,
        ..MqttConfig::default()
    })
}

/// In the `rabbitmq` mapping a filter with a `.` receives its own traffic, under the topic
/// RabbitMQ gives it (`.` read as `/`), and the topics that collide with it.
#[test]
fn rabbitmq_mapping_delivers_to_a_filter_with_a_dot() {
    let b = rabbitmq_broker();
    let mut s = b.client();
    s.connect3("s", true);
    s.send3(sub3(
        1,
        &[("a.b/c", QoS::AtMostOnce), ("x.y/+", QoS::AtMostOnce)],
    ));
    let mut p = b.client();
    p.connect3("p", true);
    p.send3(pub3("a.b/c", QoS::AtMostOnce, 0, b"own"));
    p.send3(pub3("a/b/c", QoS::AtMostOnce, 0, b"collides"));
    p.send3(pub3("x.y/z", QoS::AtMostOnce, 0, b"wild"));
    p.send3(pub3("a/b/d", QoS::AtMostOnce, 0, b"other"));
    assert_eq!(topics3(&s.wake3()), ["a/b/c", "a/b/c", "x/y/z"]);
}

/// Retained messages replay to a filter with a `.` in the `rabbitmq` mapping too.
#[test]
fn rabbitmq_mapping_replays_retained_messages_to_a_filter_with_a_dot() {
    let b = rabbitmq_broker();
    let mut p = b.client();
    p.connect3("p", true);
    let mut kept = publish("r.s/t", QoS::AtMostOnce, 0, b"kept");
    kept.retain = true;
    p.send3(v3::Packet::Publish(Box::new(kept)));
    let mut s = b.client();
    s.connect3("s", true);
    let got = s.send3(sub3(1, &[("r/s/t", QoS::AtMostOnce)]));
    let [v3::Packet::SubscribeAck { .. }, v3::Packet::Publish(p)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!((p.topic.as_ref(), &p.payload[..]), ("r.s/t", &b"kept"[..]));
}

fn pub5(topic: &str, id: u16) -> v5::Packet {
    let mut p = publish(topic, QoS::AtLeastOnce, id, b"x");
    p.properties = Some(v5::PublishProperties::default());
    v5::Packet::Publish(Box::new(p))
}

/// The PUBACK reason of a QoS 1 publish: 0x10 when no queue took it.
fn puback_code(c: &mut Client, topic: &str, id: u16) -> v5::PublishAckReason {
    match c.send5(pub5(topic, id)).as_slice() {
        [v5::Packet::PublishAck(a)] => a.reason_code,
        other => panic!("{other:?}"),
    }
}

fn unsub5(id: u16, filter: &str) -> v5::Packet {
    v5::Packet::Unsubscribe(v5::Unsubscribe {
        packet_id: pid(id),
        user_properties: vec![],
        topic_filters: vec![filter.into()],
    })
}

/// Two filters of one session with one binding key: unsubscribing one keeps the binding the
/// other needs; unsubscribing both removes it.
fn unsubscribe_keeps_a_shared_binding(b: &TestBroker, first: &str, second: &str, topic: &str) {
    let mut s = b.client();
    s.connect5(connect5("s", true, 0));
    s.send5(sub5(1, &[(first, opts(QoS::AtLeastOnce))]));
    s.send5(sub5(2, &[(second, opts(QoS::AtLeastOnce))]));
    let mut p = b.client();
    p.connect5(connect5("p", true, 0));
    s.send5(unsub5(3, second));
    assert_eq!(
        puback_code(&mut p, topic, 1),
        v5::PublishAckReason::Success,
        "{first} still bound after unsubscribing {second}"
    );
    let got = s.wake5();
    assert!(
        matches!(got.as_slice(), [v5::Packet::Publish(m)] if m.topic == topic),
        "{got:?}"
    );
    s.send5(unsub5(4, first));
    assert_eq!(
        puback_code(&mut p, topic, 2),
        v5::PublishAckReason::NoMatchingSubscribers
    );
}

#[test]
fn unsubscribe_keeps_a_binding_another_filter_needs_lossless() {
    // `a/+` and a literal `a/*` are both the binding key `a.*`
    unsubscribe_keeps_a_shared_binding(&TestBroker::new(), "a/+", "a/*", "a/x");
}

#[test]
fn unsubscribe_keeps_a_binding_another_filter_needs_rabbitmq() {
    // `a.b/c` and `a/b/c` are both `a.b.c`
    unsubscribe_keeps_a_shared_binding(&rabbitmq_broker(), "a/b/c", "a.b/c", "a/b/c");
}

/// `$share/g/a/+` and `$share/g/a/*` are one group queue: leaving one keeps consuming it.
#[test]
fn unsubscribe_keeps_a_group_queue_another_shared_filter_needs() {
    let b = TestBroker::new();
    let mut s = b.client();
    s.connect5(connect5("s", true, 0));
    s.send5(sub5(1, &[("$share/g/a/+", opts(QoS::AtLeastOnce))]));
    s.send5(sub5(2, &[("$share/g/a/*", opts(QoS::AtLeastOnce))]));
    s.send5(unsub5(3, "$share/g/a/*"));
    let mut p = b.client();
    p.connect5(connect5("p", true, 0));
    assert_eq!(puback_code(&mut p, "a/x", 1), v5::PublishAckReason::Success);
    let got = s.wake5();
    assert!(
        matches!(got.as_slice(), [v5::Packet::Publish(m)] if m.topic == "a/x"),
        "{got:?}"
    );
}

/// A literal `*` level binds as an AMQP wildcard, but the session matches the topic again:
/// the subscriber of `a/*` sees only `a/*`.
#[test]
fn a_literal_star_filter_receives_only_its_own_topic() {
    let b = TestBroker::new();
    let mut s = b.client();
    s.connect3("s", true);
    s.send3(sub3(1, &[("a/*", QoS::AtMostOnce)]));
    let mut p = b.client();
    p.connect3("p", true);
    p.send3(pub3("a/x", QoS::AtMostOnce, 0, b"x"));
    p.send3(pub3("a/*", QoS::AtMostOnce, 0, b"star"));
    assert_eq!(topics3(&s.wake3()), ["a/*"]);
}
