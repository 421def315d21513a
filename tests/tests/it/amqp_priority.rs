//! Priority queues, consumer priorities, single active consumer and alternate exchanges over
//! AMQP with lapin.

use crate::queue_features;

use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ExchangeDeclareOptions, QueueBindOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Consumer, ExchangeKind};
use queue_features::*;
use warren_it::{
    body, channel, confirm_channel, declare_queue, drain, next_delivery, publish, publish_with,
    target, unique,
};

async fn consume(ch: &Channel, q: &str, tag: &str, arguments: FieldTable) -> Consumer {
    ch.basic_consume(
        q.into(),
        tag.into(),
        BasicConsumeOptions::default(),
        arguments,
    )
    .await
    .expect("basic.consume")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_priority_first_fifo_within_a_priority() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("prio");
    declare_with(&ch, &q, &[("x-max-priority", int(10))]).await;
    for (b, p) in [
        ("low", 1),
        ("mid1", 5),
        ("capped", 200),
        ("mid2", 5),
        ("none", 0),
    ] {
        let props = BasicProperties::default().with_priority(p);
        publish_with(&ch, "", &q, b.as_bytes(), props).await;
    }
    assert_eq!(
        drain(&ch, &q).await,
        ["capped", "mid1", "mid2", "low", "none"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priorities_with_prefetch_deliver_the_highest_waiting() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("prio.prefetch");
    declare_with(&ch, &q, &[("x-max-priority", int(5))]).await;
    for (b, p) in [("a", 1), ("b", 1), ("c", 5)] {
        publish_with(
            &ch,
            "",
            &q,
            b.as_bytes(),
            BasicProperties::default().with_priority(p),
        )
        .await;
    }
    let cch = channel(&conn).await;
    cch.basic_qos(1, BasicQosOptions::default())
        .await
        .expect("qos");
    let mut c = consume(&cch, &q, "c", FieldTable::default()).await;
    let first = next_delivery(&mut c).await;
    assert_eq!(body(&first), "c");
    publish_with(
        &ch,
        "",
        &q,
        b"d",
        BasicProperties::default().with_priority(4),
    )
    .await;
    first.ack(BasicAckOptions::default()).await.expect("ack");
    let second = next_delivery(&mut c).await;
    assert_eq!(
        body(&second),
        "d",
        "a later high-priority message overtakes waiting ones"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_high_priority_consumer_gets_messages_while_it_has_credit() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("cprio");
    declare_queue(&ch, &q).await;
    let (hi_ch, lo_ch) = (channel(&conn).await, channel(&conn).await);
    hi_ch
        .basic_qos(2, BasicQosOptions::default())
        .await
        .expect("qos");
    let mut lo = consume(&lo_ch, &q, "lo", FieldTable::default()).await;
    let mut hi = consume(&hi_ch, &q, "hi", args(&[("x-priority", int(10))])).await;
    for i in 0..4 {
        publish(&ch, "", &q, i.to_string().as_bytes()).await;
    }
    assert_eq!(body(&next_delivery(&mut hi).await), "0");
    assert_eq!(body(&next_delivery(&mut hi).await), "1");
    assert_eq!(body(&next_delivery(&mut lo).await), "2");
    assert_eq!(body(&next_delivery(&mut lo).await), "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_active_consumer_fails_over_when_the_active_one_goes() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("sac");
    declare_with(
        &ch,
        &q,
        &[(
            "x-single-active-consumer",
            lapin::types::AMQPValue::Boolean(true),
        )],
    )
    .await;
    let (a_ch, b_ch) = (channel(&conn).await, channel(&conn).await);
    let mut a = consume(&a_ch, &q, "a", FieldTable::default()).await;
    let mut b = consume(&b_ch, &q, "b", FieldTable::default()).await;
    publish(&ch, "", &q, b"1").await;
    publish(&ch, "", &q, b"2").await;
    assert_eq!(body(&next_delivery(&mut a).await), "1");
    assert_eq!(body(&next_delivery(&mut a).await), "2");
    a_ch.close(200, "failover".into())
        .await
        .expect("close the active consumer's channel");
    let redelivered = next_delivery(&mut b).await;
    assert_eq!(body(&redelivered), "1");
    assert!(redelivered.redelivered);
    assert_eq!(body(&next_delivery(&mut b).await), "2");
    publish(&ch, "", &q, b"3").await;
    assert_eq!(body(&next_delivery(&mut b).await), "3");
}

/// Declares fanout exchange `ae` and direct exchange `main` naming it as its alternate.
async fn with_alternate(ch: &Channel, main: &str, ae: &str) {
    let opts = ExchangeDeclareOptions::default();
    ch.exchange_declare(ae.into(), ExchangeKind::Fanout, opts, FieldTable::default())
        .await
        .expect("declare the alternate");
    let main_args = args(&[("alternate-exchange", s(ae))]);
    ch.exchange_declare(main.into(), ExchangeKind::Direct, opts, main_args)
        .await
        .expect("declare the main exchange");
}

/// A mandatory publish to `main` with a key nothing binds; its confirmation.
async fn publish_mandatory_nowhere(ch: &Channel, main: &str, body: &[u8]) -> Confirmation {
    let mandatory = lapin::options::BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    ch.basic_publish(
        main.into(),
        "nowhere".into(),
        mandatory,
        body,
        BasicProperties::default(),
    )
    .await
    .expect("publish")
    .await
    .expect("confirm")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_messages_take_the_alternate_exchange() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (main, ae, q) = (unique("ae.main"), unique("ae.alt"), unique("ae.q"));
    with_alternate(&ch, &main, &ae).await;
    declare_queue(&ch, &q).await;
    ch.queue_bind(
        q.as_str().into(),
        ae.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
    let c = publish_mandatory_nowhere(&ch, &main, b"caught").await;
    assert!(
        matches!(c, Confirmation::Ack(None)),
        "no return when the alternate routes: {c:?}"
    );
    assert_eq!(drain(&ch, &q).await, ["caught"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandatory_returns_when_the_alternate_exchange_routes_nowhere_too() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (main, ae) = (unique("ae.main"), unique("ae.empty"));
    with_alternate(&ch, &main, &ae).await;
    let c = publish_mandatory_nowhere(&ch, &main, b"lost").await;
    let Confirmation::Ack(Some(returned)) = c else {
        panic!("a basic.return before the ack: {c:?}");
    };
    assert_eq!(returned.reply_code, 312, "NO_ROUTE");
    assert_eq!(returned.delivery.data, b"lost");
}
