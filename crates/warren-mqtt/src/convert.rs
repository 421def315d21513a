//! MQTT PUBLISH <-> neutral [`Message`]: properties, the reserved `x-mqtt-*` headers, QoS.
//!
//! The table, with its lossy rows, is in docs/protocols/mqtt.md. Reserved headers:
//! - `x-mqtt-publish-qos` (u8): the QoS the MQTT publisher used, at QoS 2 only. A message
//!   without it (AMQP-published, or MQTT QoS 0 or 1) counts as QoS 1 when persistent, else 0.
//! - `x-mqtt-retain` (bool): published with the retain flag (for retain-as-published).
//! - `x-mqtt-retained-topic` (string): a retained message replayed into one session's queue on
//!   SUBSCRIBE, with its topic (the routing key is then the queue name).
//! - `x-mqtt-expires-at` (i64, ms since the epoch): when the Message Expiry Interval ends;
//!   `expiration` carries the interval itself for AMQP consumers.
//! - `x-mqtt-payload-format` (u8): the Payload Format Indicator.
//! - `x-correlation-id` (bytes): correlation data that is not UTF-8.

use std::num::NonZeroU32;
use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use warren_model::{
    Annotations, ConnectionId, DeliveryMode, ExchangeName, FieldTable, FieldValue, Message,
    Properties, RoutingKey, TextProperties,
};

use crate::codec::{Publish, PublishProperties, QoS};
use crate::config::TopicMapping;
use crate::topic::{key_to_mqtt, mqtt_to_key};

/// The publisher's QoS.
pub const H_QOS: &str = "x-mqtt-publish-qos";
/// Published with retain.
pub const H_RETAIN: &str = "x-mqtt-retain";
/// A retained message replayed on subscribe, and its topic.
pub const H_RETAINED_TOPIC: &str = "x-mqtt-retained-topic";
/// Expiry deadline, ms since the epoch.
pub const H_EXPIRES_AT: &str = "x-mqtt-expires-at";
/// Payload Format Indicator.
pub const H_PAYLOAD_FORMAT: &str = "x-mqtt-payload-format";
/// Non-UTF-8 correlation data.
pub const H_CORRELATION: &str = "x-correlation-id";
/// Every user property in order, as an array of `[name, value]` arrays, present only when a
/// name repeats: headers hold one value per name, MQTT 5 keeps them all (MQTT-3.3.2-18).
pub const H_USER_PROPERTIES: &str = "x-mqtt-user-properties";

/// What the adapter adds when it turns a PUBLISH into a message.
pub struct Origin<'a> {
    /// The exchange.
    pub exchange: &'a ExchangeName,
    /// The routing key (the mapped topic).
    pub key: RoutingKey,
    /// The publishing connection.
    pub publisher: ConnectionId,
    /// The topic mapping (for the response topic).
    pub mapping: TopicMapping,
    /// Wall clock, ms since the epoch.
    pub now_ms: u64,
}

/// A PUBLISH (or will) as a message.
pub fn to_message(
    qos: QoS,
    retain: bool,
    payload: Bytes,
    props: Option<&PublishProperties>,
    origin: Origin<'_>,
) -> Message {
    let mut headers = FieldTable::new();
    let mut properties = Properties {
        delivery_mode: Some(match qos {
            QoS::AtMostOnce => DeliveryMode::Transient,
            _ => DeliveryMode::Persistent,
        }),
        ..Properties::default()
    };
    if let Some(p) = props {
        apply_v5(p, &mut properties, &mut headers, &origin);
    }
    // Only QoS 2 needs the header: `delivery_mode` already says QoS 0 (transient) or 1
    // (persistent), and most messages then need no header table at all, neither built at
    // the publish nor read at each delivery (ADR 0013).
    if qos == QoS::ExactlyOnce {
        headers.insert(H_QOS, FieldValue::U8(qos.value()));
    }
    if retain {
        headers.insert(H_RETAIN, FieldValue::Bool(true));
    }
    properties.headers = (!headers.is_empty()).then_some(headers);
    Message {
        annotations: Annotations {
            exchange: origin.exchange.clone(),
            routing_key: origin.key,
            publisher: Some(origin.publisher),
        },
        properties,
        body: payload,
    }
}

