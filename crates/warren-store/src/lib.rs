//! Warren's durable storage: an append-only log of segment files holding messages, queue
//! acknowledgements and metadata, with group commit, recovery and compaction.
//!
//! What it is: a synchronous engine (std threads, no async runtime) under the broker core.
//! Callers append records and get a [`Ticket`] that completes once the record is fsynced;
//! many appends share one fsync. Opening a store recovers it: every segment is scanned, torn
//! or corrupt tails are cut, and each queue's backlog comes back in order ([`Recovered`]).
//! Message bodies stay on disk and are read back on demand ([`Store::read`]), so a queue may
//! keep only ids in memory.
//!
//! What it is not: it knows nothing of routing, protocols or how properties are encoded; the
//! caller numbers queues ([`QueueId`]) and names metadata keys ([`Keyspace`] plus bytes).
//!
//! Invariants: a ticket completes only after its record and everything before it are durable;
//! after a failed write or fsync the store is poisoned and completes no ticket again; a
//! segment is deleted only when nothing in it is live and nothing in it still cancels a record
//! in another segment on disk; recovery never panics on any bytes.

mod backlog;
mod compact;
mod config;
mod dense;
mod error;
pub mod format;
mod fs;
mod ids;
mod index;
pub mod mem;
mod messages;
mod read;
mod recovery;
mod shared;
mod store;
mod ticket;
mod writer;

pub use backlog::{Backlog, BacklogIter, RecoveredMessage};
pub use compact::CompactReport;
pub use config::StoreConfig;
pub use error::StoreError;
pub use fs::{Fs, SegmentFile, StdFs};
pub use ids::{Keyspace, Location, MessageId, QueueId, SegmentId};
pub use read::ReadCache;
pub use recovery::{CutSegment, Recovered, RecoveryReport};
pub use store::{Store, StoreStats, StoredMessage};
pub use ticket::Ticket;
