//! PUBACK and PUBREC that wait for the disk: a QoS 1 or 2 PUBLISH whose message the core is
//! writing (persistent, into a durable queue) is acknowledged only once the write completes,
//! and later acknowledgements wait behind it so they go out in the order the PUBLISHes came.
//!
//! The write completes on the store's thread, which records how far writes are done (they
//! complete in order) and wakes the connection; `on_wake` sends what is ready.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use warren_model::DurableWrite;

use crate::codec::{Codec, Outbound};
use crate::errors::MqttError;
use crate::registry::LiveHandle;
use crate::session::send;

/// An acknowledgement of an inbound PUBLISH.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reply {
    /// QoS 1: packet id, reason code.
    PubAck(u16, u8),
    /// QoS 2: packet id, reason code.
    PubRec(u16, u8),
}

impl Reply {
    fn packet(self) -> Outbound {
        match self {
            Self::PubAck(id, code) => Outbound::PubAck(id, code),
            Self::PubRec(id, code) => Outbound::PubRec(id, code),
        }
    }
}

#[derive(Default, Debug)]
struct Mark {
    done: AtomicU64,
    failed: AtomicBool,
}

/// Acknowledgements held back, in PUBLISH order.
#[derive(Default, Debug)]
pub struct DurableAcks {
    /// Each reply with the number of the write it waits for, if any.
    waiting: VecDeque<(Reply, Option<u64>)>,
    /// How many of `waiting` are PUBACKs: QoS 1 publishes the client still counts against
    /// our Receive Maximum (the held QoS 2 ones are counted with the kept QoS 2 ids).
    held_pubacks: usize,
    next_write: u64,
    /// Made at the first write waited for: most sessions never wait for the disk.
    mark: Option<Arc<Mark>>,
}

impl DurableAcks {
    /// QoS 1 PUBLISHes whose PUBACK is held back.
    pub fn held_pubacks(&self) -> usize {
        self.held_pubacks
    }

    fn hold(&mut self, reply: Reply, write: Option<u64>) {
        if matches!(reply, Reply::PubAck(..)) {
            self.held_pubacks += 1;
        }
        self.waiting.push_back((reply, write));
    }

    /// Sends `reply` now, or once `write` (and everything before it) is on disk.
    pub fn reply(
        &mut self,
        reply: Reply,
        write: Option<Box<dyn DurableWrite>>,
        handle: &Arc<LiveHandle>,
        codec: &mut Codec,
        out: &mut BytesMut,
    ) {
        match write {
            None if self.waiting.is_empty() => {
                send(codec, out, reply.packet());
            }
            None => self.hold(reply, None),
            Some(write) => {
                self.next_write += 1;
                let n = self.next_write;
                self.hold(reply, Some(n));
                let mark = Arc::clone(self.mark.get_or_insert_with(Arc::default));
                let handle = Arc::clone(handle);
                write.on_durable(Box::new(move |result| {
                    match result {
                        Ok(()) => {
                            mark.done.fetch_max(n, Ordering::AcqRel);
                        }
                        Err(_) => mark.failed.store(true, Ordering::Release),
                    }
                    handle.wake();
                }));
            }
        }
    }

    /// Sends every reply whose write is done. A failed write is never acknowledged: the
    /// connection is closed instead, so the client sends the message again elsewhere.
    pub fn flush(&mut self, codec: &mut Codec, out: &mut BytesMut) -> Result<(), MqttError> {
        let mark = self.mark.as_deref();
        let done = mark.map_or(0, |m| m.done.load(Ordering::Acquire));
        let failed = || mark.is_some_and(|m| m.failed.load(Ordering::Acquire));
        while let Some(&(reply, write)) = self.waiting.front() {
            match write {
                Some(n) if n > done && failed() => {
                    return Err(MqttError::Core(warren_model::CoreError::new(
                        warren_model::ErrorKind::Internal,
                        "message store failed: publish not stored",
                    )));
                }
                Some(n) if n > done => break,
                _ => {
                    send(codec, out, reply.packet());
                    self.waiting.pop_front();
                    if matches!(reply, Reply::PubAck(..)) {
                        self.held_pubacks -= 1;
                    }
                }
            }
        }
        Ok(())
    }
}
