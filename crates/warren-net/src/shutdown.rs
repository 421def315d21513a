//! Broker-wide graceful shutdown: one trigger, many listeners and connections watching it.
//!
//! Every idle connection waits on the signal for its whole life, so the wait is kept small:
//! a flag and one `Notify` (a `watch` channel's wait future is two and a half times the size).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio::sync::futures::OwnedNotified;
use tokio::sync::Notify;

#[derive(Debug, Default)]
struct State {
    stopping: AtomicBool,
    notify: Arc<Notify>,
}

/// The trigger side, held by the server.
#[derive(Debug)]
pub struct Shutdown {
    state: Arc<State>,
}

/// The watching side, cloned into every listener and connection task.
#[derive(Clone, Debug)]
pub struct ShutdownSignal {
    state: Arc<State>,
}

impl Shutdown {
    /// A new trigger and its first signal.
    pub fn new() -> (Self, ShutdownSignal) {
        let state = Arc::new(State::default());
        let signal = ShutdownSignal {
            state: Arc::clone(&state),
        };
        (Self { state }, signal)
    }

    /// Tells every watcher to stop.
    pub fn trigger(&self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        self.state.notify.notify_waiters();
    }
}

impl Drop for Shutdown {
    /// A trigger that is gone can never fire, which also means stop.
    fn drop(&mut self) {
        self.trigger();
    }
}

impl ShutdownSignal {
    /// Resolves once shutdown is triggered (at once if it already was).
    pub async fn triggered(&mut self) {
        let mut watch = self.clone().watch();
        std::future::poll_fn(|cx| watch.poll_triggered(cx)).await;
    }

    /// A watch to poll by hand, for a future that is not an `async fn` (a connection's driver,
    /// which keeps one for its life).
    pub(crate) fn watch(self) -> ShutdownWatch {
        let notified = Box::pin(Arc::clone(&self.state.notify).notified_owned());
        ShutdownWatch {
            state: self.state,
            notified,
            registered: None,
        }
    }
}

/// A [`ShutdownSignal`] polled by hand. Its wait is registered once per waker rather than
/// on every poll: registering takes the lock that every connection's wait shares.
pub(crate) struct ShutdownWatch {
    state: Arc<State>,
    notified: Pin<Box<OwnedNotified>>,
    registered: Option<Waker>,
}

impl ShutdownWatch {
    /// Ready once shutdown is triggered.
    pub(crate) fn poll_triggered(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.state.stopping.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        let known = self
            .registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
        if known {
            return Poll::Pending;
        }
        if self.notified.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        self.registered = Some(cx.waker().clone());
        // A trigger before the wait was registered left only the flag.
        if self.state.stopping.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Awaits `future`, failing (rather than hanging) if it takes longer than 10 s.
    async fn within_deadline<F: Future>(what: &str, future: F) -> F::Output {
        tokio::time::timeout(std::time::Duration::from_secs(10), future)
            .await
            .unwrap_or_else(|_| panic!("{what} did not happen"))
    }

    #[tokio::test]
    async fn a_trigger_reaches_waiters_and_later_watchers() {
        let (shutdown, mut signal) = Shutdown::new();
        let mut waiting = signal.clone();
        let waiter = tokio::spawn(async move { waiting.triggered().await });
        shutdown.trigger();
        within_deadline("the waiter saw the trigger", waiter)
            .await
            .unwrap();
        within_deadline("a later watcher saw it", signal.triggered()).await;
    }

    #[tokio::test]
    async fn a_watch_wakes_its_task_on_trigger() {
        let (shutdown, signal) = Shutdown::new();
        let mut watch = signal.watch();
        let waiter = tokio::spawn(async move {
            std::future::poll_fn(|cx| watch.poll_triggered(cx)).await;
        });
        tokio::task::yield_now().await;
        shutdown.trigger();
        within_deadline("the watch saw the trigger", waiter)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn dropping_the_trigger_stops_watchers() {
        let (shutdown, mut signal) = Shutdown::new();
        drop(shutdown);
        within_deadline("a dropped trigger stopped the watcher", signal.triggered()).await;
    }
}
