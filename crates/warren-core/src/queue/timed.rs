//! The queue's deadlines: message expiry and `x-expires`. The queue registers only its
//! earliest deadline with the broker's timer service and re-registers on each firing.

use std::sync::Weak;
use std::time::Instant;

use super::state::QueueState;
use super::{died, Queue};
use crate::deadletter::DeathReason;
use crate::timer::{Timed, GRAIN};

impl Queue {
    /// Registers the earliest deadline unless one as early is registered already.
    pub(super) fn arm(&self, state: &mut QueueState) {
        let Some(next) = self.next_deadline(state) else {
            return;
        };
        if state.armed.is_some_and(|armed| armed <= next + GRAIN) {
            return;
        }
        state.armed = Some(next);
        let me: Weak<dyn Timed> = self.me.clone();
        self.timers.at(next, me);
    }

    fn next_deadline(&self, state: &QueueState) -> Option<Instant> {
        if state.deleted {
            return None;
        }
        let unused = self.unused_deadline(state);
        match (state.next_expiry(), unused) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the queue expires (`x-expires`), counting from its last use without consumers.
    fn unused_deadline(&self, state: &QueueState) -> Option<Instant> {
        let expires = self.def.args.expires?;
        state
            .consumers
            .is_empty()
            .then(|| state.last_used + expires)
    }

    /// A declare, consume or get: the queue is in use, so its expiry starts again.
    pub fn touch(&self) {
        let mut state = self.state();
        state.last_used = Instant::now();
        self.arm(&mut state);
    }

    /// Dead-letters what has expired by now. Used where a count must be exact even when
    /// no timer runs.
    pub(super) fn expire_now(&self) {
        self.expire(Instant::now());
    }

    /// Expires messages due by `now`; true when the queue itself is due.
    fn expire(&self, now: Instant) -> bool {
        let (dead, unused) = {
            let mut state = self.state();
            let dead: Vec<_> = state.take_expired(now);
            let unused = self.unused_deadline(&state).is_some_and(|d| d <= now);
            (dead, unused && !state.deleted)
        };
        let dead = dead
            .into_iter()
            .filter_map(|e| died(e, DeathReason::Expired))
            .collect();
        self.dead_letter(dead);
        unused
    }
}

impl Timed for Queue {
    fn fire(&self, now: Instant) {
        self.state().armed = None;
        let unused = self.expire(now);
        if unused {
            if let (Some(events), Some(me)) = (self.events.upgrade(), self.me.upgrade()) {
                events.expired(&me);
            }
        }
        self.arm(&mut self.state());
    }
}
