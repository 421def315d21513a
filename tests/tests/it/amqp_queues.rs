//! Queues: named and server-named declares, exclusive and auto-delete lifetimes, passive
//! declares and their counts, bindings with arguments, purge, conditional delete, unbind, and
//! redeclare equivalence.

use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};
use warren_it::{
    assert_code, assert_usable, channel, confirm_channel, declare_queue, drain, eventually_async,
    message_count, passive_declare, publish, publish_with, target, unique, DEADLINE,
};

fn opts(f: impl FnOnce(&mut QueueDeclareOptions)) -> QueueDeclareOptions {
    let mut o = QueueDeclareOptions::default();
    f(&mut o);
    o
}

async fn consume(ch: &Channel, queue: &str, tag: &str) -> lapin::Result<lapin::Consumer> {
    ch.basic_consume(
        queue.into(),
        tag.into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
}

async fn gone(conn: &Connection, queue: &str) -> bool {
    eventually_async(DEADLINE, || async {
        passive_declare(conn, queue).await.is_none()
    })
    .await
}

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
async fn exclusive_queue_is_locked_to_its_connection_and_dies_with_it() {
    let t = target();
    let owner = t.connect().await;
    let other = t.connect().await;
    let q = unique("exclusive");
    let ch = channel(&owner).await;
    ch.queue_declare(
        q.as_str().into(),
        opts(|o| o.exclusive = true),
        FieldTable::default(),
    )
    .await
    .expect("declare exclusive");

    let c = channel(&other).await;
    let res = c
        .queue_declare(
            q.as_str().into(),
            opts(|o| o.passive = true),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 405);
    let c = channel(&other).await;
    let res = c
        .queue_declare(
            q.as_str().into(),
            opts(|o| o.exclusive = true),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 405);
    let c = channel(&other).await;
    assert_code(consume(&c, &q, "thief").await, 405);
    let c = channel(&other).await;
    assert_code(
        c.basic_get(q.as_str().into(), BasicGetOptions::default())
            .await,
        405,
    );
    let c = channel(&other).await;
    assert_code(
        c.queue_purge(q.as_str().into(), QueuePurgeOptions::default())
            .await,
        405,
    );
    let c = channel(&other).await;
    let res = c
        .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await;
    assert_code(res, 405);

    // Publishing into someone else's exclusive queue is allowed.
    let pc = confirm_channel(&other).await;
    publish(&pc, "", &q, b"from outside").await;
    assert_eq!(drain(&ch, &q).await, vec!["from outside"]);
    assert_usable(&other).await;

    owner.close(200, "bye".into()).await.expect("close owner");
    assert!(
        gone(&other, &q).await,
        "exclusive queue outlived its connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_delete_queue_goes_when_its_last_consumer_cancels() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let q = unique("autodelete");
    ch.queue_declare(
        q.as_str().into(),
        opts(|o| o.auto_delete = true),
        FieldTable::default(),
    )
    .await
    .expect("declare auto-delete");
    assert!(
        passive_declare(&conn, &q).await.is_some(),
        "never consumed: stays"
    );
    let _a = consume(&ch, &q, "a").await.expect("consume a");
    let _b = consume(&ch, &q, "b").await.expect("consume b");
    ch.basic_cancel("a".into(), BasicCancelOptions::default())
        .await
        .expect("cancel a");
    let still = passive_declare(&conn, &q).await.expect("one consumer left");
    assert_eq!(still.consumer_count(), 1);
    ch.basic_cancel("b".into(), BasicCancelOptions::default())
        .await
        .expect("cancel b");
    assert!(
        gone(&conn, &q).await,
        "auto-delete queue survived its last consumer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_delete_queue_goes_when_the_consumers_channel_closes() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let q = unique("autodelete-close");
    ch.queue_declare(
        q.as_str().into(),
        opts(|o| o.auto_delete = true),
        FieldTable::default(),
    )
    .await
    .expect("declare auto-delete");
    let _c = consume(&ch, &q, "only").await.expect("consume");
    ch.close(200, "bye".into()).await.expect("close channel");
    assert!(gone(&conn, &q).await);
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
async fn bindings_with_arguments_are_matched_by_arguments_on_unbind() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = unique("hx");
    ch.exchange_declare(
        x.as_str().into(),
        ExchangeKind::Headers,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("declare headers exchange");
    let q = unique("hq");
    declare_queue(&ch, &q).await;
    let mut args = FieldTable::default();
    args.insert("x-match".into(), AMQPValue::LongString("all".into()));
    args.insert("colour".into(), AMQPValue::LongString("red".into()));
    ch.queue_bind(
        q.as_str().into(),
        x.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        args.clone(),
    )
    .await
    .expect("bind with args");
    let red = || {
        let mut h = FieldTable::default();
        h.insert("colour".into(), AMQPValue::LongString("red".into()));
        BasicProperties::default().with_headers(h)
    };
    publish_with(&ch, &x, "", b"red 1", red()).await;

    let mut other_args = FieldTable::default();
    other_args.insert("x-match".into(), AMQPValue::LongString("all".into()));
    other_args.insert("colour".into(), AMQPValue::LongString("blue".into()));
    ch.queue_unbind(q.as_str().into(), x.as_str().into(), "".into(), other_args)
        .await
        .expect("unbinding a binding that does not exist is not an error");
    publish_with(&ch, &x, "", b"red 2", red()).await;

    ch.queue_unbind(q.as_str().into(), x.as_str().into(), "".into(), args)
        .await
        .expect("unbind with the binding's args");
    publish_with(&ch, &x, "", b"red 3", red()).await;
    assert_eq!(drain(&ch, &q).await, vec!["red 1", "red 2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbind_stops_routing() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("unbind");
    declare_queue(&ch, &q).await;
    ch.queue_bind(
        q.as_str().into(),
        "amq.direct".into(),
        q.as_str().into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
    publish(&ch, "amq.direct", &q, b"bound").await;
    ch.queue_unbind(
        q.as_str().into(),
        "amq.direct".into(),
        q.as_str().into(),
        FieldTable::default(),
    )
    .await
    .expect("unbind");
    publish(&ch, "amq.direct", &q, b"unbound").await;
    assert_eq!(drain(&ch, &q).await, vec!["bound"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_to_missing_exchange_or_queue_is_not_found() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let q = unique("bindmissing");
    declare_queue(&ch, &q).await;
    let res = ch
        .queue_bind(
            q.as_str().into(),
            unique("nox").as_str().into(),
            "k".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 404);
    let ch = channel(&conn).await;
    let res = ch
        .queue_bind(
            unique("noq").as_str().into(),
            "amq.direct".into(),
            "k".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_reports_and_removes_ready_messages() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("purge");
    declare_queue(&ch, &q).await;
    for i in 0..5 {
        publish(&ch, "", &q, format!("m{i}").as_bytes()).await;
    }
    let purged = ch
        .queue_purge(q.as_str().into(), QueuePurgeOptions::default())
        .await
        .expect("purge");
    assert_eq!(purged, 5);
    assert_eq!(message_count(&conn, &q).await, Some(0));
    publish(&ch, "", &q, b"after purge").await;
    assert_eq!(drain(&ch, &q).await, vec!["after purge"]);
    let missing = channel(&conn).await;
    let res = missing
        .queue_purge(unique("nope").as_str().into(), QueuePurgeOptions::default())
        .await;
    assert_code(res, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_if_unused_refuses_while_consumed() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let q = unique("ifunused");
    declare_queue(&ch, &q).await;
    let consumer_ch = channel(&conn).await;
    let _c = consume(&consumer_ch, &q, "holder").await.expect("consume");
    let del = channel(&conn).await;
    let if_unused = QueueDeleteOptions {
        if_unused: true,
        ..QueueDeleteOptions::default()
    };
    assert_code(del.queue_delete(q.as_str().into(), if_unused).await, 406);
    assert!(passive_declare(&conn, &q).await.is_some(), "queue kept");
    consumer_ch
        .basic_cancel("holder".into(), BasicCancelOptions::default())
        .await
        .expect("cancel");
    let del = channel(&conn).await;
    del.queue_delete(q.as_str().into(), if_unused)
        .await
        .expect("if-unused delete of an unused queue");
    assert!(passive_declare(&conn, &q).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_if_empty_refuses_with_messages_and_delete_reports_the_count() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("ifempty");
    declare_queue(&ch, &q).await;
    publish(&ch, "", &q, b"one").await;
    publish(&ch, "", &q, b"two").await;
    let del = channel(&conn).await;
    let if_empty = QueueDeleteOptions {
        if_empty: true,
        ..QueueDeleteOptions::default()
    };
    assert_code(del.queue_delete(q.as_str().into(), if_empty).await, 406);
    assert_eq!(
        message_count(&conn, &q).await,
        Some(2),
        "queue and messages kept"
    );
    let deleted = ch
        .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .expect("delete");
    assert_eq!(deleted, 2);
    assert!(passive_declare(&conn, &q).await.is_none());
    let again = ch
        .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .expect("deleting a missing queue is not an error");
    assert_eq!(again, 0);
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
