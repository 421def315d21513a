//! A queue's flow valve (see `warren_model::flow`): closed while the backlog passes
//! [`FLOW_HIGH`] and its consumers are draining it, open again below [`FLOW_LOW`].
//!
//! Consumers are draining when one could take more (delivering falls behind), or when, at
//! their prefetch limit, they settle at least a quarter as many messages as arrive
//! ([`FlowWindow`]): fast consumers whose windows are full only because the queue outruns
//! them. A consumer at its limit that settles at a trickle is slow, and the queue buffers for
//! it, as queues are for. Closing is decided at arrival, opening after each dispatch round;
//! an arrival also opens a valve nobody drains any more (its consumers left, or slowed down),
//! so a publisher never pauses on a queue that is only buffering. So does the cancel that
//! leaves nobody draining it: its paused publishers make no arrival before their cap.
//!
//! A draining queue below the high mark also closes when the broker's backlog, summed over
//! every draining queue, is large and this queue holds more than its share of it (see
//! `backlog.rs`); it opens again when the sum or its own part has halved.

use std::sync::Arc;

use warren_model::flow::FlowValve;

use super::state::QueueState;
use super::Queue;
use crate::sync::count;

/// The backlog, in messages, above which publishers to a queue whose consumers cannot keep
/// up are paused.
pub(crate) const FLOW_HIGH: usize = 100_000;
/// The backlog below which they are let go.
pub(crate) const FLOW_LOW: usize = FLOW_HIGH / 2;

/// Arrivals counted per verdict on whether the consumers keep up.
const WINDOW: u32 = 4096;

/// Arrivals and settlements since the last verdict, and that verdict: do the consumers settle
/// at least a quarter as many messages as arrive?
#[derive(Debug, Default)]
pub(crate) struct FlowWindow {
    arrived: u32,
    settled: u32,
    keeping_up: bool,
}

impl FlowWindow {
    /// Counts `n` messages settled out of the queue (acked or discarded).
    pub fn settled(&mut self, n: usize) {
        self.settled = self.settled.saturating_add(count(n));
    }

    /// Counts `n` arrivals; gives a new verdict once a window's worth arrived.
    fn arrived(&mut self, n: usize) {
        self.arrived = self.arrived.saturating_add(count(n));
        if self.arrived >= WINDOW {
            let keeping_up = u64::from(self.settled) * 4 >= u64::from(self.arrived);
            *self = Self {
                keeping_up,
                ..Self::default()
            };
        }
    }
}

impl Queue {
    /// The valve, when it is closed: the publisher of an arrival should pause on it.
    pub(crate) fn closed_valve(&self) -> Option<Arc<FlowValve>> {
        self.valve.is_closed().then(|| Arc::clone(&self.valve))
    }

    /// At the arrival of `n` messages, under the lock: close when over the high mark, or
    /// over its share of the broker's backlog, while the consumers drain the queue; open when
    /// nobody does.
    pub(super) fn check_flow_on_arrival(&self, state: &mut QueueState, n: usize) {
        state.flow.arrived(n);
        let ready = state.ready_len();
        look_at_backlog(state, ready);
        let over = ready > FLOW_HIGH || state.backlog.backlog().over_share(ready);
        if !over && !self.valve.is_closed() {
            return;
        }
        let draining = draining(state);
        if over && draining {
            self.valve.close();
        } else if !draining {
            self.valve.open();
        }
    }

    /// When a dispatcher stops, under the lock: whether the valve may open, the backlog having
    /// fallen below the low mark and the queue's share of the broker's.
    pub(super) fn may_open_after_dispatch(&self, state: &mut QueueState) -> bool {
        let ready = state.ready_len();
        look_at_backlog(state, ready);
        self.valve.is_closed() && ready < FLOW_LOW && state.backlog.backlog().lets_go(ready)
    }

    /// Lets waiting publishers go (the queue is being deleted or purged).
    pub(crate) fn open_valve(&self) {
        self.valve.open();
    }
}

/// Whether the consumers drain the queue: one could take more, or they keep up at their
/// prefetch limit.
fn draining(state: &QueueState) -> bool {
    let takers = state.consumers.iter().any(|c| c.may_take());
    takers || (!state.consumers.is_empty() && state.flow.keeping_up)
}

/// Reports the queue's part in the broker's backlog when it moved enough to matter.
fn look_at_backlog(state: &mut QueueState, ready: usize) {
    if state.backlog.due(ready) {
        let draining = draining(state);
        state.backlog.report(ready, draining);
    }
}

/// Counts the queue's backlog afresh in the broker's (its consumers changed, or it was
/// purged or deleted); whether its consumers still drain it.
pub(super) fn recount_backlog(state: &mut QueueState) -> bool {
    let ready = state.ready_len();
    let draining = !state.deleted && draining(state);
    state.backlog.report(ready, draining);
    draining
}