fn apply_v5(p: &PublishProperties, out: &mut Properties, headers: &mut FieldTable, o: &Origin<'_>) {
    for (k, v) in &p.user_properties {
        headers.insert(k.to_string(), FieldValue::string(v.to_string()));
    }
    let names: std::collections::HashSet<_> = p.user_properties.iter().map(|(k, _)| k).collect();
    if names.len() < p.user_properties.len() {
        let pairs = p.user_properties.iter().map(|(k, v)| {
            FieldValue::Array(vec![
                FieldValue::string(k.to_string()),
                FieldValue::string(v.to_string()),
            ])
        });
        headers.insert(H_USER_PROPERTIES, FieldValue::Array(pairs.collect()));
    }
    let mut text = TextProperties {
        content_type: p.content_type.as_ref().map(|c| c.to_string()),
        reply_to: p.response_topic.as_ref().map(|t| mqtt_to_key(t, o.mapping)),
        ..TextProperties::default()
    };
    if let Some(data) = &p.correlation_data {
        match std::str::from_utf8(data) {
            Ok(id) if id.len() <= 255 => text.correlation_id = Some(id.to_owned()),
            _ => headers.insert(H_CORRELATION, FieldValue::Bytes(data.clone())),
        }
    }
    if let Some(secs) = p.message_expiry_interval {
        let ms = u64::from(secs.get()) * 1000;
        text.expiration = Some(ms.to_string());
        let at = o.now_ms.saturating_add(ms);
        headers.insert(
            H_EXPIRES_AT,
            FieldValue::I64(i64::try_from(at).unwrap_or(i64::MAX)),
        );
    }
    // No box when the publish set none of them.
    out.text = text.into();
    if p.is_utf8_payload {
        headers.insert(H_PAYLOAD_FORMAT, FieldValue::U8(1));
    }
}

/// The QoS a message was published with (AMQP: persistent is 1, else 0).
pub fn message_qos(message: &Message) -> QoS {
    AdapterHeaders::of(message).qos()
}

/// The headers this adapter reads back when it delivers a message, found in one pass over
/// the message's headers: a delivery needs four of them, and a lookup per header scanned the
/// table four times (in QoS 1 fan-out those scans were 15% of the broker's samples).
pub struct AdapterHeaders<'a> {
    message: &'a Message,
    qos: Option<&'a FieldValue>,
    retain: Option<&'a FieldValue>,
    retained_topic: Option<&'a FieldValue>,
    expires_at: Option<&'a FieldValue>,
}

impl<'a> AdapterHeaders<'a> {
    /// Reads the headers of `message`; the first of a repeated name counts, as in
    /// [`FieldTable::get`].
    pub fn of(message: &'a Message) -> Self {
        let mut found = Self {
            message,
            qos: None,
            retain: None,
            retained_topic: None,
            expires_at: None,
        };
        for (name, value) in message.properties.headers.iter().flat_map(FieldTable::iter) {
            let slot = match name {
                H_QOS => &mut found.qos,
                H_RETAIN => &mut found.retain,
                H_RETAINED_TOPIC => &mut found.retained_topic,
                H_EXPIRES_AT => &mut found.expires_at,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        found
    }

    /// The QoS the message was published with (AMQP: persistent is 1, else 0).
    pub fn qos(&self) -> QoS {
        match self.qos.and_then(FieldValue::as_i64) {
            Some(2) => QoS::ExactlyOnce,
            Some(1) => QoS::AtLeastOnce,
            Some(_) => QoS::AtMostOnce,
            None if self.message.is_persistent() => QoS::AtLeastOnce,
            None => QoS::AtMostOnce,
        }
    }

    /// Published with the retain flag.
    pub fn retain(&self) -> bool {
        self.retain.and_then(FieldValue::as_bool) == Some(true)
    }

    /// The topic of a retained message replayed on subscribe.
    pub fn retained_topic(&self) -> Option<&'a str> {
        self.retained_topic.and_then(FieldValue::as_str)
    }

    /// Seconds left of the message's expiry: `Some(0)` when it expired, `None` without one.
    pub fn remaining_expiry(&self, now_ms: impl FnOnce() -> u64) -> Option<u32> {
        if let Some(at) = self.expires_at.and_then(FieldValue::as_i64) {
            let left = u64::try_from(at).unwrap_or(0).saturating_sub(now_ms());
            return Some(u32::try_from(left.div_ceil(1000)).unwrap_or(u32::MAX));
        }
        let ms: u64 = self
            .message
            .properties
            .text
            .expiration
            .as_deref()?
            .parse()
            .ok()?;
        Some(u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX).max(1))
    }
}

