//! The content header of a `basic` message, written by hand from the neutral [`Properties`].
//!
//! Grammar (AMQP 0-9-1 spec 4.2.6, and the `basic` class's property list):
//!
//! ```text
//! content-header  = class-id weight body-size property-flags property-list
//! class-id        = short-uint            ; 60, basic
//! weight          = short-uint            ; 0
//! body-size       = long-long-uint
//! property-flags  = short-uint            ; bit 15 for the first property, down to bit 2
//! property-list   = *property             ; only those flagged, in class order
//! ```
//!
//! Every delivery sends one. amq-protocol's generator would need the properties rebuilt as its
//! own `AMQPProperties` (an owned copy of each string) and runs them through a chain of
//! serializer closures: a tenth of the broker's time on an AMQP 1:1 stream. Only a `headers`
//! table still goes through amq-protocol, as the rare case it is. Tests hold the bytes to
//! amq-protocol's for every combination of properties.
//!
//! Pure: no I/O, no clock, no logging.

use amq_protocol::frame::WriteContext;
use amq_protocol::types::generation::gen_field_table;
use bytes::{BufMut, BytesMut};
use warren_model::{DeliveryMode, Properties};

use crate::codec::{cut_short, EncodeError};
use crate::convert::table_to_amqp;

const FRAME_HEADER: u8 = 2;
const FRAME_END: u8 = 0xCE;
const BASIC_CLASS: u16 = 60;
/// Frame type, channel and size.
const FRAME_HEAD: usize = 7;

/// Property flags in class order, bit 15 first.
const CONTENT_TYPE: u16 = 1 << 15;
const CONTENT_ENCODING: u16 = 1 << 14;
const HEADERS: u16 = 1 << 13;
const DELIVERY_MODE: u16 = 1 << 12;
const PRIORITY: u16 = 1 << 11;
const CORRELATION_ID: u16 = 1 << 10;
const REPLY_TO: u16 = 1 << 9;
const EXPIRATION: u16 = 1 << 8;
const MESSAGE_ID: u16 = 1 << 7;
const TIMESTAMP: u16 = 1 << 6;
const KIND: u16 = 1 << 5;
const USER_ID: u16 = 1 << 4;
const APP_ID: u16 = 1 << 3;
const CLUSTER_ID: u16 = 1 << 2;

/// Appends a content header frame for a body of `body_size` octets. Strings are cut to 255
/// octets at a character boundary, as every short string Warren sends; `scratch` is reused
/// for a `headers` table.
pub fn write_header(
    out: &mut BytesMut,
    channel: u16,
    body_size: u64,
    p: &Properties,
    scratch: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let written = put_header(out, start, channel, body_size, p, scratch);
    if written.is_err() {
        out.truncate(start);
    }
    written
}

fn put_header(
    out: &mut BytesMut,
    start: usize,
    channel: u16,
    body_size: u64,
    p: &Properties,
    scratch: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    out.put_u8(FRAME_HEADER);
    out.put_u16(channel);
    out.put_u32(0); // the payload size, filled in below
    out.put_u16(BASIC_CLASS);
    out.put_u16(0); // weight
    out.put_u64(body_size);
    out.put_u16(flags(p));
    put_optional(out, p.content_type.as_deref());
    put_optional(out, p.content_encoding.as_deref());
    if let Some(headers) = &p.headers {
        put_table(out, &table_to_amqp(headers), scratch)?;
    }
    if let Some(mode) = p.delivery_mode {
        out.put_u8(match mode {
            DeliveryMode::Transient => 1,
            DeliveryMode::Persistent => 2,
        });
    }
    if let Some(priority) = p.priority {
        out.put_u8(priority);
    }
    put_optional(out, p.correlation_id.as_deref());
    put_optional(out, p.reply_to.as_deref());
    put_optional(out, p.expiration.as_deref());
    put_optional(out, p.message_id.as_deref());
    if let Some(timestamp) = p.timestamp {
        out.put_u64(timestamp);
    }
    put_optional(out, p.kind.as_deref());
    put_optional(out, p.user_id.as_deref());
    put_optional(out, p.app_id.as_deref());
    put_optional(out, p.cluster_id.as_deref());
    // Frame type, channel and size come before the payload.
    let payload = out.len() - start - FRAME_HEAD;
    let size = u32::try_from(payload).map_err(|_| EncodeError)?;
    out.get_mut(start + 3..start + FRAME_HEAD)
        .ok_or(EncodeError)?
        .copy_from_slice(&size.to_be_bytes());
    out.put_u8(FRAME_END);
    Ok(())
}

fn flags(p: &Properties) -> u16 {
    [
        (p.content_type.is_some(), CONTENT_TYPE),
        (p.content_encoding.is_some(), CONTENT_ENCODING),
        (p.headers.is_some(), HEADERS),
        (p.delivery_mode.is_some(), DELIVERY_MODE),
        (p.priority.is_some(), PRIORITY),
        (p.correlation_id.is_some(), CORRELATION_ID),
        (p.reply_to.is_some(), REPLY_TO),
        (p.expiration.is_some(), EXPIRATION),
        (p.message_id.is_some(), MESSAGE_ID),
        (p.timestamp.is_some(), TIMESTAMP),
        (p.kind.is_some(), KIND),
        (p.user_id.is_some(), USER_ID),
        (p.app_id.is_some(), APP_ID),
        (p.cluster_id.is_some(), CLUSTER_ID),
    ]
    .into_iter()
    .filter(|(present, _)| *present)
    .fold(0, |all, (_, flag)| all | flag)
}

/// A short string, when the property is present.
fn put_optional(out: &mut BytesMut, text: Option<&str>) {
    if let Some(text) = text {
        let bytes = cut_short(text).as_bytes();
        out.put_u8(u8::try_from(bytes.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(bytes);
    }
}

fn put_table(
    out: &mut BytesMut,
    table: &amq_protocol::types::FieldTable,
    scratch: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let mut buffer = std::mem::take(scratch);
    buffer.clear();
    let written = gen_field_table(table)(WriteContext::from(buffer)).map_err(|_| EncodeError)?;
    out.extend_from_slice(&written.write);
    *scratch = written.write;
    Ok(())
}
