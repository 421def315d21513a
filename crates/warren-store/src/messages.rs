//! The live-message table: where each live message's record is and which queues hold it.
//!
//! A message held by one queue and appended in id order goes into a dense run (`dense`,
//! about 3.3 bytes each), so a backlog of a hundred million messages fits in a few hundred
//! MiB; anything else (a message for several queues, a compacted copy, a message whose record
//! is far from the previous one) gets a hash-map entry with its exact location.

use std::collections::BTreeMap;

use crate::dense::{DenseRun, Slot};
use crate::ids::{Location, MessageId, QueueId};
use crate::index::{IdMap, QueueSet};

/// A live message in the hash map.
#[derive(Clone, Debug)]
pub(crate) struct MsgEntry {
    pub(crate) segment: u32,
    pub(crate) offset: u32,
    pub(crate) len: u32,
    pub(crate) queues: QueueSet,
}

/// Where a live message's record starts; the length is known for hash-map entries only.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Place {
    pub segment: u32,
    pub offset: u32,
    pub len: Option<u32>,
}

/// What taking a queue's claim off a message did.
pub(crate) struct Released {
    pub segment: u32,
    /// The record's bytes, counted once the message is gone (an average for dense runs).
    pub bytes: u64,
    /// No queue holds the message any more.
    pub gone: bool,
}

#[derive(Default)]
pub(crate) struct MessageTable {
    sparse: IdMap<MsgEntry>,
    dense: BTreeMap<u64, DenseRun>,
    /// Ids below this never go into a dense run (runs only grow forward).
    dense_next: u64,
    dense_live: u64,
}

impl MessageTable {
    /// Live messages.
    pub fn len(&self) -> usize {
        self.sparse.len() + usize::try_from(self.dense_live).unwrap_or(usize::MAX)
    }

    /// Adds a message that is not in the table.
    pub fn insert(&mut self, id: MessageId, loc: Location, queues: QueueSet) {
        if let QueueSet::One(queue, false) = queues {
            if self.push_dense(id.0, loc, queue) {
                return;
            }
        }
        self.sparse.insert(
            id.0,
            MsgEntry {
                segment: loc.segment.0,
                offset: loc.offset,
                len: loc.len,
                queues,
            },
        );
    }

    fn push_dense(&mut self, id: u64, loc: Location, queue: QueueId) -> bool {
        if id < self.dense_next {
            return false;
        }
        let (segment, offset, len) = (loc.segment.0, loc.offset, loc.len);
        let extended = self
            .dense
            .last_entry()
            .is_some_and(|mut run| run.get_mut().try_push(segment, id, offset, len, queue));
        if !extended {
            // The last run takes no more: free its slack, or all of it if nobody holds any.
            if let Some(mut last) = self.dense.last_entry() {
                if last.get().live == 0 {
                    last.remove();
                } else {
                    last.get_mut().seal();
                }
            }
            self.dense
                .insert(id, DenseRun::new(segment, id, offset, len, queue));
        }
        self.dense_next = id + 1;
        self.dense_live += 1;
        true
    }

    fn run_of(&self, id: u64) -> Option<&DenseRun> {
        let (_, run) = self.dense.range(..=id).next_back()?;
        (id < run.end_id()).then_some(run)
    }

    fn run_of_mut(&mut self, id: u64) -> Option<&mut DenseRun> {
        let (_, run) = self.dense.range_mut(..=id).next_back()?;
        (id < run.end_id()).then_some(run)
    }

    fn dense_slot(&self, id: u64) -> Option<(u32, Slot)> {
        let run = self.run_of(id)?;
        Some((run.segment, run.get(id)?))
    }

    /// Where message `id`'s record is.
    pub fn place(&self, id: MessageId) -> Option<Place> {
        if let Some(e) = self.sparse.get(&id.0) {
            return Some(Place {
                segment: e.segment,
                offset: e.offset,
                len: Some(e.len),
            });
        }
        let (segment, slot) = self.dense_slot(id.0)?;
        Some(Place {
            segment,
            offset: slot.offset,
            len: None,
        })
    }

