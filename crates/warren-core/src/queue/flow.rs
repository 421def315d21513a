//! A queue's flow valve (see `warren_model::flow`): closed while the backlog passes
//! [`FLOW_HIGH`] and a consumer could take more, open again below [`FLOW_LOW`].
//!
//! Closing is decided at arrival, opening after each dispatch round. An arrival also opens a
//! valve nobody could drain any more (its consumers left or reached their prefetch limit), so
//! a publisher never pauses on a queue that is only buffering.

use std::sync::Arc;

use warren_model::flow::FlowValve;

use super::state::QueueState;
use super::Queue;

/// The backlog, in messages, above which publishers to a queue whose consumers cannot keep
/// up are paused.
pub(crate) const FLOW_HIGH: usize = 100_000;
/// The backlog below which they are let go.
pub(crate) const FLOW_LOW: usize = FLOW_HIGH / 2;

impl Queue {
    /// The valve, when it is closed: the publisher of an arrival should pause on it.
    pub(crate) fn closed_valve(&self) -> Option<Arc<FlowValve>> {
        self.valve.is_closed().then(|| Arc::clone(&self.valve))
    }

    /// At an arrival, under the lock: close when over the high mark while the backlog grows
    /// for want of delivering, open when nobody could take from it.
    pub(super) fn check_flow_on_arrival(&self, state: &QueueState) {
        let over = state.ready_len() > FLOW_HIGH;
        if !over && !self.valve.is_closed() {
            return;
        }
        let takers = state.consumers.iter().any(|c| c.may_take());
        if over && takers {
            self.valve.close();
        } else if !takers {
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
