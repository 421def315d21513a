//! The cold tail: stored messages beyond a queue's memory budget, kept as runs of store ids
//! instead of an entry each, so a backlog of millions costs the queue a few runs.
//!
//! A message goes cold only when nothing about it needs memory: it is in the store, has no
//! deadline, was never handed out, and the queue orders by arrival alone (no priorities) and
//! has no byte limit (whose accounting needs each size). The queue pages messages back in, in
//! order, before anything younger in its ready set is handed out.
//!
//! A run holds the messages that arrived one after the other (consecutive queue seqs, so no
//! other message arrived between them) as a bitmap over a span of store ids. Within a run
//! they come back in id order, which may differ from their arrival order only for publishes
//! that overlapped in time (the store numbers a message before the queue takes it), so each
//! publisher's own order is kept. Ids of other queues inside the span cost one bit each.
//!
//! Byte counts: a run knows its total bytes, not each message's; taking a message out of a
//! run counts it at the run's average, and the run's last message takes what remains, so the
//! total is exact whenever a run ends.

use std::collections::VecDeque;

use warren_model::QueueSeq;
use warren_store::MessageId;

/// The widest span of ids one run covers (its bitmap is at most 128 KiB).
const MAX_SPAN: u64 = 1 << 20;

/// Messages that arrived one after the other, with the same redelivered flag.
#[derive(Debug)]
struct Run {
    first_id: u64,
    /// One bit per id from `first_id`: set while that message is in the tail.
    present: Vec<u64>,
    /// The lowest bit that may still be set.
    cursor: u64,
    count: u64,
    bytes: u64,
    /// The seq the next message taken out gets; the run's messages own every seq from here
    /// to `last_seq`.
    next_seq: u64,
    last_seq: u64,
    redelivered: bool,
}

impl Run {
    fn new(seq: QueueSeq, id: MessageId, size: u64, redelivered: bool) -> Self {
        // The span starts a word before the first id: an overlapping publish numbered just
        // before it may still join.
        let first_id = id.0.saturating_sub(64);
        let bit = id.0 - first_id;
        let mut present = vec![0; (bit / 64 + 1) as usize];
        present[(bit / 64) as usize] = 1 << (bit % 64);
        Self {
            first_id,
            present,
            cursor: 0,
            count: 1,
            bytes: size,
            next_seq: seq.0,
            last_seq: seq.0,
            redelivered,
        }
    }

    fn try_push(&mut self, seq: QueueSeq, id: MessageId, size: u64, redelivered: bool) -> bool {
        let Some(bit) = id.0.checked_sub(self.first_id) else {
            return false;
        };
        if seq.0 != self.last_seq + 1 || bit >= MAX_SPAN || redelivered != self.redelivered {
            return false;
        }
        let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
        if self.present.len() <= word {
            self.present.resize(word + 1, 0);
        }
        if self.present[word] & mask != 0 {
            return false;
        }
        self.present[word] |= mask;
        self.count += 1;
        self.bytes += size;
        self.last_seq = seq.0;
        true
    }

    /// Takes out the message with the lowest id; the run must not be empty.
    fn take(&mut self) -> Option<(u64, u64)> {
        loop {
            let word = (self.cursor / 64) as usize;
            let bits = self.present.get(word)? >> (self.cursor % 64);
            if bits == 0 {
                self.cursor = (self.cursor / 64 + 1) * 64;
                continue;
            }
            let bit = self.cursor + u64::from(bits.trailing_zeros());
            self.present[word] &= !(1u64 << (bit % 64));
            self.cursor = bit + 1;
            let seq = self.next_seq;
            self.next_seq += 1;
            return Some((self.first_id + bit, seq));
        }
    }

    fn into_ids(self) -> impl Iterator<Item = MessageId> {
        let first = self.first_id;
        self.present
            .into_iter()
            .enumerate()
            .flat_map(move |(w, bits)| {
                (0..64)
                    .filter(move |b| bits & (1u64 << b) != 0)
                    .map(move |b| MessageId(first + w as u64 * 64 + b))
            })
    }
}

/// A message taken out of the tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ColdMessage {
    pub seq: QueueSeq,
    pub id: MessageId,
    pub redelivered: bool,
}

/// The queue's cold messages, oldest first.
#[derive(Default, Debug)]
pub(crate) struct ColdTail {
    runs: VecDeque<Run>,
    len: u64,
    bytes: u64,
}

impl ColdTail {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The seq the oldest cold message comes back with.
    pub fn first_seq(&self) -> Option<QueueSeq> {
        self.runs.front().map(|r| QueueSeq(r.next_seq))
    }

    /// True if a message with `seq` would keep the tail in order.
    pub fn accepts(&self, seq: QueueSeq) -> bool {
        self.runs.back().is_none_or(|r| r.last_seq < seq.0)
    }

    /// Appends a message; the caller checked `accepts`.
    pub fn push(&mut self, seq: QueueSeq, id: MessageId, size: u64, redelivered: bool) {
        self.len += 1;
        self.bytes += size;
        if let Some(last) = self.runs.back_mut() {
            if last.try_push(seq, id, size, redelivered) {
                return;
            }
            last.present.shrink_to_fit();
        }
        self.runs.push_back(Run::new(seq, id, size, redelivered));
    }

