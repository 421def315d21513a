//! The packets a busy connection carries most, read and written without the codec's packet
//! types: a QoS 1 subscriber's PUBACKs, and PUBLISH from and to a 3.x client. The general path
//! built and dropped a `Packet` for each, which cost more than the bytes themselves. Each
//! function gives the same answer as the codec (tested against it in `tests/codec_vectors.rs`
//! and `tests/codec_publish_in.rs`); any form it does not take is left to the codec.

use std::num::NonZeroU16;

use bytes::{Buf, BufMut, BytesMut};
use bytestring::ByteString;
use rmqtt_codec::error::DecodeError;

use super::{decode_error, Inbound, Publish, PublishRef, QoS};
use crate::errors::MqttError;

/// A PUBACK in its plain form, taken from `input`: type 4 without flags, remaining length 2
/// (so no MQTT 5 reason code or properties) and a packet id other than 0 mean the same in
/// every version. Any other form, valid or not, is left where it is for the codec.
pub(super) fn plain_puback(input: &mut BytesMut) -> Option<Inbound> {
    let &[0x40, 0x02, high, low, ..] = &input[..] else {
        return None;
    };
    let id = u16::from_be_bytes([high, low]);
    if id == 0 {
        return None;
    }
    input.advance(4);
    Some(Inbound::PubAck(id))
}

/// A 3.x PUBLISH, the whole `len` bytes of which (fixed header included) are at the head of
/// `input`. The codec framed it again, split it twice and froze it, which was a fifth of a
/// publishing connection's work. Forms it does not take (QoS 3, an empty topic, packet id 0,
/// a topic running past the end) are left where they are for the codec to refuse.
pub(super) fn publish_v3_in(
    input: &mut BytesMut,
    len: usize,
) -> Option<Result<Inbound, MqttError>> {
    let first = *input.first()?;
    if first >> 4 != 3 {
        return None;
    }
    let qos = match (first >> 1) & 0b11 {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        _ => return None,
    };
    // The fixed header: the type byte and the Remaining Length, whose last byte has the top
    // bit clear (`frame_length` checked it ends within four).
    let header = 2 + input.iter().skip(1).take_while(|b| *b & 0x80 != 0).count();
    let body = input.get(header..len)?;
    let topic_end = 2 + usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    if topic_end == 2 {
        return None;
    }
    let (packet_id, payload_at) = match qos {
        QoS::AtMostOnce => (None, topic_end),
        _ => {
            let &[high, low] = body.get(topic_end..topic_end + 2)? else {
                return None;
            };
            let id = NonZeroU16::new(u16::from_be_bytes([high, low]))?;
            (Some(id), topic_end + 2)
        }
    };
    if payload_at > body.len() {
        return None;
    }
    let frame = input.split_to(len).freeze();
    let topic = match ByteString::try_from(frame.slice(header + 2..header + topic_end)) {
        Ok(topic) => topic,
        Err(_) => return Some(Err(decode_error(DecodeError::Utf8Error))),
    };
    Some(Ok(Inbound::Publish(Box::new(Publish {
        dup: first & 0b1000 != 0,
        retain: first & 0b1 != 0,
        qos,
        topic,
        packet_id,
        payload: frame.slice(header + payload_at..),
        properties: None,
    }))))
}

/// The largest remaining length MQTT can express (four length bytes).
const MAX_REMAINING: usize = 268_435_455;

/// Appends a 3.x PUBLISH (its properties, a 5.0 matter, are ignored). A QoS 0 packet must not
/// have a packet id and any other must: as the codec, an error otherwise.
pub(super) fn publish_v3(p: &PublishRef<'_>, out: &mut BytesMut) -> Result<(), MqttError> {
    let malformed = |why: &str| MqttError::Malformed(format!("encode: {why}"));
    let id = match (p.qos, p.packet_id) {
        (QoS::AtMostOnce, None) => None,
        (QoS::AtMostOnce, Some(_)) => return Err(malformed("packet id on QoS 0")),
        (_, None) => return Err(malformed("packet id required")),
        (_, Some(id)) => Some(id.get()),
    };
    let topic = p.topic.as_bytes();
    let topic_len = u16::try_from(topic.len()).map_err(|_| malformed("topic too long"))?;
    let id_len = if id.is_some() { 2 } else { 0 };
    let remaining = 2 + topic.len() + id_len + p.payload.len();
    if remaining > MAX_REMAINING {
        return Err(malformed("packet too large"));
    }
    out.reserve(remaining + 5);
    let qos = match p.qos {
        QoS::AtMostOnce => 0,
        QoS::AtLeastOnce => 1,
        QoS::ExactlyOnce => 2,
    };
    out.put_u8(0x30 | u8::from(p.dup) << 3 | qos << 1 | u8::from(p.retain));
    put_remaining_length(remaining, out);
    out.put_u16(topic_len);
    out.put_slice(topic);
    if let Some(id) = id {
        out.put_u16(id);
    }
    out.put_slice(p.payload);
    Ok(())
}

/// The remaining length as MQTT's variable byte integer (at most [`MAX_REMAINING`]).
fn put_remaining_length(mut n: usize, out: &mut BytesMut) {
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            return out.put_u8(low);
        }
        out.put_u8(low | 0x80);
    }
}
