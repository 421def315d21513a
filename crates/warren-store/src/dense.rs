//! Dense runs: the live-message table's compact form for messages held by one queue, about
//! 2.3 bytes per message (3.3 in a run shared by several queues) instead of a hash-map entry
//! of 40 bytes and more.
//!
//! A run covers consecutive message ids in one segment, in append order. Each slot keeps the
//! distance of its record from the previous slot's (a `u16`), the index of its queue in the
//! run's palette (a `u8`, kept only once the run has a second queue) and two bits (held,
//! delivered); every 64th slot also keeps its absolute offset, so finding a record sums at
//! most 63 distances. Ids that the run does not hold (a message for several queues, kept in
//! the hash map) are slots never held, at the previous slot's offset. A record's length is
//! not kept: readers take it from the frame header, and segment liveness counts a run's bytes
//! as its average per message.

use crate::ids::QueueId;

/// Slots between absolute offsets.
const MARK_EVERY: usize = 64;
/// The widest gap of ids a run bridges with unheld slots before starting a new run.
pub(crate) const MAX_ID_GAP: u64 = 64;
/// Queues one run can name.
const MAX_PALETTE: usize = 255;

/// One bit per slot.
#[derive(Default, Debug)]
struct Bits(Vec<u64>);

impl Bits {
    fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn set(&mut self, i: usize, on: bool) {
        if self.0.len() <= i / 64 {
            self.0.resize(i / 64 + 1, 0);
        }
        let bit = 1 << (i % 64);
        if on {
            self.0[i / 64] |= bit;
        } else {
            self.0[i / 64] &= !bit;
        }
    }

    fn shrink(&mut self) {
        self.0.shrink_to_fit();
    }
}

/// A slot's message as the table sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Slot {
    pub queue: QueueId,
    pub offset: u32,
    pub delivered: bool,
}

/// Consecutive ids in one segment, each held by at most one queue.
#[derive(Debug)]
pub(crate) struct DenseRun {
    pub segment: u32,
    pub first_id: u64,
    deltas: Vec<u16>,
    marks: Vec<u32>,
    last_offset: u32,
    /// Each slot's palette index; empty while the palette has one queue (the common case).
    queue_of: Vec<u8>,
    palette: Vec<QueueId>,
    held: Bits,
    delivered: Bits,
    /// Slots held.
    pub live: u64,
    /// Framed bytes of the held slots (exact when added, averaged when taken out).
    pub live_bytes: u64,
}

impl DenseRun {
    pub fn new(segment: u32, id: u64, offset: u32, len: u32, queue: QueueId) -> Self {
        let mut run = Self {
            segment,
            first_id: id,
            deltas: Vec::new(),
            marks: Vec::new(),
            last_offset: offset,
            queue_of: Vec::new(),
            palette: vec![queue],
            held: Bits::default(),
            delivered: Bits::default(),
            live: 0,
            live_bytes: 0,
        };
        run.push_slot(0, 0, true, len);
        run
    }

    /// The id after the last slot.
    pub fn end_id(&self) -> u64 {
        self.first_id + self.deltas.len() as u64
    }

    /// Appends message `id` if it fits this run: same segment, a later id within
    /// [`MAX_ID_GAP`], a record no more than 64 KiB past the last, room in the palette.
    pub fn try_push(
        &mut self,
        segment: u32,
        id: u64,
        offset: u32,
        len: u32,
        queue: QueueId,
    ) -> bool {
        let next = self.end_id();
        let fits = segment == self.segment
            && id >= next
            && id - next <= MAX_ID_GAP
            && offset >= self.last_offset
            && offset - self.last_offset <= u32::from(u16::MAX);
        if !fits {
            return false;
        }
        let Some(q) = self.palette_index(queue) else {
            return false;
        };
        for _ in next..id {
            self.push_slot(0, 0, false, 0);
        }
        let delta = (offset - self.last_offset) as u16;
        self.push_slot(delta, q, true, len);
        true
    }

    fn palette_index(&mut self, queue: QueueId) -> Option<u8> {
        if let Some(i) = self.palette.iter().position(|q| *q == queue) {
            return u8::try_from(i).ok();
        }
        if self.palette.len() >= MAX_PALETTE {
            return None;
        }
        self.palette.push(queue);
        u8::try_from(self.palette.len() - 1).ok()
    }

    fn push_slot(&mut self, delta: u16, queue: u8, held: bool, len: u32) {
        let i = self.deltas.len();
        self.last_offset += u32::from(delta);
        if i.is_multiple_of(MARK_EVERY) {
            self.marks.push(self.last_offset);
        }
        self.deltas.push(delta);
        if self.palette.len() > 1 {
            if self.queue_of.len() < i {
                // The run's second queue: every earlier slot is the first queue's.
                self.queue_of.resize(i, 0);
            }
            self.queue_of.push(queue);
        }
        self.held.set(i, held);
        self.delivered.set(i, false);
        if held {
            self.live += 1;
            self.live_bytes += u64::from(len);
        }
    }

    /// Frees the growth slack once the run takes no more slots.
    pub fn seal(&mut self) {
        self.deltas.shrink_to_fit();
        self.marks.shrink_to_fit();
        self.queue_of.shrink_to_fit();
        self.held.shrink();
        self.delivered.shrink();
    }

    fn queue_at(&self, i: usize) -> QueueId {
        let at = self.queue_of.get(i).map_or(0, |q| usize::from(*q));
        self.palette[at]
    }

