//! MQTT 3.1.1 and 5 packets, by hand: CONNECT, SUBSCRIBE, PUBLISH and the acknowledgements,
//! and an in-place parser for what the broker sends (fixed header, Remaining Length varint,
//! MQTT-1.5.5).

use bytes::{BufMut, BytesMut};

use crate::io::{protocol, ClientError};

/// CONNACK.
pub const CONNACK: u8 = 2;
/// PUBLISH.
pub const PUBLISH: u8 = 3;
/// PUBACK.
pub const PUBACK: u8 = 4;
/// PUBREC.
pub const PUBREC: u8 = 5;
/// PUBREL.
pub const PUBREL: u8 = 6;
/// PUBCOMP.
pub const PUBCOMP: u8 = 7;
/// SUBACK.
pub const SUBACK: u8 = 9;
/// PINGRESP.
pub const PINGRESP: u8 = 13;
/// DISCONNECT.
pub const DISCONNECT: u8 = 14;

/// Appends a Remaining Length.
pub fn varint(out: &mut BytesMut, mut n: usize) {
    loop {
        let byte = (n % 128) as u8;
        n /= 128;
        if n == 0 {
            out.put_u8(byte);
            return;
        }
        out.put_u8(byte | 0x80);
    }
}

fn string(out: &mut BytesMut, s: &[u8]) {
    out.put_u16(u16::try_from(s.len()).unwrap_or(u16::MAX));
    out.extend_from_slice(s.get(..usize::from(u16::MAX)).unwrap_or(s));
}

fn packet(out: &mut BytesMut, first: u8, body: &[u8]) {
    out.put_u8(first);
    varint(out, body.len());
    out.extend_from_slice(body);
}

/// CONNECT with user name and password, clean session, for protocol level `version`.
pub fn connect(
    out: &mut BytesMut,
    version: u8,
    client_id: &str,
    keep_alive: u16,
    user: &str,
    password: &str,
) {
    let mut b = BytesMut::new();
    string(&mut b, b"MQTT");
    b.put_u8(version);
    b.put_u8(0x80 | 0x40 | 0x02);
    b.put_u16(keep_alive);
    if version == 5 {
        b.put_u8(0);
    }
    string(&mut b, client_id.as_bytes());
    string(&mut b, user.as_bytes());
    string(&mut b, password.as_bytes());
    packet(out, 0x10, &b);
}

/// SUBSCRIBE to one filter.
pub fn subscribe(out: &mut BytesMut, version: u8, id: u16, filter: &str, qos: u8) {
    let mut b = BytesMut::new();
    b.put_u16(id);
    if version == 5 {
        b.put_u8(0);
    }
    string(&mut b, filter.as_bytes());
    b.put_u8(qos);
    packet(out, 0x82, &b);
}

/// An acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP) of packet `id`.
pub fn ack(out: &mut BytesMut, kind: u8, id: u16) {
    let flags = if kind == PUBREL { 2 } else { 0 };
    out.put_u8(kind << 4 | flags);
    out.put_u8(2);
    out.put_u16(id);
}

/// PINGREQ.
pub fn ping(out: &mut BytesMut) {
    out.extend_from_slice(&[0xC0, 0]);
}

/// DISCONNECT (normal, in both versions).
pub fn disconnect(out: &mut BytesMut) {
    out.extend_from_slice(&[0xE0, 0]);
}

/// Appends a PUBLISH of a `size`-byte payload stamped `now_ns`; `id` is used for QoS > 0.
pub fn publish(
    out: &mut BytesMut,
    version: u8,
    topic: &str,
    qos: u8,
    id: u16,
    size: usize,
    now_ns: u64,
) {
    let id_len = if qos > 0 { 2 } else { 0 };
    let props = usize::from(version == 5);
    out.put_u8(0x30 | qos << 1);
    varint(out, 2 + topic.len() + id_len + props + size);
    string(out, topic.as_bytes());
    if qos > 0 {
        out.put_u16(id);
    }
    if version == 5 {
        out.put_u8(0);
    }
    crate::payload::write(out, size, now_ns);
}

/// One packet from the broker, borrowed from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Packet type (the high nibble).
    pub kind: u8,
    /// Flags (the low nibble).
    pub flags: u8,
    /// Everything after the Remaining Length.
    pub body: &'a [u8],
}

/// The next whole packet in `buf` and its length, `Ok(None)` until one is complete.
pub fn parse(buf: &[u8]) -> Result<Option<(Packet<'_>, usize)>, ClientError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let mut len = 0usize;
    for i in 0..4 {
        let Some(&byte) = buf.get(1 + i) else {
            return Ok(None);
        };
        len |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            let start = 2 + i;
            let Some(body) = buf.get(start..start + len) else {
                return Ok(None);
            };
            let packet = Packet {
                kind: first >> 4,
                flags: first & 0x0F,
                body,
            };
            return Ok(Some((packet, start + len)));
        }
    }
    Err(protocol("MQTT Remaining Length over 4 bytes"))
}

/// A PUBLISH from the broker: its packet id (QoS > 0) and payload.
pub fn publish_parts(version: u8, flags: u8, body: &[u8]) -> Result<(u8, u16, &[u8]), ClientError> {
    let short = || protocol("MQTT PUBLISH too short");
    let qos = flags >> 1 & 3;
    let topic_len = usize::from(u16::from_be_bytes(
        body.get(..2)
            .ok_or_else(short)?
            .try_into()
            .map_err(|_| short())?,
    ));
    let mut at = 2 + topic_len;
    let mut id = 0;
    if qos > 0 {
        let bytes = body.get(at..at + 2).ok_or_else(short)?;
        id = u16::from_be_bytes(bytes.try_into().map_err(|_| short())?);
        at += 2;
    }
    if version == 5 {
        let (props, used) = read_varint(body.get(at..).ok_or_else(short)?)?;
        at += used + props;
    }
    Ok((qos, id, body.get(at..).ok_or_else(short)?))
}

/// A varint at the start of `bytes`: its value and length.
pub fn read_varint(bytes: &[u8]) -> Result<(usize, usize), ClientError> {
    let mut n = 0usize;
    for (i, byte) in bytes.iter().take(4).enumerate() {
        n |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((n, i + 1));
        }
    }
    Err(protocol("MQTT bad variable byte integer"))
}

/// The packet id at the start of an acknowledgement.
pub fn ack_id(body: &[u8]) -> Result<u16, ClientError> {
    body.get(..2)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_be_bytes)
        .ok_or_else(|| protocol("MQTT acknowledgement too short"))
}

/// The reason code of an acknowledgement (MQTT 5 only; absent means success).
pub fn ack_reason(body: &[u8]) -> u8 {
    body.get(2).copied().unwrap_or(0)
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
