//! State shared by the callers, the writer thread and the compactor: the pending write
//! buffer, the sequence numbers that tickets wait on, the index and the open files.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::format::{self, HEADER_LEN};
use crate::fs::{Fs, SegmentFile};
use crate::ids::{Location, MessageId, SegmentId};
use crate::index::Index;

/// A completion to run once a ticket's records are durable (or the store is poisoned).
pub(crate) type Callback = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// Bytes bound for one segment file at one offset.
pub(crate) struct Chunk {
    pub(crate) segment: u32,
    pub(crate) offset: u64,
    pub(crate) buf: Vec<u8>,
    /// The chunk starts a new segment: create the file (and sync the directory).
    pub(crate) new_file: bool,
}

pub(crate) struct Shared {
    pub(crate) poisoned: Option<StoreError>,
    pub(crate) closed: bool,
    pub(crate) chunks: VecDeque<Chunk>,
    pub(crate) pending_bytes: usize,
    /// The segment appends go to, and its planned length.
    pub(crate) head: u32,
    pub(crate) head_len: u64,
    pub(crate) next_id: u64,
    /// Sequence number of the last append, and of the last durable one.
    pub(crate) appended: u64,
    pub(crate) durable: u64,
    /// The log is durable up to this (segment, length).
    pub(crate) durable_pos: (u32, u64),
    pub(crate) callbacks: Vec<(u64, Callback)>,
    pub(crate) index: Index,
    pub(crate) files: HashMap<u32, Arc<dyn SegmentFile>>,
    /// A segment was sealed since the compactor last looked.
    pub(crate) rolled: bool,
    /// Spare buffers, so steady appends do not allocate.
    pub(crate) spare: Vec<Vec<u8>>,
}

pub(crate) struct Inner {
    pub(crate) state: Mutex<Shared>,
    /// Wakes the writer (work to do) and the compactor (a segment was sealed).
    pub(crate) work: Condvar,
    pub(crate) compact: Condvar,
    /// Wakes ticket waiters and throttled appenders when the durable point moves.
    pub(crate) progress: Condvar,
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) dir: PathBuf,
    pub(crate) config: StoreConfig,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn path(&self, segment: u32) -> PathBuf {
        self.dir.join(SegmentId(segment).file_name())
    }

    /// Locks the state for an append, waiting while the pending buffer is over its limit.
    pub(crate) fn lock_for_append(&self) -> Result<MutexGuard<'_, Shared>, StoreError> {
        let mut shared = self.lock();
        loop {
            shared.check_open()?;
            if shared.pending_bytes < self.config.max_pending_bytes {
                return Ok(shared);
            }
            shared = self
                .progress
                .wait(shared)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Blocks until `seq` is durable.
    pub(crate) fn wait_durable(&self, seq: u64) -> Result<(), StoreError> {
        let mut shared = self.lock();
        loop {
            if shared.durable >= seq {
                return Ok(());
            }
            if let Some(err) = &shared.poisoned {
                return Err(err.clone());
            }
            if shared.closed && shared.chunks.is_empty() {
                return Err(StoreError::Closed);
            }
            shared = self
                .progress
                .wait(shared)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Runs `f` when `seq` is durable: now, or later on the writer thread.
    pub(crate) fn on_durable(&self, seq: u64, f: Callback) {
        let mut shared = self.lock();
        let now = if shared.durable >= seq {
            Ok(())
        } else if let Some(err) = &shared.poisoned {
            Err(err.clone())
        } else {
            shared.callbacks.push((seq, f));
            return;
        };
        drop(shared);
        f(now);
    }

    /// Refuses all further writes and fails every waiting ticket.
    pub(crate) fn poison(&self, err: StoreError) {
        tracing::error!(error = %err, "store poisoned: no further writes are accepted");
        let callbacks = {
            let mut shared = self.lock();
            if shared.poisoned.is_none() {
                shared.poisoned = Some(err.clone());
            }
            shared.chunks.clear();
            shared.pending_bytes = 0;
            std::mem::take(&mut shared.callbacks)
        };
        self.progress.notify_all();
        self.work.notify_all();
        self.compact.notify_all();
        for (_, f) in callbacks {
            f(Err(err.clone()));
        }
    }
}

impl Shared {
    pub(crate) fn check_open(&self) -> Result<(), StoreError> {
        if let Some(err) = &self.poisoned {
            return Err(err.clone());
        }
        if self.closed {
            return Err(StoreError::Closed);
        }
        Ok(())
    }

    /// Encodes one record at the end of the log with `encode` (which returns the framed
    /// length) and returns where it will be. Starts a new segment first if the head is full.
    pub(crate) fn append(
        &mut self,
        config: &StoreConfig,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<usize, StoreError>,
    ) -> Result<Location, StoreError> {
        self.check_open()?;
        if self.head_len >= config.segment_bytes {
            self.roll();
        }
        let chunk = self.head_chunk();
        let start = chunk.buf.len();
        let len = encode(&mut chunk.buf).inspect_err(|_| chunk.buf.truncate(start))?;
        let too_large = || StoreError::TooLarge(len);
        let loc = Location {
            segment: SegmentId(self.head),
            offset: u32::try_from(self.head_len).map_err(|_| too_large())?,
            len: u32::try_from(len).map_err(|_| too_large())?,
        };
        self.head_len += len as u64;
        self.pending_bytes += len;
        self.appended += 1;
        self.index.grow_segment(self.head, len as u64);
        Ok(loc)
    }

    /// The chunk collecting bytes for the head segment.
    fn head_chunk(&mut self) -> &mut Chunk {
        let fresh = self.chunks.back().is_none_or(|c| c.segment != self.head);
        if fresh {
            let buf = self.spare.pop().unwrap_or_default();
            let chunk = Chunk {
                segment: self.head,
                offset: self.head_len,
                buf,
                new_file: false,
            };
            self.chunks.push_back(chunk);
        }
        let last = self.chunks.len() - 1;
        &mut self.chunks[last]
    }

    fn roll(&mut self) {
        self.head += 1;
        self.head_len = HEADER_LEN as u64;
        let header = format::encode_header(SegmentId(self.head), MessageId(self.next_id));
        let chunk = Chunk {
            segment: self.head,
            offset: 0,
            buf: header.to_vec(),
            new_file: true,
        };
        self.chunks.push_back(chunk);
        self.pending_bytes += HEADER_LEN;
        self.index.add_segment(self.head, HEADER_LEN as u64);
        self.rolled = true;
    }

    /// Takes the callbacks whose records are now durable.
    pub(crate) fn take_due(&mut self) -> Vec<Callback> {
        let durable = self.durable;
        let (due, keep) = std::mem::take(&mut self.callbacks)
            .into_iter()
            .partition(|(s, _)| *s <= durable);
        self.callbacks = keep;
        due.into_iter().map(|(_, f)| f).collect()
    }
}
