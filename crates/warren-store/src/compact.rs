//! Compaction: a sealed segment that is mostly dead has its live records copied to the head of
//! the log; once the copies are durable the writer deletes the old segment like any dead one.
//!
//! Only unpinned segments are rewritten: a segment whose acks or deletes still cancel records
//! in older segments must stay as it is until those older segments are gone.

use std::sync::Arc;
use std::time::Instant;

use crate::error::StoreError;
use crate::format::{self, Decoded, Record, HEADER_LEN};
use crate::ids::{Keyspace, Location, MessageId, QueueId, SegmentId};
use crate::shared::{Inner, Shared};
use crate::writer;

/// What one compaction pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Segments rewritten.
    pub segments: usize,
    /// Live records copied to the head.
    pub records: u64,
    /// Bytes copied.
    pub bytes: u64,
}

/// The compactor thread: one pass each time a segment is sealed.
pub(crate) fn run(inner: Arc<Inner>) {
    loop {
        {
            let mut shared = inner.lock();
            while !shared.rolled && !shared.closed && shared.poisoned.is_none() {
                shared = inner
                    .compact
                    .wait(shared)
                    .unwrap_or_else(|e| e.into_inner());
            }
            if shared.closed || shared.poisoned.is_some() {
                return;
            }
            shared.rolled = false;
        }
        let settled_before = Instant::now().checked_sub(inner.config.compact_quiet);
        if let Err(err) = compact(&inner, settled_before) {
            tracing::warn!(error = %err, "compaction stopped");
            return;
        }
    }
}

/// Rewrites every sparse sealed segment, waits until the copies are durable and deletes the
/// dead segments. Repeats (a few times at most) because deleting a segment unpins the later
/// segments whose acks referred to it, which may then be rewritten in turn. With
/// `settled_before`, a segment that lost a live message after that instant is left alone.
pub(crate) fn compact(
    inner: &Inner,
    settled_before: Option<Instant>,
) -> Result<CompactReport, StoreError> {
    let mut report = CompactReport::default();
    for _ in 0..MAX_PASSES {
        let before = report.segments;
        compact_pass(inner, &mut report, settled_before)?;
        writer::delete_dead_segments(inner)?;
        if report.segments == before {
            break;
        }
    }
    Ok(report)
}

const MAX_PASSES: usize = 8;

fn compact_pass(
    inner: &Inner,
    report: &mut CompactReport,
    settled_before: Option<Instant>,
) -> Result<(), StoreError> {
    let candidates = {
        let shared = inner.lock();
        shared.index.compact_candidates(
            shared.durable_pos.0,
            inner.config.compact_ratio,
            settled_before,
        )
    };
    let before = report.segments;
    let mut last_seq = 0;
    for segment in candidates {
        last_seq = copy_segment(inner, segment, report)?;
    }
    if report.segments > before {
        inner.work.notify_one();
        inner.wait_durable(last_seq)?;
    }
    Ok(())
}

/// Copies the live records of `segment` to the head; returns the sequence of the last copy.
fn copy_segment(
    inner: &Inner,
    segment: u32,
    report: &mut CompactReport,
) -> Result<u64, StoreError> {
    let Some(file) = inner.lock().files.get(&segment).cloned() else {
        return Ok(0);
    };
    let len = file
        .size()
        .map_err(|e| StoreError::io("segment length", &e))?;
    let mut buf = vec![0u8; usize::try_from(len).map_err(|_| StoreError::TooLarge(usize::MAX))?];
    file.read_at(&mut buf, 0)
        .map_err(|e| StoreError::io("read segment", &e))?;
    let mut shared = inner.lock_for_append()?;
    let mut pos = HEADER_LEN;
    while let Decoded::Record(record, n) = format::decode(buf.get(pos..).unwrap_or_default()) {
        let here = Location {
            segment: SegmentId(segment),
            offset: pos as u32,
            len: n as u32,
        };
        if copy_record(inner, &mut shared, record, here)? {
            report.records += 1;
            report.bytes += n as u64;
        }
        pos += n;
    }
    report.segments += 1;
    Ok(shared.appended)
}

/// Copies `record` if it is still live at `here`; true if it was.
fn copy_record(
    inner: &Inner,
    shared: &mut Shared,
    record: Record<'_>,
    here: Location,
) -> Result<bool, StoreError> {
    match record {
        Record::Message {
            id,
            properties,
            body,
            ..
        } if is_live_message(shared, id, here) => {
            copy_message(inner, shared, id, properties, body)?;
            Ok(true)
        }
        Record::MetaPut {
            keyspace,
            key,
            value,
        } if is_live_meta(shared, keyspace, key, here) => {
            let put = Record::MetaPut {
                keyspace,
                key,
                value,
            };
            let loc = shared.append(&inner.config, |out| format::encode(out, &put))?;
            let seq = shared.appended;
            shared.index.meta_put((keyspace, Box::from(key)), loc, seq);
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn is_live_message(shared: &Shared, id: MessageId, here: Location) -> bool {
    shared
        .index
        .messages
        .place(id)
        .is_some_and(|p| p.segment == here.segment.0 && p.offset == here.offset)
}

fn is_live_meta(shared: &Shared, keyspace: Keyspace, key: &[u8], here: Location) -> bool {
    shared.index.meta.get(&(keyspace, Box::from(key))) == Some(&here)
}

/// Writes the message again with only the queues that still hold it, then its delivered
/// marks, so the copy needs none of the acks that cancelled the other queues.
fn copy_message(
    inner: &Inner,
    shared: &mut Shared,
    id: MessageId,
    props: &[u8],
    body: &[u8],
) -> Result<(), StoreError> {
    let held: Vec<(QueueId, bool)> = shared
        .index
        .messages
        .queues(id)
        .map(|q| q.iter().collect())
        .unwrap_or_default();
    let queues: Vec<QueueId> = held.iter().map(|(q, _)| *q).collect();
    let loc = shared.append(&inner.config, |out| {
        format::encode_message(out, id, &queues, props, body)
    })?;
    let seq = shared.appended;
    shared.index.relocate(id, loc, seq);
    for (queue, _) in held.iter().filter(|(_, delivered)| *delivered) {
        let loc = shared.append(&inner.config, |out| {
            format::encode(
                out,
                &Record::Delivered {
                    queue: *queue,
                    message: id,
                },
            )
        })?;
        shared.index.delivered(*queue, id, loc.segment.0);
    }
    Ok(())
}
