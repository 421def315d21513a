//! Message TTL, queue TTL and dead-lettering over AMQP with lapin: expiry, `x-death` as
//! RabbitMQ writes it, rejection, the retry-with-backoff pattern (TTL + DLX), cycles.

use crate::queue_features;

use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation};
use queue_features::*;
use warren_it::{
    body, channel, confirm_channel, declare_queue, eventually_async, get, message_count,
    next_delivery, passive_declare, publish, publish_with, target, unique, DEADLINE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_messages_are_dead_lettered_with_x_death() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (src, dlq) = (unique("ttl.src"), unique("ttl.dlq"));
    declare_queue(&ch, &dlq).await;
    let dlx = [
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s(&dlq)),
    ];
    let mut src_args = vec![("x-message-ttl", int(30))];
    src_args.extend(dlx);
    declare_with(&ch, &src, &src_args).await;
    let props = BasicProperties::default().with_expiration("60000".into());
    publish_with(&ch, "", &src, b"late", props).await;
    assert!(
        eventually_async(DEADLINE, || async {
            message_count(&conn, &dlq).await == Some(1)
        })
        .await
    );
    let m = get(&ch, &dlq).await.expect("the dead letter");
    let props = &m.properties;
    let death = &deaths(props)[0];
    assert_eq!(field_str(death, "reason"), "expired");
    assert_eq!(field_str(death, "queue"), src);
    assert_eq!(field_str(death, "exchange"), "");
    assert_eq!(field_str(death, "original-expiration"), "60000");
    assert_eq!(field_count(death), 1);
    assert_eq!(props.expiration(), &None, "the copy does not expire again");
    assert_eq!(
        header_str(props, "x-first-death-reason").as_deref(),
        Some("expired")
    );
    assert_eq!(header_str(props, "x-first-death-queue"), Some(src.clone()));
    assert_eq!(m.delivery.routing_key.as_str(), dlq);
    assert_eq!(message_count(&conn, &src).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_message_ttl_expires_behind_a_longer_lived_message() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("ttl.behind");
    declare_queue(&ch, &q).await;
    let long = BasicProperties::default().with_expiration("60000".into());
    let short = BasicProperties::default().with_expiration("20".into());
    publish_with(&ch, "", &q, b"long", long).await;
    publish_with(&ch, "", &q, b"short", short).await;
    broker_clock(&conn, &ch, 40).await;
    let first = get(&ch, &q).await.expect("the long-lived message");
    assert_eq!(text(&first), "long");
    assert!(
        get(&ch, &q).await.is_none(),
        "the expired message is never delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_and_nacked_messages_are_dead_lettered() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (src, dlq) = (unique("rej.src"), unique("rej.dlq"));
    declare_queue(&ch, &dlq).await;
    declare_with(
        &ch,
        &src,
        &[
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s(&dlq)),
        ],
    )
    .await;
    publish(&ch, "", &src, b"a").await;
    publish(&ch, "", &src, b"b").await;
    let a = get_unacked(&ch, &src).await.expect("a");
    a.delivery
        .reject(BasicRejectOptions { requeue: false })
        .await
        .expect("reject");
    let b = get_unacked(&ch, &src).await.expect("b");
    b.delivery
        .nack(BasicNackOptions {
            requeue: false,
            multiple: false,
        })
        .await
        .expect("nack");
    assert!(
        eventually_async(DEADLINE, || async {
            message_count(&conn, &dlq).await == Some(2)
        })
        .await
    );
    for expected in ["a", "b"] {
        let m = get(&ch, &dlq).await.expect("dead letter");
        assert_eq!(text(&m), expected);
        assert_eq!(field_str(&deaths(&m.properties)[0], "reason"), "rejected");
    }
}

