//! MQTT and AMQP on one core: an AMQP publish to `amq.topic` with key `a.b` reaches MQTT
//! subscribers of `a/b` and `a/+`; an MQTT publish reaches AMQP queues bound with `a.*` and
//! `#`; wildcards match level by level; QoS maps to persistence and back; AMQP consumers and
//! MQTT QoS 1 publishers share a queue, and an AMQP consumer joins a shared subscription group.
//!
//! Needs `WARREN_IT_MQTT_ADDR` and `WARREN_IT_AMQP_URL` naming one broker (RabbitMQ: 1884 and
//! 5673), or neither (in-process Warren).

use crate::mqtt;
use crate::mqtt_interop_support::*;

use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use mqtt::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_publish_reaches_mqtt_subscribers_of_the_topic_and_of_a_wildcard() {
    let Some(t) = interop_target() else { return };
    let (topic, key) = root("a2m");
    let (mut exact, _) = v4::connect(t.v4(&name("exact"))).await;
    exact
        .subscribe(&format!("{topic}/b"), v4::QoS::AtLeastOnce)
        .await;
    let (mut wild, _) = v4::connect(t.v4(&name("wild"))).await;
    wild.subscribe(&format!("{topic}/+"), v4::QoS::AtLeastOnce)
        .await;
    let conn = t.amqp().await;
    let ch = conn.create_channel().await.expect("channel");
    amqp_publish(
        &ch,
        &format!("{key}.b"),
        b"from amqp",
        BasicProperties::default(),
    )
    .await;
    for c in [&mut exact, &mut wild] {
        let got = c.next_publish().await;
        assert_eq!(got.topic, format!("{topic}/b"));
        assert_eq!(v4::text(&got), "from amqp");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_publish_reaches_amqp_queues_bound_with_star_and_hash() {
    let Some(t) = interop_target() else { return };
    let (topic, key) = root("m2a");
    let conn = t.amqp().await;
    let (_c1, mut star) = amqp_queue(&conn, &[&format!("{key}.*")]).await;
    let (_c2, mut hash) = amqp_queue(&conn, &["#"]).await;
    let (_c3, mut deep) = amqp_queue(&conn, &[&format!("{key}.#")]).await;
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(
        &format!("{topic}/x"),
        v4::QoS::AtLeastOnce,
        false,
        b"from mqtt",
    )
    .await;
    for consumer in [&mut star, &mut hash, &mut deep] {
        let d = delivery_with_key(consumer, &format!("{key}.x")).await;
        assert_eq!(d.exchange.as_str(), "amq.topic");
        assert_eq!(d.data, b"from mqtt");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_qos_maps_to_amqp_persistence() {
    let Some(t) = interop_target() else { return };
    let (topic, key) = root("qosmap");
    let conn = t.amqp().await;
    let (_ch, mut consumer) = amqp_queue(&conn, &[&format!("{key}.*")]).await;
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    let mut send = async |leaf: &str, qos| {
        publ.publish(&format!("{topic}/{leaf}"), qos, false, leaf.as_bytes())
            .await;
        delivery_with_key(&mut consumer, &format!("{key}.{leaf}")).await
    };
    let d0 = send("q0", v4::QoS::AtMostOnce).await;
    let d1 = send("q1", v4::QoS::AtLeastOnce).await;
    assert_ne!(
        *d0.properties.delivery_mode(),
        Some(2),
        "QoS 0 is transient"
    );
    assert_eq!(
        *d1.properties.delivery_mode(),
        Some(2),
        "QoS 1 is persistent"
    );
    let qos_header = |d: &lapin::message::Delivery| {
        let headers = d.properties.headers().clone()?;
        match headers.inner().get("x-mqtt-publish-qos")? {
            lapin::types::AMQPValue::ShortShortUInt(n) => Some(i64::from(*n)),
            lapin::types::AMQPValue::ShortShortInt(n) => Some(i64::from(*n)),
            other => panic!("x-mqtt-publish-qos: {other:?}"),
        }
    };
    // RabbitMQ writes the header at every QoS. Warren writes it at QoS 2 only: transient
    // already says QoS 0 and persistent QoS 1, and the message then needs no header table
    // (ADR 0013). RabbitMQ has no QoS 2 (it downgrades to 1).
    if !t.is_warren() {
        assert_eq!(qos_header(&d1), Some(1), "RabbitMQ names QoS 1 in a header");
        return;
    }
    assert_eq!(qos_header(&d0), None, "QoS 0 carries no header");
    assert_eq!(qos_header(&d1), None, "QoS 1 carries no header");
    let d2 = send("q2", v4::QoS::ExactlyOnce).await;
    assert_eq!(
        *d2.properties.delivery_mode(),
        Some(2),
        "QoS 2 is persistent"
    );
    assert_eq!(qos_header(&d2), Some(2), "QoS 2 is named in a header");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_persistence_maps_to_mqtt_qos_bounded_by_the_subscription() {
    let Some(t) = interop_target() else { return };
    let (topic, key) = root("qosback");
    let (mut q1, _) = v4::connect(t.v4(&name("q1"))).await;
    q1.subscribe(&format!("{topic}/+"), v4::QoS::AtLeastOnce)
        .await;
    let (mut q0, _) = v4::connect(t.v4(&name("q0"))).await;
    q0.subscribe(&format!("{topic}/+"), v4::QoS::AtMostOnce)
        .await;
    let conn = t.amqp().await;
    let ch = conn.create_channel().await.expect("channel");
    let persistent = BasicProperties::default().with_delivery_mode(2);
    amqp_publish(&ch, &format!("{key}.p"), b"p", persistent).await;
    let got = q1.next_publish().await;
    assert_eq!(
        (v4::text(&got), got.qos),
        ("p".to_string(), v4::QoS::AtLeastOnce)
    );
    let got = q0.next_publish().await;
    assert_eq!(
        (v4::text(&got), got.qos),
        ("p".to_string(), v4::QoS::AtMostOnce)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_consumer_acks_and_mqtt_qos1_publishers_coexist_on_one_queue() {
    let Some(t) = interop_target() else { return };
    let (topic, key) = root("many");
    let conn = t.amqp().await;
    let (_ch, mut consumer) = amqp_queue(&conn, &[&format!("{key}.#")]).await;
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    for i in 0..20 {
        publ.publish(
            &format!("{topic}/n"),
            v4::QoS::AtLeastOnce,
            false,
            format!("{i}").as_bytes(),
        )
        .await;
    }
    for i in 0..20 {
        let d = delivery_with_key(&mut consumer, &format!("{key}.n")).await;
        assert_eq!(d.data, format!("{i}").into_bytes(), "in publish order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_wildcard_subscription_matches_amqp_keys_level_by_level() {
    let Some(t) = interop_target() else { return };
    let (topic, key) = root("levels");
    let (mut plus, _) = v4::connect(t.v4(&name("plus"))).await;
    plus.subscribe(&format!("{topic}/+/end"), v4::QoS::AtLeastOnce)
        .await;
    let (mut hash, _) = v4::connect(t.v4(&name("hash"))).await;
    hash.subscribe(&format!("{topic}/#"), v4::QoS::AtLeastOnce)
        .await;
    let conn = t.amqp().await;
    let ch = conn.create_channel().await.expect("channel");
    amqp_publish(
        &ch,
        &format!("{key}.x.y.end"),
        b"deep",
        BasicProperties::default(),
    )
    .await;
    amqp_publish(
        &ch,
        &format!("{key}.x.end"),
        b"one",
        BasicProperties::default(),
    )
    .await;
    assert_eq!(v4::text(&plus.next_publish().await), "one");
    plus.assert_no_publish(QUIET).await;
    let a = hash.next_publish().await;
    let b = hash.next_publish().await;
    assert_eq!(
        (a.topic, b.topic),
        (format!("{topic}/x/y/end"), format!("{topic}/x/end"))
    );
}

/// `$share/g/f` is the queue `mqtt-share/g/<key of f>` (Warren's naming, see the MQTT protocol
/// notes); an AMQP consumer of it is one more member of the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_consumer_joins_a_shared_subscription_group() {
    let Some(t) = interop_target() else { return };
    if !t.is_warren() {
        eprintln!("skipped: the queue name of a shared subscription is Warren's");
        return;
    }
    let (topic, key) = root("shamqp");
    let group = name("g");
    let (mut member, _) = v5::connect(t.v5(&name("mem"))).await;
    member
        .subscribe(&format!("$share/{group}/{topic}/+"), v5::QoS::AtLeastOnce)
        .await;
    let conn = t.amqp().await;
    let ch = conn.create_channel().await.expect("channel");
    let mut amqp = ch
        .basic_consume(
            format!("mqtt-share/{group}/{key}.*").as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume the group's queue");
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    for i in 0..10 {
        publ.publish(
            &format!("{topic}/x"),
            v5::QoS::AtLeastOnce,
            false,
            format!("{i}").as_bytes(),
        )
        .await;
    }
    let mut via_mqtt = Vec::new();
    let mut via_amqp = Vec::new();
    let until = tokio::time::Instant::now() + DEADLINE;
    while via_mqtt.len() + via_amqp.len() < 10 {
        assert!(
            tokio::time::Instant::now() < until,
            "{via_mqtt:?} {via_amqp:?}"
        );
        let short = std::time::Duration::from_millis(20);
        if let Some(p) = member.try_next_publish(short).await {
            via_mqtt.push(p.payload.to_vec());
        }
        if let Ok(Some(Ok(d))) = tokio::time::timeout(short, amqp.next()).await {
            d.ack(BasicAckOptions::default()).await.expect("ack");
            via_amqp.push(d.data.clone());
        }
    }
    let mut all: Vec<Vec<u8>> = via_mqtt.iter().chain(via_amqp.iter()).cloned().collect();
    all.sort();
    let mut expected: Vec<Vec<u8>> = (0..10).map(|i| format!("{i}").into_bytes()).collect();
    expected.sort();
    assert_eq!(all, expected, "each message to exactly one member");
    assert!(
        !via_mqtt.is_empty() && !via_amqp.is_empty(),
        "both members served"
    );
}
