//! The broker's backlog: ready messages summed over the queues whose consumers are draining
//! them (see `flow.rs`), so that many queues, each with a modest backlog, still pause their
//! publishers once the sum is large.
//!
//! One queue's valve closes at [`FLOW_HIGH`]. A thousand queues with a thousand
//! messages each never reach it, yet hold a million messages between them: memory that grows
//! for nothing, and consumers that read every message back from cold cache lines. Past
//! [`BROKER_HIGH`], a queue holding more than its fair share (the mean over the draining
//! queues, and at least [`SHARE_MIN`]) pauses its publishers too. A queue at or below the mean
//! does not, so a few swollen queues hold back only themselves. But when every queue grows at
//! once, the mean grows with them; past [`BROKER_CEILING`], a queue over half the mean pauses
//! too, and the paused stay paused until the sum is back under the ceiling.
//!
//! Each queue reports its share when its backlog moved by [`GRAIN`] messages since it last
//! looked, and when it empties, stops being drained or is deleted: the sum is off by at most
//! `GRAIN` per queue, and its cache line changes once per `GRAIN` arrivals, not at each.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::flow::FLOW_HIGH;

/// Above this many ready messages in draining queues, queues over their share pause: the
/// broker as a whole holds what one queue may.
pub(crate) const BROKER_HIGH: usize = FLOW_HIGH;
/// Above this, a queue over half its share pauses too. The share is the mean, and when
/// every queue grows at once (a thousand publishers, each with its queue), the mean grows
/// with them: without this, those at or below it would go on, and the sum grow past any mark.
pub(crate) const BROKER_CEILING: usize = 2 * BROKER_HIGH;
/// Below this, every queue paused by the broker's backlog is let go.
pub(crate) const BROKER_LOW: usize = BROKER_HIGH / 2;
/// No queue pauses for the broker's backlog while it holds this few.
pub(crate) const SHARE_MIN: usize = 256;
/// How far a queue's backlog moves between two reports.
const GRAIN: usize = 64;

/// The sum, shared by every queue of the broker.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    /// Ready messages, as last reported.
    messages: AtomicUsize,
    /// Queues whose last report was not zero.
    queues: AtomicUsize,
}

impl Backlog {
    /// The backlog, and a queue's fair share of it: the mean, and at least [`SHARE_MIN`].
    fn read(&self) -> (usize, usize) {
        let messages = self.messages.load(Ordering::Relaxed);
        let queues = self.queues.load(Ordering::Relaxed).max(1);
        (messages, (messages / queues).max(SHARE_MIN))
    }

    /// Whether a draining queue holding `ready` messages should pause its publishers: over
    /// its share past [`BROKER_HIGH`], over half of it past [`BROKER_CEILING`].
    pub fn over_share(&self, ready: usize) -> bool {
        if ready <= SHARE_MIN {
            return false;
        }
        let (messages, share) = self.read();
        let past_ceiling = messages > BROKER_CEILING && ready > share / 2;
        messages > BROKER_HIGH && (ready > share || past_ceiling)
    }

    /// Whether a queue paused for the backlog, holding `ready`, may let its publishers go:
    /// the backlog fell below [`BROKER_LOW`], or the queue to half its share while the
    /// backlog is under [`BROKER_CEILING`].
    pub fn lets_go(&self, ready: usize) -> bool {
        let (messages, share) = self.read();
        messages < BROKER_LOW || (ready <= share / 2 && messages <= BROKER_CEILING)
    }

    fn replace(&self, old: usize, new: usize) {
        if new > old {
            self.messages.fetch_add(new - old, Ordering::Relaxed);
        } else {
            self.messages.fetch_sub(old - new, Ordering::Relaxed);
        }
        match (old > 0, new > 0) {
            (false, true) => self.queues.fetch_add(1, Ordering::Relaxed),
            (true, false) => self.queues.fetch_sub(1, Ordering::Relaxed),
            _ => 0,
        };
    }
}

/// One queue's part in the [`Backlog`], taken out of the sum when the queue is dropped.
#[derive(Debug)]
pub(crate) struct BacklogShare {
    backlog: Arc<Backlog>,
    /// What this queue counts for in the sum.
    reported: usize,
    /// Its ready count at its last look.
    looked_at: usize,
}

