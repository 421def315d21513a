//! STOMP with AMQP (lapin) and MQTT (rumqttc) on one core: a STOMP SEND to `/topic/a.b`
//! reaches an MQTT subscriber of `a/b` and an AMQP queue bound with `a.*`; an MQTT publish
//! reaches STOMP topic subscribers; an AMQP publish to the default exchange shows as a queue
//! destination; a STOMP and an AMQP consumer share a queue round-robin; an AMQP worker answers
//! a STOMP request through a temporary queue.
//!
//! Against an external broker the tests need `WARREN_IT_AMQP_URL` (and for MQTT
//! `WARREN_IT_MQTT_ADDR`) naming the same broker as `WARREN_IT_STOMP_ADDR`, else they skip.

use crate::mqtt;
use crate::stomp;
use crate::stomp_interop_support::*;

use std::time::Duration;

use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use mqtt::v4;
use stomp::{target, unique, StompTarget, DEADLINE};

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
