//! RECEIPTs in frame order, each held until what its frame started is done: a persistent SEND
//! into a durable queue waits for the core's write to disk (and every RECEIPT after it waits
//! behind it, so a RECEIPT always means every earlier frame took effect).
//!
//! Writes complete on the store's thread; the callback only records how far they are done
//! (they complete in order) and wakes the connection, whose next `on_wake` sends what is ready.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use warren_model::{CoreError, DurableWrite, ErrorKind};

use crate::errors::StompError;
use crate::frame::{Command, Frame, Version};
use crate::outbox::Outbox;
use crate::session::write;

/// How far this connection's durable writes are done; shared with the write callbacks.
#[derive(Default, Debug)]
struct Mark {
    done: AtomicU64,
    failed: AtomicBool,
}

/// RECEIPTs owed, in order.
#[derive(Default, Debug)]
pub struct Receipts {
    /// Receipt ids with the write they wait for (0: none).
    queue: VecDeque<(String, u64)>,
    writes: u64,
    mark: Arc<Mark>,
}

impl Receipts {
    /// Owes a RECEIPT for `id`, after `write` completes when there is one.
    pub fn push(&mut self, id: String, write: Option<Box<dyn DurableWrite>>, outbox: &Arc<Outbox>) {
        let Some(write) = write else {
            self.queue.push_back((id, 0));
            return;
        };
        self.writes += 1;
        let seq = self.writes;
        self.queue.push_back((id, seq));
        let mark = Arc::clone(&self.mark);
        let outbox = Arc::clone(outbox);
        write.on_durable(Box::new(move |result| {
            match result {
                Ok(()) => {
                    mark.done.fetch_max(seq, Ordering::AcqRel);
                }
                Err(err) => {
                    tracing::error!(%err, "stomp: persistent SEND not stored");
                    mark.failed.store(true, Ordering::Release);
                }
            }
            outbox.wake();
        }));
    }

    /// True when no RECEIPT is owed.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Writes every RECEIPT that is ready; an error when a write it waits for failed.
    pub fn flush(&mut self, out: &mut BytesMut, version: Version) -> Result<(), StompError> {
        let done = self.mark.done.load(Ordering::Acquire);
        while let Some((_, seq)) = self.queue.front() {
            if *seq > done {
                if self.mark.failed.load(Ordering::Acquire) {
                    let text = "a persistent message could not be stored";
                    return Err(CoreError::new(ErrorKind::Internal, text).into());
                }
                return Ok(());
            }
            if let Some((id, _)) = self.queue.pop_front() {
                write(
                    out,
                    &Frame::new(Command::Receipt).header("receipt-id", id),
                    version,
                );
            }
        }
        Ok(())
    }
}