    /// The queues holding message `id`, with their delivered flags.
    pub fn queues(&self, id: MessageId) -> Option<QueueSet> {
        if let Some(e) = self.sparse.get(&id.0) {
            return Some(e.queues.clone());
        }
        let (_, slot) = self.dense_slot(id.0)?;
        Some(QueueSet::One(slot.queue, slot.delivered))
    }

    pub fn held_by(&self, queue: QueueId, id: MessageId) -> bool {
        match self.sparse.get(&id.0) {
            Some(e) => e.queues.contains(queue),
            None => self.dense_slot(id.0).is_some_and(|(_, s)| s.queue == queue),
        }
    }

    /// Takes the message out whole (a compacted copy replaces it); its segment and bytes.
    pub fn take(&mut self, id: MessageId) -> Option<(QueueSet, Released)> {
        if let Some(e) = self.sparse.remove(&id.0) {
            let released = Released {
                segment: e.segment,
                bytes: u64::from(e.len),
                gone: true,
            };
            return Some((e.queues, released));
        }
        let (_, slot) = self.dense_slot(id.0)?;
        let released = self.release_dense(slot.queue, id.0)?;
        Some((QueueSet::One(slot.queue, slot.delivered), released))
    }

    /// Takes `queue`'s claim off message `id`.
    pub fn release(&mut self, queue: QueueId, id: MessageId) -> Option<Released> {
        if let Some(e) = self.sparse.get_mut(&id.0) {
            if !e.queues.contains(queue) {
                return None;
            }
            let gone = e.queues.remove(queue);
            let released = Released {
                segment: e.segment,
                bytes: u64::from(e.len),
                gone,
            };
            if gone {
                self.sparse.remove(&id.0);
            }
            return Some(released);
        }
        self.release_dense(queue, id.0)
    }

    fn release_dense(&mut self, queue: QueueId, id: u64) -> Option<Released> {
        let run = self.run_of_mut(id)?;
        let bytes = run.release(queue, id)?;
        let (segment, empty, first) = (run.segment, run.live == 0, run.first_id);
        // A run nobody holds any more goes at once unless it may still grow.
        if empty
            && self
                .dense
                .last_key_value()
                .is_some_and(|(k, _)| *k != first)
        {
            self.dense.remove(&first);
        }
        self.dense_live -= 1;
        Some(Released {
            segment,
            bytes,
            gone: true,
        })
    }

    /// Marks message `id` delivered by `queue`; its segment if `queue` holds it.
    pub fn mark_delivered(&mut self, queue: QueueId, id: MessageId) -> Option<u32> {
        if let Some(e) = self.sparse.get_mut(&id.0) {
            if !e.queues.contains(queue) {
                return None;
            }
            e.queues.mark_delivered(queue);
            return Some(e.segment);
        }
        let run = self.run_of_mut(id.0)?;
        run.mark_delivered(queue, id.0).then_some(run.segment)
    }

    /// Ids of the messages `queue` holds below `below`.
    pub fn held_below(&self, queue: QueueId, below: MessageId) -> Vec<MessageId> {
        let sparse = self
            .sparse
            .iter()
            .filter(|(id, e)| **id < below.0 && e.queues.contains(queue))
            .map(|(id, _)| MessageId(*id));
        let dense = self
            .dense
            .range(..below.0)
            .flat_map(|(_, run)| run.iter())
            .filter(|(id, slot)| *id < below.0 && slot.queue == queue)
            .map(|(id, _)| MessageId(id));
        sparse.chain(dense).collect()
    }

