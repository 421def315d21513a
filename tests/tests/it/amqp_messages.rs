//! Message contents: every basic property and every field-table type survive the broker
//! unchanged; empty and multi-frame bodies; publish-time checks (user-id, immediate).

use lapin::options::BasicPublishOptions;
use lapin::types::{
    AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable, LongString, ShortString,
};
use lapin::BasicProperties;
use warren_it::{
    assert_usable, confirm_channel, declare_queue, get, publish, publish_with, reply_code, target,
    unique,
};

fn every_field_type() -> FieldTable {
    let mut inner = FieldTable::default();
    inner.insert("k".into(), AMQPValue::LongString("v".into()));
    let array = FieldArray::from(vec![
        AMQPValue::LongInt(1),
        AMQPValue::LongString("two".into()),
        AMQPValue::FieldTable(inner.clone()),
    ]);
    let values: Vec<(&str, AMQPValue)> = vec![
        ("bool", AMQPValue::Boolean(true)),
        ("i8", AMQPValue::ShortShortInt(-8)),
        ("u8", AMQPValue::ShortShortUInt(8)),
        ("i16", AMQPValue::ShortInt(-16)),
        ("u16", AMQPValue::ShortUInt(16)),
        ("i32", AMQPValue::LongInt(-32)),
        ("u32", AMQPValue::LongUInt(32)),
        ("i64", AMQPValue::LongLongInt(-64)),
        ("f32", AMQPValue::Float(1.5)),
        ("f64", AMQPValue::Double(-2.25)),
        (
            "decimal",
            AMQPValue::DecimalValue(DecimalValue {
                scale: 2,
                value: 12345,
            }),
        ),
        (
            "string",
            AMQPValue::LongString(LongString::from("long string ✓")),
        ),
        (
            "bytes",
            AMQPValue::ByteArray(ByteArray::from(vec![0u8, 1, 254, 255])),
        ),
        ("timestamp", AMQPValue::Timestamp(1_700_000_000)),
        ("table", AMQPValue::FieldTable(inner)),
        ("array", AMQPValue::FieldArray(array)),
        ("void", AMQPValue::Void),
    ];
    let mut t = FieldTable::default();
    for (k, v) in values {
        t.insert(k.into(), v);
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_property_and_field_type_round_trips() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("props");
    declare_queue(&ch, &q).await;
    let props = BasicProperties::default()
        .with_content_type(ShortString::from("application/octet-stream"))
        .with_content_encoding(ShortString::from("gzip"))
        .with_headers(every_field_type())
        .with_delivery_mode(2)
        .with_priority(5)
        .with_correlation_id(ShortString::from("corr"))
        .with_reply_to(ShortString::from("replies"))
        .with_expiration(ShortString::from("60000"))
        .with_message_id(ShortString::from("id-1"))
        .with_timestamp(1_700_000_001)
        .with_type(ShortString::from("kind"))
        .with_user_id(ShortString::from("guest"))
        .with_app_id(ShortString::from("warren-it"))
        .with_cluster_id(ShortString::from("cluster"));
    publish_with(&ch, "", &q, b"payload", props.clone()).await;
    let got = get(&ch, &q).await.expect("the message");
    assert_eq!(got.delivery.data, b"payload");
    let p = &got.delivery.properties;
    assert_eq!(p.content_type(), props.content_type());
    assert_eq!(p.content_encoding(), props.content_encoding());
    assert_eq!(p.delivery_mode(), props.delivery_mode());
    assert_eq!(p.priority(), props.priority());
    assert_eq!(p.correlation_id(), props.correlation_id());
    assert_eq!(p.reply_to(), props.reply_to());
    assert_eq!(p.expiration(), props.expiration());
    assert_eq!(p.message_id(), props.message_id());
    assert_eq!(p.timestamp(), props.timestamp());
    assert_eq!(p.kind(), props.kind());
    assert_eq!(p.user_id(), props.user_id());
    assert_eq!(p.app_id(), props.app_id());
    let sent = every_field_type();
    let received = p.headers().as_ref().expect("headers");
    for (key, value) in sent.inner() {
        assert_eq!(received.inner().get(key), Some(value), "header {key}");
    }
    assert_eq!(received.inner().len(), sent.inner().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_multi_frame_bodies_round_trip() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("bodies");
    declare_queue(&ch, &q).await;
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    publish(&ch, "", &q, b"").await;
    publish(&ch, "", &q, &big).await;
    publish(&ch, "", &q, b"after").await;
    assert_eq!(get(&ch, &q).await.expect("empty").delivery.data, b"");
    assert!(
        get(&ch, &q).await.expect("big").delivery.data == big,
        "3 MB body intact"
    );
    assert_eq!(get(&ch, &q).await.expect("after").delivery.data, b"after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_id_other_than_the_login_is_precondition_failed() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("userid");
    declare_queue(&ch, &q).await;
    let forged = BasicProperties::default().with_user_id(ShortString::from("admin"));
    let confirm = ch
        .basic_publish(
            "".into(),
            q.as_str().into(),
            BasicPublishOptions::default(),
            b"forged",
            forged,
        )
        .await
        .expect("publish is sent");
    let err = confirm.await.expect_err("forged user-id");
    assert_eq!(reply_code(&err), Some(406), "{err:?}");
    assert_usable(&conn).await;
    assert!(
        warren_it::message_count(&conn, &q).await == Some(0),
        "forged message not queued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_flag_is_not_implemented() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("immediate");
    declare_queue(&ch, &q).await;
    let immediate = BasicPublishOptions {
        immediate: true,
        ..BasicPublishOptions::default()
    };
    let confirm = ch
        .basic_publish(
            "".into(),
            q.as_str().into(),
            immediate,
            b"now",
            BasicProperties::default(),
        )
        .await
        .expect("publish is sent");
    let err = confirm.await.expect_err("immediate is refused");
    assert_eq!(reply_code(&err), Some(540), "{err:?}");
}
