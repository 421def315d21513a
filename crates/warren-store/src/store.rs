//! The public face of the store: open (with recovery), append, read, compact, close.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;

use crate::compact::{self, CompactReport};
use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::format::{self, Record, HEADER_LEN};
use crate::fs::{Fs, StdFs};
use crate::ids::{Keyspace, MessageId, QueueId, SegmentId};
use crate::index::QueueSet;
use crate::recovery::{self, Recovered, Scanned};
use crate::shared::{Inner, Shared};
use crate::ticket::Ticket;
use crate::writer;

/// A message read back from disk.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredMessage {
    /// The properties as the caller encoded them.
    pub properties: Bytes,
    /// The body.
    pub body: Bytes,
}

/// A snapshot of the store's size and health.
#[derive(Clone, Debug)]
pub struct StoreStats {
    /// Segment files on disk (or about to be).
    pub segments: usize,
    /// Bytes in those segments.
    pub disk_bytes: u64,
    /// Messages held by at least one queue.
    pub live_messages: usize,
    /// Bytes appended and not yet handed to the writer.
    pub pending_bytes: usize,
    /// Set once a write or fsync failed.
    pub poisoned: Option<StoreError>,
}

/// The durable store: one directory of segment files, one writer thread doing group commit,
/// and (optionally) one compactor thread.
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Store {
    /// Opens (or creates) the store in `dir` on the real file system and recovers it.
    pub fn open(
        dir: impl AsRef<Path>,
        config: StoreConfig,
    ) -> Result<(Store, Recovered), StoreError> {
        Self::open_with(Arc::new(StdFs), dir, config)
    }

    /// Opens the store on any [`Fs`] (tests inject failures and crashes this way).
    pub fn open_with(
        fs: Arc<dyn Fs>,
        dir: impl AsRef<Path>,
        config: StoreConfig,
    ) -> Result<(Store, Recovered), StoreError> {
        let dir = dir.as_ref().to_path_buf();
        fs.create_dir_all(&dir)
            .map_err(|e| StoreError::io("create data directory", &e))?;
        let Scanned {
            mut index,
            mut files,
            next_id,
            last_segment,
            recovered,
        } = recovery::recover(&*fs, &dir)?;
        let report = &recovered.report;
        tracing::info!(
            messages = report.messages,
            queue_entries = report.queue_entries,
            metadata = report.metadata,
            segments = report.segments,
            cut = report.cut.len(),
            clean = report.clean_shutdown,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "store recovered"
        );
        // Every run appends to a fresh segment, so nothing recovered is ever written again.
        let head = last_segment + 1;
        let file = fs
            .create(&dir.join(SegmentId(head).file_name()))
            .map_err(|e| StoreError::io("create segment", &e))?;
        let header = format::encode_header(SegmentId(head), MessageId(next_id));
        file.write_at(&header, 0)
            .and_then(|()| file.sync())
            .map_err(|e| StoreError::io("write segment header", &e))?;
        fs.sync_dir(&dir)
            .map_err(|e| StoreError::io("sync data directory", &e))?;
        files.insert(head, file);
        index.add_segment(head, HEADER_LEN as u64);
        let shared = Shared {
            poisoned: None,
            closed: false,
            chunks: VecDeque::new(),
            pending_bytes: 0,
            head,
            head_len: HEADER_LEN as u64,
            next_id,
            appended: 0,
            durable: 0,
            durable_pos: (head, HEADER_LEN as u64),
            callbacks: Vec::new(),
            index,
            files,
            rolled: false,
            spare: Vec::new(),
        };
        let inner = Arc::new(Inner {
            state: Mutex::new(shared),
            work: Condvar::new(),
            compact: Condvar::new(),
            progress: Condvar::new(),
            fs,
            dir,
            config,
        });
        let threads = spawn_threads(&inner)?;
        Ok((
            Store {
                inner,
                threads: Mutex::new(threads),
            },
            recovered,
        ))
    }

    /// Stores a message held by `queues` (one record, so all or nothing survives a crash).
    /// The ticket completes when it is durable: only then may the publisher be confirmed.
    pub fn publish(
        &self,
        queues: &[QueueId],
        properties: &[u8],
        body: &[u8],
    ) -> Result<(MessageId, Ticket), StoreError> {
        let set = QueueSet::from_ids(queues.iter().copied());
        let mut shared = self.inner.lock_for_append()?;
        let id = MessageId(shared.next_id);
        let loc = shared.append(&self.inner.config, |out| {
            format::encode_message(out, id, queues, properties, body)
        })?;
        shared.next_id += 1;
        let seq = shared.appended;
        if let Some(set) = set {
            shared.index.add_message(id, loc, set, seq);
        }
        Ok((id, self.wake_writer(shared)))
    }

    /// Records that `queue` is done with `message` (acked, or moved elsewhere).
    pub fn ack(&self, queue: QueueId, message: MessageId) -> Result<Ticket, StoreError> {
        let mut shared = self.inner.lock_for_append()?;
        shared.index.check_held(queue, message)?;
        let loc = shared.append(&self.inner.config, |out| {
            format::encode(out, &Record::Ack { queue, message })
        })?;
        let seq = shared.appended;
        shared.index.ack(queue, message, loc.segment.0, seq);
        Ok(self.wake_writer(shared))
    }

    /// Records that `queue` handed `message` to a consumer, so a restart after a clean close
    /// marks it redelivered. Written with the next batch; nobody needs to wait for it (after
    /// an unclean stop every recovered message is marked redelivered anyway).
    pub fn mark_delivered(&self, queue: QueueId, message: MessageId) -> Result<(), StoreError> {
        let mut shared = self.inner.lock_for_append()?;
        shared.index.check_held(queue, message)?;
        let loc = shared.append(&self.inner.config, |out| {
            format::encode(out, &Record::Delivered { queue, message })
        })?;
        shared.index.delivered(queue, message, loc.segment.0);
        self.wake_writer(shared);
        Ok(())
    }

    /// Drops every message `queue` holds (purge, or delete of a durable queue).
    pub fn drop_queue(&self, queue: QueueId) -> Result<Ticket, StoreError> {
        let mut shared = self.inner.lock_for_append()?;
        let below = MessageId(shared.next_id);
        let loc = shared.append(&self.inner.config, |out| {
            format::encode(out, &Record::DropQueue { queue, below })
        })?;
        let seq = shared.appended;
        shared.index.drop_queue(queue, below, loc.segment.0, seq);
        Ok(self.wake_writer(shared))
    }

    /// Sets a metadata value (a durable definition, a session, a retained message).
    pub fn put_meta(
        &self,
        keyspace: Keyspace,
        key: &[u8],
        value: &[u8],
    ) -> Result<Ticket, StoreError> {
        let mut shared = self.inner.lock_for_append()?;
        let loc = shared.append(&self.inner.config, |out| {
            format::encode(
                out,
                &Record::MetaPut {
                    keyspace,
                    key,
                    value,
                },
            )
        })?;
        let seq = shared.appended;
        shared.index.meta_put((keyspace, Box::from(key)), loc, seq);
        Ok(self.wake_writer(shared))
    }

    /// Deletes a metadata value (deleting a missing key is allowed and costs one record).
    pub fn delete_meta(&self, keyspace: Keyspace, key: &[u8]) -> Result<Ticket, StoreError> {
        let mut shared = self.inner.lock_for_append()?;
        let loc = shared.append(&self.inner.config, |out| {
            format::encode(out, &Record::MetaDelete { keyspace, key })
        })?;
        let seq = shared.appended;
        shared.index.meta_delete(keyspace, key, loc.segment.0, seq);
        Ok(self.wake_writer(shared))
    }

    /// Blocks until everything appended so far is durable.
    pub fn sync(&self) -> Result<(), StoreError> {
        let seq = self.inner.lock().appended;
        self.inner.wait_durable(seq)
    }

    /// Rewrites sparse sealed segments now (the background compactor does this too).
    pub fn compact(&self) -> Result<CompactReport, StoreError> {
        compact::compact(&self.inner, None)
    }

    /// Deletes dead segments now (the writer does this after every batch).
    pub fn delete_dead_segments(&self) -> Result<(), StoreError> {
        writer::delete_dead_segments(&self.inner)
    }

    /// Sizes and health.
    pub fn stats(&self) -> StoreStats {
        let shared = self.inner.lock();
        StoreStats {
            segments: shared.index.segments.len(),
            disk_bytes: shared.index.disk_bytes(),
            live_messages: shared.index.messages.len(),
            pending_bytes: shared.pending_bytes,
            poisoned: shared.poisoned.clone(),
        }
    }

    /// Writes the clean-shutdown marker, waits for it to be durable and stops the threads.
    /// Later appends fail with [`StoreError::Closed`]. It takes `&self` so an owner shared
    /// by many threads (the broker core) can close it while others still hold it.
    pub fn close(&self) -> Result<(), StoreError> {
        let result = self.write_shutdown();
        self.stop();
        result
    }

    fn write_shutdown(&self) -> Result<(), StoreError> {
        let mut shared = self.inner.lock_for_append()?;
        shared.append(&self.inner.config, |out| {
            format::encode(out, &Record::Shutdown)
        })?;
        self.wake_writer(shared).wait()
    }

    fn wake_writer(&self, shared: std::sync::MutexGuard<'_, Shared>) -> Ticket {
        let seq = shared.appended;
        drop(shared);
        self.inner.work.notify_one();
        Ticket::new(self.inner.clone(), seq)
    }

    /// Stops the threads after the writer drains what is buffered. No shutdown marker: to
    /// the next open this looks like a crash (everything recovered is marked redelivered).
    fn stop(&self) {
        self.inner.lock().closed = true;
        self.inner.work.notify_all();
        self.inner.compact.notify_all();
        self.inner.progress.notify_all();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn_threads(inner: &Arc<Inner>) -> Result<Vec<JoinHandle<()>>, StoreError> {
    let spawn = |name: &str, f: fn(Arc<Inner>)| {
        let inner = inner.clone();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || f(inner))
            .map_err(|e| StoreError::io("spawn store thread", &e))
    };
    let mut threads = vec![spawn("warren-store-writer", writer::run)?];
    if inner.config.background_compaction {
        threads.push(spawn("warren-store-compactor", compact::run)?);
    }
    Ok(threads)
}
