//! Newtypes for the ids the store hands out or is given.

use std::fmt;

/// A message, numbered by the store in append order. Ids are never reused, so an id names one
/// message for the life of the data directory.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct MessageId(pub u64);

/// A durable queue, numbered by the caller. The caller must never reuse an id for a different
/// queue while records of the old one may remain on disk (allocate from a counter kept in the
/// metadata records).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct QueueId(pub u64);

/// A segment file, numbered in the order segments are created.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SegmentId(pub u32);

/// A namespace for metadata keys (the caller's choice: one for vhosts, one for queues, ...).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Keyspace(pub u16);

/// Where a record sits: its segment, its byte offset and its framed length.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Location {
    /// The segment holding the record.
    pub segment: SegmentId,
    /// Byte offset of the record's frame in the segment file.
    pub offset: u32,
    /// Length of the whole frame (header and payload).
    pub len: u32,
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message {}", self.0)
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "queue {}", self.0)
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "segment {}", self.0)
    }
}

impl SegmentId {
    /// The segment's file name: the id in 10 decimal digits, so names sort by id.
    pub fn file_name(&self) -> String {
        format!("{:010}.wseg", self.0)
    }

    /// Parses a name made by [`SegmentId::file_name`]; anything else is not a segment.
    pub fn from_file_name(name: &str) -> Option<SegmentId> {
        let digits = name.strip_suffix(".wseg")?;
        if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(SegmentId)
    }
}
