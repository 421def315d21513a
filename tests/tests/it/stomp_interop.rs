//! STOMP with AMQP (lapin) and MQTT (rumqttc) on one core: a STOMP SEND to `/topic/a.b`
//! reaches an MQTT subscriber of `a/b` and an AMQP queue bound with `a.*`; AMQP and MQTT
//! publishes reach STOMP subscribers with their properties as headers; STOMP headers reach AMQP
//! consumers as properties; the lossy rows of the mapping (AMQP tables, arrays and non-UTF-8
//! headers dropped, AMQP headers named like frame headers hidden, `persistent:false` absent on
//! MESSAGE); a STOMP and an AMQP consumer share a queue round-robin; an AMQP worker answers a
//! STOMP request through a temporary queue.
//!
//! Against an external broker the tests need `WARREN_IT_AMQP_URL` (and for MQTT
//! `WARREN_IT_MQTT_ADDR`) naming the same broker as `WARREN_IT_STOMP_ADDR`, else they skip.

use crate::mqtt;
use crate::stomp;

use std::time::Duration;

use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, Consumer};
use mqtt::v4;
use stomp::{target, unique, warren_only, StompTarget, DEADLINE};
use warren_it::exclusive_queue;

async fn amqp(t: &StompTarget) -> Option<Connection> {
    let Some(url) = t.amqp_url() else {
        eprintln!("skipped: no AMQP URL for the broker under test");
        return None;
    };
    Some(
        Connection::connect(&url, lapin::ConnectionProperties::default())
            .await
            .expect("AMQP connect"),
    )
}

fn mqtt_options(t: &StompTarget) -> Option<v4::MqttOptions> {
    let Some(addr) = t.mqtt_addr() else {
        eprintln!("skipped: no MQTT address for the broker under test");
        return None;
    };
    let mut o = v4::MqttOptions::new(
        unique("mq").replace('.', "-"),
        addr.ip().to_string(),
        addr.port(),
    );
    o.set_credentials("guest", "guest")
        .set_keep_alive(Duration::from_secs(30));
    Some(o)
}

/// A routing-key word no other test uses.
fn word(what: &str) -> String {
    unique(what).replace('.', "-")
}