impl BacklogShare {
    pub fn new(backlog: Arc<Backlog>) -> Self {
        Self {
            backlog,
            reported: 0,
            looked_at: 0,
        }
    }

    pub fn backlog(&self) -> &Backlog {
        &self.backlog
    }

    /// Whether the queue should look again: its backlog moved by a grain, or emptied while
    /// it still counts.
    pub fn due(&self, ready: usize) -> bool {
        ready.abs_diff(self.looked_at) >= GRAIN || (ready == 0 && self.reported > 0)
    }

    /// Counts `ready` for this queue in the sum, or nothing when its consumers do not drain it.
    pub fn report(&mut self, ready: usize, draining: bool) {
        self.looked_at = ready;
        let new = if draining { ready } else { 0 };
        if new != self.reported {
            self.backlog.replace(self.reported, new);
            self.reported = new;
        }
    }
}

impl Drop for BacklogShare {
    fn drop(&mut self) {
        self.report(0, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(backlog: &Arc<Backlog>, n: usize, each: usize) -> Vec<BacklogShare> {
        (0..n)
            .map(|_| {
                let mut share = BacklogShare::new(Arc::clone(backlog));
                share.report(each, true);
                share
            })
            .collect()
    }

    #[test]
    fn many_small_backlogs_add_up_to_a_pause_for_those_over_the_mean() {
        let backlog = Arc::new(Backlog::default());
        let _queues = shares(&backlog, 1000, 90);
        assert!(!backlog.over_share(400), "90k in all is below the mark");
        let _more = shares(&backlog, 1000, 50);
        // 140k over 2,000 queues: a mean of 70, so the floor of 256 is the share.
        assert!(backlog.over_share(257));
        assert!(!backlog.over_share(256));
        assert!(!backlog.lets_go(200), "above half the share");
        assert!(backlog.lets_go(128));
    }

    #[test]
    fn queues_growing_together_past_the_ceiling_pause_down_to_half_the_mean() {
        let backlog = Arc::new(Backlog::default());
        let _queues = shares(&backlog, 160, 1_000);
        // 160k over 160 queues: past the mark, and no queue over the mean.
        assert!(!backlog.over_share(1_000));
        let more = shares(&backlog, 80, 1_000);
        // 240k: past the ceiling, every queue over half the mean pauses.
        assert!(backlog.over_share(1_000));
        assert!(backlog.over_share(501));
        assert!(!backlog.over_share(500));
        assert!(!backlog.lets_go(400), "held while past the ceiling");
        drop(more);
        assert!(backlog.lets_go(400), "under it, half the share lets go");
    }

    #[test]
    fn a_few_swollen_queues_pause_only_themselves() {
        let backlog = Arc::new(Backlog::default());
        let _stuck = shares(&backlog, 4, 100_000);
        let _busy = shares(&backlog, 100, 1_000);
        // 500k over 104 queues: a mean near 4,800.
        assert!(!backlog.over_share(1_000));
        assert!(backlog.over_share(100_000));
    }

    #[test]
    fn a_queue_leaves_the_sum_when_it_is_not_drained_empties_or_is_dropped() {
        let backlog = Arc::new(Backlog::default());
        let mut queues = shares(&backlog, 4, 100_000);
        queues[0].report(100_000, false);
        queues[1].report(0, true);
        queues.truncate(3);
        assert_eq!(backlog.messages.load(Ordering::Relaxed), 100_000);
        assert_eq!(backlog.queues.load(Ordering::Relaxed), 1);
        drop(queues);
        assert_eq!(backlog.messages.load(Ordering::Relaxed), 0);
        assert_eq!(backlog.queues.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_queue_looks_again_after_a_grain_or_when_it_empties() {
        let backlog = Arc::new(Backlog::default());
        let mut share = BacklogShare::new(backlog);
        assert!(!share.due(GRAIN - 1));
        assert!(share.due(GRAIN));
        share.report(GRAIN, true);
        assert!(!share.due(1));
        assert!(share.due(0));
        share.report(0, true);
        assert!(!share.due(0));
    }
}
