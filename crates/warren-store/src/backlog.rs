//! A queue's recovered backlog as runs of consecutive ids, so recovering a hundred million
//! messages of one queue costs a handful of runs, not sixteen bytes each.

use crate::ids::MessageId;

/// A message a queue held when the store was last running, in the queue's order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RecoveredMessage {
    /// The message (read its body with [`crate::Store::read`]).
    pub id: MessageId,
    /// The message may have been delivered before: it was, or the store was not closed cleanly.
    pub redelivered: bool,
}

/// Consecutive ids with the same flag.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Run {
    first: u64,
    count: u64,
    redelivered: bool,
}

/// One queue's recovered messages in id order.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct Backlog {
    runs: Vec<Run>,
    len: usize,
}

impl Backlog {
    /// Messages in the backlog.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The messages, oldest first.
    pub fn iter(&self) -> BacklogIter<'_> {
        BacklogIter {
            runs: self.runs.iter(),
            current: None,
        }
    }

    /// Appends a message with an id above every one already in.
    pub(crate) fn push(&mut self, m: RecoveredMessage) {
        self.len += 1;
        if let Some(last) = self.runs.last_mut() {
            if last.first + last.count == m.id.0 && last.redelivered == m.redelivered {
                last.count += 1;
                return;
            }
        }
        self.runs.push(Run {
            first: m.id.0,
            count: 1,
            redelivered: m.redelivered,
        });
    }

    /// This backlog and `others` (sorted by id, none already in) as one backlog.
    pub(crate) fn merged(self, others: Vec<RecoveredMessage>) -> Backlog {
        if others.is_empty() {
            return self;
        }
        let mut out = Backlog::default();
        let mut rest = others.into_iter().peekable();
        for m in self.iter() {
            while let Some(o) = rest.next_if(|o| o.id < m.id) {
                out.push(o);
            }
            out.push(m);
        }
        rest.for_each(|o| out.push(o));
        out
    }
}

impl<'a> IntoIterator for &'a Backlog {
    type Item = RecoveredMessage;
    type IntoIter = BacklogIter<'a>;

    fn into_iter(self) -> BacklogIter<'a> {
        self.iter()
    }
}

/// The messages of a [`Backlog`], oldest first.
pub struct BacklogIter<'a> {
    runs: std::slice::Iter<'a, Run>,
    current: Option<Run>,
}

impl Iterator for BacklogIter<'_> {
    type Item = RecoveredMessage;

    fn next(&mut self) -> Option<RecoveredMessage> {
        loop {
            if let Some(run) = self.current.as_mut().filter(|r| r.count > 0) {
                let m = RecoveredMessage {
                    id: MessageId(run.first),
                    redelivered: run.redelivered,
                };
                run.first += 1;
                run.count -= 1;
                return Some(m);
            }
            self.current = Some(*self.runs.next()?);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: u64, redelivered: bool) -> RecoveredMessage {
        RecoveredMessage {
            id: MessageId(id),
            redelivered,
        }
    }

    #[test]
    fn consecutive_ids_share_a_run_and_come_back_in_order() {
        let mut b = Backlog::default();
        let all = [m(1, false), m(2, false), m(3, true), m(7, true), m(8, true)];
        all.iter().for_each(|x| b.push(*x));
        assert_eq!(b.runs.len(), 3);
        assert_eq!(b.len(), 5);
        assert_eq!(b.iter().collect::<Vec<_>>(), all.to_vec());
    }

    #[test]
    fn merging_interleaves_by_id() {
        let mut b = Backlog::default();
        [m(2, false), m(3, false), m(9, false)]
            .iter()
            .for_each(|x| b.push(*x));
        let merged = b.merged(vec![m(1, true), m(5, true), m(10, true)]);
        let ids: Vec<u64> = merged.iter().map(|x| x.id.0).collect();
        assert_eq!(ids, vec![1, 2, 3, 5, 9, 10]);
        assert_eq!(merged.len(), 6);
    }
}
