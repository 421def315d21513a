//! Recovery: scan every segment in order, verify each record, cut what is torn or corrupt,
//! and rebuild the index, the per-queue backlogs and the metadata.
//!
//! A segment is read whole into one reused buffer and decoded in place, so the scan is
//! sequential and allocates nothing per record beyond the index entry itself.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::backlog::{Backlog, RecoveredMessage};
use crate::error::StoreError;
use crate::format::{self, Decoded, Record, HEADER_LEN};
use crate::fs::{Fs, SegmentFile};
use crate::ids::{Keyspace, Location, QueueId, SegmentId};
use crate::index::{Index, QueueSet};

/// A segment that was cut during recovery.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CutSegment {
    /// The segment.
    pub segment: SegmentId,
    /// Where the first bad byte was.
    pub offset: u64,
    /// How many bytes were cut (or ignored, for a segment whose header is bad).
    pub bytes: u64,
    /// Why.
    pub reason: String,
}

/// What recovery found and how long it took; the broker logs it.
#[derive(Clone, Debug, Default)]
pub struct RecoveryReport {
    /// Segment files read.
    pub segments: usize,
    /// Valid records read.
    pub records: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Live messages (held by at least one queue).
    pub messages: u64,
    /// Queue entries (a message held by two queues counts twice).
    pub queue_entries: u64,
    /// Metadata keys with a value.
    pub metadata: usize,
    /// The last run ended with a clean close.
    pub clean_shutdown: bool,
    /// Torn tails and corrupt regions that were cut.
    pub cut: Vec<CutSegment>,
    /// Wall time of the scan and rebuild.
    pub elapsed: Duration,
}

/// Everything the store held when it was last running.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Each queue's backlog, in message order.
    pub queues: BTreeMap<QueueId, Backlog>,
    /// The current metadata values.
    pub metadata: BTreeMap<(Keyspace, Vec<u8>), Bytes>,
    /// Counts and timing.
    pub report: RecoveryReport,
}

/// The rebuilt state the store continues from.
pub(crate) struct Scanned {
    pub(crate) index: Index,
    pub(crate) files: HashMap<u32, Arc<dyn SegmentFile>>,
    pub(crate) next_id: u64,
    pub(crate) last_segment: u32,
    pub(crate) recovered: Recovered,
}

struct Scan {
    index: Index,
    files: HashMap<u32, Arc<dyn SegmentFile>>,
    metadata: BTreeMap<(Keyspace, Vec<u8>), Bytes>,
    report: RecoveryReport,
    next_id: u64,
    last_was_shutdown: bool,
    buf: Vec<u8>,
}

/// Scans the segments in `dir`.
pub(crate) fn recover(fs: &dyn Fs, dir: &Path) -> Result<Scanned, StoreError> {
    let started = Instant::now();
    let names = fs
        .list(dir)
        .map_err(|e| StoreError::io("list data directory", &e))?;
    let mut segments: Vec<SegmentId> = names
        .iter()
        .filter_map(|n| SegmentId::from_file_name(n))
        .collect();
    segments.sort_unstable();
    let mut scan = Scan {
        index: Index::default(),
        files: HashMap::new(),
        metadata: BTreeMap::new(),
        report: RecoveryReport::default(),
        next_id: 1,
        last_was_shutdown: false,
        buf: Vec::new(),
    };
    for segment in &segments {
        scan.segment(fs, &dir.join(segment.file_name()), *segment)?;
    }
    let last_segment = segments.last().map_or(0, |s| s.0);
    Ok(scan.finish(last_segment, started))
}

