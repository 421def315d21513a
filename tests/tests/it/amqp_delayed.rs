//! The `x-delayed-message` exchange over AMQP with lapin, as the community plugin defines it,
//! and the TTL + DLX way of delaying that works on any RabbitMQ. RabbitMQ on the test peer has
//! no delayed-message plugin, so the plugin tests run against Warren only.

use crate::queue_features;

use std::time::{Duration, Instant};

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ExchangeKind};
use queue_features::*;
use warren_it::{
    channel, confirm_channel, declare_queue, eventually_async, get, message_count, publish,
    publish_with, reply_code, target, unique, DEADLINE,
};

fn external() -> bool {
    std::env::var("WARREN_IT_AMQP_URL").is_ok_and(|u| !u.is_empty())
}

async fn delayed_exchange(ch: &Channel, name: &str, queue: &str) {
    let kind = ExchangeKind::Custom("x-delayed-message".into());
    let a = args(&[("x-delayed-type", s("direct"))]);
    ch.exchange_declare(name.into(), kind, ExchangeDeclareOptions::default(), a)
        .await
        .expect("declare x-delayed-message");
    declare_queue(ch, queue).await;
    ch.queue_bind(
        queue.into(),
        name.into(),
        "k".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
}

fn delay(ms: i32) -> BasicProperties {
    BasicProperties::default().with_headers(args(&[("x-delay", AMQPValue::LongInt(ms))]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_messages_arrive_after_their_delay() {
    if external() {
        return;
    }
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (x, q) = (unique("delay.x"), unique("delay.q"));
    delayed_exchange(&ch, &x, &q).await;
    let start = Instant::now();
    publish_with(&ch, &x, "k", b"late", delay(150)).await;
    publish_with(&ch, &x, "k", b"early", delay(60)).await;
    publish_with(&ch, &x, "k", b"now", BasicProperties::default()).await;
    assert_eq!(
        message_count(&conn, &q).await,
        Some(1),
        "only the undelayed one is routed"
    );
    assert!(
        eventually_async(DEADLINE, || async {
            message_count(&conn, &q).await == Some(3)
        })
        .await
    );
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
    let mut got = Vec::new();
    while let Some(m) = get(&ch, &q).await {
        got.push((text(&m), header_int(&m.properties, "x-delay")));
    }
    let expected = [
        ("now".to_owned(), None),
        ("early".to_owned(), Some(-60)),
        ("late".to_owned(), Some(-150)),
    ];
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_job_is_on_time_within_100_ms() {
    if external() {
        return;
    }
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (x, q) = (unique("delay.job"), unique("delay.job.q"));
    delayed_exchange(&ch, &x, &q).await;
    for i in 0..500 {
        let ms = 200 + (i % 50);
        publish_with(&ch, &x, "k", format!("{i}").as_bytes(), delay(ms)).await;
    }
    let start = Instant::now();
    publish_with(&ch, &x, "k", b"timed", delay(300)).await;
    let arrived = eventually_async(DEADLINE, || async {
        message_count(&conn, &q).await == Some(501)
    })
    .await;
    assert!(arrived);
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "early: {elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(400),
        "late by more than 100 ms: {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_exchange_needs_a_known_delayed_type() {
    if external() {
        return;
    }
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let kind = ExchangeKind::Custom("x-delayed-message".into());
    let err = ch
        .exchange_declare(
            unique("d").as_str().into(),
            kind,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect_err("x-delayed-type is required");
    assert_eq!(reply_code(&err), Some(406));
}

/// The delay every RabbitMQ supports: a wait queue with a TTL and no consumers dead-letters
/// into the work queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_and_dlx_delay_a_message() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (wait, work) = (unique("delay.wait"), unique("delay.work"));
    declare_queue(&ch, &work).await;
    let a = [
        ("x-message-ttl", int(50)),
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s(&work)),
    ];
    declare_with(&ch, &wait, &a).await;
    let start = Instant::now();
    publish(&ch, "", &wait, b"later").await;
    assert!(
        eventually_async(DEADLINE, || async {
            message_count(&conn, &work).await == Some(1)
        })
        .await
    );
    assert!(start.elapsed() >= Duration::from_millis(50));
    let m = get(&ch, &work).await.expect("the delayed message");
    assert_eq!(text(&m), "later");
}
