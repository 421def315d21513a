//! MQTT and AMQP on one core: an AMQP publish to `amq.topic` with key `a.b` reaches MQTT
//! subscribers of `a/b` and `a/+`; an MQTT publish reaches AMQP queues bound with `a.*` and
//! `#`; QoS maps to persistence and back; MQTT 5 request/response with an AMQP worker
//! (response topic = reply_to, correlation data = correlation_id), user properties = headers,
//! content type and message expiry; Warren's lossless mapping of `.` and `/`, its `rabbitmq`
//! mapping, and a configured exchange in place of `amq.topic`.
//!
//! Needs `WARREN_IT_MQTT_ADDR` and `WARREN_IT_AMQP_URL` naming one broker (RabbitMQ: 1884 and
//! 5673), or neither (in-process Warren). MQTT 5 tests are skipped on a broker without MQTT 5
//! (RabbitMQ before 3.13).

use crate::mqtt;

use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueBindOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, Consumer};
use mqtt::*;
use warren_it::exclusive_queue;
use warren_server::TopicMappingSection;
use warren_testkit::Config;

/// An exclusive server-named queue bound to `amq.topic` with `keys`, and a consumer on it.
async fn amqp_queue(conn: &Connection, keys: &[&str]) -> (Channel, Consumer) {
    amqp_queue_on(conn, "amq.topic", keys).await
}