impl Scan {
    fn segment(&mut self, fs: &dyn Fs, path: &Path, segment: SegmentId) -> Result<(), StoreError> {
        let file = fs
            .open(path)
            .map_err(|e| StoreError::io("open segment", &e))?;
        let len = file
            .size()
            .map_err(|e| StoreError::io("segment length", &e))?;
        if len < HEADER_LEN as u64 {
            // A segment created but never written in full: nothing in it was ever confirmed.
            self.cut(segment, 0, len, "segment shorter than its header".into());
            return fs
                .remove(path)
                .map_err(|e| StoreError::io("remove torn segment", &e));
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(
            usize::try_from(len).map_err(|_| StoreError::TooLarge(usize::MAX))?,
            0,
        );
        file.read_at(&mut buf, 0)
            .map_err(|e| StoreError::io("read segment", &e))?;
        self.report.segments += 1;
        self.report.bytes += len;
        match format::check_header(&buf, segment) {
            Ok(next_id) => {
                // Every run starts a segment: one after a shutdown record is a later run, which
                // closed cleanly only if this or a later segment ends with its own.
                self.last_was_shutdown = false;
                self.next_id = self.next_id.max(next_id.0);
                self.index.add_segment(segment.0, len);
                let end = self.records(&buf, segment);
                if end < len {
                    file.truncate(end)
                        .and_then(|()| file.sync())
                        .map_err(|e| StoreError::io("cut segment", &e))?;
                }
                self.index.add_segment(segment.0, end);
                self.files.insert(segment.0, file);
            }
            // Keep the file for inspection; nothing in it can be trusted.
            Err(reason) => self.cut(segment, 0, len, reason),
        }
        self.buf = buf;
        Ok(())
    }

    /// Applies every valid record; returns where the valid part ends.
    fn records(&mut self, buf: &[u8], segment: SegmentId) -> u64 {
        let mut pos = HEADER_LEN;
        loop {
            let rest = buf.get(pos..).unwrap_or_default();
            match format::decode(rest) {
                Decoded::Record(record, n) => {
                    self.apply(
                        record,
                        Location {
                            segment,
                            offset: pos as u32,
                            len: n as u32,
                        },
                    );
                    pos += n;
                }
                Decoded::Incomplete if rest.is_empty() => return pos as u64,
                Decoded::Incomplete => return self.cut_at(segment, pos, rest.len(), "torn record"),
                Decoded::Corrupt(why) => return self.cut_at(segment, pos, rest.len(), why),
            }
        }
    }

    fn cut_at(&mut self, segment: SegmentId, pos: usize, bytes: usize, why: &str) -> u64 {
        self.cut(segment, pos as u64, bytes as u64, why.to_owned());
        pos as u64
    }

    fn cut(&mut self, segment: SegmentId, offset: u64, bytes: u64, reason: String) {
        tracing::warn!(%segment, offset, bytes, %reason, "cutting a damaged segment tail");
        self.report.cut.push(CutSegment {
            segment,
            offset,
            bytes,
            reason,
        });
    }

    fn apply(&mut self, record: Record<'_>, loc: Location) {
        self.report.records += 1;
        self.last_was_shutdown = matches!(record, Record::Shutdown);
        let at = loc.segment.0;
        match record {
            Record::Message { id, queues, .. } => {
                self.next_id = self.next_id.max(id.0 + 1);
                if let Some(set) = QueueSet::from_ids(queues.iter()) {
                    self.index.add_message(id, loc, set, 0);
                }
            }
            Record::Ack { queue, message } => self.index.ack(queue, message, at, 0),
            Record::Delivered { queue, message } => self.index.delivered(queue, message, at),
            Record::DropQueue { queue, below } => {
                self.index.drop_queue(queue, below, at, 0);
            }
            Record::MetaPut {
                keyspace,
                key,
                value,
            } => {
                self.index.meta_put((keyspace, Box::from(key)), loc, 0);
                self.metadata
                    .insert((keyspace, key.to_vec()), Bytes::copy_from_slice(value));
            }
            Record::MetaDelete { keyspace, key } => {
                self.index.meta_delete(keyspace, key, at, 0);
                self.metadata.remove(&(keyspace, key.to_vec()));
            }
            Record::Shutdown => {}
        }
    }

    fn finish(self, last_segment: u32, started: Instant) -> Scanned {
        let mut report = self.report;
        report.clean_shutdown = self.last_was_shutdown;
        let queues = backlogs(&self.index, report.clean_shutdown);
        report.queue_entries = queues.values().map(|b| b.len() as u64).sum();
        report.messages = self.index.messages.len() as u64;
        report.metadata = self.metadata.len();
        report.elapsed = started.elapsed();
        let recovered = Recovered {
            queues,
            metadata: self.metadata,
            report,
        };
        Scanned {
            index: self.index,
            files: self.files,
            next_id: self.next_id,
            last_segment,
            recovered,
        }
    }
}

/// Each queue's backlog in id order. Dense runs come in id order already; the few messages
/// kept in the hash map are sorted per queue and merged in.
fn backlogs(index: &Index, clean_shutdown: bool) -> BTreeMap<QueueId, Backlog> {
    let mut ordered: BTreeMap<QueueId, Backlog> = BTreeMap::new();
    let mut loose: BTreeMap<QueueId, Vec<RecoveredMessage>> = BTreeMap::new();
    index.messages.for_each_split(
        |id, queues| {
            for (queue, delivered) in queues.iter() {
                let m = RecoveredMessage {
                    id,
                    redelivered: delivered || !clean_shutdown,
                };
                loose.entry(queue).or_default().push(m);
            }
        },
        |id, queue, delivered| {
            let m = RecoveredMessage {
                id,
                redelivered: delivered || !clean_shutdown,
            };
            ordered.entry(queue).or_default().push(m);
        },
    );
    for (queue, mut messages) in loose {
        messages.sort_unstable_by_key(|m| m.id);
        let backlog = ordered.remove(&queue).unwrap_or_default();
        ordered.insert(queue, backlog.merged(messages));
    }
    ordered
}
