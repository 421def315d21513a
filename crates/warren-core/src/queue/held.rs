//! Dispatch held back for a publish batch (see `warren_model::PublishBatch`).
//!
//! The batch is per thread: a session publishes a read's messages synchronously on its
//! connection's thread, so a thread-local list of the queues reached is all the batch needs.
//! A queue marks itself `held` under its lock when it joins the list, so it joins once;
//! whichever dispatcher runs next (the batch's end, or a consumer's settle meanwhile) clears
//! the mark and hands out everything that arrived, so no message waits past the batch.

use std::cell::RefCell;
use std::sync::Arc;

use warren_model::PublishBatch;

use super::Queue;

thread_local! {
    /// The queues this thread's open batch reached; `None` when no batch is open.
    static HELD: RefCell<Option<Vec<Arc<Queue>>>> = const { RefCell::new(None) };
}

/// Opens a batch on this thread, or returns one that holds nothing when one is open already
/// (the outer batch covers the inner).
pub(crate) fn begin() -> PublishBatch {
    let opened = HELD.with(|held| {
        let mut held = held.borrow_mut();
        if held.is_some() {
            return false;
        }
        *held = Some(Vec::new());
        true
    });
    match opened {
        true => PublishBatch::new(Box::new(finish)),
        false => PublishBatch::none(),
    }
}

/// Closes this thread's batch and dispatches each queue it reached. The list is taken
/// first, so a dispatch that publishes (it may not, but a dead letter could) does so at once.
fn finish() {
    let queues = HELD
        .with(|held| held.borrow_mut().take())
        .unwrap_or_default();
    for queue in queues {
        queue.dispatch();
    }
}

/// Adds `queue` to this thread's open batch; false when no batch is open.
pub(super) fn hold(queue: Arc<Queue>) -> bool {
    HELD.with(|held| match held.borrow_mut().as_mut() {
        Some(queues) => {
            queues.push(queue);
            true
        }
        None => false,
    })
}

/// True while this thread has a batch open.
pub(super) fn open() -> bool {
    HELD.with(|held| held.borrow().is_some())
}
