//! The stored form of messages and of the small records the broker keeps on disk (durable
//! definitions, MQTT sessions): a pure codec, no I/O.
//!
//! Grammar (integers little-endian; `str` = u32 length + UTF-8; `opt<T>` = u8 0/1 + T):
//! ```text
//! message    = version u8 (1 or 2) | exchange str | routing key str | properties
//!              | arrived u64 (version 2 only)
//! properties = content type opt<str> | content encoding opt<str> | headers opt<table>
//!              | delivery mode u8 (0 none, 1 transient, 2 persistent) | priority opt<u8>
//!              | correlation id, reply to, expiration, message id opt<str> each
//!              | timestamp opt<u64> | type, user id, app id, cluster id opt<str> each
//! table      = count u32 | (key str | value)*
//! value      = tag u8 (the AMQP type letter) | payload
//! ```
//! `arrived` is when the message reached its queues, in ms since the Unix epoch: a queue's
//! store record carries it (version 2) so that a TTL keeps counting from there across a
//! restart. Version 1 (written before, and still for whole messages) has no such field and
//! decodes as a message without an arrival time.
//!
//! Decoding is total: any bytes give a value or `None`, never a panic; nesting is checked
//! against `MAX_TABLE_DEPTH` before recursing.

use bytes::Bytes;

use crate::{
    Annotations, DeliveryMode, ExchangeName, FieldTable, FieldValue, Message, Properties,
    RoutingKey, TextProperties, MAX_TABLE_DEPTH,
};

const MESSAGE_VERSION: u8 = 1;
/// Version 1 followed by the arrival time.
const ARRIVED_VERSION: u8 = 2;

/// Appends values to a byte buffer.
#[derive(Default, Debug)]
pub struct Writer {
    /// What was written.
    pub out: Vec<u8>,
}

impl Writer {
    /// Writes or reads one value of the grammar.
    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    /// Writes or reads one value of the grammar.
    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes or reads one value of the grammar.
    pub fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes or reads one value of the grammar.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.out.extend_from_slice(v);
    }

    /// Writes or reads one value of the grammar.
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    /// Writes or reads one value of the grammar.
    pub fn opt_str(&mut self, v: Option<&str>) {
        self.u8(u8::from(v.is_some()));
        if let Some(v) = v {
            self.str(v);
        }
    }

    /// Writes or reads one value of the grammar.
    pub fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }

    /// Writes or reads one value of the grammar.
    pub fn table(&mut self, table: &FieldTable) {
        self.u32(u32::try_from(table.len()).unwrap_or(u32::MAX));
        for (key, value) in table.iter() {
            self.str(key);
            self.value(value);
        }
    }

    fn value(&mut self, value: &FieldValue) {
        match value {
            FieldValue::Bool(v) => self.tagged(b't', &[u8::from(*v)]),
            FieldValue::I8(v) => self.tagged(b'b', &v.to_le_bytes()),
            FieldValue::U8(v) => self.tagged(b'B', &[*v]),
            FieldValue::I16(v) => self.tagged(b's', &v.to_le_bytes()),
            FieldValue::U16(v) => self.tagged(b'u', &v.to_le_bytes()),
            FieldValue::I32(v) => self.tagged(b'I', &v.to_le_bytes()),
            FieldValue::U32(v) => self.tagged(b'i', &v.to_le_bytes()),
            FieldValue::I64(v) => self.tagged(b'l', &v.to_le_bytes()),
            FieldValue::F32(v) => self.tagged(b'f', &v.to_le_bytes()),
            FieldValue::F64(v) => self.tagged(b'd', &v.to_le_bytes()),
            FieldValue::Decimal(scale, v) => {
                self.tagged(b'D', &[*scale]);
                self.u32(*v);
            }
            FieldValue::LongString(v) => self.tagged_bytes(b'S', v),
            FieldValue::Bytes(v) => self.tagged_bytes(b'x', v),
            FieldValue::Timestamp(v) => self.tagged(b'T', &v.to_le_bytes()),
            FieldValue::Table(t) => {
                self.u8(b'F');
                self.table(t);
            }
            FieldValue::Array(items) => {
                self.u8(b'A');
                self.u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
                for item in items {
                    self.value(item);
                }
            }
            FieldValue::Void => self.u8(b'V'),
        }
    }

    fn tagged(&mut self, tag: u8, payload: &[u8]) {
        self.u8(tag);
        self.out.extend_from_slice(payload);
    }

    fn tagged_bytes(&mut self, tag: u8, payload: &[u8]) {
        self.u8(tag);
        self.bytes(payload);
    }
}

