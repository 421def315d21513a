//! What the store keeps in memory: where each live message and metadata value sits, which
//! queues still hold each message, and per-segment liveness for deletion and compaction.
//!
//! Deletion rule: a segment may go when it holds no live record and no record in it is still
//! needed to cancel a record in another segment that is still on disk (an ack cancelling an
//! enqueue, a later put or a delete superseding a put, a compacted copy standing for its
//! original). Such a "reference" pins the referring segment until the referred one is gone, so
//! a crash can never resurrect a record whose canceller was deleted first. References always
//! point to older segments, so every chain ends and dead segments are always reclaimed.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use crate::error::StoreError;
use crate::ids::{Keyspace, Location, MessageId, QueueId};
use crate::messages::MessageTable;

/// A hasher for store-assigned ids: one multiply, since the ids are already distinct.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// The queues that still hold a message, each with its delivered flag. One queue is the common
/// case and costs no allocation.
#[derive(Clone, Debug)]
pub(crate) enum QueueSet {
    One(QueueId, bool),
    Many(Box<[(QueueId, bool)]>),
}

impl QueueSet {
    pub(crate) fn from_ids(ids: impl Iterator<Item = QueueId>) -> Option<QueueSet> {
        let mut all: Vec<(QueueId, bool)> = ids.map(|q| (q, false)).collect();
        all.sort_unstable();
        all.dedup();
        match all.as_slice() {
            [] => None,
            [(q, _)] => Some(QueueSet::One(*q, false)),
            _ => Some(QueueSet::Many(all.into_boxed_slice())),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (QueueId, bool)> + '_ {
        let (one, many) = match self {
            QueueSet::One(q, d) => (Some((*q, *d)), &[][..]),
            QueueSet::Many(v) => (None, &v[..]),
        };
        one.into_iter().chain(many.iter().copied())
    }

    pub(crate) fn contains(&self, queue: QueueId) -> bool {
        self.iter().any(|(q, _)| q == queue)
    }

    /// Removes `queue`; true if the set is now empty.
    pub(crate) fn remove(&mut self, queue: QueueId) -> bool {
        match self {
            QueueSet::One(q, _) => *q == queue,
            QueueSet::Many(v) => {
                *v = v.iter().filter(|(q, _)| *q != queue).copied().collect();
                v.is_empty()
            }
        }
    }

    pub(crate) fn mark_delivered(&mut self, queue: QueueId) {
        match self {
            QueueSet::One(q, d) if *q == queue => *d = true,
            QueueSet::One(..) => {}
            QueueSet::Many(v) => v
                .iter_mut()
                .filter(|(q, _)| *q == queue)
                .for_each(|e| e.1 = true),
        }
    }
}

/// Liveness of one segment.
#[derive(Default, Debug)]
pub(crate) struct SegmentStats {
    /// Bytes in the file (as far as written or planned).
    pub(crate) size: u64,
    /// Live records (messages held by a queue, current metadata values).
    pub(crate) live: u64,
    pub(crate) live_bytes: u64,
    /// References from this segment into segments still on disk.
    pub(crate) pins: u64,
    /// Later segments referring into this one, with counts; released when this one goes.
    pinned_by: Vec<(u32, u64)>,
    /// When the segment last lost a live record (an ack, a drop, a superseded value).
    pub(crate) last_release: Option<Instant>,
    /// The segment may be deleted only once the log is durable up to this sequence number
    /// (the record that made it dead must survive a crash first).
    pub(crate) retire_after: u64,
}

/// The in-memory index.
#[derive(Default)]
pub(crate) struct Index {
    pub(crate) messages: MessageTable,
    pub(crate) meta: HashMap<(Keyspace, Box<[u8]>), Location>,
    pub(crate) segments: BTreeMap<u32, SegmentStats>,
}

impl Index {
    pub(crate) fn add_segment(&mut self, segment: u32, size: u64) {
        self.segments.entry(segment).or_default().size = size;
    }

    pub(crate) fn grow_segment(&mut self, segment: u32, bytes: u64) {
        self.segments.entry(segment).or_default().size += bytes;
    }

    /// Records a new message (or a compacted copy replacing an older record of it).
    pub(crate) fn add_message(&mut self, id: MessageId, loc: Location, queues: QueueSet, seq: u64) {
        self.live_up(loc);
        if let Some((_, old)) = self.messages.take(id) {
            self.live_down(old.segment, old.bytes, seq);
            self.add_ref(loc.segment.0, old.segment);
        }
        self.messages.insert(id, loc, queues);
    }

    /// Moves a live message to a compacted copy, keeping its queues and delivered flags.
    pub(crate) fn relocate(&mut self, id: MessageId, loc: Location, seq: u64) {
        if let Some(queues) = self.messages.queues(id) {
            self.add_message(id, loc, queues, seq);
        }
    }

