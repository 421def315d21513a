//! Helpers for the queue-feature suites (TTL, dead-lettering, limits, priorities, delays):
//! argument tables, declares with arguments, header lookups, and publishing that reports a
//! nack instead of failing on it.
#![allow(dead_code)]

use lapin::message::BasicGetMessage;
use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Confirmation};

pub fn args(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in entries {
        table.insert((*k).into(), v.clone());
    }
    table
}

pub fn s(text: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(text))
}

pub fn int(n: i32) -> AMQPValue {
    AMQPValue::LongInt(n)
}

pub async fn declare_with(ch: &Channel, name: &str, entries: &[(&str, AMQPValue)]) {
    ch.queue_declare(name.into(), QueueDeclareOptions::default(), args(entries))
        .await
        .expect("queue.declare with arguments");
}

/// Publishes and returns the confirm (the channel must be in confirm mode).
pub async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
) -> Confirmation {
    ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions::default(),
        body,
        props,
    )
    .await
    .expect("basic.publish")
    .await
    .expect("publisher confirm")
}

/// basic.get with manual ack.
pub async fn get_unacked(ch: &Channel, queue: &str) -> Option<BasicGetMessage> {
    ch.basic_get(queue.into(), BasicGetOptions { no_ack: false })
        .await
        .expect("basic.get")
}

pub fn header<'a>(props: &'a BasicProperties, key: &str) -> Option<&'a AMQPValue> {
    props.headers().as_ref()?.inner().get(key)
}

pub fn header_str(props: &BasicProperties, key: &str) -> Option<String> {
    match header(props, key)? {
        AMQPValue::LongString(v) => Some(String::from_utf8_lossy(v.as_bytes()).into_owned()),
        _ => None,
    }
}

pub fn header_int(props: &BasicProperties, key: &str) -> Option<i64> {
    match header(props, key)? {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some((*n).into()),
        AMQPValue::LongUInt(n) => Some((*n).into()),
        _ => None,
    }
}

/// The `x-death` entries, newest first.
pub fn deaths(props: &BasicProperties) -> Vec<FieldTable> {
    let Some(AMQPValue::FieldArray(items)) = header(props, "x-death") else {
        return Vec::new();
    };
    array_tables(items)
}

fn array_tables(items: &FieldArray) -> Vec<FieldTable> {
    items
        .as_slice()
        .iter()
        .filter_map(|v| match v {
            AMQPValue::FieldTable(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

pub fn field_str(t: &FieldTable, key: &str) -> String {
    match t.inner().get(key) {
        Some(AMQPValue::LongString(v)) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
        other => format!("{other:?}"),
    }
}

pub fn field_count(t: &FieldTable) -> i64 {
    match t.inner().get("count") {
        Some(AMQPValue::LongLongInt(n)) => *n,
        _ => -1,
    }
}

pub fn text(m: &BasicGetMessage) -> String {
    String::from_utf8_lossy(&m.delivery.data).into_owned()
}

/// Waits until `ms` have passed on the broker's own clock: a message with that TTL in a
/// fresh queue is dead-lettered into a second one, which is polled with a deadline.
pub async fn broker_clock(conn: &lapin::Connection, ch: &Channel, ms: i32) {
    let (clock, tick) = (warren_it::unique("clock"), warren_it::unique("tick"));
    warren_it::declare_queue(ch, &tick).await;
    let dlx = [
        ("x-message-ttl", int(ms)),
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s(&tick)),
    ];
    declare_with(ch, &clock, &dlx).await;
    warren_it::publish(ch, "", &clock, b"tick").await;
    let ticked = warren_it::eventually_async(warren_it::DEADLINE, || async {
        warren_it::message_count(conn, &tick).await == Some(1)
    })
    .await;
    assert!(ticked, "the broker's clock did not advance {ms} ms");
}
