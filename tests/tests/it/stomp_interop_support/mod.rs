//! Helpers for the STOMP interop suites: an AMQP connection to the broker under test (or a
//! skip), unique routing-key words, AMQP queues and consumers, and the next delivery, acked.

use crate::stomp;

use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, Consumer};
use stomp::{unique, StompTarget, DEADLINE};
use warren_it::exclusive_queue;

pub async fn amqp(t: &StompTarget) -> Option<Connection> {
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

/// A routing-key word no other test uses.
pub fn word(what: &str) -> String {
    unique(what).replace('.', "-")
}

pub async fn bound_queue(ch: &Channel, exchange: &str, key: &str) -> Consumer {
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

pub async fn consume(ch: &Channel, queue: &str) -> Consumer {
    ch.basic_consume(
        queue.into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("basic.consume")
}

pub async fn next(consumer: &mut Consumer) -> lapin::message::Delivery {
    let d = tokio::time::timeout(DEADLINE, consumer.next())
        .await
        .expect("an AMQP delivery in time")
        .expect("consumer open")
        .expect("delivery");
    d.ack(BasicAckOptions::default()).await.expect("ack");
    d
}