/// The retry pattern: work queue dead-letters failures into a wait queue whose TTL sends them
/// back; each round trip adds to the `x-death` counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_with_backoff_through_ttl_and_dlx() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (work, wait) = (unique("retry.work"), unique("retry.wait"));
    declare_with(
        &ch,
        &work,
        &[
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s(&wait)),
        ],
    )
    .await;
    declare_with(
        &ch,
        &wait,
        &[
            ("x-message-ttl", int(20)),
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s(&work)),
        ],
    )
    .await;
    publish(&ch, "", &work, b"job").await;
    for attempt in 1..=3 {
        let m = loop {
            if let Some(m) = get_unacked(&ch, &work).await {
                break m;
            }
            tokio::task::yield_now().await;
        };
        let all = deaths(&m.properties);
        if attempt == 1 {
            assert!(all.is_empty());
        } else {
            let rejected = all
                .iter()
                .find(|d| field_str(d, "reason") == "rejected")
                .expect("rejected entry");
            assert_eq!(field_count(rejected), attempt - 1);
        }
        if attempt < 3 {
            m.delivery
                .reject(BasicRejectOptions { requeue: false })
                .await
                .expect("reject");
        } else {
            m.delivery
                .ack(BasicAckOptions::default())
                .await
                .expect("ack");
        }
    }
    assert_eq!(message_count(&conn, &wait).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_zero_reaches_only_a_waiting_consumer() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("ttl.zero");
    declare_with(&ch, &q, &[("x-message-ttl", int(0))]).await;
    publish(&ch, "", &q, b"nobody").await;
    assert_eq!(message_count(&conn, &q).await, Some(0));
    let mut consumer = ch
        .basic_consume(
            q.as_str().into(),
            "waiting".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    publish(&ch, "", &q, b"waited for").await;
    assert_eq!(body(&next_delivery(&mut consumer).await), "waited for");
}

/// True when a mandatory publish to `queue` through the default exchange is routed. A
/// publish is not a use of the queue (a passive declare would be: it restarts `x-expires`).
async fn routes_to(ch: &Channel, queue: &str) -> bool {
    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let confirmation = ch
        .basic_publish(
            "".into(),
            queue.into(),
            mandatory,
            b"probe",
            BasicProperties::default(),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    matches!(confirmation, Confirmation::Ack(None))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_queue_expires_and_a_used_one_stays() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (used, unused) = (unique("expires.used"), unique("expires.unused"));
    declare_with(&ch, &used, &[("x-expires", int(100))]).await;
    let consumer_channel = channel(&conn).await;
    // Kept: lapin cancels a consumer it drops.
    let _consumer = consumer_channel
        .basic_consume(
            used.as_str().into(),
            "user".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    // Declared once the consumer runs, with a longer lease than the used queue's: when it
    // has gone, the used queue has outlived its own lease.
    declare_with(&ch, &unused, &[("x-expires", int(200))]).await;
    assert!(
        eventually_async(DEADLINE, || async { !routes_to(&ch, &unused).await }).await,
        "the unused queue expires"
    );
    assert!(routes_to(&ch, &used).await, "the queue in use stays");
    consumer_channel
        .basic_cancel("user".into(), BasicCancelOptions::default())
        .await
        .expect("cancel");
    assert!(
        eventually_async(DEADLINE, || async { !routes_to(&ch, &used).await }).await,
        "once its consumer left, it expires too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passive_declare_restarts_the_lease() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (renewed, witness) = (unique("expires.renewed"), unique("expires.witness"));
    declare_with(&ch, &renewed, &[("x-expires", int(200))]).await;
    declare_with(&ch, &witness, &[("x-expires", int(200))]).await;
    // Passive declares of one queue while the other, unused, runs out its lease.
    assert!(
        eventually_async(DEADLINE, || async {
            assert!(passive_declare(&conn, &renewed).await.is_some());
            !routes_to(&ch, &witness).await
        })
        .await
    );
    assert!(routes_to(&ch, &renewed).await, "the declared queue stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ttl_arguments_are_refused_with_rabbitmq_texts() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let err = ch
        .queue_declare(
            unique("bad").as_str().into(),
            Default::default(),
            args(&[("x-expires", int(0))]),
        )
        .await
        .expect_err("x-expires 0 is refused");
    let text = format!("{err}");
    assert!(text.contains("{value_zero,0}"), "{text}");
    assert_eq!(warren_it::reply_code(&err), Some(406));
}

/// A queue dead-lettering its expired messages to itself: RabbitMQ drops a dead letter that
/// would return to a queue it already expired in (no rejection on the way), so it does not
/// cycle. A witness queue with a ten times longer TTL tells when enough time has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiry_cycle_is_broken_by_dropping_the_message() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (looping, witness, witness_dlq) = (
        unique("cycle.self"),
        unique("cycle.witness"),
        unique("cycle.witness.dlq"),
    );
    let to_itself = [
        ("x-message-ttl", int(20)),
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s(&looping)),
    ];
    declare_with(&ch, &looping, &to_itself).await;
    declare_queue(&ch, &witness_dlq).await;
    let witness_args = [
        ("x-message-ttl", int(200)),
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s(&witness_dlq)),
    ];
    declare_with(&ch, &witness, &witness_args).await;
    publish(&ch, "", &looping, b"would loop").await;
    publish(&ch, "", &witness, b"tick").await;
    assert!(
        eventually_async(DEADLINE, || async {
            message_count(&conn, &witness_dlq).await == Some(1)
        })
        .await
    );
    assert_eq!(
        message_count(&conn, &looping).await,
        Some(0),
        "dropped, not cycling"
    );
}
