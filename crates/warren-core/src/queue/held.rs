//! Arrivals held back for a publish batch (see `warren_model::PublishBatch`).
//!
//! The batch is per thread: a session publishes a read's messages synchronously on its
//! connection's thread, so a thread-local list is all the batch needs. While it is open, a
//! message for a queue that takes arrivals without a look at its state (no length limit, no
//! deadline: `Queue::may_hold`) waits in this thread's list for that queue instead of taking
//! the queue's lock. When the batch ends, each queue takes its list under one lock and
//! dispatches once: one lock per queue per read instead of one per message, which is what a
//! publisher and a consumer of one queue fought over.
//!
//! Order is kept: an arrival that cannot wait first brings in what waits for its queue, and
//! every other operation on the vhost (a `get`, a purge, a consume, a delete) brings in all
//! that waits on its thread, so it sees the messages published before it.

use std::cell::RefCell;
use std::sync::Arc;

use warren_model::{Message, PublishBatch};
use warren_store::MessageId;

use super::Queue;
use crate::int_hash::IntMap;

/// A message waiting for its queue, with its id in the store if it was written there.
pub(super) type Waiting = (Arc<Message>, Option<MessageId>);

/// The open batch of one thread: what waits for each queue, and where each queue's list is.
#[derive(Default)]
struct Batch {
    /// The batch's first message, which is not held: a read of one message (a publisher at a
    /// modest rate) is handed out at once, as without a batch. Holding it cost 12 µs at the
    /// median at 10k msg/s; a read of many gains from holding all but the first.
    first: Option<*const Message>,
    queues: Vec<(Arc<Queue>, Vec<Waiting>)>,
    index: IntMap<usize, usize>,
}

thread_local! {
    /// This thread's open batch; `None` when none is open.
    static BATCH: RefCell<Option<Batch>> = const { RefCell::new(None) };
}

/// Opens a batch on this thread, or returns one that holds nothing when one is open already
/// (the outer batch covers the inner).
pub(crate) fn begin() -> PublishBatch {
    let opened = BATCH.with(|batch| {
        let mut batch = batch.borrow_mut();
        if batch.is_some() {
            return false;
        }
        *batch = Some(Batch::default());
        true
    });
    match opened {
        true => PublishBatch::new(Box::new(finish)),
        false => PublishBatch::none(),
    }
}

/// Closes this thread's batch: each queue takes what waits for it.
fn finish() {
    let batch = BATCH.with(|batch| batch.borrow_mut().take());
    for (queue, waiting) in batch.map(|b| b.queues).unwrap_or_default() {
        queue.arrive_all(waiting);
    }
}

/// Brings in everything waiting on this thread; the batch stays open. Called before any
/// operation that could see a queue's messages.
pub(crate) fn bring_in_all() {
    let queues: Vec<(Arc<Queue>, Vec<Waiting>)> = BATCH.with(|batch| {
        let mut batch = batch.borrow_mut();
        let Some(batch) = batch.as_mut() else {
            return Vec::new();
        };
        batch
            .queues
            .iter_mut()
            .filter(|(_, waiting)| !waiting.is_empty())
            .map(|(queue, waiting)| (Arc::clone(queue), std::mem::take(waiting)))
            .collect()
    });
    for (queue, waiting) in queues {
        queue.arrive_all(waiting);
    }
}

/// Brings in what waits on this thread for `queue` (before an arrival that cannot wait).
pub(super) fn bring_in(queue: &Queue) {
    let waiting = BATCH.with(|batch| {
        let mut batch = batch.borrow_mut();
        let batch = batch.as_mut()?;
        let at = *batch.index.get(&address(queue))?;
        Some(std::mem::take(&mut batch.queues[at].1))
    });
    match waiting {
        Some(waiting) if !waiting.is_empty() => queue.arrive_all(waiting),
        _ => {}
    }
}

/// Makes `message` wait for `queue` when this thread has a batch open and it is not the
/// batch's first message; gives it back otherwise.
pub(super) fn hold(queue: &Queue, message: Waiting) -> Result<(), Waiting> {
    BATCH.with(|batch| {
        let mut batch = batch.borrow_mut();
        let Some(batch) = batch.as_mut() else {
            return Err(message);
        };
        let this = Arc::as_ptr(&message.0);
        if *batch.first.get_or_insert(this) == this {
            return Err(message);
        }
        let at = match batch.index.get(&address(queue)) {
            Some(at) => *at,
            None => {
                let Some(me) = queue.me.upgrade() else {
                    return Err(message);
                };
                batch.queues.push((me, Vec::new()));
                batch.index.insert(address(queue), batch.queues.len() - 1);
                batch.queues.len() - 1
            }
        };
        batch.queues[at].1.push(message);
        Ok(())
    })
}

fn address(queue: &Queue) -> usize {
    std::ptr::from_ref(queue) as usize
}
