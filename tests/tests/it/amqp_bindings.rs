//! The empty routing key on `queue.bind`: as RabbitMQ, only an empty queue name *and* an empty
//! key bind the channel's last declared queue with its name as the key; a named queue bound
//! with `""` is bound with the empty key.

use lapin::options::QueueBindOptions;
use lapin::types::FieldTable;
use lapin::Channel;
use warren_it::{confirm_channel, declare_queue, drain, publish, target, unique};

async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) {
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("queue.bind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_queue_bound_with_the_empty_key_gets_the_empty_key() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("bind.empty");
    // Declared last on this channel, so a bug that treats it as "the last queue" shows.
    declare_queue(&ch, &q).await;
    bind(&ch, &q, "amq.direct", "").await;
    publish(&ch, "amq.direct", "", b"empty key").await;
    publish(&ch, "amq.direct", &q, b"queue name as key").await;
    assert_eq!(drain(&ch, &q).await, ["empty key"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_queue_and_key_bind_the_last_queue_by_its_name() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("bind.last");
    declare_queue(&ch, &q).await;
    bind(&ch, "", "amq.direct", "").await;
    publish(&ch, "amq.direct", "", b"empty key").await;
    publish(&ch, "amq.direct", &q, b"queue name as key").await;
    assert_eq!(drain(&ch, &q).await, ["queue name as key"]);
}
