//! Conversions between amq-protocol's wire types and the neutral model: field tables (every
//! value type), basic properties, and the short strings AMQP caps at 255 octets.
//!
//! Incoming tables were depth-checked by [`crate::guard`] before parsing; outgoing tables may
//! come from other protocols, so [`table_to_amqp`] drops values nested deeper than
//! [`MAX_TABLE_DEPTH`] instead of trusting them.

use amq_protocol::protocol::basic::AMQPProperties;
use amq_protocol::types::{
    AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable as AmqpTable, LongString,
    ShortString,
};
use bytes::Bytes;
use warren_model::{
    DeliveryMode, FieldTable, FieldValue, Properties, TextProperties, MAX_TABLE_DEPTH,
};

use crate::codec::cut_short;

/// A short string from text, cut at a character boundary to fit 255 octets.
pub fn short(text: &str) -> ShortString {
    ShortString::try_new(cut_short(text)).unwrap_or_default()
}

/// A wire table in neutral form.
pub fn table_from_amqp(table: &AmqpTable) -> FieldTable {
    table
        .into_iter()
        .map(|(k, v)| (k.as_str().to_owned(), value_from_amqp(v)))
        .collect()
}

fn value_from_amqp(value: &AMQPValue) -> FieldValue {
    match value {
        AMQPValue::Boolean(v) => FieldValue::Bool(*v),
        AMQPValue::ShortShortInt(v) => FieldValue::I8(*v),
        AMQPValue::ShortShortUInt(v) => FieldValue::U8(*v),
        AMQPValue::ShortInt(v) => FieldValue::I16(*v),
        AMQPValue::ShortUInt(v) => FieldValue::U16(*v),
        AMQPValue::LongInt(v) => FieldValue::I32(*v),
        AMQPValue::LongUInt(v) => FieldValue::U32(*v),
        AMQPValue::LongLongInt(v) => FieldValue::I64(*v),
        AMQPValue::Float(v) => FieldValue::F32(*v),
        AMQPValue::Double(v) => FieldValue::F64(*v),
        AMQPValue::DecimalValue(d) => FieldValue::Decimal(d.scale, d.value),
        AMQPValue::ShortString(s) => {
            FieldValue::LongString(Bytes::copy_from_slice(s.as_str().as_bytes()))
        }
        AMQPValue::LongString(s) => FieldValue::LongString(Bytes::copy_from_slice(s.as_bytes())),
        AMQPValue::FieldArray(a) => {
            FieldValue::Array(a.as_slice().iter().map(value_from_amqp).collect())
        }
        AMQPValue::Timestamp(t) => FieldValue::Timestamp(*t),
        AMQPValue::FieldTable(t) => FieldValue::Table(table_from_amqp(t)),
        AMQPValue::ByteArray(b) => FieldValue::Bytes(Bytes::copy_from_slice(b.as_slice())),
        AMQPValue::Void => FieldValue::Void,
    }
}

/// A neutral table in wire form; keys over 255 octets and over-deep values are dropped.
pub fn table_to_amqp(table: &FieldTable) -> AmqpTable {
    table_to_amqp_at(table, 1)
}

fn table_to_amqp_at(table: &FieldTable, depth: usize) -> AmqpTable {
    let mut out = AmqpTable::default();
    for (key, value) in table.iter() {
        let (Ok(key), Some(value)) = (ShortString::try_new(key), value_to_amqp(value, depth))
        else {
            continue;
        };
        out.insert(key, value);
    }
    out
}

fn value_to_amqp(value: &FieldValue, depth: usize) -> Option<AMQPValue> {
    Some(match value {
        FieldValue::Bool(v) => AMQPValue::Boolean(*v),
        FieldValue::I8(v) => AMQPValue::ShortShortInt(*v),
        FieldValue::U8(v) => AMQPValue::ShortShortUInt(*v),
        FieldValue::I16(v) => AMQPValue::ShortInt(*v),
        FieldValue::U16(v) => AMQPValue::ShortUInt(*v),
        FieldValue::I32(v) => AMQPValue::LongInt(*v),
        FieldValue::U32(v) => AMQPValue::LongUInt(*v),
        FieldValue::I64(v) => AMQPValue::LongLongInt(*v),
        FieldValue::F32(v) => AMQPValue::Float(*v),
        FieldValue::F64(v) => AMQPValue::Double(*v),
        FieldValue::Decimal(scale, value) => AMQPValue::DecimalValue(DecimalValue {
            scale: *scale,
            value: *value,
        }),
        FieldValue::LongString(b) => AMQPValue::LongString(LongString::from(b.to_vec())),
        FieldValue::Bytes(b) => AMQPValue::ByteArray(ByteArray::from(b.as_ref())),
        FieldValue::Timestamp(t) => AMQPValue::Timestamp(*t),
        FieldValue::Void => AMQPValue::Void,
        FieldValue::Table(t) => nested(depth, |d| AMQPValue::FieldTable(table_to_amqp_at(t, d)))?,
        FieldValue::Array(a) => nested(depth, |d| {
            let items: Vec<AMQPValue> = a.iter().filter_map(|v| value_to_amqp(v, d)).collect();
            AMQPValue::FieldArray(FieldArray::from(items))
        })?,
    })
}

fn nested(depth: usize, build: impl FnOnce(usize) -> AMQPValue) -> Option<AMQPValue> {
    (depth < MAX_TABLE_DEPTH).then(|| build(depth + 1))
}

