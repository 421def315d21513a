//! Dead-lettering as RabbitMQ does it: the `x-death` history, the `x-first-death-*` headers,
//! and the cycle rule.
//!
//! `x-death` is an array of tables, newest first, one per (queue, reason): a message that dies
//! again in the same queue for the same reason has that entry's `count` raised and moved to
//! the front. Each entry holds `count`, `reason`, `queue`, `time`, `exchange`,
//! `routing-keys` and, when the message had a per-message TTL, `original-expiration` (the
//! `expiration` property itself is removed so the copy does not expire again).
//!
//! A cycle is a dead letter routed back to a queue it already died in, with no rejection
//! anywhere on the way: RabbitMQ drops it for that queue, since nothing would ever stop it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use warren_model::{FieldTable, FieldValue, Message, QueueName, Text};

use crate::queue::DeadLetterTarget;

/// Why a message died.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum DeathReason {
    /// Rejected or nacked without requeue.
    Rejected,
    /// Its TTL ran out.
    Expired,
    /// Dropped or refused by a length limit.
    MaxLen,
    /// Redelivered more often than `x-delivery-limit` allows.
    DeliveryLimit,
}

impl DeathReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::MaxLen => "maxlen",
            Self::DeliveryLimit => "delivery_limit",
        }
    }
}

/// A message leaving a queue for its dead-letter exchange.
pub(crate) struct DeadLetter {
    pub message: Arc<Message>,
    pub reason: DeathReason,
}

/// The copy of `message` that goes to `target`, with its death recorded.
pub(crate) fn dead_lettered(
    message: &Message,
    reason: DeathReason,
    queue: &QueueName,
    target: &DeadLetterTarget,
) -> Message {
    let mut out = message.clone();
    let mut headers = out.properties.headers.take().unwrap_or_default();
    // As RabbitMQ's `make_msg`: the death records the publish key and the CC keys, read
    // before a dead-letter routing key drops the CC header.
    let mut routing_keys = vec![FieldValue::string(message.annotations.routing_key.as_str())];
    routing_keys.extend(cc_keys(&headers));
    if let Some(key) = &target.routing_key {
        headers.remove("CC");
        out.annotations.routing_key = key.clone();
    }
    let info = DeathInfo {
        reason,
        queue,
        exchange: message.annotations.exchange.as_str(),
        routing_keys,
        original_expiration: take_expiration(&mut out.properties.text),
    };
    record_death(&mut headers, info);
    out.properties.headers = Some(headers);
    out.annotations.exchange = target.exchange.clone();
    out
}

/// The message's TTL, removed: a dead-lettered copy does not expire again by it.
fn take_expiration(text: &mut Text) -> Option<String> {
    text.expiration.as_ref()?;
    text.to_mut().expiration.take()
}

fn cc_keys(headers: &FieldTable) -> Vec<FieldValue> {
    match headers.get("CC") {
        Some(FieldValue::Array(keys)) => keys
            .iter()
            .filter(|k| k.as_str().is_some())
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

struct DeathInfo<'a> {
    reason: DeathReason,
    queue: &'a QueueName,
    exchange: &'a str,
    routing_keys: Vec<FieldValue>,
    original_expiration: Option<String>,
}

fn record_death(headers: &mut FieldTable, info: DeathInfo<'_>) {
    let Some(FieldValue::Array(mut deaths)) = headers.remove("x-death") else {
        first_death(headers, info);
        return;
    };
    let (queue, reason) = (info.queue.as_str(), info.reason.as_str());
    let found = deaths.iter().position(|d| {
        entry_field(d, "queue") == Some(queue) && entry_field(d, "reason") == Some(reason)
    });
    let entry = match found {
        Some(at) => bump(deaths.remove(at)),
        None => sorted(new_entry(info)),
    };
    deaths.insert(0, FieldValue::Table(entry));
    headers.insert("x-death", FieldValue::Array(deaths));
}

/// The first death also names its reason, queue and exchange in `x-first-death-*`.
fn first_death(headers: &mut FieldTable, info: DeathInfo<'_>) {
    let (reason, queue) = (info.reason.as_str(), info.queue.to_string());
    let exchange = info.exchange.to_owned();
    let entry = FieldValue::Table(new_entry(info));
    headers.insert("x-death", FieldValue::Array(vec![entry]));
    headers.insert("x-first-death-exchange", FieldValue::string(exchange));
    headers.insert("x-first-death-queue", FieldValue::string(queue));
    headers.insert("x-first-death-reason", FieldValue::string(reason));
}

/// In the order RabbitMQ writes a first entry; later ones it sorts by key.
fn new_entry(info: DeathInfo<'_>) -> FieldTable {
    let mut entry = FieldTable::new();
    entry.insert("count", FieldValue::I64(1));
    entry.insert("reason", FieldValue::string(info.reason.as_str()));
    entry.insert("queue", FieldValue::string(info.queue.as_str()));
    entry.insert("time", FieldValue::Timestamp(now_secs()));
    entry.insert("exchange", FieldValue::string(info.exchange));
    entry.insert("routing-keys", FieldValue::Array(info.routing_keys));
    if let Some(expiration) = info.original_expiration {
        entry.insert("original-expiration", FieldValue::string(expiration));
    }
    entry
}

fn bump(entry: FieldValue) -> FieldTable {
    let FieldValue::Table(mut entry) = entry else {
        return FieldTable::new();
    };
    let count = entry.get("count").and_then(FieldValue::as_i64).unwrap_or(0);
    entry.insert("count", FieldValue::I64(count.saturating_add(1)));
    sorted(entry)
}

fn sorted(table: FieldTable) -> FieldTable {
    let mut entries: Vec<(String, FieldValue)> = table
        .iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

fn entry_field<'a>(entry: &'a FieldValue, key: &str) -> Option<&'a str> {
    match entry {
        FieldValue::Table(t) => t.get(key).and_then(FieldValue::as_str),
        _ => None,
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// True when a dead letter (its history already updated) must not enter `queue`: it died
/// there before and nothing on the way since was a rejection.
pub(crate) fn is_cycle(message: &Message, reason: DeathReason, queue: &QueueName) -> bool {
    if reason == DeathReason::Rejected {
        return false;
    }
    let deaths = match message
        .properties
        .headers
        .as_ref()
        .and_then(|h| h.get("x-death"))
    {
        Some(FieldValue::Array(deaths)) => deaths,
        _ => return false,
    };
    let Some(at) = deaths
        .iter()
        .position(|d| entry_field(d, "queue") == Some(queue.as_str()))
    else {
        return false;
    };
    deaths
        .iter()
        .take(at + 1)
        .all(|d| entry_field(d, "reason").is_some_and(|r| r != "rejected"))
}
