//! The content header of a `basic` message, read into and written from the neutral
//! [`Properties`] by hand.
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
//! Every publish brings one and every delivery sends one. amq-protocol would need the
//! properties in its own `AMQPProperties` (an owned copy of each string, read a byte at a
//! time), converted to and from the model, and runs them through chains of parser and
//! serializer closures: a tenth of the broker's time on an AMQP 1:1 stream. Only a `headers`
//! table still goes through amq-protocol, as the rare case it is. Tests hold both directions
//! to amq-protocol's for every combination of properties, and reading to its result on
//! arbitrary input.
//!
//! Pure: no I/O, no clock, no logging.

use amq_protocol::frame::WriteContext;
use amq_protocol::types::generation::gen_field_table;
use amq_protocol::types::parsing::parse_field_table;
use bytes::{BufMut, BytesMut};
use warren_model::{DeliveryMode, FieldTable, Properties, TextProperties};

use crate::codec::{
    cut_short, put_short, EncodeError, BASIC_CLASS, FRAME_END, FRAME_HEADER, HEADER_LEN,
};
use crate::convert::{table_from_amqp, table_to_amqp};

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

/// A content header as read.
#[derive(Clone, PartialEq, Debug)]
pub struct ContentHeader {
    /// The class (60 for basic; others are refused by the channel).
    pub class_id: u16,
    /// The body's size in octets.
    pub body_size: u64,
    /// The message's properties.
    pub properties: Properties,
}

/// Reads a content header payload (the frame without its type, channel, size and end);
/// `None` when it is malformed: cut short, a string not UTF-8, or octets left over. The
/// `headers` table must have been checked by [`crate::guard`] first. Any weight is accepted,
/// and the two low flag bits (a continuation no basic header needs) are ignored, as
/// amq-protocol does.
pub fn read_header(payload: &[u8]) -> Option<ContentHeader> {
    let mut input = Reader(payload);
    let class_id = input.u16()?;
    let _weight = input.u16()?;
    let body_size = input.u64()?;
    let flags = input.u16()?;
    let on = |flag: u16| flags & flag != 0;
    // In wire order: the strings are interleaved with the other properties.
    let content_type = input.read_if(on(CONTENT_TYPE), Reader::text)?;
    let content_encoding = input.read_if(on(CONTENT_ENCODING), Reader::text)?;
    let headers = input.read_if(on(HEADERS), Reader::table)?;
    let delivery_mode = input
        .read_if(on(DELIVERY_MODE), Reader::u8)?
        .map(|mode| match mode {
            2 => DeliveryMode::Persistent,
            _ => DeliveryMode::Transient,
        });
    let priority = input.read_if(on(PRIORITY), Reader::u8)?;
    let correlation_id = input.read_if(on(CORRELATION_ID), Reader::text)?;
    let reply_to = input.read_if(on(REPLY_TO), Reader::text)?;
    let expiration = input.read_if(on(EXPIRATION), Reader::text)?;
    let message_id = input.read_if(on(MESSAGE_ID), Reader::text)?;
    let timestamp = input.read_if(on(TIMESTAMP), Reader::u64)?;
    let text = TextProperties {
        content_type,
        content_encoding,
        correlation_id,
        reply_to,
        expiration,
        message_id,
        kind: input.read_if(on(KIND), Reader::text)?,
        user_id: input.read_if(on(USER_ID), Reader::text)?,
        app_id: input.read_if(on(APP_ID), Reader::text)?,
        cluster_id: input.read_if(on(CLUSTER_ID), Reader::text)?,
    };
    let properties = Properties {
        headers,
        delivery_mode,
        priority,
        timestamp,
        text: text.into(),
    };
    input.0.is_empty().then_some(ContentHeader {
        class_id,
        body_size,
        properties,
    })
}

/// The unread rest of a payload. Each read is `None` when the payload is too short.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_be_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_be_bytes)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take().map(|[octet]| octet)
    }

    fn text(&mut self) -> Option<String> {
        let len = self.u8()?;
        let (text, rest) = self.0.split_at_checked(usize::from(len))?;
        self.0 = rest;
        std::str::from_utf8(text).ok().map(str::to_owned)
    }

    fn table(&mut self) -> Option<FieldTable> {
        let (rest, table) = parse_field_table(self.0).ok()?;
        self.0 = rest;
        Some(table_from_amqp(&table))
    }

    /// A property that is there only when flagged: `Some(None)` when absent, `None` when
    /// malformed.
    fn read_if<T>(
        &mut self,
        present: bool,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
        if present {
            read(self).map(Some)
        } else {
            Some(None)
        }
    }
}

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
    put_optional(out, p.text.content_type.as_deref());
    put_optional(out, p.text.content_encoding.as_deref());
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
    put_optional(out, p.text.correlation_id.as_deref());
    put_optional(out, p.text.reply_to.as_deref());
    put_optional(out, p.text.expiration.as_deref());
    put_optional(out, p.text.message_id.as_deref());
    if let Some(timestamp) = p.timestamp {
        out.put_u64(timestamp);
    }
    put_optional(out, p.text.kind.as_deref());
    put_optional(out, p.text.user_id.as_deref());
    put_optional(out, p.text.app_id.as_deref());
    put_optional(out, p.text.cluster_id.as_deref());
    // Frame type, channel and size come before the payload.
    let payload = out.len() - start - HEADER_LEN;
    let size = u32::try_from(payload).map_err(|_| EncodeError)?;
    out.get_mut(start + 3..start + HEADER_LEN)
        .ok_or(EncodeError)?
        .copy_from_slice(&size.to_be_bytes());
    out.put_u8(FRAME_END);
    Ok(())
}

fn flags(p: &Properties) -> u16 {
    [
        (p.text.content_type.is_some(), CONTENT_TYPE),
        (p.text.content_encoding.is_some(), CONTENT_ENCODING),
        (p.headers.is_some(), HEADERS),
        (p.delivery_mode.is_some(), DELIVERY_MODE),
        (p.priority.is_some(), PRIORITY),
        (p.text.correlation_id.is_some(), CORRELATION_ID),
        (p.text.reply_to.is_some(), REPLY_TO),
        (p.text.expiration.is_some(), EXPIRATION),
        (p.text.message_id.is_some(), MESSAGE_ID),
        (p.timestamp.is_some(), TIMESTAMP),
        (p.text.kind.is_some(), KIND),
        (p.text.user_id.is_some(), USER_ID),
        (p.text.app_id.is_some(), APP_ID),
        (p.text.cluster_id.is_some(), CLUSTER_ID),
    ]
    .into_iter()
    .filter(|(present, _)| *present)
    .fold(0, |all, (_, flag)| all | flag)
}

/// A short string, when the property is present.
fn put_optional(out: &mut BytesMut, text: Option<&str>) {
    if let Some(text) = text {
        put_short(out, cut_short(text).as_bytes());
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