/// An exclusive server-named queue bound to `exchange` with `keys`, and a consumer on it.
async fn amqp_queue_on(conn: &Connection, exchange: &str, keys: &[&str]) -> (Channel, Consumer) {
    let ch = conn.create_channel().await.expect("channel");
    let q = exclusive_queue(&ch).await;
    for key in keys {
        ch.queue_bind(
            q.name().clone(),
            exchange.into(),
            (*key).into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("queue.bind");
    }
    let consumer = ch
        .basic_consume(
            q.name().clone(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("basic.consume");
    (ch, consumer)
}

/// The next delivery whose routing key is `key` (a `#` binding also sees other tests' traffic).
async fn delivery_with_key(consumer: &mut Consumer, key: &str) -> lapin::message::Delivery {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let next = tokio::time::timeout_at(until, consumer.next())
            .await
            .unwrap_or_else(|_| panic!("no AMQP delivery with key {key} within {DEADLINE:?}"))
            .expect("consumer open")
            .expect("delivery");
        next.ack(BasicAckOptions::default()).await.expect("ack");
        if next.routing_key.as_str() == key {
            return next;
        }
    }
}

async fn amqp_publish(ch: &Channel, key: &str, body: &[u8], props: BasicProperties) {
    amqp_publish_to(ch, "amq.topic", key, body, props).await;
}

async fn amqp_publish_to(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
) {
    ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions::default(),
        body,
        props,
    )
    .await
    .expect("basic.publish");
}

/// MQTT topic root `it/<n>` and its AMQP routing-key form `it.<n>`.
fn root(what: &str) -> (String, String) {
    let n = name(what);
    (format!("it/{n}"), format!("it.{n}"))
}

/// Whether the broker speaks MQTT 5; skips the test (false) when it does not.
async fn speaks_v5(t: &MqttTarget) -> bool {
    let mut raw = t.raw().await;
    raw.send(&Connect::new(V5, &name("probe")).encode()).await;
    let ok = matches!(raw.recv_within(DEADLINE).await, Ok(p) if p.kind() == kind::CONNACK && p.connack().1 == 0);
    if !ok {
        assert!(!t.is_warren(), "Warren speaks MQTT 5");
        eprintln!("skipped: broker does not speak MQTT 5");
    }
    ok
}

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
    publ.publish(&format!("{topic}/q0"), v4::QoS::AtMostOnce, false, b"0")
        .await;
    let d0 = delivery_with_key(&mut consumer, &format!("{key}.q0")).await;
    publ.publish(&format!("{topic}/q1"), v4::QoS::AtLeastOnce, false, b"1")
        .await;
    let d1 = delivery_with_key(&mut consumer, &format!("{key}.q1")).await;
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
async fn v5_request_response_through_an_amqp_worker() {
    let Some(t) = interop_target() else { return };
    if !speaks_v5(&t).await {
        return;
    }
    let (topic, key) = root("rpc");
    let conn = t.amqp().await;
    let (worker_ch, mut requests) = amqp_queue(&conn, &[&format!("{key}.req")]).await;

    let (mut client, _) = v5::connect(t.v5(&name("client"))).await;
    let reply_topic = format!("{topic}/reply");
    client.subscribe(&reply_topic, v5::QoS::AtLeastOnce).await;
    let props = v5::PublishProperties {
        response_topic: Some(reply_topic.clone()),
        correlation_data: Some(bytes::Bytes::from_static(b"req-42")),
        ..Default::default()
    };
    client
        .publish_with(
            &format!("{topic}/req"),
            v5::QoS::AtLeastOnce,
            false,
            b"2+2",
            props,
        )
        .await;

    // The worker sees reply_to as a routing key and correlation_id as the bytes sent.
    let req = delivery_with_key(&mut requests, &format!("{key}.req")).await;
    assert_eq!(req.data, b"2+2");
    let reply_to = req.properties.reply_to().clone().expect("reply_to set");
    assert_eq!(reply_to.as_str(), format!("{key}.reply"));
    let corr = req
        .properties
        .correlation_id()
        .clone()
        .expect("correlation_id set");
    assert_eq!(corr.as_str(), "req-42");
    amqp_publish(
        &worker_ch,
        reply_to.as_str(),
        b"4",
        BasicProperties::default().with_correlation_id(corr),
    )
    .await;

    let answer = client.next_publish().await;
    assert_eq!(v5::topic_of(&answer), reply_topic);
    assert_eq!(v5::text(&answer), "4");
    let p = answer.properties.expect("properties on the reply");
    assert_eq!(p.correlation_data.as_deref(), Some(&b"req-42"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_properties_map_to_amqp_properties_and_headers() {
    let Some(t) = interop_target() else { return };
    if !speaks_v5(&t).await {
        return;
    }
    let (topic, key) = root("props");
    let conn = t.amqp().await;
    let (_ch, mut consumer) = amqp_queue(&conn, &[&format!("{key}.m")]).await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    let props = v5::PublishProperties {
        content_type: Some("application/json".into()),
        message_expiry_interval: Some(60),
        user_properties: vec![
            ("tenant".into(), "acme".into()),
            ("zone".into(), "eu".into()),
        ],
        ..Default::default()
    };
    publ.publish_with(
        &format!("{topic}/m"),
        v5::QoS::AtLeastOnce,
        false,
        b"{}",
        props,
    )
    .await;
    let d = delivery_with_key(&mut consumer, &format!("{key}.m")).await;
    assert_eq!(
        d.properties
            .content_type()
            .as_ref()
            .map(ShortString::as_str),
        Some("application/json")
    );
    let expiration = d.properties.expiration().clone().expect("expiration set");
    let ms: u64 = expiration.as_str().parse().expect("expiration in ms");
    assert!(ms > 0 && ms <= 60_000, "expiration {ms} ms");
    let headers = d.properties.headers().clone().expect("headers");
    let header = |k: &str| match headers.inner().get(k) {
        Some(AMQPValue::LongString(s)) => Some(s.to_string()),
        other => panic!("header {k}: {other:?}"),
    };
    assert_eq!(header("tenant").as_deref(), Some("acme"));
    assert_eq!(header("zone").as_deref(), Some("eu"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_properties_and_headers_map_to_v5_properties() {
    let Some(t) = interop_target() else { return };
    if !speaks_v5(&t).await {
        return;
    }
    let (topic, key) = root("back");
    let (mut sub, _) = v5::connect(t.v5(&name("sub"))).await;
    sub.subscribe(&format!("{topic}/m"), v5::QoS::AtLeastOnce)
        .await;
    let conn = t.amqp().await;
    let ch = conn.create_channel().await.expect("channel");
    let mut headers = FieldTable::default();
    headers.insert("tenant".into(), AMQPValue::LongString("acme".into()));
    let props = BasicProperties::default()
        .with_content_type("text/plain".into())
        .with_expiration("60000".into())
        .with_headers(headers)
        .with_delivery_mode(2);
    amqp_publish(&ch, &format!("{key}.m"), b"hello", props).await;
    let got = sub.next_publish().await;
    assert_eq!(v5::text(&got), "hello");
    let p = got.properties.expect("properties");
    assert_eq!(p.content_type.as_deref(), Some("text/plain"));
    let expiry = p
        .message_expiry_interval
        .expect("message expiry from expiration");
    assert!(expiry > 0 && expiry <= 60, "expiry {expiry} s");
    assert!(
        p.user_properties
            .contains(&("tenant".to_string(), "acme".to_string())),
        "{:?}",
        p.user_properties
    );
}

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
