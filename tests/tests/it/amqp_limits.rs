//! Length limits over AMQP with lapin: drop-head, reject-publish (a nack under confirms),
//! reject-publish-dlx, a length limit feeding a dead-letter queue; and the delivery limit
//! that stops a poison message (quorum-queue semantics, which RabbitMQ's classic queues lack).

use crate::queue_features;

use lapin::options::{BasicNackOptions, BasicPublishOptions};
use lapin::{BasicProperties, Confirmation};
use queue_features::*;
use warren_it::{
    confirm_channel, declare_queue, drain, get, message_count, publish, target, unique,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_head_keeps_the_newest_and_dead_letters_the_rest() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (q, dlq) = (unique("maxlen"), unique("maxlen.dlq"));
    declare_queue(&ch, &dlq).await;
    let a = [
        ("x-max-length", int(2)),
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s(&dlq)),
    ];
    declare_with(&ch, &q, &a).await;
    for b in ["1", "2", "3", "4"] {
        publish(&ch, "", &q, b.as_bytes()).await;
    }
    assert_eq!(drain(&ch, &q).await, ["3", "4"]);
    let first = get(&ch, &dlq).await.expect("dead letter");
    assert_eq!(text(&first), "1");
    assert_eq!(field_str(&deaths(&first.properties)[0], "reason"), "maxlen");
    assert_eq!(drain(&ch, &dlq).await, ["2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_length_bytes_counts_body_bytes() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("maxbytes");
    declare_with(&ch, &q, &[("x-max-length-bytes", int(5))]).await;
    for b in ["abc", "de", "f"] {
        publish(&ch, "", &q, b.as_bytes()).await;
    }
    assert_eq!(drain(&ch, &q).await, ["de", "f"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_publish_nacks_the_publisher() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("reject");
    declare_with(
        &ch,
        &q,
        &[
            ("x-max-length", int(1)),
            ("x-overflow", s("reject-publish")),
        ],
    )
    .await;
    let first = publish_confirmed(&ch, "", &q, b"1", BasicProperties::default()).await;
    assert!(matches!(first, Confirmation::Ack(None)), "{first:?}");
    let second = publish_confirmed(&ch, "", &q, b"2", BasicProperties::default()).await;
    assert!(second.is_nack(), "{second:?}");
    let third = publish_confirmed(&ch, "", &q, b"3", BasicProperties::default()).await;
    assert!(third.is_nack(), "{third:?}");
    assert_eq!(drain(&ch, &q).await, ["1"]);
    let after = publish_confirmed(&ch, "", &q, b"4", BasicProperties::default()).await;
    assert!(
        matches!(after, Confirmation::Ack(None)),
        "room again: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_mandatory_message_is_nacked_not_returned() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("reject.mandatory");
    declare_with(
        &ch,
        &q,
        &[
            ("x-max-length", int(0)),
            ("x-overflow", s("reject-publish")),
        ],
    )
    .await;
    let opts = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let c = ch
        .basic_publish(
            "".into(),
            q.as_str().into(),
            opts,
            b"x",
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert!(matches!(c, Confirmation::Nack(None)), "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_publish_dlx_dead_letters_the_refused_message() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (q, dlq) = (unique("rejdlx"), unique("rejdlx.dlq"));
    declare_queue(&ch, &dlq).await;
    let a = [
        ("x-max-length", int(1)),
        ("x-overflow", s("reject-publish-dlx")),
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s(&dlq)),
    ];
    declare_with(&ch, &q, &a).await;
    publish(&ch, "", &q, b"kept").await;
    let refused = publish_confirmed(&ch, "", &q, b"refused", BasicProperties::default()).await;
    assert!(refused.is_nack());
    assert_eq!(drain(&ch, &q).await, ["kept"]);
    let dead = get(&ch, &dlq).await.expect("dead letter");
    assert_eq!(text(&dead), "refused");
    assert_eq!(field_str(&deaths(&dead.properties)[0], "reason"), "maxlen");
}

/// Quorum-queue semantics: with `x-delivery-limit` 2 a message is delivered three times, then
/// dead-lettered with reason `delivery_limit`; redeliveries carry `x-delivery-count`.
/// RabbitMQ's classic queues refuse the argument, so this runs against Warren only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_stops_at_the_delivery_limit() {
    if std::env::var("WARREN_IT_AMQP_URL").is_ok_and(|u| !u.is_empty()) {
        return;
    }
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (q, dlq) = (unique("poison"), unique("poison.dlq"));
    declare_queue(&ch, &dlq).await;
    let a = [
        ("x-delivery-limit", int(2)),
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s(&dlq)),
    ];
    declare_with(&ch, &q, &a).await;
    publish(&ch, "", &q, b"poison").await;
    let mut seen = Vec::new();
    while let Some(m) = get_unacked(&ch, &q).await {
        seen.push(header_int(&m.properties, "x-delivery-count"));
        let nack = BasicNackOptions {
            requeue: true,
            multiple: false,
        };
        m.delivery.nack(nack).await.expect("nack");
    }
    assert_eq!(seen, [None, Some(1), Some(2)]);
    let dead = get(&ch, &dlq).await.expect("dead letter");
    assert_eq!(
        field_str(&deaths(&dead.properties)[0], "reason"),
        "delivery_limit"
    );
    assert_eq!(message_count(&conn, &q).await, Some(0));
}

/// Without a dead-letter exchange a message over the delivery limit is dropped. Warren only,
/// as above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_without_a_dead_letter_exchange_is_dropped() {
    if std::env::var("WARREN_IT_AMQP_URL").is_ok_and(|u| !u.is_empty()) {
        return;
    }
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("poison.nodlx");
    declare_with(&ch, &q, &[("x-delivery-limit", int(1))]).await;
    publish(&ch, "", &q, b"poison").await;
    let mut deliveries = 0;
    while let Some(m) = get_unacked(&ch, &q).await {
        deliveries += 1;
        let nack = BasicNackOptions {
            requeue: true,
            multiple: false,
        };
        m.delivery.nack(nack).await.expect("nack");
    }
    assert_eq!(deliveries, 2, "delivered once and redelivered once");
    assert_eq!(message_count(&conn, &q).await, Some(0));
}
