//! A publisher's window of unconfirmed messages.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::control::Stop;

/// Permits for messages in flight; unlimited when the publisher does not wait for confirms.
#[derive(Debug, Clone)]
pub struct Window(Option<Arc<Semaphore>>);

impl Window {
    /// A window of `size` messages, or none.
    pub fn new(limited: bool, size: u32) -> Self {
        Self(limited.then(|| Arc::new(Semaphore::new(size.max(1) as usize))))
    }

    /// Takes up to `want` permits, waiting for at least one; 0 when `stop` fired first.
    pub async fn take(&self, want: u64, stop: &mut Stop) -> u64 {
        let Some(sem) = &self.0 else {
            return want;
        };
        let free = sem.available_permits().min(want as usize);
        if free > 0 {
            if let Ok(permits) = sem.try_acquire_many(free as u32) {
                permits.forget();
                return free as u64;
            }
        }
        tokio::select! {
            permit = sem.acquire() => match permit {
                Ok(p) => { p.forget(); 1 }
                Err(_) => 0,
            },
            () = stop.wait() => 0,
        }
    }

    /// True when the publisher waits for confirms.
    pub fn is_limited(&self) -> bool {
        self.0.is_some()
    }

    /// Returns `n` permits: `n` messages were confirmed.
    pub fn give(&self, n: u64) {
        if let Some(sem) = &self.0 {
            sem.add_permits(n as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Control;

    #[tokio::test]
    async fn window_limits_and_refills() {
        let ctl = Control::new();
        let mut stop = ctl.publishing_stopped();
        let window = Window::new(true, 3);
        assert_eq!(window.take(10, &mut stop).await, 3);
        window.give(2);
        assert_eq!(window.take(10, &mut stop).await, 2);
        ctl.stop_publishing();
        assert_eq!(window.take(10, &mut stop).await, 0);
    }

    #[tokio::test]
    async fn no_window_gives_what_is_asked() {
        let ctl = Control::new();
        let mut stop = ctl.publishing_stopped();
        assert_eq!(Window::new(false, 1).take(256, &mut stop).await, 256);
    }
}
