//! A queue's flow valve (see `warren_model::flow`): closed while the backlog passes
//! [`FLOW_HIGH`] and its consumers are draining it, open again below [`FLOW_LOW`].
//!
//! Consumers are draining when one could take more (delivering falls behind), or when, at
//! their prefetch limit, they settle at least a quarter as many messages as arrive
//! ([`FlowWindow`]): fast consumers whose windows are full only because the queue outruns
//! them. A consumer at its limit that settles at a trickle is slow, and the queue buffers for
//! it, as queues are for. Closing is decided at arrival, opening after each dispatch round;
//! an arrival also opens a valve nobody drains any more (its consumers left, or slowed down),
//! so a publisher never pauses on a queue that is only buffering.

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

    /// At the arrival of `n` messages, under the lock: close when over the high mark while
    /// the consumers drain the queue, open when nobody does.
    pub(super) fn check_flow_on_arrival(&self, state: &mut QueueState, n: usize) {
        state.flow.arrived(n);
        let over = state.ready_len() > FLOW_HIGH;
        if !over && !self.valve.is_closed() {
            return;
        }
        let takers = state.consumers.iter().any(|c| c.may_take());
        let draining = takers || (!state.consumers.is_empty() && state.flow.keeping_up);
        if over && draining {
            self.valve.close();
        } else if !draining {
            self.valve.open();
        }
    }

    /// After a dispatch round: open once the backlog fell below the low mark.
    pub(super) fn check_flow_after_dispatch(&self) {
        if self.valve.is_closed() && self.state().ready_len() < FLOW_LOW {
            self.valve.open();
        }
    }

    /// Lets waiting publishers go (the queue is being deleted or purged).
    pub(crate) fn open_valve(&self) {
        self.valve.open();
    }
}
