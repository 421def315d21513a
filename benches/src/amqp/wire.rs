//! AMQP 0-9-1 frames, by hand: the few methods a benchmark client sends, and an in-place
//! parser for what it receives (spec 4.2.3: type, channel, size, payload, %xCE).

use bytes::{BufMut, BytesMut};

use crate::io::{protocol, ClientError};

/// The protocol header a client opens with.
pub const PROTOCOL_HEADER: &[u8] = b"AMQP\x00\x00\x09\x01";
const FRAME_METHOD: u8 = 1;
const FRAME_HEADER: u8 = 2;
const FRAME_BODY: u8 = 3;
const FRAME_HEARTBEAT: u8 = 8;
const FRAME_END: u8 = 0xCE;
const OVERHEAD: usize = 8;

/// A (class, method) id pair.
pub type MethodId = (u16, u16);
/// connection.start
pub const START: MethodId = (10, 10);
/// connection.tune
pub const TUNE: MethodId = (10, 30);
/// connection.open-ok
pub const OPEN_OK: MethodId = (10, 41);
/// connection.close
pub const CONNECTION_CLOSE: MethodId = (10, 50);
/// channel.open-ok
pub const CHANNEL_OPEN_OK: MethodId = (20, 11);
/// channel.close
pub const CHANNEL_CLOSE: MethodId = (20, 40);
/// queue.declare-ok
pub const DECLARE_OK: MethodId = (50, 11);
/// queue.bind-ok
pub const BIND_OK: MethodId = (50, 21);
/// basic.qos-ok
pub const QOS_OK: MethodId = (60, 11);
/// basic.consume-ok
pub const CONSUME_OK: MethodId = (60, 21);
/// basic.return
pub const RETURN: MethodId = (60, 50);
/// basic.deliver
pub const DELIVER: MethodId = (60, 60);
/// basic.ack
pub const ACK: MethodId = (60, 80);
/// basic.nack
pub const NACK: MethodId = (60, 120);
/// confirm.select-ok
pub const SELECT_OK: MethodId = (85, 11);

/// Appends a method frame whose arguments `args` writes.
pub fn method(out: &mut BytesMut, channel: u16, id: MethodId, args: impl FnOnce(&mut BytesMut)) {
    out.put_u8(FRAME_METHOD);
    out.put_u16(channel);
    let size_at = out.len();
    out.put_u32(0);
    out.put_u16(id.0);
    out.put_u16(id.1);
    args(out);
    patch_size(out, size_at);
    out.put_u8(FRAME_END);
}

fn patch_size(out: &mut BytesMut, size_at: usize) {
    let size = u32::try_from(out.len() - size_at - 4).unwrap_or(u32::MAX);
    if let Some(slot) = out.get_mut(size_at..size_at + 4) {
        slot.copy_from_slice(&size.to_be_bytes());
    }
}

/// Appends a short string (truncated at 255 bytes).
pub fn shortstr(out: &mut BytesMut, s: &str) {
    let bytes = s.as_bytes();
    let len = bytes.len().min(255);
    out.put_u8(len as u8);
    out.extend_from_slice(bytes.get(..len).unwrap_or_default());
}

