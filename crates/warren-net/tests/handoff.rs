//! A task woken by a connection that takes big steps is handed to the other worker. The
//! broker's runtime keeps tokio's LIFO slot (ADR 0012): a task woken by a connection runs on
//! the same worker right after it, and no other worker may steal it from there. Without the
//! hand-off, a connection with a long backlog of input would hold the task it woke for its
//! whole turn (its share of tokio's task budget: 64 steps here) while the second worker idled.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{peer_info, OneSession};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use warren_model::{Session, SessionStatus};
use warren_net::{drive_connection, Shutdown};

/// Input the publisher-like session is fed: 8 MiB, read by the driver in steps of up to 64 KiB.
const INPUT: usize = 8 * 1024 * 1024;

/// The work each step stands for, about what routing a 64 KiB read of small messages takes.
/// Spent on the worker: the second worker must have time to wake up and take the woken task.
const STEP_WORK: Duration = Duration::from_millis(1);

/// Consumes all its input, counts the steps, and wakes its peer after each.
struct Publisher {
    steps: Arc<AtomicUsize>,
    consumed: Arc<AtomicUsize>,
    peer: Arc<Notify>,
}

impl Session for Publisher {
    fn on_input(&mut self, input: &mut BytesMut, _: &mut BytesMut, _: Instant) -> SessionStatus {
        self.consumed.fetch_add(input.len(), Ordering::SeqCst);
        input.clear();
        self.steps.fetch_add(1, Ordering::SeqCst);
        self.peer.notify_one();
        let done = Instant::now() + STEP_WORK;
        while Instant::now() < done {
            std::hint::spin_loop();
        }
        SessionStatus::Continue
    }
    fn on_wake(&mut self, _: &mut BytesMut, _: Instant) -> SessionStatus {
        SessionStatus::Continue
    }
    fn on_tick(&mut self, _: &mut BytesMut, _: Instant) -> SessionStatus {
        SessionStatus::Continue
    }
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    fn on_drained(&mut self) {}
    fn wants_input(&self) -> bool {
        true
    }
    fn on_close(&mut self) {}
}

/// Steps the publisher had taken when the task it woke first ran. Runs on the thread that
/// blocks on the runtime, so both workers can be idle.
async fn steps_before_the_woken_task_ran() -> usize {
    let steps = Arc::new(AtomicUsize::new(0));
    let consumed = Arc::new(AtomicUsize::new(0));
    let peer = Arc::new(Notify::new());
    // The peer waits for its first wake-up and notes how far the publisher had got.
    let seen = {
        let (steps, peer) = (steps.clone(), peer.clone());
        tokio::spawn(async move {
            peer.notified().await;
            steps.load(Ordering::SeqCst)
        })
    };
    let (mut client, server) = tokio::io::duplex(INPUT + 1);
    client.write_all(&vec![0u8; INPUT]).await.unwrap();
    // Both workers go idle before the publisher starts: the peer waits, the writes are done.
    let deadline = Instant::now() + Duration::from_secs(5);
    let metrics = tokio::runtime::Handle::current().metrics();
    // The park/unpark count is odd while a worker is parked.
    let unparked = |w| metrics.worker_park_unpark_count(w).is_multiple_of(2);
    while (0..metrics.num_workers()).any(unparked) {
        assert!(Instant::now() < deadline, "the workers never went idle");
        std::thread::yield_now();
    }
    let factory = OneSession::new(Publisher {
        steps,
        consumed: consumed.clone(),
        peer,
    });
    let (shutdown, signal) = Shutdown::new();
    let connection = tokio::spawn(drive_connection(server, peer_info(), factory, signal));
    let seen = seen.await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while consumed.load(Ordering::SeqCst) < INPUT {
        assert!(
            Instant::now() < deadline,
            "the publisher never read all its input"
        );
        tokio::task::yield_now().await;
    }
    shutdown.trigger();
    drop(client);
    connection.await.unwrap();
    seen
}

#[test]
fn a_task_woken_by_a_busy_connection_runs_after_its_first_big_step() {
    // Two workers with the LIFO slot, as the broker's runtime; the test's own thread is not
    // one of them.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seen = runtime.block_on(steps_before_the_woken_task_ran());
    // Reads grow 512 B, 1, 2, 4, 8, 16 KiB: the sixth step is the first big one, and the
    // second worker has a few steps' time to wake up. Without the hand-off the peer waits for
    // the publisher's whole turn (64 steps).
    assert!(seen <= 16, "the woken task waited {seen} steps");
}