async fn bound_queue(ch: &Channel, exchange: &str, key: &str) -> Consumer {
    let q = exclusive_queue(ch).await;
    ch.queue_bind(
        q.name().clone(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("queue.bind");
    consume(ch, q.name().as_str()).await
}

async fn consume(ch: &Channel, queue: &str) -> Consumer {
    ch.basic_consume(
        queue.into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("basic.consume")
}

async fn next(consumer: &mut Consumer) -> lapin::message::Delivery {
    let d = tokio::time::timeout(DEADLINE, consumer.next())
        .await
        .expect("an AMQP delivery in time")
        .expect("consumer open")
        .expect("delivery");
    d.ack(BasicAckOptions::default()).await.expect("ack");
    d
}

fn header_text(d: &lapin::message::Delivery, name: &str) -> Option<String> {
    let headers = d.properties.headers().as_ref()?;
    match headers.inner().get(&ShortString::from(name))? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        other => Some(format!("{other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_topic_send_reaches_mqtt_and_amqp_subscribers() {
    let t = target();
    let (Some(conn), Some(opts)) = (amqp(&t).await, mqtt_options(&t)) else {
        return;
    };
    let base = word("s2x");
    let (mut mq, _) = v4::connect(opts).await;
    mq.subscribe(&format!("{base}/b"), v4::QoS::AtLeastOnce)
        .await;
    let ch = conn.create_channel().await.expect("channel");
    let mut amqp_consumer = bound_queue(&ch, "amq.topic", &format!("{base}.*")).await;
    let mut s = t.client().await;
    s.send_sync(
        &format!("/topic/{base}.b"),
        &[("persistent", "true")],
        "to everyone",
    )
    .await;
    let p = mq.next_publish().await;
    assert_eq!(p.topic, format!("{base}/b"));
    assert_eq!(v4::text(&p), "to everyone");
    assert_eq!(p.qos, v4::QoS::AtLeastOnce, "persistent maps to QoS 1");
    let d = next(&mut amqp_consumer).await;
    assert_eq!(d.routing_key.as_str(), format!("{base}.b"));
    assert_eq!(d.data, b"to everyone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_publish_reaches_stomp_topic_subscribers() {
    let t = target();
    let Some(opts) = mqtt_options(&t) else { return };
    let base = word("m2s");
    let mut s = t.client().await;
    s.subscribe("exact", &format!("/topic/{base}.c")).await;
    s.subscribe("wild", &format!("/topic/{base}.*")).await;
    let (mut mq, _) = v4::connect(opts).await;
    mq.publish(
        &format!("{base}/c"),
        v4::QoS::AtLeastOnce,
        false,
        b"from mqtt",
    )
    .await;
    let mut subs = Vec::new();
    for _ in 0..2 {
        let m = s.message().await;
        assert_eq!(m.text(), "from mqtt");
        assert_eq!(
            m.header("destination"),
            Some(format!("/topic/{base}.c").as_str())
        );
        subs.push(m.header("subscription").unwrap_or_default().to_owned());
    }
    subs.sort();
    assert_eq!(subs, ["exact", "wild"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_publish_reaches_stomp_with_properties_as_headers() {
    let t = target();
    let Some(conn) = amqp(&t).await else { return };
    let key = word("a2s");
    let mut s = t.client().await;
    s.subscribe("s", &format!("/topic/{key}")).await;
    let mut headers = FieldTable::default();
    headers.insert("app-header".into(), AMQPValue::LongString("hv".into()));
    headers.insert("count".into(), AMQPValue::LongInt(42));
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_correlation_id("corr-9".into())
        .with_delivery_mode(2)
        .with_priority(5)
        .with_headers(headers);
    let ch = conn.create_channel().await.expect("channel");
    ch.basic_publish(
        "amq.topic".into(),
        key.as_str().into(),
        BasicPublishOptions::default(),
        b"{\"a\":1}",
        props,
    )
    .await
    .expect("publish");
    let m = s.message().await;
    assert_eq!(m.text(), "{\"a\":1}");
    assert_eq!(
        m.header("destination"),
        Some(format!("/topic/{key}").as_str())
    );
    assert_eq!(m.header("content-type"), Some("application/json"));
    assert_eq!(m.header("correlation-id"), Some("corr-9"));
    assert_eq!(m.header("persistent"), Some("true"));
    assert_eq!(m.header("priority"), Some("5"));
    assert_eq!(m.header("app-header"), Some("hv"));
    assert_eq!(m.header("count"), Some("42"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_headers_reach_amqp_as_properties() {
    let t = target();
    let Some(conn) = amqp(&t).await else { return };
    let name = unique("s2a");
    let mut s = t.client().await;
    let headers = [
        ("content-type", "text/plain"),
        ("content-encoding", "gzip"),
        ("persistent", "true"),
        ("priority", "7"),
        ("correlation-id", "c-7"),
        ("reply-to", "/queue/back"),
        ("expiration", "60000"),
        ("timestamp", "1700000000"),
        ("type", "t"),
        ("user-id", "guest"),
        ("app-id", "a"),
        ("custom", "cv"),
        ("x-custom", "xv"),
        ("x-max-length", "10"),
    ];
    s.send_sync(&format!("/queue/{name}"), &headers, "props")
        .await;
    let ch = conn.create_channel().await.expect("channel");
    let mut c = consume(&ch, &name).await;
    let d = next(&mut c).await;
    let p = &d.properties;
    assert_eq!(
        p.content_type().as_ref().map(|s| s.as_str()),
        Some("text/plain")
    );
    assert_eq!(
        p.content_encoding().as_ref().map(|s| s.as_str()),
        Some("gzip")
    );
    assert_eq!(*p.timestamp(), Some(1_700_000_000));
    assert_eq!(p.user_id().as_ref().map(|s| s.as_str()), Some("guest"));
    assert_eq!(*p.delivery_mode(), Some(2));
    assert_eq!(*p.priority(), Some(7));
    assert_eq!(p.correlation_id().as_ref().map(|s| s.as_str()), Some("c-7"));
    assert_eq!(
        p.reply_to().as_ref().map(|s| s.as_str()),
        Some("/queue/back")
    );
    assert_eq!(p.expiration().as_ref().map(|s| s.as_str()), Some("60000"));
    assert_eq!(p.kind().as_ref().map(|s| s.as_str()), Some("t"));
    assert_eq!(p.app_id().as_ref().map(|s| s.as_str()), Some("a"));
    assert_eq!(header_text(&d, "custom").as_deref(), Some("cv"));
    // An `x-*` header not in the list of queue arguments is a header like any other; a listed
    // one shapes the queue and Warren does not keep it on the message (RabbitMQ does).
    assert_eq!(header_text(&d, "x-custom").as_deref(), Some("xv"));
    if matches!(t, StompTarget::Local(_)) {
        assert_eq!(header_text(&d, "x-max-length"), None);
    }
    // Properties are not repeated as headers.
    for name in ["content-encoding", "timestamp", "user-id", "persistent"] {
        assert_eq!(header_text(&d, name), None, "{name}");
    }
    assert_eq!(d.exchange.as_str(), "");
    assert_eq!(d.routing_key.as_str(), name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_default_exchange_publish_shows_as_a_queue_destination() {
    let t = target();
    let Some(conn) = amqp(&t).await else { return };
    let name = unique("a2q");
    let mut s = t.client().await;
    s.subscribe("s", &format!("/queue/{name}")).await;
    let ch = conn.create_channel().await.expect("channel");
    ch.basic_publish(
        "".into(),
        name.as_str().into(),
        BasicPublishOptions::default(),
        b"direct",
        BasicProperties::default(),
    )
    .await
    .expect("publish");
    let m = s.message().await;
    assert_eq!(m.text(), "direct");
    assert_eq!(
        m.header("destination"),
        Some(format!("/queue/{name}").as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stomp_and_an_amqp_consumer_share_a_queue_round_robin() {
    let t = target();
    let Some(conn) = amqp(&t).await else { return };
    let name = unique("shared");
    let mut s = t.client().await;
    s.subscribe_with(
        "s",
        &format!("/queue/{name}"),
        &[("ack", "client-individual"), ("prefetch-count", "1")],
    )
    .await;
    let ch = conn.create_channel().await.expect("channel");
    ch.basic_qos(1, BasicQosOptions::default())
        .await
        .expect("qos");
    let mut a = consume(&ch, &name).await;
    for i in 0..4 {
        s.send_sync(&format!("/queue/{name}"), &[], &format!("m{i}"))
            .await;
    }
    // Each consumer has room for one unacknowledged message, so they share the queue; which
    // one gets the last message depends on whose ack reaches the broker first, so collect
    // from both until all four have arrived.
    let (mut got, mut by_stomp, mut by_amqp) = (Vec::new(), 0, 0);
    let until = tokio::time::Instant::now() + DEADLINE;
    let wait = std::time::Duration::from_millis(20);
    while got.len() < 4 {
        assert!(tokio::time::Instant::now() < until, "only {got:?} arrived");
        if let Some(m) = s.recv_within(wait).await {
            assert_eq!(m.command, "MESSAGE", "{m:?}");
            s.frame("ACK", &[("id", m.header("ack").unwrap())], b"")
                .await;
            got.push(m.text());
            by_stomp += 1;
        }
        if let Ok(Some(Ok(d))) = tokio::time::timeout(wait, a.next()).await {
            d.ack(BasicAckOptions::default()).await.expect("ack");
            got.push(String::from_utf8_lossy(&d.data).into_owned());
            by_amqp += 1;
        }
    }
    got.sort();
    assert_eq!(got, ["m0", "m1", "m2", "m3"]);
    assert!(
        by_stomp > 0 && by_amqp > 0,
        "stomp {by_stomp}, amqp {by_amqp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amqp_worker_answers_a_stomp_request_through_a_temp_queue() {
    let t = target();
    let Some(conn) = amqp(&t).await else { return };
    let service = unique("rpc");
    let ch = conn.create_channel().await.expect("channel");
    ch.queue_declare(
        service.as_str().into(),
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("declare");
    let mut worker = consume(&ch, &service).await;
    let mut s = t.client().await;
    s.send_sync(
        &format!("/amq/queue/{service}"),
        &[("reply-to", "/temp-queue/rpc"), ("correlation-id", "q1")],
        "2+2",
    )
    .await;
    let request = next(&mut worker).await;
    let reply_to = request
        .properties
        .reply_to()
        .as_ref()
        .expect("reply_to")
        .as_str()
        .to_owned();
    // The AMQP side sees the temporary queue's bare name, as with RabbitMQ.
    let queue = reply_to.as_str();
    assert!(!queue.starts_with('/'), "{queue}");
    let props = BasicProperties::default().with_correlation_id("q1".into());
    ch.basic_publish(
        "".into(),
        queue.into(),
        BasicPublishOptions::default(),
        b"4",
        props,
    )
    .await
    .expect("reply");
    let reply = s.message().await;
    assert_eq!(reply.text(), "4");
    assert_eq!(reply.header("subscription"), Some("/temp-queue/rpc"));
    assert_eq!(reply.header("correlation-id"), Some("q1"));
}

async fn publish_to_queue(conn: &Connection, queue: &str, props: BasicProperties) {
    let ch = conn.create_channel().await.expect("channel");
    ch.basic_publish(
        "".into(),
        queue.into(),
        BasicPublishOptions::default(),
        b"body",
        props,
    )
    .await
    .expect("publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_table_and_array_headers_are_dropped_on_message() {
    let t = target();
    let Some(conn) = amqp(&t).await else { return };
    let name = unique("a2s-lossy");
    let mut s = t.client().await;
    s.subscribe("s", &format!("/queue/{name}")).await;
    let mut inner = FieldTable::default();
    inner.insert("k".into(), AMQPValue::LongString("v".into()));
    let mut headers = FieldTable::default();
    headers.insert("nested".into(), AMQPValue::FieldTable(inner));
    headers.insert(
        "list".into(),
        AMQPValue::FieldArray(vec![AMQPValue::LongInt(1)].into()),
    );
    headers.insert("flag".into(), AMQPValue::Boolean(true));
    headers.insert("kept".into(), AMQPValue::LongString("yes".into()));
    publish_to_queue(
        &conn,
        &name,
        BasicProperties::default().with_headers(headers),
    )
    .await;
    let m = s.message().await;
    assert_eq!(m.text(), "body");
    assert_eq!(m.header("kept"), Some("yes"));
    if matches!(t, StompTarget::Local(_)) {
        // RabbitMQ drops a boolean too; Warren shows it as text.
        assert_eq!(m.header("flag"), Some("true"), "shown as text");
    }
    for name in ["nested", "list"] {
        assert_eq!(m.header(name), None, "{name} in {m:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_headers_that_are_not_utf8_are_dropped_on_message() {
    // RabbitMQ sends the bytes as they are, which no STOMP frame may hold.
    let Some(t) = warren_only() else { return };
    let Some(conn) = amqp(&t).await else { return };
    let name = unique("a2s-bytes");
    let mut s = t.client().await;
    s.subscribe("s", &format!("/queue/{name}")).await;
    let mut headers = FieldTable::default();
    headers.insert(
        "bytes".into(),
        AMQPValue::LongString(vec![0xff, 0xfe, b'x'].into()),
    );
    headers.insert("kept".into(), AMQPValue::LongString("yes".into()));
    publish_to_queue(
        &conn,
        &name,
        BasicProperties::default().with_headers(headers),
    )
    .await;
    let m = s.message().await;
    assert_eq!(m.text(), "body");
    assert_eq!(m.header("kept"), Some("yes"));
    assert_eq!(m.header("bytes"), None, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_headers_named_like_frame_headers_are_hidden() {
    // RabbitMQ shows them after its own headers (a reader taking the first value sees the right
    // one, but the frame carries two `destination` headers, two `content-length` ...).
    let Some(t) = warren_only() else { return };
    let Some(conn) = amqp(&t).await else { return };
    let name = unique("a2s-hidden");
    let dest = format!("/queue/{name}");
    let mut s = t.client().await;
    s.subscribe_with("s", &dest, &[("ack", "client-individual")])
        .await;
    let mut headers = FieldTable::default();
    for (n, v) in [
        ("destination", "/queue/elsewhere"),
        ("message-id", "fake-id"),
        ("subscription", "fake-sub"),
        ("redelivered", "fake"),
        ("ack", "fake-ack"),
        ("content-length", "999"),
        ("receipt", "fake-receipt"),
        ("content-type", "fake/type"),
        ("persistent", "true"),
        ("priority", "9"),
    ] {
        headers.insert(n.into(), AMQPValue::LongString(v.into()));
    }
    let props = BasicProperties::default()
        .with_content_type("text/plain".into())
        .with_delivery_mode(1)
        .with_headers(headers);
    publish_to_queue(&conn, &name, props).await;
    let m = s.message().await;
    assert_eq!(m.text(), "body");
    let all = |n: &str| -> Vec<&str> {
        m.headers
            .iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(all("destination"), [dest.as_str()], "{m:?}");
    assert_eq!(all("subscription"), ["s"], "{m:?}");
    assert_eq!(all("content-type"), ["text/plain"], "{m:?}");
    assert_eq!(all("content-length"), ["4"], "{m:?}");
    let id = all("message-id");
    assert_eq!(id.len(), 1, "{m:?}");
    assert_ne!(id[0], "fake-id");
    assert_eq!(all("ack"), id, "{m:?}");
    assert_eq!(all("redelivered").len(), 1, "{m:?}");
    assert_ne!(all("redelivered"), ["fake"], "{m:?}");
    for absent in ["receipt", "persistent", "priority"] {
        assert!(all(absent).is_empty(), "{absent} in {m:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_false_comes_back_absent_and_reaches_amqp_as_transient() {
    let t = target();
    let Some(conn) = amqp(&t).await else { return };
    let key = word("not-persistent");
    let mut s = t.client().await;
    s.subscribe("s", &format!("/topic/{key}")).await;
    let ch = conn.create_channel().await.expect("channel");
    let mut amqp_consumer = bound_queue(&ch, "amq.topic", &key).await;
    s.send_sync(
        &format!("/topic/{key}"),
        &[("persistent", "false")],
        "transient",
    )
    .await;
    let m = s.message().await;
    assert_eq!(m.text(), "transient");
    assert_eq!(m.header("persistent"), None, "{m:?}");
    let d = next(&mut amqp_consumer).await;
    assert_ne!(*d.properties.delivery_mode(), Some(2));
    if matches!(t, StompTarget::Local(_)) {
        // RabbitMQ leaves the delivery mode unset.
        assert_eq!(*d.properties.delivery_mode(), Some(1));
    }
    assert_eq!(header_text(&d, "persistent"), None);
}