fn longstr(out: &mut BytesMut, bytes: &[u8]) {
    out.put_u32(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(bytes);
}

fn empty_table(out: &mut BytesMut) {
    out.put_u32(0);
}

/// connection.start-ok with PLAIN credentials.
pub fn start_ok(out: &mut BytesMut, user: &str, password: &str) {
    method(out, 0, (10, 11), |o| {
        empty_table(o);
        shortstr(o, "PLAIN");
        longstr(o, format!("\0{user}\0{password}").as_bytes());
        shortstr(o, "en_US");
    });
}

/// connection.tune-ok, heartbeats off.
pub fn tune_ok(out: &mut BytesMut, channel_max: u16, frame_max: u32) {
    method(out, 0, (10, 31), |o| {
        o.put_u16(channel_max);
        o.put_u32(frame_max);
        o.put_u16(0);
    });
}

/// connection.open.
pub fn open(out: &mut BytesMut, vhost: &str) {
    method(out, 0, (10, 40), |o| {
        shortstr(o, vhost);
        shortstr(o, "");
        o.put_u8(0);
    });
}

/// connection.close, a normal shutdown.
pub fn close(out: &mut BytesMut) {
    method(out, 0, CONNECTION_CLOSE, |o| {
        o.put_u16(200);
        shortstr(o, "bye");
        o.put_u32(0);
    });
}

/// channel.open.
pub fn channel_open(out: &mut BytesMut, channel: u16) {
    method(out, channel, (20, 10), |o| shortstr(o, ""));
}

/// confirm.select.
pub fn confirm_select(out: &mut BytesMut, channel: u16) {
    method(out, channel, (85, 10), |o| o.put_u8(0));
}

/// basic.qos with a per-consumer prefetch count.
pub fn qos(out: &mut BytesMut, channel: u16, prefetch: u16) {
    method(out, channel, (60, 10), |o| {
        o.put_u32(0);
        o.put_u16(prefetch);
        o.put_u8(0);
    });
}

/// queue.declare flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct QueueFlags {
    /// Survives a restart.
    pub durable: bool,
    /// Owned by this connection.
    pub exclusive: bool,
    /// Deleted with its last consumer.
    pub auto_delete: bool,
}

/// queue.declare; an empty name asks the broker for one.
pub fn queue_declare(out: &mut BytesMut, channel: u16, name: &str, flags: QueueFlags) {
    method(out, channel, (50, 10), |o| {
        o.put_u16(0);
        shortstr(o, name);
        let bits = u8::from(flags.durable) << 1
            | u8::from(flags.exclusive) << 2
            | u8::from(flags.auto_delete) << 3;
        o.put_u8(bits);
        empty_table(o);
    });
}

/// queue.bind.
pub fn queue_bind(out: &mut BytesMut, channel: u16, queue: &str, exchange: &str, key: &str) {
    method(out, channel, (50, 20), |o| {
        o.put_u16(0);
        shortstr(o, queue);
        shortstr(o, exchange);
        shortstr(o, key);
        o.put_u8(0);
        empty_table(o);
    });
}

/// basic.consume.
pub fn consume(out: &mut BytesMut, channel: u16, queue: &str, no_ack: bool) {
    method(out, channel, (60, 20), |o| {
        o.put_u16(0);
        shortstr(o, queue);
        shortstr(o, "");
        o.put_u8(u8::from(no_ack) << 1);
        empty_table(o);
    });
}

/// basic.ack.
pub fn ack(out: &mut BytesMut, channel: u16, tag: u64, multiple: bool) {
    method(out, channel, ACK, |o| {
        o.put_u64(tag);
        o.put_u8(u8::from(multiple));
    });
}

/// The bytes before each body of one publisher: basic.publish and the content header, built
/// once because every message of a run has the same size and properties.
pub fn publish_prefix(
    channel: u16,
    exchange: &str,
    key: &str,
    persistent: bool,
    body_size: usize,
) -> BytesMut {
    let mut out = BytesMut::new();
    method(&mut out, channel, (60, 40), |o| {
        o.put_u16(0);
        shortstr(o, exchange);
        shortstr(o, key);
        o.put_u8(0);
    });
    out.put_u8(FRAME_HEADER);
    out.put_u16(channel);
    let size_at = out.len();
    out.put_u32(0);
    out.put_u16(60);
    out.put_u16(0);
    out.put_u64(body_size as u64);
    if persistent {
        out.put_u16(0x1000);
        out.put_u8(2);
    } else {
        out.put_u16(0);
    }
    patch_size(&mut out, size_at);
    out.put_u8(FRAME_END);
    out
}

