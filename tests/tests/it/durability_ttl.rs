//! A message's TTL across a clean restart, with lapin: it keeps counting from when the
//! message reached its queue (as RabbitMQ's queue index keeps the absolute expiry), so a
//! message expires and is dead-lettered by its first deadline, not a full TTL after the
//! restart; one whose deadline passed while the broker was stopped is never delivered and is
//! dead-lettered with reason `expired` right after recovery. A delayed message's TTL counts
//! from when the delayed exchange routed it, not from its publish.

use std::time::{Duration, Instant};

use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};
use warren_it::{
    confirm_channel, connect_to, declare_durable_exchange, eventually_async, get, message_count,
    publish_with, DEADLINE,
};
use warren_testkit::{Config, DataDir, TestBroker};

use crate::queue_features::{args, deaths, field_str, int, s};

const SRC: &str = "ttl.src";
const DLQ: &str = "ttl.dlq";

async fn declare_durable(ch: &Channel, name: &str, table: FieldTable) {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(name.into(), durable, table)
        .await
        .expect("durable queue.declare");
}

/// The durable queue `SRC`, with `queue_ttl` if given, dead-lettering into the durable `DLQ`.
async fn topology(ch: &Channel, queue_ttl: Option<i32>) {
    declare_durable(ch, DLQ, FieldTable::default()).await;
    let mut entries = vec![
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s(DLQ)),
    ];
    entries.extend(queue_ttl.map(|ttl| ("x-message-ttl", int(ttl))));
    declare_durable(ch, SRC, args(&entries)).await;
}

fn persistent(expiration: Option<&str>) -> BasicProperties {
    let props = BasicProperties::default().with_delivery_mode(2);
    match expiration {
        Some(ms) => props.with_expiration(ms.into()),
        None => props,
    }
}

/// Waits until the clock has passed `at`, polling it.
async fn wait_until(at: Instant) {
    let waited = at.saturating_duration_since(Instant::now()) + DEADLINE;
    assert!(eventually_async(waited, || async { Instant::now() >= at }).await);
}

/// The dead letter in `DLQ` died of expiry in `SRC`.
async fn assert_expired_dead_letter(ch: &Channel) {
    let m = get(ch, DLQ).await.expect("the dead letter");
    assert_eq!(m.delivery.data, b"m");
    let death = deaths(&m.properties).into_iter().next().expect("x-death");
    assert_eq!(field_str(&death, "reason"), "expired");
    assert_eq!(field_str(&death, "queue"), SRC);
}

