//! A waker for the model's unit tests that counts its wake-ups.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::Wake;

/// Counts how often it was woken.
#[derive(Default)]
pub(crate) struct CountingWake(AtomicU32);

impl CountingWake {
    /// Wake-ups so far.
    pub fn count(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWake {
    fn wake(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