/// Appends the body frames of a `size`-byte payload stamped with `now_ns`, each frame at most
/// `frame_max` bytes long.
pub fn stamped_body(out: &mut BytesMut, channel: u16, size: usize, now_ns: u64, frame_max: usize) {
    let chunk = frame_max.saturating_sub(OVERHEAD).max(1);
    let mut left = size;
    let mut first = true;
    while left > 0 {
        let n = left.min(chunk);
        out.put_u8(FRAME_BODY);
        out.put_u16(channel);
        out.put_u32(u32::try_from(n).unwrap_or(u32::MAX));
        if first {
            crate::payload::write(out, n, now_ns);
        } else {
            out.resize(out.len() + n, b'x');
        }
        out.put_u8(FRAME_END);
        left -= n;
        first = false;
    }
}

/// Appends body frames carrying `body`, each at most `frame_max` bytes long.
pub fn body(out: &mut BytesMut, channel: u16, body: &[u8], frame_max: usize) {
    let chunk = frame_max.saturating_sub(OVERHEAD).max(1);
    for piece in body.chunks(chunk) {
        out.put_u8(FRAME_BODY);
        out.put_u16(channel);
        out.put_u32(u32::try_from(piece.len()).unwrap_or(u32::MAX));
        out.extend_from_slice(piece);
        out.put_u8(FRAME_END);
    }
}

/// One frame from the broker, borrowed from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A method with its raw arguments.
    Method(u16, MethodId, &'a [u8]),
    /// A content header: the body size.
    Header(u16, u64),
    /// A body chunk.
    Body(u16, &'a [u8]),
    /// A heartbeat.
    Heartbeat,
}

/// The next whole frame in `buf` and its length, `Ok(None)` until one is complete.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, ClientError> {
    let Some(head) = buf.get(..7) else {
        return Ok(None);
    };
    let mut c = Cursor(head);
    let (kind, channel, size) = (c.u8()?, c.u16()?, c.u32()? as usize);
    let total = size + OVERHEAD;
    let Some(frame) = buf.get(..total) else {
        return Ok(None);
    };
    if frame.last() != Some(&FRAME_END) {
        return Err(protocol("AMQP frame without frame-end"));
    }
    let payload = frame.get(7..7 + size).unwrap_or_default();
    let frame = match kind {
        FRAME_METHOD => {
            let mut c = Cursor(payload);
            let id = (c.u16()?, c.u16()?);
            Frame::Method(channel, id, c.0)
        }
        FRAME_HEADER => Frame::Header(channel, Cursor(payload.get(4..).unwrap_or_default()).u64()?),
        FRAME_BODY => Frame::Body(channel, payload),
        FRAME_HEARTBEAT => Frame::Heartbeat,
        other => return Err(protocol(format!("AMQP frame type {other}"))),
    };
    Ok(Some((frame, total)))
}

/// Reads method arguments.
#[derive(Debug)]
pub struct Cursor<'a>(pub &'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ClientError> {
        if self.0.len() < n {
            return Err(protocol("AMQP method arguments too short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// An octet.
    pub fn u8(&mut self) -> Result<u8, ClientError> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    /// A short.
    pub fn u16(&mut self) -> Result<u16, ClientError> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().unwrap_or_default(),
        ))
    }

    /// A long.
    pub fn u32(&mut self) -> Result<u32, ClientError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }

    /// A long long.
    pub fn u64(&mut self) -> Result<u64, ClientError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }

    /// A short string.
    pub fn shortstr(&mut self) -> Result<&'a str, ClientError> {
        let len = self.u8()? as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| protocol("AMQP short string not UTF-8"))
    }
}

/// The error a connection.close or channel.close from the broker means.
pub fn close_error(id: MethodId, args: &[u8]) -> ClientError {
    let mut c = Cursor(args);
    let code = c.u16().unwrap_or_default();
    let text = c.shortstr().unwrap_or_default();
    let what = if id == CONNECTION_CLOSE {
        "connection"
    } else {
        "channel"
    };
    protocol(format!("AMQP {what} closed by the broker: {code} {text}"))
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
