//! The broker's [`Scheduler`]: one tokio task per scheduled job. Meant for rare, per-session
//! timers (a will delay, a session expiry), not per-message ones.

use std::time::Instant;

use tokio::runtime::Handle;
use warren_model::Scheduler;

/// Runs scheduled jobs on the tokio runtime it was created in.
#[derive(Clone, Debug)]
pub struct TokioScheduler {
    runtime: Handle,
}

impl TokioScheduler {
    /// A scheduler on the current runtime. Call from within the runtime.
    pub fn current() -> Self {
        Self {
            runtime: Handle::current(),
        }
    }
}

impl Scheduler for TokioScheduler {
    fn schedule(&self, at: Instant, task: Box<dyn FnOnce() + Send>) {
        self.runtime.spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            task();
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn runs_a_job_after_its_time() {
        let scheduler = TokioScheduler::current();
        let (done, ran) = mpsc::channel();
        let at = Instant::now() + Duration::from_millis(20);
        scheduler.schedule(at, Box::new(move || done.send(Instant::now()).unwrap()));
        let ran_at = tokio::task::spawn_blocking(move || ran.recv_timeout(Duration::from_secs(5)))
            .await
            .unwrap()
            .unwrap();
        assert!(ran_at >= at);
    }
}