/// amq-protocol's properties in neutral form; delivery modes other than 2 read as transient.
/// Publishes read their content header into the neutral form directly ([`crate::content`]);
/// this is the reference the tests hold that reader to.
pub fn properties_from_amqp(p: &AMQPProperties) -> Properties {
    let text = |s: &Option<ShortString>| s.as_ref().map(|s| s.as_str().to_owned());
    Properties {
        headers: p.headers().as_ref().map(table_from_amqp),
        delivery_mode: p.delivery_mode().map(|m| match m {
            2 => DeliveryMode::Persistent,
            _ => DeliveryMode::Transient,
        }),
        priority: *p.priority(),
        timestamp: *p.timestamp(),
        text: TextProperties {
            content_type: text(p.content_type()),
            content_encoding: text(p.content_encoding()),
            correlation_id: text(p.correlation_id()),
            reply_to: text(p.reply_to()),
            expiration: text(p.expiration()),
            message_id: text(p.message_id()),
            kind: text(p.kind()),
            user_id: text(p.user_id()),
            app_id: text(p.app_id()),
            cluster_id: text(p.cluster_id()),
        }
        .into(),
    }
}

/// Neutral properties in amq-protocol's form; strings are cut to 255 octets. Deliveries write
/// their content header from the neutral form directly ([`crate::content`]); this is the
/// reference the tests hold that writer to.
pub fn properties_to_amqp(p: &Properties) -> AMQPProperties {
    let mut out = AMQPProperties::default();
    let s = |v: &Option<String>| v.as_deref().map(short);
    if let Some(v) = s(&p.text.content_type) {
        out = out.with_content_type(v);
    }
    if let Some(v) = s(&p.text.content_encoding) {
        out = out.with_content_encoding(v);
    }
    if let Some(h) = &p.headers {
        out = out.with_headers(table_to_amqp(h));
    }
    if let Some(m) = p.delivery_mode {
        out = out.with_delivery_mode(match m {
            DeliveryMode::Transient => 1,
            DeliveryMode::Persistent => 2,
        });
    }
    if let Some(v) = p.priority {
        out = out.with_priority(v);
    }
    if let Some(v) = s(&p.text.correlation_id) {
        out = out.with_correlation_id(v);
    }
    if let Some(v) = s(&p.text.reply_to) {
        out = out.with_reply_to(v);
    }
    if let Some(v) = s(&p.text.expiration) {
        out = out.with_expiration(v);
    }
    if let Some(v) = s(&p.text.message_id) {
        out = out.with_message_id(v);
    }
    if let Some(v) = p.timestamp {
        out = out.with_timestamp(v);
    }
    if let Some(v) = s(&p.text.kind) {
        out = out.with_type(v);
    }
    if let Some(v) = s(&p.text.user_id) {
        out = out.with_user_id(v);
    }
    if let Some(v) = s(&p.text.app_id) {
        out = out.with_app_id(v);
    }
    if let Some(v) = s(&p.text.cluster_id) {
        out = out.with_cluster_id(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_types() -> FieldTable {
        let mut inner = FieldTable::new();
        inner.insert("n", FieldValue::I32(-5));
        [
            ("bool", FieldValue::Bool(true)),
            ("i8", FieldValue::I8(-1)),
            ("u8", FieldValue::U8(1)),
            ("i16", FieldValue::I16(-300)),
            ("u16", FieldValue::U16(300)),
            ("i32", FieldValue::I32(-70000)),
            ("u32", FieldValue::U32(70000)),
            ("i64", FieldValue::I64(-1 << 40)),
            ("f32", FieldValue::F32(1.5)),
            ("f64", FieldValue::F64(2.25)),
            ("dec", FieldValue::Decimal(2, 12345)),
            ("str", FieldValue::string("hello")),
            ("bytes", FieldValue::Bytes(Bytes::from_static(b"\x00\x01"))),
            ("ts", FieldValue::Timestamp(1_700_000_000)),
            ("table", FieldValue::Table(inner)),
            (
                "array",
                FieldValue::Array(vec![FieldValue::U8(1), FieldValue::Void]),
            ),
            ("void", FieldValue::Void),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    #[test]
    fn every_value_type_round_trips() {
        let table = all_types();
        let back = table_from_amqp(&table_to_amqp(&table));
        assert!(back.same_entries(&table), "{back:?}");
    }

    #[test]
    fn properties_round_trip() {
        let props = Properties {
            headers: Some(all_types()),
            delivery_mode: Some(DeliveryMode::Persistent),
            priority: Some(5),
            timestamp: Some(42),
            text: TextProperties {
                content_type: Some("text/plain".into()),
                content_encoding: Some("utf-8".into()),
                correlation_id: Some("c".into()),
                reply_to: Some("r".into()),
                expiration: Some("1000".into()),
                message_id: Some("m".into()),
                kind: Some("t".into()),
                user_id: Some("guest".into()),
                app_id: Some("a".into()),
                cluster_id: Some("cl".into()),
            }
            .into(),
        };
        let mut back = properties_from_amqp(&properties_to_amqp(&props));
        let headers = back.headers.take();
        assert!(headers.is_some_and(|h| h.same_entries(&all_types())));
        assert_eq!(
            back,
            Properties {
                headers: None,
                ..props
            }
        );
    }

    #[test]
    fn over_deep_outgoing_values_are_dropped() {
        let mut table = FieldTable::new();
        for _ in 0..(MAX_TABLE_DEPTH + 5) {
            let mut outer = FieldTable::new();
            outer.insert("k", FieldValue::Table(table));
            table = outer;
        }
        let _ = table_to_amqp(&table);
    }

    #[test]
    fn short_strings_are_cut_at_char_boundaries() {
        let long = "é".repeat(200);
        assert!(short(&long).as_str().len() <= 255);
    }
}