/// Reads values back; every read returns `None` past the end.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Writes or reads one value of the grammar.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Writes or reads one value of the grammar.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.buf.split_at_checked(n)?;
        self.buf = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// Writes or reads one value of the grammar.
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    /// Writes or reads one value of the grammar.
    pub fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    /// Writes or reads one value of the grammar.
    pub fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    /// Writes or reads one value of the grammar.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        self.take(len)
    }

    /// Writes or reads one value of the grammar.
    pub fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    /// Writes or reads one value of the grammar.
    pub fn opt_str(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.str()?.to_owned())),
            _ => None,
        }
    }

    /// Writes or reads one value of the grammar.
    pub fn bool(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// Writes or reads one value of the grammar.
    pub fn table(&mut self, depth: usize) -> Option<FieldTable> {
        if depth > MAX_TABLE_DEPTH {
            return None;
        }
        let count = self.u32()?;
        let mut table = FieldTable::new();
        for _ in 0..count {
            let key = self.str()?.to_owned();
            let value = self.value(depth)?;
            table.insert(key, value);
        }
        Some(table)
    }

    fn value(&mut self, depth: usize) -> Option<FieldValue> {
        Some(match self.u8()? {
            b't' => FieldValue::Bool(self.bool()?),
            b'b' => FieldValue::I8(i8::from_le_bytes(self.array()?)),
            b'B' => FieldValue::U8(self.u8()?),
            b's' => FieldValue::I16(i16::from_le_bytes(self.array()?)),
            b'u' => FieldValue::U16(u16::from_le_bytes(self.array()?)),
            b'I' => FieldValue::I32(i32::from_le_bytes(self.array()?)),
            b'i' => FieldValue::U32(self.u32()?),
            b'l' => FieldValue::I64(i64::from_le_bytes(self.array()?)),
            b'f' => FieldValue::F32(f32::from_le_bytes(self.array()?)),
            b'd' => FieldValue::F64(f64::from_le_bytes(self.array()?)),
            b'D' => FieldValue::Decimal(self.u8()?, self.u32()?),
            b'S' => FieldValue::LongString(Bytes::copy_from_slice(self.bytes()?)),
            b'x' => FieldValue::Bytes(Bytes::copy_from_slice(self.bytes()?)),
            b'T' => FieldValue::Timestamp(self.u64()?),
            b'F' => FieldValue::Table(self.table(depth + 1)?),
            b'A' => self.array_value(depth + 1)?,
            b'V' => FieldValue::Void,
            _ => return None,
        })
    }

    fn array_value(&mut self, depth: usize) -> Option<FieldValue> {
        if depth > MAX_TABLE_DEPTH {
            return None;
        }
        let count = self.u32()?;
        // Each value takes at least its tag byte, so a huge count on short input stops early.
        let mut items = Vec::with_capacity(count.min(1024) as usize);
        for _ in 0..count {
            items.push(self.value(depth)?);
        }
        Some(FieldValue::Array(items))
    }
}

/// The stored form of a message's annotations and properties (the body is stored beside it).
pub fn encode_message(message: &Message) -> Vec<u8> {
    encode_head(message, MESSAGE_VERSION).out
}

/// [`encode_message`] with the time the message reached its queues (ms since the Unix
/// epoch), for a queue's store record.
pub fn encode_arrived_message(message: &Message, arrived_ms: u64) -> Vec<u8> {
    let mut w = encode_head(message, ARRIVED_VERSION);
    w.u64(arrived_ms);
    w.out
}

fn encode_head(message: &Message, version: u8) -> Writer {
    let mut w = Writer::default();
    w.u8(version);
    w.str(message.annotations.exchange.as_str());
    w.str(message.annotations.routing_key.as_str());
    encode_properties(&mut w, &message.properties);
    w
}

