//! The store's one error type.

use std::io;

use thiserror::Error;

use crate::ids::{MessageId, QueueId};

/// What went wrong in the store. Cloneable, because one failed fsync fails every ticket that
/// waited on it.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum StoreError {
    /// A write or fsync failed earlier; the store accepts no more writes and confirms nothing.
    #[error("store poisoned: {0}")]
    Poisoned(String),
    /// An I/O error outside the write path (open, read, list).
    #[error("store I/O error: {0}")]
    Io(String),
    /// The store is closed.
    #[error("store closed")]
    Closed,
    /// A record larger than the format allows.
    #[error("record of {0} bytes is larger than the limit")]
    TooLarge(usize),
    /// An ack or delivery mark for a queue that does not hold the message.
    #[error("{queue} does not hold {message}")]
    NotEnqueued {
        /// The queue named by the caller.
        queue: QueueId,
        /// The message named by the caller.
        message: MessageId,
    },
    /// A read of a message the store does not hold.
    #[error("no stored {0}")]
    UnknownMessage(MessageId),
    /// A record on disk failed its checksum where the index said a record would be.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub(crate) fn io(context: &str, err: &io::Error) -> Self {
        StoreError::Io(format!("{context}: {err}"))
    }
}
