//! Names the spec's error for MQTT 5 packets the wire codec rejects as merely "malformed".
//!
//! `rmqtt-codec` reports a Topic Alias of 0 and a Subscription Identifier of 0 as a
//! Malformed Packet, but the spec makes them a Topic Alias invalid (0x94, MQTT-3.3.2-8) and a
//! Protocol Error (0x82, MQTT 5 section 3.8.2.1.2). When the codec refuses a PUBLISH or
//! SUBSCRIBE, this walks its properties and, if it finds one of those, returns the precise
//! error; otherwise the codec's verdict stands. Only the first [`HEAD`] bytes are looked
//! at: properties beyond them keep the codec's verdict.

use crate::errors::MqttError;

/// How much of a packet's start [`refine`] needs to see.
pub const HEAD: usize = 256;

const PUBLISH: u8 = 3;
const SUBSCRIBE: u8 = 8;
const TOPIC_ALIAS: u8 = 0x23;
const SUBSCRIPTION_ID: u8 = 0x0B;

/// The precise error for a whole v5 `frame` the codec refused, if there is one.
pub fn refine(frame: &[u8]) -> Option<MqttError> {
    let first = *frame.first()?;
    let (_, header_len) = varint(frame.get(1..)?)?;
    let body = frame.get(1 + header_len..)?;
    let properties = match first >> 4 {
        PUBLISH => {
            let topic_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
            let packet_id = if first & 0x06 != 0 { 2 } else { 0 };
            body.get(2 + topic_len + packet_id..)?
        }
        SUBSCRIBE => body.get(2..)?,
        _ => return None,
    };
    let (len, len_bytes) = varint(properties)?;
    let mut rest = properties.get(len_bytes..len_bytes + usize::try_from(len).ok()?)?;
    while let Some((&id, tail)) = rest.split_first() {
        let (value, size) = property_value(id, tail)?;
        match (id, value) {
            (TOPIC_ALIAS, Some(0)) => {
                return Some(MqttError::TopicAlias("topic alias 0 (MQTT-3.3.2-8)".into()))
            }
            (SUBSCRIPTION_ID, Some(0)) => {
                return Some(MqttError::Protocol("subscription identifier 0".into()))
            }
            _ => {}
        }
        rest = tail.get(size..)?;
    }
    None
}

/// The numeric value (when the property has one) and the encoded size of property `id`'s
/// value at the head of `bytes`; `None` for an unknown id or a truncated value.
fn property_value(id: u8, bytes: &[u8]) -> Option<(Option<u32>, usize)> {
    let prefixed = |at: usize| -> Option<usize> {
        let hi = *bytes.get(at)?;
        let lo = *bytes.get(at + 1)?;
        Some(2 + usize::from(u16::from_be_bytes([hi, lo])))
    };
    match id {
        0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => {
            Some((Some(u32::from(*bytes.first()?)), 1))
        }
        0x13 | 0x21 | 0x22 | 0x23 => {
            let value = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
            Some((Some(u32::from(value)), 2))
        }
        0x02 | 0x11 | 0x18 | 0x27 => {
            let value = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
            Some((Some(value), 4))
        }
        SUBSCRIPTION_ID => varint(bytes).map(|(value, size)| (Some(value), size)),
        0x03 | 0x08 | 0x09 | 0x12 | 0x15 | 0x16 | 0x1A | 0x1C | 0x1F => Some((None, prefixed(0)?)),
        0x26 => {
            let key = prefixed(0)?;
            Some((None, key + prefixed(key)?))
        }
        _ => None,
    }
}

/// A variable byte integer (MQTT 1.5.5): its value and its length in bytes.
fn varint(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value = 0u32;
    for (i, &byte) in bytes.iter().take(4).enumerate() {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_alias_zero_is_topic_alias_invalid() {
        // PUBLISH QoS 0, topic "a", properties: content type "x", topic alias 0.
        let frame = [
            0x30, 0x0B, 0x00, 0x01, b'a', 0x07, 0x03, 0x00, 0x01, b'x', 0x23, 0x00, 0x00,
        ];
        assert!(matches!(refine(&frame), Some(MqttError::TopicAlias(_))));
    }

    #[test]
    fn subscription_id_zero_is_a_protocol_error() {
        // SUBSCRIBE id 1, properties: user property ("k","v"), subscription id 0; filter "a".
        let frame = [
            0x82, 0x10, 0x00, 0x01, 0x09, 0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', 0x0B, 0x00,
            0x00, 0x01, b'a', 0x00,
        ];
        assert!(matches!(refine(&frame), Some(MqttError::Protocol(_))));
    }

    #[test]
    fn other_packets_and_garbage_keep_the_codec_verdict() {
        assert_eq!(refine(&[]), None);
        assert_eq!(refine(&[0x30]), None);
        assert_eq!(refine(&[0x30, 0x05, 0x00, 0x09]), None);
        assert_eq!(refine(&[0xC0, 0x00]), None);
        // A valid alias of 1 is no reason to change the verdict.
        let frame = [0x30, 0x07, 0x00, 0x01, b'a', 0x03, 0x23, 0x00, 0x01];
        assert_eq!(refine(&frame), None);
    }

    #[test]
    fn truncated_property_never_panics() {
        let frame = [
            0x30, 0x0B, 0x00, 0x01, b'a', 0x07, 0x03, 0x00, 0x01, b'x', 0x23, 0x00, 0x00,
        ];
        for end in 0..frame.len() {
            let _ = refine(frame.get(..end).unwrap_or_default());
        }
    }
}