/// Publishes one persistent message with a TTL of `TTL_MS` (the queue's or its own), stops
/// the broker `STOP_AFTER` later, before it expires, and starts another on the same data: the
/// message must be dead-lettered by its first deadline plus `MARGIN`. Were its TTL to start
/// again at recovery, that would be `STOP_AFTER` plus a full TTL after the publish, later
/// than the margin allows.
async fn expires_by_its_first_deadline(queue_ttl: bool) {
    const TTL_MS: u64 = 1500;
    const STOP_AFTER: Duration = Duration::from_millis(1000);
    const MARGIN: Duration = Duration::from_millis(700);
    let ttl = Duration::from_millis(TTL_MS);
    let dir = DataDir::new();
    let published = Instant::now();
    {
        let broker = TestBroker::start_in(Config::default(), &dir);
        let conn = connect_to(&broker).await;
        let ch = confirm_channel(&conn).await;
        let queue_ttl = queue_ttl.then_some(TTL_MS as i32);
        topology(&ch, queue_ttl).await;
        let expiration = TTL_MS.to_string();
        let own = queue_ttl.is_none().then_some(expiration.as_str());
        publish_with(&ch, "", SRC, b"m", persistent(own)).await;
        assert_eq!(message_count(&conn, SRC).await, Some(1));
        wait_until(published + STOP_AFTER).await;
        conn.close(200, "bye".into()).await.expect("close");
    }
    let broker = TestBroker::start_in(Config::default(), &dir);
    let conn = connect_to(&broker).await;
    let ch = confirm_channel(&conn).await;
    let by = published + ttl + MARGIN;
    let dead = eventually_async(by.saturating_duration_since(Instant::now()), || async {
        message_count(&conn, DLQ).await == Some(1)
    })
    .await;
    assert!(
        dead,
        "dead-lettered by its first deadline, not a full TTL after the restart"
    );
    assert_eq!(message_count(&conn, SRC).await, Some(0));
    assert_expired_dead_letter(&ch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_ttl_keeps_counting_across_a_restart() {
    expires_by_its_first_deadline(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_ttl_keeps_counting_across_a_restart() {
    expires_by_its_first_deadline(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_due_while_the_broker_was_down_is_never_delivered() {
    const TTL: Duration = Duration::from_millis(500);
    let dir = DataDir::new();
    let published = Instant::now();
    {
        let broker = TestBroker::start_in(Config::default(), &dir);
        let conn = connect_to(&broker).await;
        let ch = confirm_channel(&conn).await;
        topology(&ch, None).await;
        publish_with(&ch, "", SRC, b"m", persistent(Some("500"))).await;
        conn.close(200, "bye".into()).await.expect("close");
    }
    wait_until(published + TTL + Duration::from_millis(100)).await;
    let broker = TestBroker::start_in(Config::default(), &dir);
    let conn = connect_to(&broker).await;
    let ch = confirm_channel(&conn).await;
    // The first thing asked after recovery: were its TTL to start again, it would be here.
    assert!(
        get(&ch, SRC).await.is_none(),
        "an expired message was delivered"
    );
    let dead = eventually_async(DEADLINE, || async {
        message_count(&conn, DLQ).await == Some(1)
    })
    .await;
    assert!(dead, "dead-lettered right after recovery");
    assert_expired_dead_letter(&ch).await;
}

/// A durable delayed exchange `x` routing `k` to `SRC`.
async fn delayed_exchange(ch: &Channel) {
    let mut table = FieldTable::default();
    table.insert("x-delayed-type".into(), s("direct"));
    let kind = ExchangeKind::Custom("x-delayed-message".into());
    declare_durable_exchange(ch, "x", kind, table)
        .await
        .expect("delayed exchange");
    ch.queue_bind(
        SRC.into(),
        "x".into(),
        "k".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
}

/// A message delayed longer than its queue's TTL: once routed, it is kept across a restart
/// with the whole TTL counted from its routing (the community plugin routes it as if
/// published then), so it is still there after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_message_ttl_counts_from_its_routing_across_a_restart() {
    const QUEUE_TTL_MS: i32 = 1000;
    let dir = DataDir::new();
    {
        let broker = TestBroker::start_in(Config::default(), &dir);
        let conn = connect_to(&broker).await;
        let ch = confirm_channel(&conn).await;
        topology(&ch, Some(QUEUE_TTL_MS)).await;
        delayed_exchange(&ch).await;
        let mut headers = FieldTable::default();
        headers.insert("x-delay".into(), AMQPValue::LongInt(QUEUE_TTL_MS + 200));
        let props = persistent(None).with_headers(headers);
        publish_with(&ch, "x", "k", b"m", props).await;
        let routed = eventually_async(DEADLINE, || async {
            message_count(&conn, SRC).await == Some(1)
        })
        .await;
        assert!(routed, "the delay ended");
        conn.close(200, "bye".into()).await.expect("close");
    }
    let broker = TestBroker::start_in(Config::default(), &dir);
    let conn = connect_to(&broker).await;
    let ch = confirm_channel(&conn).await;
    let m = get(&ch, SRC)
        .await
        .expect("not expired: its TTL counts from its routing");
    assert_eq!(m.delivery.data, b"m");
    assert_eq!(message_count(&conn, DLQ).await, Some(0));
}
