//! Reading messages back: one at a time (two positional reads when the index does not know
//! the record's length), or in order through a [`ReadCache`], which reads a segment a chunk at
//! a time so that a queue paging in its backlog, or recovery restoring it, costs one read per
//! chunk instead of one or two per message.

use std::sync::Arc;

use bytes::Bytes;

use crate::error::StoreError;
use crate::format::{self, Decoded, Record, FRAME_LEN, MAX_PAYLOAD};
use crate::fs::SegmentFile;
use crate::ids::{Location, MessageId, SegmentId};
use crate::messages::Place;
use crate::store::{Store, StoredMessage};

/// How much of a segment a [`ReadCache`] reads at once unless told otherwise: a few hundred
/// small messages.
const DEFAULT_CHUNK: u64 = 64 * 1024;

/// The last chunk read, for reads in log order. Segments are append-only, so bytes once
/// durable never change; the cache only serves frames that were durable when it was read.
pub struct ReadCache {
    chunk_size: u64,
    segment: u32,
    start: u32,
    chunk: Bytes,
}

impl Default for ReadCache {
    fn default() -> Self {
        Self::with_chunk_size(DEFAULT_CHUNK)
    }
}

impl ReadCache {
    /// A cache that reads `bytes` at a time.
    pub fn with_chunk_size(bytes: u64) -> Self {
        Self {
            chunk_size: bytes.max(1),
            segment: 0,
            start: 0,
            chunk: Bytes::new(),
        }
    }

    /// The frame at `offset` of `segment`, if the chunk holds all of it.
    fn frame(&self, segment: u32, offset: u32) -> Option<Bytes> {
        if segment != self.segment || offset < self.start || self.chunk.is_empty() {
            return None;
        }
        let at = (offset - self.start) as usize;
        let header = self.chunk.get(at..at + FRAME_LEN)?;
        let len =
            FRAME_LEN + u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        (at + len <= self.chunk.len()).then(|| self.chunk.slice(at..at + len))
    }
}

impl Store {
    /// Reads a live message back from disk (a lazy queue keeps only ids in memory). Waits if
    /// the message is still being written.
    pub fn read(&self, id: MessageId) -> Result<StoredMessage, StoreError> {
        let (place, file, _) = self.find(id)?;
        let len = match place.len {
            Some(len) => len,
            None => frame_len(&*file, place.offset)?,
        };
        let mut buf = vec![0u8; len as usize];
        file.read_at(&mut buf, u64::from(place.offset))
            .map_err(|e| StoreError::io("read message", &e))?;
        decode_message(Bytes::from(buf), id)
    }

    /// Like [`Store::read`], but served from `cache` when the message is in the chunk it
    /// holds; otherwise reads the chunk that starts with the message.
    pub fn read_cached(
        &self,
        id: MessageId,
        cache: &mut ReadCache,
    ) -> Result<StoredMessage, StoreError> {
        let (place, file, durable_end) = self.find(id)?;
        if let Some(frame) = cache.frame(place.segment, place.offset) {
            return decode_message(frame, id).map(detached);
        }
        let size = file
            .size()
            .map_err(|e| StoreError::io("segment length", &e))?;
        let start = u64::from(place.offset);
        let end = (start + cache.chunk_size).min(size).min(durable_end);
        let mut buf = vec![0u8; end.saturating_sub(start) as usize];
        file.read_at(&mut buf, start)
            .map_err(|e| StoreError::io("read messages", &e))?;
        cache.segment = place.segment;
        cache.start = place.offset;
        cache.chunk = Bytes::from(buf);
        match cache.frame(place.segment, place.offset) {
            Some(frame) => decode_message(frame, id).map(detached),
            // Larger than a chunk: read on its own.
            None => self.read(id),
        }
    }

    /// Where a live message's record is, once it is durable; its segment's file; and how far
    /// that segment is durable.
    fn find(&self, id: MessageId) -> Result<(Place, Arc<dyn SegmentFile>, u64), StoreError> {
        let mut shared = self.inner.lock();
        let place = shared
            .index
            .messages
            .place(id)
            .ok_or(StoreError::UnknownMessage(id))?;
        // The writer makes whole batches durable, so a durable position past the record's
        // first byte covers all of it.
        while shared.durable_pos <= (place.segment, u64::from(place.offset)) {
            shared.check_open()?;
            shared = self
                .inner
                .progress
                .wait(shared)
                .unwrap_or_else(|e| e.into_inner());
        }
        let durable_end = match shared.durable_pos {
            (segment, pos) if segment == place.segment => pos,
            _ => u64::MAX,
        };
        let file = shared.files.get(&place.segment).cloned();
        Ok((
            place,
            file.ok_or(StoreError::UnknownMessage(id))?,
            durable_end,
        ))
    }

    /// Where a live message's record is, with its length.
    pub fn location(&self, id: MessageId) -> Option<Location> {
        let (place, file, _) = self.find(id).ok()?;
        let len = match place.len {
            Some(len) => len,
            None => frame_len(&*file, place.offset).ok()?,
        };
        Some(Location {
            segment: SegmentId(place.segment),
            offset: place.offset,
            len,
        })
    }
}

/// The framed length of the record at `offset`, from its frame header.
fn frame_len(file: &dyn SegmentFile, offset: u32) -> Result<u32, StoreError> {
    let mut header = [0u8; FRAME_LEN];
    file.read_at(&mut header, u64::from(offset))
        .map_err(|e| StoreError::io("read record header", &e))?;
    let payload = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    if payload as usize > MAX_PAYLOAD {
        return Err(StoreError::Corrupt(format!(
            "record at offset {offset} claims {payload} bytes"
        )));
    }
    Ok(FRAME_LEN as u32 + payload)
}

/// The message copied out of the chunk, so that a message kept long (unacknowledged, say)
/// does not pin the whole chunk in memory.
fn detached(m: StoredMessage) -> StoredMessage {
    StoredMessage {
        properties: Bytes::copy_from_slice(&m.properties),
        body: Bytes::copy_from_slice(&m.body),
    }
}

fn decode_message(buf: Bytes, id: MessageId) -> Result<StoredMessage, StoreError> {
    let Decoded::Record(
        Record::Message {
            id: found,
            properties,
            body,
            ..
        },
        _,
    ) = format::decode(&buf)
    else {
        return Err(StoreError::Corrupt(format!("{id} does not decode")));
    };
    if found != id {
        return Err(StoreError::Corrupt(format!(
            "{id} found {found} at its location"
        )));
    }
    let props = buf.slice_ref(properties);
    let body = buf.slice_ref(body);
    Ok(StoredMessage {
        properties: props,
        body,
    })
}
