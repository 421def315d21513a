//! Publishing a read's worth of messages at once.
//!
//! A session that has just read many publishes from its socket asks its vhost for a
//! [`PublishBatch`] before it publishes them. While the batch lives, a queue that one of them
//! (after the first, which goes at once) reaches holds back handing it out; when the batch is
//! dropped, each queue reached hands out everything that arrived, once. A consumer then gets a read's messages in one delivery
//! round (one lock on its queue, one wake-up of its connection) instead of one round each.
//! Routing, limits and publish outcomes are unchanged: only when a consumer is given a
//! message moves, and never past the end of the read.

/// Holds back dispatch for the publishes of this thread until dropped. Not `Send`: it must be
/// dropped on the thread that made it, before that thread returns to its runtime.
#[must_use = "dropping the batch at once dispatches at once"]
pub struct PublishBatch {
    finish: Option<Box<dyn FnOnce()>>,
}

impl PublishBatch {
    /// A batch that runs `finish` when dropped.
    pub fn new(finish: Box<dyn FnOnce()>) -> Self {
        Self {
            finish: Some(finish),
        }
    }

    /// A batch that holds nothing back (a core that dispatches at once, or a batch already
    /// open on this thread).
    pub fn none() -> Self {
        Self { finish: None }
    }
}

impl Drop for PublishBatch {
    fn drop(&mut self) {
        if let Some(finish) = self.finish.take() {
            finish();
        }
    }
}

impl std::fmt::Debug for PublishBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishBatch")
            .field("holding", &self.finish.is_some())
            .finish()
    }
}
