//! On-disk format, version 1. Pure: bytes in, records out; no I/O.
//!
//! ```text
//! segment = header record*
//! header  = magic:"WRNSTORE" version:u32 segment:u32 next_id:u64 crc:u32
//!                                        crc32c of the first 24 bytes; next_id is the
//!                                        store's next message id when the segment began
//! record  = len:u32 crc:u32 type:u8 payload:len bytes            crc32c of len, type, payload
//!
//! type 1 message     id:u64 count:u16 queue:u64*count props_len:u32 props body
//! type 2 ack         queue:u64 message:u64
//! type 3 delivered   queue:u64 message:u64
//! type 4 drop queue  queue:u64 below:u64        every message of the queue with id < below
//! type 5 meta put    keyspace:u16 key_len:u16 key value
//! type 6 meta delete keyspace:u16 key_len:u16 key
//! type 7 shutdown    (empty)                    written last by a clean close
//! ```
//!
//! Integers are little-endian. A record is valid only if its whole frame is present and its
//! checksum matches; the reader never trusts a length before checking it against the bytes it
//! has and [`MAX_PAYLOAD`].

use crate::error::StoreError;
use crate::ids::{Keyspace, MessageId, QueueId, SegmentId};

/// Identifies a Warren segment file.
pub const MAGIC: &[u8; 8] = b"WRNSTORE";
/// The format this code writes. Readers reject other versions rather than guess.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the segment header.
pub const HEADER_LEN: usize = 28;
/// Length of a record's frame header (len, crc, type).
pub const FRAME_LEN: usize = 9;
/// Largest payload a record may carry (bodies are limited well below this by the broker).
pub const MAX_PAYLOAD: usize = 1 << 30;

const T_MESSAGE: u8 = 1;
const T_ACK: u8 = 2;
const T_DELIVERED: u8 = 3;
const T_DROP_QUEUE: u8 = 4;
const T_META_PUT: u8 = 5;
const T_META_DELETE: u8 = 6;
const T_SHUTDOWN: u8 = 7;

/// One decoded record, borrowing from the buffer it was read from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Record<'a> {
    /// A message and the queues it was enqueued to.
    Message {
        /// The store-assigned id.
        id: MessageId,
        /// The queues holding the message when the record was written.
        queues: QueueList<'a>,
        /// Properties, encoded by the caller.
        properties: &'a [u8],
        /// The body.
        body: &'a [u8],
    },
    /// A queue is done with a message.
    Ack {
        /// The queue.
        queue: QueueId,
        /// The message.
        message: MessageId,
    },
    /// A queue handed a message to a consumer (for the redelivered flag).
    Delivered {
        /// The queue.
        queue: QueueId,
        /// The message.
        message: MessageId,
    },
    /// A queue dropped every message with an id below `below` (purge or delete).
    DropQueue {
        /// The queue.
        queue: QueueId,
        /// Messages with smaller ids are gone from the queue.
        below: MessageId,
    },
    /// A metadata value was set.
    MetaPut {
        /// The key's namespace.
        keyspace: Keyspace,
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
    },
    /// A metadata key was deleted.
    MetaDelete {
        /// The key's namespace.
        keyspace: Keyspace,
        /// The key.
        key: &'a [u8],
    },
    /// The store was closed cleanly after this point.
    Shutdown,
}

/// The queue ids of a message record, read in place.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct QueueList<'a>(&'a [u8]);

