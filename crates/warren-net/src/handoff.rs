//! Hands the task a busy connection just woke to the other workers (ADR 0012).
//!
//! The broker's runtime keeps tokio's LIFO slot: a task woken by the running task goes to
//! its worker's "next task" slot and runs as soon as the waker yields, on the same core and
//! without waking another worker. That is what a quiet broker wants: the consumer woken by a
//! publisher's one message runs next, with no cross-core wake-up on the way. The slot cannot
//! be stolen, though, so behind a busy connection the woken task would wait for the rest of
//! the waker's turn while the other core idles (ADR 0010).
//!
//! So after a big step the driver spawns an empty task. It takes the slot, and the task it
//! displaces goes to the worker's queue, from which an idle worker (woken for it) steals it.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A step that moved this many bytes (read or produced) is a busy connection's.
pub(crate) const BIG_STEP: usize = 16 * 1024;

/// How many empty tasks may wait to run at once. Each waits its turn in a queue like any
/// task; unbounded, a publisher routing to 1,000 queues piled thousands of them into tokio's
/// global queue ahead of the consumers, and throughput halved.
const MAX_WAITING: usize = 64;

static WAITING: WaitingTasks = WaitingTasks::new(MAX_WAITING);

/// Called by the driver after each step with the bytes it moved.
pub(crate) fn after_step(moved: usize) {
    if moved >= BIG_STEP {
        displace_woken_task(&WAITING);
    }
}

fn displace_woken_task(waiting: &'static WaitingTasks) {
    if let Some(slot) = waiting.take() {
        // Dropped when it runs, or with the task if the runtime shuts down first.
        drop(tokio::spawn(async move { drop(slot) }));
    }
}

/// A bounded count of empty tasks not yet run.
struct WaitingTasks {
    count: AtomicUsize,
    max: usize,
}

impl WaitingTasks {
    const fn new(max: usize) -> Self {
        Self {
            count: AtomicUsize::new(0),
            max,
        }
    }

    fn take(&'static self) -> Option<WaitingSlot> {
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| WaitingSlot(self))
    }
}

/// One empty task's place in [`WaitingTasks`], given back when it is dropped.
struct WaitingSlot(&'static WaitingTasks);

impl Drop for WaitingSlot {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn waiting_tasks_are_bounded_and_given_back_when_they_run() {
        static LIMITED: WaitingTasks = WaitingTasks::new(3);
        // On a current-thread runtime nothing spawned runs before the test yields.
        for _ in 0..10 {
            displace_woken_task(&LIMITED);
        }
        assert_eq!(LIMITED.count.load(Ordering::Acquire), 3);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while LIMITED.count.load(Ordering::Acquire) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the empty tasks never ran"
            );
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn a_slot_is_given_back_when_the_runtime_drops_its_task() {
        static LIMITED: WaitingTasks = WaitingTasks::new(3);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async { displace_woken_task(&LIMITED) });
        assert_eq!(LIMITED.count.load(Ordering::Acquire), 1);
        drop(runtime);
        assert_eq!(LIMITED.count.load(Ordering::Acquire), 0);
    }
}
