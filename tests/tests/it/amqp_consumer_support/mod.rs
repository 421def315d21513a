//! Helpers for the consumer and acknowledgement suites: consuming with options, a queue
//! holding numbered messages, basic.qos, and a queue's ready count.

use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, Consumer};
use warren_it::{confirm_channel, declare_queue, message_count, publish, unique};

pub async fn consume_with(
    ch: &Channel,
    queue: &str,
    tag: &str,
    opts: BasicConsumeOptions,
) -> Consumer {
    ch.basic_consume(queue.into(), tag.into(), opts, FieldTable::default())
        .await
        .expect("basic.consume")
}

pub async fn consume(ch: &Channel, queue: &str, tag: &str) -> Consumer {
    consume_with(ch, queue, tag, BasicConsumeOptions::default()).await
}

/// A queue holding `n` messages `m0..`, published with confirms.
pub async fn queue_with(conn: &Connection, what: &str, n: usize) -> String {
    let ch = confirm_channel(conn).await;
    let q = unique(what);
    declare_queue(&ch, &q).await;
    for i in 0..n {
        publish(&ch, "", &q, format!("m{i}").as_bytes()).await;
    }
    q
}

pub async fn qos(ch: &Channel, count: u16, global: bool) {
    ch.basic_qos(count, BasicQosOptions { global })
        .await
        .expect("basic.qos");
}

pub async fn ready(conn: &Connection, q: &str) -> u32 {
    message_count(conn, q).await.expect("queue exists")
}
