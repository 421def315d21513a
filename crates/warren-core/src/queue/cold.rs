//! The cold tail: stored messages beyond a queue's memory budget, kept as runs of store ids
//! instead of an entry each, so a backlog of millions costs the queue a few runs.
//!
//! A message goes cold only when nothing about it needs memory: it is in the store, has no
//! deadline, was never handed out, and the queue orders by arrival alone (no priorities) and
//! has no byte limit (whose accounting needs each size). Consecutive arrivals usually have
//! consecutive queue seqs and store ids, so one run covers them all. The queue pages messages
//! back in, in order, before anything younger in its ready set is handed out.
//!
//! Byte counts: a run knows its total bytes, not each message's; taking a message out of a
//! run counts it at the run's average, and the run's last message takes what remains, so the
//! total is exact whenever a run ends.

use std::collections::VecDeque;

use warren_model::QueueSeq;
use warren_store::MessageId;

/// Messages with consecutive seqs and store ids and the same redelivered flag.
#[derive(Debug)]
struct Run {
    first_seq: u64,
    first_id: u64,
    count: u64,
    bytes: u64,
    redelivered: bool,
}

impl Run {
    fn extends_to(&self, seq: QueueSeq, id: MessageId, redelivered: bool) -> bool {
        self.first_seq + self.count == seq.0
            && self.first_id + self.count == id.0
            && self.redelivered == redelivered
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

    /// The seq of the oldest cold message.
    pub fn first_seq(&self) -> Option<QueueSeq> {
        self.runs.front().map(|r| QueueSeq(r.first_seq))
    }

    /// True if a message with `seq` would keep the tail in order.
    pub fn accepts(&self, seq: QueueSeq) -> bool {
        self.runs
            .back()
            .is_none_or(|r| r.first_seq + r.count <= seq.0)
    }

    /// Appends a message; the caller checked `accepts`.
    pub fn push(&mut self, seq: QueueSeq, id: MessageId, size: u64, redelivered: bool) {
        self.len += 1;
        self.bytes += size;
        if let Some(last) = self.runs.back_mut() {
            if last.extends_to(seq, id, redelivered) {
                last.count += 1;
                last.bytes += size;
                return;
            }
        }
        self.runs.push_back(Run {
            first_seq: seq.0,
            first_id: id.0,
            count: 1,
            bytes: size,
            redelivered,
        });
    }

    /// Takes the oldest message out.
    pub fn pop(&mut self) -> Option<ColdMessage> {
        let run = self.runs.front_mut()?;
        let taken = ColdMessage {
            seq: QueueSeq(run.first_seq),
            id: MessageId(run.first_id),
            redelivered: run.redelivered,
        };
        let share = run.bytes / run.count;
        run.first_seq += 1;
        run.first_id += 1;
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

    /// Takes every message out, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = MessageId> {
        let runs = std::mem::take(&mut self.runs);
        self.len = 0;
        self.bytes = 0;
        runs.into_iter()
            .flat_map(|r| (r.first_id..r.first_id + r.count).map(MessageId))
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
    fn a_gap_in_seq_or_id_or_a_new_flag_starts_a_run() {
        let mut tail = ColdTail::default();
        push(&mut tail, 1, 1, 1);
        push(&mut tail, 2, 5, 1);
        push(&mut tail, 4, 6, 1);
        tail.push(QueueSeq(5), MessageId(7), 1, true);
        assert_eq!(tail.runs(), 4);
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
