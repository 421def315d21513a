//! Queue declares: named and server-named queues and their counts, passive declares of a
//! missing queue, redeclare equivalence, reserved `amq.` names, and the empty name meaning the
//! channel's last declared queue.

use crate::amqp_queue_support::{consume, opts};

use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueuePurgeOptions};
use lapin::types::{AMQPValue, FieldTable};
use warren_it::{
    assert_code, assert_usable, channel, confirm_channel, declare_queue, drain, eventually_async,
    passive_declare, publish, target, unique, DEADLINE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_queue_declare_reports_name_and_counts() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("named");
    let declared = declare_queue(&ch, &q).await;
    assert_eq!(declared.name().as_str(), q);
    assert_eq!(
        (declared.message_count(), declared.consumer_count()),
        (0, 0)
    );
    for i in 0..3 {
        publish(&ch, "", &q, format!("m{i}").as_bytes()).await;
    }
    let again = declare_queue(&ch, &q).await;
    assert_eq!(again.message_count(), 3, "redeclare reports ready messages");
    let consumer_ch = channel(&conn).await;
    consumer_ch
        .basic_qos(1, Default::default())
        .await
        .expect("qos");
    let _consumer = consume(&consumer_ch, &q, "c1").await.expect("consume");
    let counted = eventually_async(DEADLINE, || async {
        passive_declare(&conn, &q)
            .await
            .is_some_and(|q| q.consumer_count() == 1 && q.message_count() == 2)
    })
    .await;
    assert!(counted, "one consumer, one message in flight, two ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_named_queue_gets_a_unique_amq_gen_name() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let exclusive = opts(|o| o.exclusive = true);
    let a = ch
        .queue_declare("".into(), exclusive, FieldTable::default())
        .await
        .expect("declare server-named");
    let b = ch
        .queue_declare("".into(), exclusive, FieldTable::default())
        .await
        .expect("declare server-named");
    assert!(a.name().as_str().starts_with("amq.gen-"), "{}", a.name());
    assert_ne!(a.name(), b.name());
    publish(&ch, "", a.name().as_str(), b"to a generated name").await;
    assert_eq!(
        drain(&ch, a.name().as_str()).await,
        vec!["to a generated name"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_declare_of_missing_queue_is_not_found_on_that_channel_only() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let res = ch
        .queue_declare(
            unique("missing").as_str().into(),
            opts(|o| o.passive = true),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 404);
    assert!(!ch.status().connected(), "the channel is closed");
    assert!(conn.status().connected(), "the connection is not");
    assert_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeclare_with_different_arguments_or_flags_is_precondition_failed() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let q = unique("equiv");
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(10));
    ch.queue_declare(
        q.as_str().into(),
        QueueDeclareOptions::default(),
        args.clone(),
    )
    .await
    .expect("declare with args");
    ch.queue_declare(q.as_str().into(), QueueDeclareOptions::default(), args)
        .await
        .expect("equivalent redeclare");

    let mut other = FieldTable::default();
    other.insert("x-max-length".into(), AMQPValue::LongInt(20));
    let c = channel(&conn).await;
    assert_code(
        c.queue_declare(q.as_str().into(), QueueDeclareOptions::default(), other)
            .await,
        406,
    );
    let c = channel(&conn).await;
    assert_code(
        c.queue_declare(
            q.as_str().into(),
            opts(|o| o.durable = true),
            FieldTable::default(),
        )
        .await,
        406,
    );
    let c = channel(&conn).await;
    assert_code(
        c.queue_declare(
            q.as_str().into(),
            opts(|o| o.auto_delete = true),
            FieldTable::default(),
        )
        .await,
        406,
    );
    assert_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_an_amq_prefixed_queue_is_access_refused() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let name = format!("amq.{}", unique("reserved"));
    let res = ch
        .queue_declare(
            name.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 403);
    assert!(passive_declare(&conn, &name).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_queue_name_means_the_last_queue_declared_on_the_channel() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = ch
        .queue_declare(
            "".into(),
            opts(|o| o.exclusive = true),
            FieldTable::default(),
        )
        .await
        .expect("server-named");
    let key = unique("key");
    ch.queue_bind(
        "".into(),
        "amq.direct".into(),
        key.as_str().into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind the last declared queue");
    publish(&ch, "amq.direct", &key, b"via empty name").await;
    assert_eq!(drain(&ch, q.name().as_str()).await, vec!["via empty name"]);

    let fresh = channel(&conn).await;
    let res = fresh
        .queue_purge("".into(), QueuePurgeOptions::default())
        .await;
    assert_code(res, 404);
}