fn encode_properties(w: &mut Writer, p: &Properties) {
    w.opt_str(p.text.content_type.as_deref());
    w.opt_str(p.text.content_encoding.as_deref());
    w.u8(u8::from(p.headers.is_some()));
    if let Some(headers) = &p.headers {
        w.table(headers);
    }
    w.u8(match p.delivery_mode {
        None => 0,
        Some(DeliveryMode::Transient) => 1,
        Some(DeliveryMode::Persistent) => 2,
    });
    w.u8(u8::from(p.priority.is_some()));
    if let Some(priority) = p.priority {
        w.u8(priority);
    }
    for text in [
        &p.text.correlation_id,
        &p.text.reply_to,
        &p.text.expiration,
        &p.text.message_id,
    ] {
        w.opt_str(text.as_deref());
    }
    w.u8(u8::from(p.timestamp.is_some()));
    if let Some(ts) = p.timestamp {
        w.u64(ts);
    }
    for text in [
        &p.text.kind,
        &p.text.user_id,
        &p.text.app_id,
        &p.text.cluster_id,
    ] {
        w.opt_str(text.as_deref());
    }
}

/// A whole message (properties, annotations and body) in one buffer.
pub fn encode_whole_message(message: &Message) -> Vec<u8> {
    let mut w = Writer {
        out: encode_message(message),
    };
    w.bytes(&message.body);
    w.out
}

/// The message from [`encode_whole_message`]'s bytes.
pub fn decode_whole_message(stored: &[u8]) -> Option<Message> {
    let mut r = Reader::new(stored);
    let (annotations, properties, _) = decode_head(&mut r)?;
    let body = Bytes::copy_from_slice(r.bytes()?);
    Some(Message {
        annotations,
        properties,
        body,
    })
}

/// The message again from its stored properties and body; `None` if they do not decode.
pub fn decode_message(stored: &[u8], body: Bytes) -> Option<Message> {
    decode_arrived_message(stored, body).map(|(message, _)| message)
}

/// [`decode_message`], with the arrival time when the record has one (version 2).
pub fn decode_arrived_message(stored: &[u8], body: Bytes) -> Option<(Message, Option<u64>)> {
    let (annotations, properties, arrived) = decode_head(&mut Reader::new(stored))?;
    let message = Message {
        annotations,
        properties,
        body,
    };
    Some((message, arrived))
}

fn decode_head(r: &mut Reader<'_>) -> Option<(Annotations, Properties, Option<u64>)> {
    let version = r.u8()?;
    if version != MESSAGE_VERSION && version != ARRIVED_VERSION {
        return None;
    }
    let annotations = Annotations {
        exchange: ExchangeName::try_from(r.str()?).ok()?,
        routing_key: RoutingKey::try_from(r.str()?).ok()?,
        publisher: None,
    };
    let properties = decode_properties(r)?;
    let arrived = match version {
        ARRIVED_VERSION => Some(r.u64()?),
        _ => None,
    };
    Some((annotations, properties, arrived))
}

fn decode_properties(r: &mut Reader<'_>) -> Option<Properties> {
    let content_type = r.opt_str()?;
    let content_encoding = r.opt_str()?;
    let headers = match r.u8()? {
        0 => None,
        1 => Some(r.table(0)?),
        _ => return None,
    };
    let delivery_mode = match r.u8()? {
        0 => None,
        1 => Some(DeliveryMode::Transient),
        2 => Some(DeliveryMode::Persistent),
        _ => return None,
    };
    let priority = match r.u8()? {
        0 => None,
        _ => Some(r.u8()?),
    };
    let correlation_id = r.opt_str()?;
    let reply_to = r.opt_str()?;
    let expiration = r.opt_str()?;
    let message_id = r.opt_str()?;
    let timestamp = match r.u8()? {
        0 => None,
        _ => Some(r.u64()?),
    };
    let text = TextProperties {
        content_type,
        content_encoding,
        correlation_id,
        reply_to,
        expiration,
        message_id,
        kind: r.opt_str()?,
        user_id: r.opt_str()?,
        app_id: r.opt_str()?,
        cluster_id: r.opt_str()?,
    };
    Some(Properties {
        headers,
        delivery_mode,
        priority,
        timestamp,
        text: text.into(),
    })
}

#[cfg(test)]
#[path = "persist_tests.rs"]
mod tests;