    fn index(&self, id: u64) -> Option<usize> {
        let i = usize::try_from(id.checked_sub(self.first_id)?).ok()?;
        (i < self.deltas.len() && self.held.get(i)).then_some(i)
    }

    fn offset_of(&self, i: usize) -> u32 {
        let mark = i / MARK_EVERY;
        let from = mark * MARK_EVERY + 1;
        let sum: u32 = self.deltas[from.min(i + 1)..=i]
            .iter()
            .map(|d| u32::from(*d))
            .sum();
        self.marks[mark] + sum
    }

    /// The held message `id`.
    pub fn get(&self, id: u64) -> Option<Slot> {
        let i = self.index(id)?;
        Some(Slot {
            queue: self.queue_at(i),
            offset: self.offset_of(i),
            delivered: self.delivered.get(i),
        })
    }

    /// Releases message `id` from `queue`; returns the bytes it is counted at.
    pub fn release(&mut self, queue: QueueId, id: u64) -> Option<u64> {
        let i = self.index(id)?;
        if self.queue_at(i) != queue {
            return None;
        }
        self.held.set(i, false);
        let share = self.live_bytes / self.live;
        self.live -= 1;
        self.live_bytes -= share;
        if self.live == 0 {
            let rest = self.live_bytes;
            self.live_bytes = 0;
            return Some(share + rest);
        }
        Some(share)
    }

    /// Marks message `id` delivered by `queue`; false if `queue` does not hold it.
    pub fn mark_delivered(&mut self, queue: QueueId, id: u64) -> bool {
        let Some(i) = self.index(id) else {
            return false;
        };
        let held_by_queue = self.queue_at(i) == queue;
        if held_by_queue {
            self.delivered.set(i, true);
        }
        held_by_queue
    }

    /// Every held message, in id order; offsets are summed as it goes, not found per slot.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Slot)> + '_ {
        let mut offset = self.marks.first().copied().unwrap_or(0);
        (0..self.deltas.len()).filter_map(move |i| {
            if i > 0 {
                offset += u32::from(self.deltas[i]);
            }
            self.held.get(i).then(|| {
                let slot = Slot {
                    queue: self.queue_at(i),
                    offset,
                    delivered: self.delivered.get(i),
                };
                (self.first_id + i as u64, slot)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_come_back_across_marks_and_gaps() {
        let mut run = DenseRun::new(3, 100, 28, 40, QueueId(1));
        let mut offset = 28;
        let mut expect = vec![(100, 28)];
        for id in 101..400u64 {
            // Every tenth id is missing (a message the run does not hold), every seventh
            // record has another record before it.
            if id % 10 == 0 {
                continue;
            }
            offset += 40 + if id % 7 == 0 { 25 } else { 0 };
            assert!(run.try_push(3, id, offset, 40, QueueId(1)));
            expect.push((id, offset));
        }
        for (id, offset) in &expect {
            assert_eq!(run.get(*id).map(|s| s.offset), Some(*offset), "id {id}");
        }
        assert_eq!(run.get(110), None);
        assert_eq!(run.live, expect.len() as u64);
        let listed: Vec<(u64, u32)> = run.iter().map(|(id, s)| (id, s.offset)).collect();
        assert_eq!(listed, expect);
    }

    #[test]
    fn a_push_that_does_not_fit_is_refused() {
        let mut run = DenseRun::new(1, 10, 100, 20, QueueId(1));
        assert!(!run.try_push(2, 11, 120, 20, QueueId(1)), "another segment");
        assert!(!run.try_push(1, 10, 120, 20, QueueId(1)), "an old id");
        assert!(
            !run.try_push(1, 11 + MAX_ID_GAP + 1, 120, 20, QueueId(1)),
            "too wide a gap"
        );
        assert!(
            !run.try_push(1, 11, 100 + 70_000, 20, QueueId(1)),
            "too far"
        );
        assert!(run.try_push(1, 11, 120, 20, QueueId(2)));
        assert!(run.try_push(1, 13, 140, 20, QueueId(1)));
        let queues: Vec<(u64, QueueId)> = run.iter().map(|(id, s)| (id, s.queue)).collect();
        assert_eq!(
            queues,
            vec![(10, QueueId(1)), (11, QueueId(2)), (13, QueueId(1))]
        );
    }

    #[test]
    fn release_checks_the_queue_and_counts_bytes_exactly_at_the_end() {
        let mut run = DenseRun::new(1, 1, 28, 30, QueueId(1));
        assert!(run.try_push(1, 2, 58, 50, QueueId(1)));
        assert_eq!(run.release(QueueId(2), 1), None);
        let a = run.release(QueueId(1), 1).unwrap();
        let b = run.release(QueueId(1), 2).unwrap();
        assert_eq!(a + b, 80);
        assert_eq!((run.live, run.live_bytes), (0, 0));
        assert_eq!(run.release(QueueId(1), 2), None, "already released");
    }

    #[test]
    fn delivered_marks_belong_to_the_holding_queue() {
        let mut run = DenseRun::new(1, 1, 28, 30, QueueId(1));
        assert!(!run.mark_delivered(QueueId(2), 1));
        assert!(!run.get(1).unwrap().delivered);
        assert!(run.mark_delivered(QueueId(1), 1));
        assert!(run.get(1).unwrap().delivered);
    }
}
