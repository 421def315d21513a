//! Queue bindings: bindings with arguments matched by their arguments on unbind, unbind
//! stopping routing, and binding a missing exchange or queue.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, ExchangeKind};
use warren_it::{
    assert_code, channel, confirm_channel, declare_queue, drain, publish, publish_with, target,
    unique,
};

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
