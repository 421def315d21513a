//! MQTT 5 topic aliases both ways: an inbound alias set and then used with an empty topic,
//! invalid inbound aliases refused with DISCONNECT 0x94 or a Protocol Error, and outbound
//! aliases only within the client's Topic Alias Maximum.

use crate::mqtt;
use crate::mqtt_v5_support::{expect_refusal, int_prop, raw5, sub5};

use mqtt::v5::{PublishProperties, QoS};
use mqtt::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_topic_alias_is_set_then_used_with_an_empty_topic() {
    let Some(t) = target() else { return };
    let topic = topic("alias");
    let mut sub = sub5(&t, &topic, QoS::AtLeastOnce).await;
    let (mut raw, ack) = raw5(&t, Props::new()).await;
    let max = int_prop(&ack.connack_props(), prop::TOPIC_ALIAS_MAXIMUM).unwrap_or(0);
    assert!(
        max >= 1,
        "the server accepts topic aliases (advertised maximum {max})"
    );
    let set = Props::new().u16(prop::TOPIC_ALIAS, 1);
    raw.send(&publish(&topic, 1, false, false, 1, b"first", Some(&set)))
        .await;
    assert_eq!(raw.recv_kind(kind::PUBACK).await.pkid(), 1);
    raw.send(&publish("", 1, false, false, 2, b"second", Some(&set)))
        .await;
    assert_eq!(raw.recv_kind(kind::PUBACK).await.pkid(), 2);
    for body in ["first", "second"] {
        let p = sub.next_publish().await;
        assert_eq!(
            (v5::topic_of(&p), v5::text(&p)),
            (topic.clone(), body.to_string())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_topic_alias_above_the_maximum_is_disconnect_0x94() {
    let Some(t) = target() else { return };
    let (mut raw, ack) = raw5(&t, Props::new()).await;
    let max = int_prop(&ack.connack_props(), prop::TOPIC_ALIAS_MAXIMUM).unwrap_or(0);
    let p = Props::new().u16(prop::TOPIC_ALIAS, u16::try_from(max + 1).expect("u16"));
    // MQTT-3.3.2-10: Topic Alias invalid.
    let bytes = publish(&topic("bad"), 0, false, false, 0, b"x", Some(&p));
    expect_refusal(&t, &mut raw, &bytes, &[0x94]).await;
}

/// Mosquitto 2.0.11 calls this a Malformed Packet (0x81).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_topic_alias_zero_is_disconnect_0x94_or_protocol_error() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    let p = Props::new().u16(prop::TOPIC_ALIAS, 0);
    // MQTT-3.3.2-8.
    let bytes = publish(&topic("bad"), 0, false, false, 0, b"x", Some(&p));
    expect_refusal(&t, &mut raw, &bytes, &[0x94, 0x82]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_topic_with_an_unknown_alias_is_a_protocol_error() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    let p = Props::new().u16(prop::TOPIC_ALIAS, 1);
    let bytes = publish("", 0, false, false, 0, b"x", Some(&p));
    expect_refusal(&t, &mut raw, &bytes, &[0x82]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_topic_aliases_respect_the_clients_maximum() {
    let Some(t) = target() else { return };
    let topic = topic("oalias");
    for client_max in [0u16, 2] {
        let props = if client_max > 0 {
            Props::new().u16(prop::TOPIC_ALIAS_MAXIMUM, client_max)
        } else {
            Props::new()
        };
        let (mut raw, _) = raw5(&t, props).await;
        assert_eq!(
            raw_subscribe(&mut raw, 1, &format!("{topic}/+"), 0, true).await,
            0
        );
        let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
        let topics: Vec<String> = (0..6).map(|i| format!("{topic}/{}", i % 3)).collect();
        for tp in &topics {
            publ.publish(tp, QoS::AtMostOnce, false, tp.as_bytes())
                .await;
        }
        let mut aliases = std::collections::HashMap::new();
        let mut used_alias = false;
        for tp in &topics {
            let p = raw.recv_kind(kind::PUBLISH).await.publish(true);
            let alias = match p.prop(prop::TOPIC_ALIAS) {
                Some(PropValue::Int(a)) => Some(*a),
                _ => None,
            };
            let resolved = match alias {
                None => p.topic.clone(),
                Some(a) => {
                    // MQTT-3.3.2-9 / 3.3.2-10: only aliases 1..=client maximum.
                    assert!(
                        a >= 1 && a <= u64::from(client_max),
                        "alias {a} > {client_max}"
                    );
                    used_alias |= p.topic.is_empty();
                    if p.topic.is_empty() {
                        aliases.get(&a).cloned().expect("alias was set before use")
                    } else {
                        aliases.insert(a, p.topic.clone());
                        p.topic.clone()
                    }
                }
            };
            assert_eq!(&resolved, tp);
            assert_eq!(p.payload, tp.as_bytes());
        }
        if client_max == 0 {
            assert!(!used_alias);
        }
    }
}

/// The issue asks for topic aliases in both directions: with the client's permission, Warren
/// replaces a repeated topic by an alias.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warren_uses_outbound_topic_aliases_when_the_client_allows() {
    let Some(t) = warren_only() else { return };
    let topic = topic("walias");
    let (mut raw, _) = raw5(&t, Props::new().u16(prop::TOPIC_ALIAS_MAXIMUM, 4)).await;
    assert_eq!(raw_subscribe(&mut raw, 1, &topic, 0, true).await, 0);
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    for _ in 0..3 {
        publ.publish(&topic, QoS::AtMostOnce, false, b"x").await;
    }
    let mut empty_topics = 0;
    for _ in 0..3 {
        let p = raw.recv_kind(kind::PUBLISH).await.publish(true);
        empty_topics += usize::from(p.topic.is_empty());
    }
    assert!(empty_topics > 0, "a repeated topic is sent as an alias");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_publishing_with_a_topic_alias_is_understood() {
    let Some(t) = target() else { return };
    let topic = topic("ralias");
    let mut sub = sub5(&t, &topic, QoS::AtLeastOnce).await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    let alias = PublishProperties {
        topic_alias: Some(3),
        ..Default::default()
    };
    publ.publish_with(&topic, QoS::AtLeastOnce, false, b"1", alias.clone())
        .await;
    publ.publish_with("", QoS::AtLeastOnce, false, b"2", alias)
        .await;
    assert_eq!(v5::topic_of(&sub.next_publish().await), topic);
    assert_eq!(v5::topic_of(&sub.next_publish().await), topic);
}
