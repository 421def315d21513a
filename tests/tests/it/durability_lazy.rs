//! Lazy queues: with a tiny `storage.queue_memory_bytes`, persistent messages beyond the budget
//! are kept on disk only; they are read back intact, in order, for consumers, `basic.get`,
//! requeues and dead-lettering, before and after a restart.

use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};
use warren_it::{confirm_channel, connect_to, next_delivery, publish_acked, DEADLINE};
use warren_testkit::{Config, DataDir, TestBroker};

fn small_budget() -> Config {
    let mut config = Config::default();
    config.storage.queue_memory_bytes = 1000;
    config
}

fn body(i: usize) -> Vec<u8> {
    format!("{i:05}-{}", "x".repeat(200)).into_bytes()
}

async fn durable_queue(ch: &Channel, name: &str, args: FieldTable) {
    let options = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(name.into(), options, args)
        .await
        .expect("declare");
}

async fn publish_all(ch: &Channel, queue: &str, n: usize) {
    let mut confirms = Vec::new();
    for i in 0..n {
        let confirm = ch
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &body(i),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish");
        confirms.push(confirm);
    }
    for confirm in confirms {
        let c = tokio::time::timeout(DEADLINE, confirm)
            .await
            .expect("confirm in time")
            .expect("confirm");
        assert!(c.is_ack());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_out_messages_come_back_in_order_for_consumers_and_after_restart() {
    let dir = DataDir::new();
    let n = 300;
    {
        let broker = TestBroker::start_in(small_budget(), &dir);
        let conn = connect_to(&broker).await;
        let ch = confirm_channel(&conn).await;
        durable_queue(&ch, "lazy", FieldTable::default()).await;
        publish_all(&ch, "lazy", n).await;
        // Consume the first hundred (most of them paged out), requeue one on the way.
        ch.basic_qos(10, BasicQosOptions::default())
            .await
            .expect("qos");
        let mut consumer = ch
            .basic_consume(
                "lazy".into(),
                "c".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let mut seen = 0;
        while seen < 100 {
            let d = next_delivery(&mut consumer).await;
            if seen == 50 && !d.redelivered {
                d.nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await
                .expect("nack");
                continue;
            }
            assert_eq!(d.data, body(seen), "message {seen} in order");
            d.ack(BasicAckOptions::default()).await.expect("ack");
            seen += 1;
        }
        ch.basic_cancel("c".into(), Default::default())
            .await
            .expect("cancel");
        conn.close(200, "bye".into()).await.expect("close");
    }
    let broker = TestBroker::start_in(small_budget(), &dir);
    let conn = connect_to(&broker).await;
    let ch = confirm_channel(&conn).await;
    for i in 100..n {
        let m = ch
            .basic_get("lazy".into(), BasicGetOptions::default())
            .await
            .expect("get")
            .expect("a message");
        assert_eq!(m.delivery.data, body(i), "message {i} after the restart");
        m.delivery
            .ack(BasicAckOptions::default())
            .await
            .expect("ack");
    }
    let none = ch
        .basic_get("lazy".into(), BasicGetOptions::default())
        .await
        .expect("get");
    assert!(none.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_out_messages_are_dead_lettered_with_their_bodies() {
    let broker = TestBroker::start_with(small_budget());
    let conn = connect_to(&broker).await;
    let ch = confirm_channel(&conn).await;
    durable_queue(&ch, "lazy.dlq", FieldTable::default()).await;
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-dead-letter-exchange"),
        AMQPValue::LongString("".into()),
    );
    args.insert(
        ShortString::from("x-dead-letter-routing-key"),
        AMQPValue::LongString("lazy.dlq".into()),
    );
    durable_queue(&ch, "lazy.src", args).await;
    publish_all(&ch, "lazy.src", 50).await;
    for _ in 0..50 {
        let m = ch
            .basic_get("lazy.src".into(), BasicGetOptions::default())
            .await
            .expect("get")
            .expect("a message");
        m.delivery
            .nack(BasicNackOptions::default())
            .await
            .expect("reject");
    }
    // Settlements on a channel are handled in order, so the dead letters are there already.
    for i in 0..50 {
        let m = ch
            .basic_get("lazy.dlq".into(), BasicGetOptions { no_ack: true })
            .await
            .expect("get")
            .expect("a dead letter");
        assert_eq!(m.delivery.data, body(i));
    }
}

/// Publishes message `i` of a mixed backlog: most persistent (these go cold beyond the
/// budget), every fifth transient and every seventh with an `expiration` (both keep an
/// entry), so the queue must interleave its cold tail with entries in arrival order.
async fn publish_mixed(ch: &Channel, queue: &str, i: usize) {
    let mut props = BasicProperties::default();
    if !i.is_multiple_of(5) {
        props = props.with_delivery_mode(2);
    }
    if i.is_multiple_of(7) {
        props = props.with_expiration("600000".into());
    }
    publish_acked(ch, "", queue, &body(i), props).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_backlog_interleaves_with_messages_that_keep_entries_in_arrival_order() {
    let broker = TestBroker::start_with(small_budget());
    let conn = connect_to(&broker).await;
    let ch = confirm_channel(&conn).await;
    durable_queue(&ch, "lazy.mixed", FieldTable::default()).await;
    let n = 400;
    for i in 0..n {
        publish_mixed(&ch, "lazy.mixed", i).await;
    }
    assert_eq!(
        warren_it::message_count(&conn, "lazy.mixed").await,
        Some(n as u32)
    );
    ch.basic_qos(7, BasicQosOptions::default())
        .await
        .expect("qos");
    let mut consumer = ch
        .basic_consume(
            "lazy.mixed".into(),
            "c".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    for i in 0..n {
        let d = next_delivery(&mut consumer).await;
        assert_eq!(
            String::from_utf8_lossy(&d.data[..5]),
            format!("{i:05}"),
            "message {i} in arrival order"
        );
        d.ack(BasicAckOptions::default()).await.expect("ack");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purging_or_deleting_a_cold_backlog_removes_it_from_disk() {
    let dir = DataDir::new();
    let n = 300;
    {
        let broker = TestBroker::start_in(small_budget(), &dir);
        let conn = connect_to(&broker).await;
        let ch = confirm_channel(&conn).await;
        durable_queue(&ch, "lazy.purged", FieldTable::default()).await;
        durable_queue(&ch, "lazy.deleted", FieldTable::default()).await;
        durable_queue(&ch, "lazy.kept", FieldTable::default()).await;
        publish_all(&ch, "lazy.purged", n).await;
        publish_all(&ch, "lazy.deleted", n).await;
        publish_all(&ch, "lazy.kept", n).await;
        let purged = ch
            .queue_purge("lazy.purged".into(), Default::default())
            .await
            .expect("purge");
        assert_eq!(purged, n as u32);
        let deleted = ch
            .queue_delete("lazy.deleted".into(), Default::default())
            .await
            .expect("delete");
        assert_eq!(deleted, n as u32);
        // A later confirmed publish fences the acks and the drop: the store completes in order.
        publish_all(&ch, "lazy.kept", 1).await;
        conn.close(200, "bye".into()).await.expect("close");
    }
    let broker = TestBroker::start_in(small_budget(), &dir);
    let conn = connect_to(&broker).await;
    let ch = confirm_channel(&conn).await;
    durable_queue(&ch, "lazy.deleted", FieldTable::default()).await;
    assert_eq!(
        warren_it::message_count(&conn, "lazy.purged").await,
        Some(0)
    );
    assert_eq!(
        warren_it::message_count(&conn, "lazy.deleted").await,
        Some(0)
    );
    assert_eq!(
        warren_it::message_count(&conn, "lazy.kept").await,
        Some(n as u32 + 1)
    );
}