    /// Takes the oldest message out.
    pub fn pop(&mut self) -> Option<ColdMessage> {
        let run = self.runs.front_mut()?;
        let (id, seq) = run.take()?;
        let taken = ColdMessage {
            seq: QueueSeq(seq),
            id: MessageId(id),
            redelivered: run.redelivered,
        };
        let share = run.bytes / run.count;
        run.count -= 1;
        run.bytes -= share;
        self.len -= 1;
        self.bytes -= share;
        if run.count == 0 {
            self.bytes -= run.bytes;
            self.runs.pop_front();
        }
        Some(taken)
    }

    /// Takes every message out.
    pub fn drain(&mut self) -> impl Iterator<Item = MessageId> {
        let runs = std::mem::take(&mut self.runs);
        self.len = 0;
        self.bytes = 0;
        runs.into_iter().flat_map(Run::into_ids)
    }

    /// Runs held: what the tail costs in memory.
    #[cfg(test)]
    fn runs(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(tail: &mut ColdTail, seq: u64, id: u64, size: u64) {
        assert!(tail.accepts(QueueSeq(seq)));
        tail.push(QueueSeq(seq), MessageId(id), size, false);
    }

    #[test]
    fn consecutive_arrivals_share_one_run() {
        let mut tail = ColdTail::default();
        for i in 0..1000 {
            push(&mut tail, 10 + i, 500 + i, 16);
        }
        assert_eq!((tail.len(), tail.bytes(), tail.runs()), (1000, 16_000, 1));
        assert_eq!(tail.first_seq(), Some(QueueSeq(10)));
    }

    #[test]
    fn a_gap_in_seqs_a_new_flag_or_a_wide_span_starts_a_run() {
        let mut tail = ColdTail::default();
        push(&mut tail, 1, 1, 1);
        push(&mut tail, 2, 5, 1);
        assert_eq!(tail.runs(), 1, "ids of other queues between are only bits");
        push(&mut tail, 4, 6, 1);
        assert_eq!(
            tail.runs(),
            2,
            "seq 3 went elsewhere: a message arrived between"
        );
        tail.push(QueueSeq(5), MessageId(7), 1, true);
        assert_eq!(tail.runs(), 3);
        tail.push(QueueSeq(6), MessageId(7 + MAX_SPAN), 1, true);
        assert_eq!(tail.runs(), 4);
    }

    #[test]
    fn overlapping_publishes_come_back_in_id_order_with_the_run_seqs() {
        let mut tail = ColdTail::default();
        push(&mut tail, 1, 12, 1);
        push(&mut tail, 2, 10, 1);
        push(&mut tail, 3, 11, 1);
        assert_eq!(tail.runs(), 1);
        let out: Vec<(u64, u64)> = std::iter::from_fn(|| tail.pop())
            .map(|m| (m.seq.0, m.id.0))
            .collect();
        assert_eq!(out, vec![(1, 10), (2, 11), (3, 12)]);
    }

    #[test]
    fn pops_come_out_in_order_with_their_ids_and_flags() {
        let mut tail = ColdTail::default();
        push(&mut tail, 1, 10, 3);
        push(&mut tail, 2, 11, 3);
        tail.push(QueueSeq(7), MessageId(40), 3, true);
        let seqs: Vec<ColdMessage> = std::iter::from_fn(|| tail.pop()).collect();
        let expect = |seq, id, redelivered| ColdMessage {
            seq: QueueSeq(seq),
            id: MessageId(id),
            redelivered,
        };
        assert_eq!(
            seqs,
            vec![
                expect(1, 10, false),
                expect(2, 11, false),
                expect(7, 40, true)
            ]
        );
        assert!(tail.is_empty());
        assert_eq!(tail.bytes(), 0);
    }

    #[test]
    fn bytes_are_exact_when_a_run_ends_even_with_uneven_sizes() {
        let mut tail = ColdTail::default();
        push(&mut tail, 1, 1, 1);
        push(&mut tail, 2, 2, 100);
        push(&mut tail, 3, 3, 7);
        tail.pop();
        assert!(tail.bytes() < 108);
        tail.pop();
        tail.pop();
        assert_eq!((tail.len(), tail.bytes()), (0, 0));
    }

    #[test]
    fn only_younger_seqs_are_accepted() {
        let mut tail = ColdTail::default();
        push(&mut tail, 5, 1, 1);
        assert!(!tail.accepts(QueueSeq(5)));
        assert!(!tail.accepts(QueueSeq(3)));
        assert!(tail.accepts(QueueSeq(6)));
    }

    #[test]
    fn drain_yields_every_id_and_empties_the_tail() {
        let mut tail = ColdTail::default();
        push(&mut tail, 1, 1, 1);
        push(&mut tail, 2, 2, 1);
        push(&mut tail, 9, 20, 1);
        let ids: Vec<u64> = tail.drain().map(|id| id.0).collect();
        assert_eq!(ids, vec![1, 2, 20]);
        assert_eq!((tail.len(), tail.bytes()), (0, 0));
    }
}