/// A header of the message.
pub fn header<'a>(message: &'a Message, name: &str) -> Option<&'a FieldValue> {
    message.properties.headers.as_ref()?.get(name)
}

/// Seconds left of the message's expiry: `Some(0)` when it expired, `None` without one.
pub fn remaining_expiry(message: &Message, now_ms: impl FnOnce() -> u64) -> Option<u32> {
    AdapterHeaders::of(message).remaining_expiry(now_ms)
}

/// The outbound MQTT 5 PUBLISH for a message, before packet id and flags are set. (A 3.x
/// client's carries no properties and is written from the message itself, see
/// `codec::PublishRef`.)
pub fn to_v5_publish(
    message: &Arc<Message>,
    topic: ByteString,
    qos: QoS,
    mapping: TopicMapping,
) -> Publish {
    Publish {
        dup: false,
        retain: false,
        qos,
        topic,
        packet_id: None,
        payload: message.body.clone(),
        properties: Some(v5_properties(message, mapping)),
    }
}

fn v5_properties(message: &Message, mapping: TopicMapping) -> PublishProperties {
    let p = &message.properties;
    let mut out = PublishProperties {
        content_type: p.text.content_type.clone().map(Into::into),
        response_topic: p
            .text
            .reply_to
            .as_deref()
            .map(|k| key_to_mqtt(k, mapping).into()),
        correlation_data: p.text.correlation_id.clone().map(Bytes::from),
        ..PublishProperties::default()
    };
    let ordered = ordered_user_properties(message);
    for (k, v) in p.headers.iter().flat_map(FieldTable::iter) {
        match k {
            H_CORRELATION => out.correlation_data = bytes_of(v),
            H_PAYLOAD_FORMAT => out.is_utf8_payload = v.as_i64() == Some(1),
            _ if k.starts_with("x-mqtt-") => {}
            _ if ordered.iter().any(|(name, _)| name == k) => {}
            _ => {
                if let Some(text) = text_of(v) {
                    out.user_properties.push((k.into(), text.into()));
                }
            }
        }
    }
    let ordered = ordered.into_iter().map(|(k, v)| (k.into(), v.into()));
    out.user_properties.splice(0..0, ordered);
    out
}

