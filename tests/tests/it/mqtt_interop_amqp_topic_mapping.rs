//! How MQTT topics become AMQP routing keys: Warren's lossless mapping of `.` and `/`, its
//! `rabbitmq` mapping, and a configured exchange in place of `amq.topic`.
//!
//! Needs `WARREN_IT_MQTT_ADDR` and `WARREN_IT_AMQP_URL` naming one broker (RabbitMQ: 1884 and
//! 5673), or neither (in-process Warren).

use crate::mqtt;
use crate::mqtt_interop_support::*;

use futures_lite::StreamExt;
use lapin::types::FieldTable;
use lapin::BasicProperties;
use mqtt::*;
use warren_server::TopicMappingSection;
use warren_testkit::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossless_mapping_swaps_dots_and_slashes_both_ways() {
    let Some(t) = interop_target() else { return };
    if !t.is_warren() {
        eprintln!("skipped: RabbitMQ maps `.` lossily");
        return;
    }
    let (topic, key) = root("dots");
    let conn = t.amqp().await;
    // MQTT `a.b/c` is AMQP `a/b.c`.
    let (ch, mut consumer) = amqp_queue(&conn, &[&format!("{key}.a/b.c")]).await;
    let (mut mq, _) = v4::connect(t.v4(&name("mq"))).await;
    mq.subscribe(&format!("{topic}/p.q/r"), v4::QoS::AtLeastOnce)
        .await;
    mq.publish(
        &format!("{topic}/a.b/c"),
        v4::QoS::AtLeastOnce,
        false,
        b"m2a",
    )
    .await;
    let d = delivery_with_key(&mut consumer, &format!("{key}.a/b.c")).await;
    assert_eq!(d.data, b"m2a");

    amqp_publish(
        &ch,
        &format!("{key}.p/q.r"),
        b"a2m",
        BasicProperties::default(),
    )
    .await;
    let got = mq.next_publish().await;
    assert_eq!(got.topic, format!("{topic}/p.q/r"));
    assert_eq!(v4::text(&got), "a2m");
}

/// With `mqtt.topic_mapping = "rabbitmq"`, `/` becomes `.` and back, as RabbitMQ does: a
/// topic with a `.` reaches its own subscriber under the topic RabbitMQ gives it (`.` read as
/// `/`), and collides with the topic that has `/` there; AMQP key `a.b` reaches MQTT `a/b` and
/// `a/+`; MQTT `x/y` reaches an AMQP queue bound with `x.y`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_mapping_works_end_to_end() {
    let mut config = Config::default();
    config.mqtt.topic_mapping = TopicMappingSection::Rabbitmq;
    let Some(t) = warren_with(config) else { return };
    let (topic, key) = root("rmq");
    let (mut dotted, _) = v4::connect(t.v4(&name("dot"))).await;
    dotted
        .subscribe(&format!("{topic}/a.b/c"), v4::QoS::AtLeastOnce)
        .await;
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    for (sent, body) in [("a.b/c", "own"), ("a/b/c", "collides")] {
        publ.publish(
            &format!("{topic}/{sent}"),
            v4::QoS::AtLeastOnce,
            false,
            body.as_bytes(),
        )
        .await;
        let got = dotted.next_publish().await;
        assert_eq!(
            (got.topic.as_str(), v4::text(&got).as_str()),
            (format!("{topic}/a/b/c").as_str(), body)
        );
    }

    let (mut exact, _) = v4::connect(t.v4(&name("exact"))).await;
    exact
        .subscribe(&format!("{topic}/a/b"), v4::QoS::AtLeastOnce)
        .await;
    let (mut wild, _) = v4::connect(t.v4(&name("wild"))).await;
    wild.subscribe(&format!("{topic}/a/+"), v4::QoS::AtLeastOnce)
        .await;
    let conn = t.amqp().await;
    let (ch, mut consumer) = amqp_queue(&conn, &[&format!("{key}.x.y")]).await;
    amqp_publish(
        &ch,
        &format!("{key}.a.b"),
        b"from amqp",
        BasicProperties::default(),
    )
    .await;
    for c in [&mut exact, &mut wild] {
        let got = c.next_publish().await;
        assert_eq!(got.topic, format!("{topic}/a/b"));
        assert_eq!(v4::text(&got), "from amqp");
    }
    for sent in ["x/y", "x.y"] {
        publ.publish(
            &format!("{topic}/{sent}"),
            v4::QoS::AtLeastOnce,
            false,
            sent.as_bytes(),
        )
        .await;
        let d = delivery_with_key(&mut consumer, &format!("{key}.x.y")).await;
        assert_eq!(d.data, sent.as_bytes());
    }

    // `a.b/c` and `a/b/c` are one binding: unsubscribing one keeps the other's
    dotted
        .subscribe(&format!("{topic}/a/b/c"), v4::QoS::AtLeastOnce)
        .await;
    dotted.unsubscribe(&format!("{topic}/a/b/c")).await;
    publ.publish(
        &format!("{topic}/a/b/c"),
        v4::QoS::AtLeastOnce,
        false,
        b"still",
    )
    .await;
    assert_eq!(v4::text(&dotted.next_publish().await), "still");
}

/// `mqtt.exchange` moves MQTT traffic to another topic exchange, both ways. As with
/// RabbitMQ's setting of the same name, the exchange must exist: the test declares it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_exchange_carries_mqtt_traffic_both_ways() {
    let mut config = Config::default();
    config.mqtt.exchange = "mqtt.custom".into();
    let Some(t) = warren_with(config) else { return };
    let (topic, key) = root("exch");
    let conn = t.amqp().await;
    let ch = conn.create_channel().await.expect("channel");
    warren_it::declare_durable_exchange(
        &ch,
        "mqtt.custom",
        lapin::ExchangeKind::Topic,
        FieldTable::default(),
    )
    .await
    .expect("exchange.declare");
    let (_c1, mut custom) = amqp_queue_on(&conn, "mqtt.custom", &[&format!("{key}.#")]).await;
    let (_c2, mut default) = amqp_queue(&conn, &[&format!("{key}.#")]).await;

    let (mut mq, _) = v4::connect(t.v4(&name("mq"))).await;
    mq.subscribe(&format!("{topic}/in/+"), v4::QoS::AtLeastOnce)
        .await;
    mq.publish(&format!("{topic}/out"), v4::QoS::AtLeastOnce, false, b"m2a")
        .await;
    let d = delivery_with_key(&mut custom, &format!("{key}.out")).await;
    assert_eq!(d.data, b"m2a");
    let stray = tokio::time::timeout(QUIET, default.next()).await;
    assert!(stray.is_err(), "amq.topic got MQTT traffic: {stray:?}");

    amqp_publish_to(
        &ch,
        "amq.topic",
        &format!("{key}.in.x"),
        b"not for mqtt",
        BasicProperties::default(),
    )
    .await;
    amqp_publish_to(
        &ch,
        "mqtt.custom",
        &format!("{key}.in.y"),
        b"a2m",
        BasicProperties::default(),
    )
    .await;
    let got = mq.next_publish().await;
    assert_eq!(
        (got.topic.as_str(), v4::text(&got).as_str()),
        (format!("{topic}/in/y").as_str(), "a2m")
    );
    mq.assert_no_publish(QUIET).await;
}
