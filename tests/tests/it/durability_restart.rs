//! Durability across a clean restart, with lapin: a broker is stopped and another started on
//! the same data directory. Durable exchanges, queues and bindings come back, transient,
//! exclusive and auto-delete ones do not; persistent messages in durable queues come back in
//! order (unacknowledged ones flagged redelivered), transient and acknowledged ones do not.

use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};
use warren_it::{
    confirm_channel, connect_to, declare_durable_exchange, next_delivery, publish_acked,
};
use warren_testkit::{Config, DataDir, TestBroker};

fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2)
}

async fn declare(ch: &Channel, name: &str, durable: bool, exclusive: bool, auto_delete: bool) {
    let options = QueueDeclareOptions {
        durable,
        exclusive,
        auto_delete,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(name.into(), options, FieldTable::default())
        .await
        .expect("queue.declare");
}

async fn publish(ch: &Channel, exchange: &str, key: &str, body: &str, props: BasicProperties) {
    publish_acked(ch, exchange, key, body.as_bytes(), props).await;
}

/// The bodies left in `queue`, taken with acks, and whether each was redelivered.
async fn take_all(ch: &Channel, queue: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    while let Some(m) = ch
        .basic_get(queue.into(), BasicGetOptions::default())
        .await
        .expect("basic.get")
    {
        let body = String::from_utf8_lossy(&m.delivery.data).into_owned();
        out.push((body, m.delivery.redelivered));
        m.delivery
            .ack(BasicAckOptions::default())
            .await
            .expect("ack");
    }
    out
}

async fn exists(conn: &Connection, queue: &str) -> bool {
    let ch = conn.create_channel().await.expect("channel");
    let options = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(queue.into(), options, FieldTable::default())
        .await
        .is_ok()
}

async fn exchange_exists(conn: &Connection, name: &str) -> bool {
    let ch = conn.create_channel().await.expect("channel");
    let options = ExchangeDeclareOptions {
        passive: true,
        ..ExchangeDeclareOptions::default()
    };
    ch.exchange_declare(
        name.into(),
        ExchangeKind::Topic,
        options,
        FieldTable::default(),
    )
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_definitions_survive_and_transient_ones_do_not() {
    let dir = DataDir::new();
    {
        let broker = TestBroker::start_in(Config::default(), &dir);
        let conn = connect_to(&broker).await;
        let ch = confirm_channel(&conn).await;
        declare_durable_exchange(&ch, "dx", ExchangeKind::Topic, FieldTable::default())
            .await
            .expect("durable exchange");
        ch.exchange_declare(
            "tx".into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("transient exchange");
        let mut args = FieldTable::default();
        args.insert("x-max-length".into(), AMQPValue::LongInt(100));
        ch.queue_declare(
            "dq".into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            args,
        )
        .await
        .expect("durable queue with arguments");
        declare(&ch, "tq", false, false, false).await;
        declare(&ch, "ad", true, false, true).await;
        declare(&ch, "ex", true, true, false).await;
        for (queue, key) in [("dq", "a.*"), ("tq", "a.*")] {
            ch.queue_bind(
                queue.into(),
                "dx".into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        }
        conn.close(200, "bye".into()).await.expect("close");
    }
    let broker = TestBroker::start_in(Config::default(), &dir);
    let conn = connect_to(&broker).await;
    assert!(exists(&conn, "dq").await, "durable queue is back");
    assert!(
        exchange_exists(&conn, "dx").await,
        "durable exchange is back"
    );
    for gone in ["tq", "ad", "ex"] {
        assert!(!exists(&conn, gone).await, "{gone} must not survive");
    }
    assert!(
        !exchange_exists(&conn, "tx").await,
        "transient exchange is gone"
    );
    let ch = confirm_channel(&conn).await;
    publish(&ch, "dx", "a.b", "routed", persistent()).await;
    assert_eq!(take_all(&ch, "dq").await, vec![("routed".into(), false)]);
    // The arguments came back too: redeclaring with different ones is refused.
    let refused = ch
        .queue_declare(
            "dq".into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    assert!(refused.is_err(), "x-max-length was restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_messages_survive_in_order_and_acked_ones_do_not() {
    let dir = DataDir::new();
    {
        let broker = TestBroker::start_in(Config::default(), &dir);
        let conn = connect_to(&broker).await;
        let ch = confirm_channel(&conn).await;
        declare(&ch, "keep", true, false, false).await;
        declare(&ch, "mem", false, false, false).await;
        for i in 0..20 {
            publish(&ch, "", "keep", &format!("p{i}"), persistent()).await;
            publish(&ch, "", "mem", &format!("m{i}"), persistent()).await;
        }
        publish(&ch, "", "keep", "transient", BasicProperties::default()).await;
        // Ack the first five; leave the next two delivered but unacknowledged.
        for _ in 0..5 {
            let m = ch
                .basic_get("keep".into(), BasicGetOptions::default())
                .await
                .expect("get")
                .expect("a message");
            m.delivery
                .ack(BasicAckOptions::default())
                .await
                .expect("ack");
        }
        ch.basic_qos(2, Default::default()).await.expect("qos");
        let mut consumer = ch
            .basic_consume(
                "keep".into(),
                "c".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let first = next_delivery(&mut consumer).await;
        assert_eq!(first.data, b"p5");
        // Stop while the consumer holds unacknowledged messages.
        drop(consumer);
    }
    let broker = TestBroker::start_in(Config::default(), &dir);
    let conn = connect_to(&broker).await;
    let ch = confirm_channel(&conn).await;
    let got = take_all(&ch, "keep").await;
    let bodies: Vec<_> = got.iter().map(|(b, _)| b.clone()).collect();
    let expected: Vec<_> = (5..20).map(|i| format!("p{i}")).collect();
    assert_eq!(bodies, expected, "persistent, unacked messages in order");
    assert!(
        got[0].1 && got[1].1,
        "the delivered p5 and p6 come back redelivered"
    );
    assert!(!got[14].1, "p19 was never delivered");
    assert!(!exists(&conn, "mem").await);
    drop(conn);
    drop(broker);
    // What was acked after the restart stays gone.
    let broker = TestBroker::start_in(Config::default(), &dir);
    let conn = connect_to(&broker).await;
    let ch = confirm_channel(&conn).await;
    assert!(take_all(&ch, "keep").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_and_purged_queues_stay_deleted_and_empty() {
    let dir = DataDir::new();
    {
        let broker = TestBroker::start_in(Config::default(), &dir);
        let conn = connect_to(&broker).await;
        let ch = confirm_channel(&conn).await;
        declare(&ch, "del", true, false, false).await;
        declare(&ch, "pur", true, false, false).await;
        for q in ["del", "pur"] {
            publish(&ch, "", q, "x", persistent()).await;
        }
        ch.queue_delete("del".into(), Default::default())
            .await
            .expect("delete");
        ch.queue_purge("pur".into(), Default::default())
            .await
            .expect("purge");
        // A new queue under the deleted name must not inherit its messages.
        declare(&ch, "del", true, false, false).await;
        publish(&ch, "", "del", "new", persistent()).await;
    }
    let broker = TestBroker::start_in(Config::default(), &dir);
    let conn = connect_to(&broker).await;
    let ch = confirm_channel(&conn).await;
    assert_eq!(take_all(&ch, "del").await, vec![("new".into(), false)]);
    assert!(take_all(&ch, "pur").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanned_out_message_stays_in_each_queue_until_that_queue_is_done_with_it() {
    let dir = DataDir::new();
    {
        let broker = TestBroker::start_in(Config::default(), &dir);
        let conn = connect_to(&broker).await;
        let ch = confirm_channel(&conn).await;
        declare_durable_exchange(&ch, "fan", ExchangeKind::Fanout, FieldTable::default())
            .await
            .expect("exchange");
        for q in ["fan.a", "fan.b", "fan.mem"] {
            declare(&ch, q, q != "fan.mem", false, false).await;
            ch.queue_bind(
                q.into(),
                "fan".into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        }
        publish(&ch, "fan", "", "one", persistent()).await;
        publish(&ch, "fan", "", "two", persistent()).await;
        // fan.a is done with "one"; fan.b with nothing.
        let m = ch
            .basic_get("fan.a".into(), BasicGetOptions::default())
            .await
            .expect("get")
            .expect("a message");
        m.delivery
            .ack(BasicAckOptions::default())
            .await
            .expect("ack");
        conn.close(200, "bye".into()).await.expect("close");
    }
    let broker = TestBroker::start_in(Config::default(), &dir);
    let conn = connect_to(&broker).await;
    let ch = confirm_channel(&conn).await;
    let bodies = |v: Vec<(String, bool)>| v.into_iter().map(|(b, _)| b).collect::<Vec<_>>();
    assert_eq!(bodies(take_all(&ch, "fan.a").await), vec!["two"]);
    assert_eq!(bodies(take_all(&ch, "fan.b").await), vec!["one", "two"]);
    assert!(!exists(&conn, "fan.mem").await);
    // The binding came back with the exchange and the queues.
    publish(&ch, "fan", "", "three", persistent()).await;
    assert_eq!(bodies(take_all(&ch, "fan.b").await), vec!["three"]);
}