    pub(crate) fn check_held(&self, queue: QueueId, message: MessageId) -> Result<(), StoreError> {
        if self.messages.held_by(queue, message) {
            Ok(())
        } else {
            Err(StoreError::NotEnqueued { queue, message })
        }
    }

    /// Applies an ack written in `at`. Unknown pairs are ignored (recovery sees acks whose
    /// message was already compacted without that queue).
    pub(crate) fn ack(&mut self, queue: QueueId, message: MessageId, at: u32, seq: u64) {
        let Some(released) = self.messages.release(queue, message) else {
            return;
        };
        self.add_ref(at, released.segment);
        if released.gone {
            self.live_down(released.segment, released.bytes, seq);
        }
    }

    pub(crate) fn delivered(&mut self, queue: QueueId, message: MessageId, at: u32) {
        if let Some(segment) = self.messages.mark_delivered(queue, message) {
            self.add_ref(at, segment);
        }
    }

    /// Drops every message of `queue` with an id below `below`; returns how many.
    pub(crate) fn drop_queue(
        &mut self,
        queue: QueueId,
        below: MessageId,
        at: u32,
        seq: u64,
    ) -> u64 {
        let hit = self.messages.held_below(queue, below);
        for id in &hit {
            self.ack(queue, *id, at, seq);
        }
        hit.len() as u64
    }

    pub(crate) fn meta_put(&mut self, key: (Keyspace, Box<[u8]>), loc: Location, seq: u64) {
        self.live_up(loc);
        if let Some(old) = self.meta.insert(key, loc) {
            self.live_down(old.segment.0, u64::from(old.len), seq);
            self.add_ref(loc.segment.0, old.segment.0);
        }
    }

    pub(crate) fn meta_delete(&mut self, keyspace: Keyspace, key: &[u8], at: u32, seq: u64) {
        if let Some(old) = self.meta.remove(&(keyspace, Box::from(key))) {
            self.live_down(old.segment.0, u64::from(old.len), seq);
            self.add_ref(at, old.segment.0);
        }
    }

    /// Segments that can be deleted now: sealed (before `sealed_below`), dead, unpinned, and
    /// dead for long enough that the record which killed them is durable.
    pub(crate) fn deletable(&self, sealed_below: u32, durable_seq: u64) -> Vec<u32> {
        let dead = |s: &SegmentStats| s.live == 0 && s.pins == 0 && s.retire_after <= durable_seq;
        self.segments
            .range(..sealed_below)
            .filter(|(_, s)| dead(s))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Forgets a deleted segment and releases the pins it held on others.
    pub(crate) fn remove_segment(&mut self, segment: u32) {
        let Some(stats) = self.segments.remove(&segment) else {
            return;
        };
        for (from, n) in stats.pinned_by {
            if let Some(s) = self.segments.get_mut(&from) {
                s.pins = s.pins.saturating_sub(n);
            }
        }
    }

    /// Sealed, unpinned segments whose live bytes are below `ratio` of their size, oldest
    /// first; with `settled_before`, none that lost a live record after that instant (a queue
    /// draining it would soon leave it dead, with nothing to copy).
    pub(crate) fn compact_candidates(
        &self,
        sealed_below: u32,
        ratio: f64,
        settled_before: Option<Instant>,
    ) -> Vec<u32> {
        let settled = |s: &SegmentStats| match (settled_before, s.last_release) {
            (Some(limit), Some(last)) => last <= limit,
            _ => true,
        };
        let sparse = |s: &SegmentStats| {
            s.live > 0 && s.pins == 0 && (s.live_bytes as f64) < s.size as f64 * ratio
        };
        self.segments
            .range(..sealed_below)
            .filter(|(_, s)| sparse(s) && settled(s))
            .map(|(id, _)| *id)
            .collect()
    }

    pub(crate) fn disk_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size).sum()
    }

    fn add_ref(&mut self, from: u32, to: u32) {
        if from == to || !self.segments.contains_key(&to) {
            return;
        }
        self.segments.entry(from).or_default().pins += 1;
        if let Some(s) = self.segments.get_mut(&to) {
            match s.pinned_by.iter_mut().find(|(f, _)| *f == from) {
                Some(e) => e.1 += 1,
                None => s.pinned_by.push((from, 1)),
            }
        }
    }

    fn live_up(&mut self, loc: Location) {
        let s = self.segments.entry(loc.segment.0).or_default();
        s.live += 1;
        s.live_bytes += u64::from(loc.len);
    }

    fn live_down(&mut self, segment: u32, bytes: u64, seq: u64) {
        if let Some(s) = self.segments.get_mut(&segment) {
            s.live = s.live.saturating_sub(1);
            s.live_bytes = s.live_bytes.saturating_sub(bytes);
            s.last_release = Some(Instant::now());
            s.retire_after = s.retire_after.max(seq);
        }
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