/// The user properties recorded in order by [`H_USER_PROPERTIES`] (empty when absent).
fn ordered_user_properties(message: &Message) -> Vec<(String, String)> {
    let Some(FieldValue::Array(pairs)) = header(message, H_USER_PROPERTIES) else {
        return Vec::new();
    };
    pairs
        .iter()
        .filter_map(|pair| match pair {
            FieldValue::Array(kv) => match kv.as_slice() {
                [k, v] => Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn bytes_of(v: &FieldValue) -> Option<Bytes> {
    match v {
        FieldValue::Bytes(b) | FieldValue::LongString(b) => Some(b.clone()),
        _ => None,
    }
}

/// Header values as user property text; tables and arrays are dropped (lossy).
fn text_of(v: &FieldValue) -> Option<String> {
    match v {
        FieldValue::LongString(_) | FieldValue::Bytes(_) => v.as_str().map(str::to_owned),
        FieldValue::Bool(b) => Some(b.to_string()),
        FieldValue::F32(f) => Some(f.to_string()),
        FieldValue::F64(f) => Some(f.to_string()),
        other => other.as_i64().map(|n| n.to_string()),
    }
}

/// Sets the Message Expiry Interval of an outbound PUBLISH.
pub fn set_expiry(publish: &mut Publish, secs: Option<u32>) {
    if let Some(p) = publish.properties.as_mut() {
        p.message_expiry_interval = secs.and_then(NonZeroU32::new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(headers: Option<FieldTable>, persistent: bool, expiration: Option<&str>) -> Message {
        Message {
            annotations: Annotations {
                exchange: ExchangeName::try_from("amq.topic").unwrap(),
                routing_key: RoutingKey::try_from("a.b").unwrap(),
                publisher: None,
            },
            properties: Properties {
                delivery_mode: persistent.then_some(DeliveryMode::Persistent),
                headers,
                text: TextProperties {
                    expiration: expiration.map(str::to_owned),
                    ..Default::default()
                }
                .into(),
                ..Properties::default()
            },
            body: Bytes::new(),
        }
    }

    #[test]
    fn adapter_headers_are_read_in_one_pass_among_others() {
        let mut headers = FieldTable::new();
        headers.insert("x-other", FieldValue::Bool(true));
        headers.insert(H_EXPIRES_AT, FieldValue::I64(10_500));
        headers.insert(H_RETAINED_TOPIC, FieldValue::LongString("a/b".into()));
        headers.insert(H_RETAIN, FieldValue::Bool(true));
        headers.insert(H_QOS, FieldValue::U8(2));
        let m = message(Some(headers), false, None);
        let found = AdapterHeaders::of(&m);
        assert_eq!(found.qos(), QoS::ExactlyOnce);
        assert!(found.retain());
        assert_eq!(found.retained_topic(), Some("a/b"));
        assert_eq!(found.remaining_expiry(|| 9_000), Some(2));
        assert_eq!(found.remaining_expiry(|| 11_000), Some(0));
    }

    fn published(qos: QoS, retain: bool) -> Message {
        let exchange = ExchangeName::try_from("amq.topic").unwrap();
        let origin = Origin {
            exchange: &exchange,
            key: RoutingKey::try_from("a.b").unwrap(),
            publisher: ConnectionId(1),
            mapping: TopicMapping::default(),
            now_ms: 0,
        };
        to_message(qos, retain, Bytes::from_static(b"x"), None, origin)
    }

    #[test]
    fn only_qos_2_needs_a_header_and_every_qos_reads_back() {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let m = published(qos, false);
            assert_eq!(message_qos(&m), qos);
            let header = m.properties.headers.as_ref().and_then(|h| h.get(H_QOS));
            assert_eq!(header.is_some(), qos == QoS::ExactlyOnce, "{qos:?}");
            assert_eq!(m.is_persistent(), qos != QoS::AtMostOnce, "{qos:?}");
        }
        assert!(published(QoS::AtLeastOnce, false)
            .properties
            .headers
            .is_none());
        let retained = published(QoS::AtLeastOnce, true);
        assert!(AdapterHeaders::of(&retained).retain());
        assert_eq!(message_qos(&retained), QoS::AtLeastOnce);
    }

    #[test]
    fn without_adapter_headers_the_amqp_properties_decide() {
        let m = message(None, true, Some("1500"));
        let found = AdapterHeaders::of(&m);
        assert_eq!(found.qos(), QoS::AtLeastOnce, "persistent is QoS 1");
        assert!(!found.retain());
        assert_eq!(found.retained_topic(), None);
        assert_eq!(found.remaining_expiry(|| 0), Some(2));
        let plain = message(Some(FieldTable::new()), false, None);
        assert_eq!(AdapterHeaders::of(&plain).qos(), QoS::AtMostOnce);
        assert_eq!(AdapterHeaders::of(&plain).remaining_expiry(|| 0), None);
    }
}
