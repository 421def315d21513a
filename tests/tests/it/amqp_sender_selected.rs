//! Sender-selected distribution with lapin, checked against RabbitMQ too: `CC` and `BCC`
//! headers route like the routing key, `BCC` is removed before delivery, and a dead letter
//! records the `CC` keys in its `x-death` `routing-keys`.

use crate::queue_features;

use lapin::options::{BasicRejectOptions, QueueBindOptions};
use lapin::types::{AMQPValue, FieldArray, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};
use queue_features::*;
use warren_it::{confirm_channel, declare_queue, get, publish_with, target, unique};

fn copies(cc: &[&str], bcc: &[&str]) -> BasicProperties {
    let array = |keys: &[&str]| {
        AMQPValue::FieldArray(FieldArray::from(
            keys.iter()
                .map(|k| AMQPValue::LongString((*k).into()))
                .collect::<Vec<_>>(),
        ))
    };
    let mut headers = FieldTable::default();
    headers.insert(ShortString::from("CC"), array(cc));
    if !bcc.is_empty() {
        headers.insert(ShortString::from("BCC"), array(bcc));
    }
    BasicProperties::default().with_headers(headers)
}

async fn bind(ch: &Channel, queue: &str, key: &str) {
    ch.queue_bind(
        queue.into(),
        "amq.direct".into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cc_and_bcc_keys_route_and_bcc_is_hidden() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (to, cc, bcc) = (unique("ssd.to"), unique("ssd.cc"), unique("ssd.bcc"));
    for q in [&to, &cc, &bcc] {
        declare_queue(&ch, q).await;
        bind(&ch, q, q).await;
    }
    publish_with(&ch, "amq.direct", &to, b"copied", copies(&[&cc], &[&bcc])).await;
    for q in [&to, &cc, &bcc] {
        let got = get(&ch, q)
            .await
            .unwrap_or_else(|| panic!("{q} got a copy"));
        assert!(header(&got.properties, "BCC").is_none(), "{q} sees no BCC");
        assert!(header(&got.properties, "CC").is_some(), "{q} sees CC");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_records_its_cc_keys_time_and_first_exchange() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let (src, dlq) = (unique("ssd.src"), unique("ssd.dlq"));
    declare_queue(&ch, &dlq).await;
    let dlx = [
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s(&dlq)),
    ];
    declare_with(&ch, &src, &dlx).await;
    bind(&ch, &src, &src).await;
    publish_with(
        &ch,
        "amq.direct",
        &src,
        b"dies",
        copies(&["ssd.elsewhere"], &[]),
    )
    .await;
    let m = get_unacked(&ch, &src).await.expect("the message");
    m.delivery
        .reject(BasicRejectOptions { requeue: false })
        .await
        .expect("reject");
    let dead = get(&ch, &dlq).await.expect("the dead letter");
    let death = &deaths(&dead.properties)[0];
    let keys: Vec<String> = match death.inner().get("routing-keys") {
        Some(AMQPValue::FieldArray(a)) => a
            .as_slice()
            .iter()
            .map(|v| match v {
                AMQPValue::LongString(s) => s.to_string(),
                other => format!("{other:?}"),
            })
            .collect(),
        other => panic!("routing-keys: {other:?}"),
    };
    assert_eq!(keys, [src.clone(), "ssd.elsewhere".to_owned()]);
    assert!(matches!(
        death.inner().get("time"),
        Some(AMQPValue::Timestamp(_))
    ));
    assert_eq!(field_str(death, "exchange"), "amq.direct");
    assert_eq!(
        header_str(&dead.properties, "x-first-death-exchange").as_deref(),
        Some("amq.direct")
    );
    assert!(
        header(&dead.properties, "CC").is_none(),
        "the dead-letter routing key replaces the CC keys"
    );
}
