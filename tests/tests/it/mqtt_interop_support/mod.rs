//! Helpers for the MQTT-AMQP interop suites: AMQP queues bound to a topic exchange with a
//! consumer, publishing to it, the next delivery with a given routing key, and a topic root
//! in its MQTT and AMQP forms.

use crate::mqtt;

use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueBindOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, Consumer};
use mqtt::*;
use warren_it::exclusive_queue;

/// An exclusive server-named queue bound to `amq.topic` with `keys`, and a consumer on it.
pub async fn amqp_queue(conn: &Connection, keys: &[&str]) -> (Channel, Consumer) {
    amqp_queue_on(conn, "amq.topic", keys).await
}

/// An exclusive server-named queue bound to `exchange` with `keys`, and a consumer on it.
pub async fn amqp_queue_on(
    conn: &Connection,
    exchange: &str,
    keys: &[&str],
) -> (Channel, Consumer) {
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
pub async fn delivery_with_key(consumer: &mut Consumer, key: &str) -> lapin::message::Delivery {
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

pub async fn amqp_publish(ch: &Channel, key: &str, body: &[u8], props: BasicProperties) {
    amqp_publish_to(ch, "amq.topic", key, body, props).await;
}

pub async fn amqp_publish_to(
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
pub fn root(what: &str) -> (String, String) {
    let n = name(what);
    (format!("it/{n}"), format!("it.{n}"))
}