impl<'a> QueueList<'a> {
    /// Iterates the queue ids.
    pub fn iter(&self) -> impl Iterator<Item = QueueId> + 'a {
        self.0.chunks_exact(8).map(|c| QueueId(le_u64(c)))
    }

    /// How many queues.
    pub fn len(&self) -> usize {
        self.0.len() / 8
    }

    /// True if the message was enqueued nowhere.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What [`decode`] found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A valid record and its framed length.
    Record(Record<'a>, usize),
    /// The buffer ends inside a frame: a torn write, or the end of the data.
    Incomplete,
    /// The bytes are not a valid record.
    Corrupt(&'static str),
}

/// Encodes a segment header. `next_id` keeps message ids from being reused after every older
/// segment is deleted.
pub fn encode_header(segment: SegmentId, next_id: MessageId) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&segment.0.to_le_bytes());
    h[16..24].copy_from_slice(&next_id.0.to_le_bytes());
    let crc = crc32c::crc32c(&h[..24]);
    h[24..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a segment header (magic, checksum, version, and that it names `expected`) and
/// returns the next message id it records.
pub fn check_header(buf: &[u8], expected: SegmentId) -> Result<MessageId, String> {
    let h = buf
        .get(..HEADER_LEN)
        .ok_or("segment shorter than its header")?;
    let (body, crc) = h.split_at(24);
    if &body[..8] != MAGIC {
        return Err("not a segment (bad magic)".into());
    }
    if crc32c::crc32c(body) != le_u32(crc) {
        return Err("segment header checksum mismatch".into());
    }
    let version = le_u32(&body[8..12]);
    if version != FORMAT_VERSION {
        return Err(format!("segment format version {version} is not supported"));
    }
    let id = le_u32(&body[12..16]);
    if id != expected.0 {
        return Err(format!("header names segment {id}"));
    }
    Ok(MessageId(le_u64(&body[16..24])))
}

/// Appends a message record; returns its framed length.
pub fn encode_message(
    out: &mut Vec<u8>,
    id: MessageId,
    queues: &[QueueId],
    properties: &[u8],
    body: &[u8],
) -> Result<usize, StoreError> {
    let count = u16::try_from(queues.len()).map_err(|_| StoreError::TooLarge(queues.len()))?;
    let props_len =
        u32::try_from(properties.len()).map_err(|_| StoreError::TooLarge(properties.len()))?;
    let payload = 8 + 2 + 8 * queues.len() + 4 + properties.len() + body.len();
    frame(out, T_MESSAGE, payload, |out| {
        out.extend_from_slice(&id.0.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        for q in queues {
            out.extend_from_slice(&q.0.to_le_bytes());
        }
        out.extend_from_slice(&props_len.to_le_bytes());
        out.extend_from_slice(properties);
        out.extend_from_slice(body);
    })
}

/// Appends any record but a message (use [`encode_message`]); returns its framed length.
pub fn encode(out: &mut Vec<u8>, record: &Record<'_>) -> Result<usize, StoreError> {
    match *record {
        Record::Message {
            id,
            queues,
            properties,
            body,
        } => {
            let queues: Vec<QueueId> = queues.iter().collect();
            encode_message(out, id, &queues, properties, body)
        }
        Record::Ack { queue, message } => pair(out, T_ACK, queue.0, message.0),
        Record::Delivered { queue, message } => pair(out, T_DELIVERED, queue.0, message.0),
        Record::DropQueue { queue, below } => pair(out, T_DROP_QUEUE, queue.0, below.0),
        Record::MetaPut {
            keyspace,
            key,
            value,
        } => meta(out, T_META_PUT, keyspace, key, value),
        Record::MetaDelete { keyspace, key } => meta(out, T_META_DELETE, keyspace, key, &[]),
        Record::Shutdown => frame(out, T_SHUTDOWN, 0, |_| {}),
    }
}

fn pair(out: &mut Vec<u8>, kind: u8, a: u64, b: u64) -> Result<usize, StoreError> {
    frame(out, kind, 16, |out| {
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
    })
}

fn meta(
    out: &mut Vec<u8>,
    kind: u8,
    ks: Keyspace,
    key: &[u8],
    value: &[u8],
) -> Result<usize, StoreError> {
    let key_len = u16::try_from(key.len()).map_err(|_| StoreError::TooLarge(key.len()))?;
    frame(out, kind, 4 + key.len() + value.len(), |out| {
        out.extend_from_slice(&ks.0.to_le_bytes());
        out.extend_from_slice(&key_len.to_le_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(value);
    })
}

/// Writes the frame header, the payload, then patches in the checksum.
fn frame(
    out: &mut Vec<u8>,
    kind: u8,
    payload: usize,
    fill: impl FnOnce(&mut Vec<u8>),
) -> Result<usize, StoreError> {
    if payload > MAX_PAYLOAD {
        return Err(StoreError::TooLarge(payload));
    }
    let start = out.len();
    let len = (payload as u32).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&[0; 4]);
    out.push(kind);
    fill(out);
    debug_assert_eq!(out.len() - start, FRAME_LEN + payload);
    let crc = record_crc(&len, kind, &out[start + FRAME_LEN..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(FRAME_LEN + payload)
}

fn record_crc(len: &[u8], kind: u8, payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(len);
    let crc = crc32c::crc32c_append(crc, &[kind]);
    crc32c::crc32c_append(crc, payload)
}

/// Decodes the record at the start of `buf`.
pub fn decode(buf: &[u8]) -> Decoded<'_> {
    let Some(head) = buf.get(..FRAME_LEN) else {
        return Decoded::Incomplete;
    };
    let len = le_u32(&head[..4]) as usize;
    if len > MAX_PAYLOAD {
        return Decoded::Corrupt("record length over the limit");
    }
    let Some(payload) = buf.get(FRAME_LEN..FRAME_LEN + len) else {
        return Decoded::Incomplete;
    };
    if record_crc(&head[..4], head[8], payload) != le_u32(&head[4..8]) {
        return Decoded::Corrupt("record checksum mismatch");
    }
    match parse(head[8], payload) {
        Some(record) => Decoded::Record(record, FRAME_LEN + len),
        None => Decoded::Corrupt("malformed record payload"),
    }
}

fn parse(kind: u8, p: &[u8]) -> Option<Record<'_>> {
    let mut r = Reader(p);
    let record = match kind {
        T_MESSAGE => {
            let id = MessageId(r.u64()?);
            let count = usize::from(r.u16()?);
            let queues = QueueList(r.take(count * 8)?);
            let props_len = r.u32()? as usize;
            let properties = r.take(props_len)?;
            return Some(Record::Message {
                id,
                queues,
                properties,
                body: r.0,
            });
        }
        T_ACK => Record::Ack {
            queue: QueueId(r.u64()?),
            message: MessageId(r.u64()?),
        },
        T_DELIVERED => Record::Delivered {
            queue: QueueId(r.u64()?),
            message: MessageId(r.u64()?),
        },
        T_DROP_QUEUE => Record::DropQueue {
            queue: QueueId(r.u64()?),
            below: MessageId(r.u64()?),
        },
        T_META_PUT | T_META_DELETE => {
            let keyspace = Keyspace(r.u16()?);
            let key_len = usize::from(r.u16()?);
            let key = r.take(key_len)?;
            if kind == T_META_DELETE {
                Record::MetaDelete { keyspace, key }
            } else {
                return Some(Record::MetaPut {
                    keyspace,
                    key,
                    value: r.0,
                });
            }
        }
        T_SHUTDOWN => Record::Shutdown,
        _ => return None,
    };
    r.0.is_empty().then_some(record)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(le_u32)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(le_u64)
    }
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
