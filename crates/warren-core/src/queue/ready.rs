//! A queue's ready messages in delivery order: priority rank first, then sequence.
//!
//! Almost every message arrives after all those already ready and leaves from the front, so
//! those live in a `VecDeque` in key order: appending and taking the first move nothing. Only
//! a message that arrives out of order (a requeue returning to its old place, a message of
//! higher priority than the last) goes to an ordered map, and the first message is the
//! smaller of the two fronts. A `BTreeMap` for everything moved its large entries between
//! tree nodes on every insert and removal (4-5% of a one-publisher, one-consumer profile).
//!
//! A message taken from the middle of the deque (an expiry, a zero-TTL message nobody took)
//! leaves a hole rather than shifting its neighbours, so removing many from a long backlog
//! stays cheap; holes are skipped at the front and squeezed out once they are half the deque.

use std::collections::{BTreeMap, VecDeque};

use super::state::{Entry, ReadyKey};

#[derive(Default)]
pub(super) struct ReadySet {
    /// Keys strictly increasing; `None` is a hole left by a removal.
    in_order: VecDeque<(ReadyKey, Option<Entry>)>,
    holes: usize,
    out_of_order: BTreeMap<ReadyKey, Entry>,
}

impl ReadySet {
    pub fn len(&self) -> usize {
        self.in_order.len() - self.holes + self.out_of_order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn insert(&mut self, key: ReadyKey, entry: Entry) {
        if self.in_order.back().is_none_or(|(last, _)| *last < key) {
            self.in_order.push_back((key, Some(entry)));
        } else {
            self.out_of_order.insert(key, entry);
        }
    }

    /// The first key, without taking it.
    pub fn first_key(&mut self) -> Option<ReadyKey> {
        self.skip_holes();
        let front = self.in_order.front().map(|(k, _)| *k);
        let other = self.out_of_order.first_key_value().map(|(k, _)| *k);
        match (front, other) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn pop_first(&mut self) -> Option<(ReadyKey, Entry)> {
        let first = self.first_key()?;
        if self.in_order.front().is_some_and(|(k, _)| *k == first) {
            // `first_key` skipped the holes: the front holds an entry.
            self.in_order.pop_front().and_then(|(k, e)| Some((k, e?)))
        } else {
            self.out_of_order.pop_first()
        }
    }

    pub fn remove(&mut self, key: ReadyKey) -> Option<Entry> {
        if let Some(entry) = self.out_of_order.remove(&key) {
            return Some(entry);
        }
        let index = self.in_order.binary_search_by(|(k, _)| k.cmp(&key)).ok()?;
        let entry = self.in_order.get_mut(index)?.1.take()?;
        if index + 1 == self.in_order.len() {
            self.in_order.pop_back();
        } else {
            self.holes += 1;
        }
        self.skip_holes();
        self.squeeze();
        Some(entry)
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    fn skip_holes(&mut self) {
        while self.in_order.front().is_some_and(|(_, e)| e.is_none()) {
            self.in_order.pop_front();
            self.holes -= 1;
        }
    }

    /// Drops the holes once they are half the deque (amortised: each costs one move).
    fn squeeze(&mut self) {
        if self.holes * 2 > self.in_order.len() {
            self.in_order.retain(|(_, e)| e.is_some());
            self.holes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use warren_model::QueueSeq;

    use super::*;

    fn key(rank: u8, seq: u64) -> ReadyKey {
        ReadyKey {
            rank,
            seq: QueueSeq(seq),
        }
    }

    fn entry(size: u64) -> Entry {
        Entry {
            message: None,
            size,
            deadline: None,
            zero_ttl: false,
            returns: 0,
            recovered_redelivered: false,
            stored: None,
        }
    }

    fn drain(set: &mut ReadySet) -> Vec<u64> {
        std::iter::from_fn(|| set.pop_first().map(|(k, _)| k.seq.0)).collect()
    }

    #[test]
    fn requeues_and_priorities_come_out_in_key_order() {
        let mut set = ReadySet::default();
        for seq in [3, 4, 6] {
            set.insert(key(0, seq), entry(seq));
        }
        set.insert(key(0, 1), entry(1)); // a requeue returning to its place
        set.insert(key(0, 5), entry(5));
        assert_eq!(set.first_key(), Some(key(0, 1)));
        assert_eq!(set.len(), 5);
        assert_eq!(drain(&mut set), [1, 3, 4, 5, 6]);
        assert!(set.is_empty());

        set.insert(key(9, 1), entry(0));
        set.insert(key(2, 2), entry(0)); // higher priority than the last
        set.insert(key(9, 3), entry(0));
        assert_eq!(drain(&mut set), [2, 1, 3]);
    }

    #[test]
    fn removals_leave_holes_that_are_skipped_and_squeezed() {
        let mut set = ReadySet::default();
        for seq in 0..100 {
            set.insert(key(0, seq), entry(seq));
        }
        for seq in (1..99).step_by(2) {
            assert_eq!(set.remove(key(0, seq)).map(|e| e.size), Some(seq));
        }
        assert!(set.remove(key(0, 1)).is_none(), "already gone");
        assert_eq!(set.len(), 51);
        assert!(set.remove(key(0, 0)).is_some());
        assert_eq!(set.first_key(), Some(key(0, 2)));
        assert!(set.remove(key(0, 99)).is_some(), "the last one");
        let left = drain(&mut set);
        assert_eq!(left, (2..99).step_by(2).collect::<Vec<_>>());
        assert_eq!(set.len(), 0);
        set.insert(key(0, 200), entry(0));
        assert_eq!(drain(&mut set), [200]);
    }
}