    /// Every live message: `loose` gets the hash-map entries (in no order) with their
    /// holders, `ordered` the dense runs' messages in id order.
    pub fn for_each_split(
        &self,
        mut loose: impl FnMut(MessageId, &QueueSet),
        mut ordered: impl FnMut(MessageId, QueueId, bool),
    ) {
        for (id, e) in &self.sparse {
            loose(MessageId(*id), &e.queues);
        }
        for run in self.dense.values() {
            for (id, slot) in run.iter() {
                ordered(MessageId(id), slot.queue, slot.delivered);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SegmentId;

    fn loc(segment: u32, offset: u32) -> Location {
        Location {
            segment: SegmentId(segment),
            offset,
            len: 30,
        }
    }

    fn one(q: u64) -> QueueSet {
        QueueSet::One(QueueId(q), false)
    }

    #[test]
    fn a_single_queue_backlog_lands_in_one_run() {
        let mut table = MessageTable::default();
        for i in 0..10_000u32 {
            table.insert(MessageId(u64::from(i)), loc(1, 28 + 30 * i), one(7));
        }
        assert_eq!(
            (table.len(), table.sparse.len(), table.dense.len()),
            (10_000, 0, 1)
        );
        assert_eq!(
            table.place(MessageId(4321)),
            Some(Place {
                segment: 1,
                offset: 28 + 30 * 4321,
                len: None
            })
        );
        assert!(table.held_by(QueueId(7), MessageId(9999)));
        assert!(!table.held_by(QueueId(8), MessageId(9999)));
    }

    #[test]
    fn fanout_and_out_of_order_ids_go_to_the_map() {
        let mut table = MessageTable::default();
        table.insert(MessageId(10), loc(1, 28), one(1));
        let both = QueueSet::from_ids([QueueId(1), QueueId(2)].into_iter()).unwrap();
        table.insert(MessageId(11), loc(1, 58), both);
        table.insert(MessageId(5), loc(2, 28), one(1));
        assert_eq!(table.sparse.len(), 2);
        assert_eq!(table.len(), 3);
        assert_eq!(table.place(MessageId(5)).and_then(|p| p.len), Some(30));
    }

    #[test]
    fn releasing_every_message_empties_the_table_and_frees_sealed_runs() {
        let mut table = MessageTable::default();
        for i in 0..100u32 {
            table.insert(
                MessageId(u64::from(i)),
                loc(1 + i / 50, 28 + 30 * (i % 50)),
                one(1),
            );
        }
        assert_eq!(table.dense.len(), 2);
        let mut bytes = 0;
        for i in 0..100 {
            let r = table.release(QueueId(1), MessageId(i)).expect("held");
            assert!(r.gone);
            bytes += r.bytes;
        }
        assert_eq!(bytes, 100 * 30);
        assert_eq!(table.len(), 0);
        assert_eq!(
            table.dense.len(),
            1,
            "only the run that may still grow is kept"
        );
        assert!(table.release(QueueId(1), MessageId(3)).is_none());
        table.insert(MessageId(100), loc(9, 28), one(1));
        assert_eq!(
            table.dense.len(),
            1,
            "the empty run went when a new one began"
        );
    }

    #[test]
    fn take_returns_holders_with_delivered_flags() {
        let mut table = MessageTable::default();
        table.insert(MessageId(1), loc(1, 28), one(4));
        assert_eq!(table.mark_delivered(QueueId(4), MessageId(1)), Some(1));
        assert_eq!(table.mark_delivered(QueueId(5), MessageId(1)), None);
        let (queues, released) = table.take(MessageId(1)).expect("live");
        assert_eq!(queues.iter().collect::<Vec<_>>(), vec![(QueueId(4), true)]);
        assert_eq!((released.segment, released.bytes), (1, 30));
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn held_below_lists_both_forms() {
        let mut table = MessageTable::default();
        table.insert(MessageId(1), loc(1, 28), one(1));
        table.insert(MessageId(2), loc(1, 58), one(2));
        table.insert(MessageId(3), loc(1, 88), one(1));
        let both = QueueSet::from_ids([QueueId(1), QueueId(2)].into_iter()).unwrap();
        table.insert(MessageId(4), loc(1, 118), both);
        let mut ids = table.held_below(QueueId(1), MessageId(4));
        ids.sort();
        assert_eq!(ids, vec![MessageId(1), MessageId(3)]);
        assert_eq!(table.held_below(QueueId(1), MessageId(5)).len(), 3);
    }
}
