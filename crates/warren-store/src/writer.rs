//! The writer thread: group commit. Callers append records to a shared buffer; this thread
//! takes everything buffered, writes it, fsyncs once and completes every ticket in the batch.
//! While it writes and syncs, new appends collect for the next batch, so under load many
//! records share one fsync without any caller waiting for a timer.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::error::StoreError;
use crate::fs::SegmentFile;
use crate::shared::{Chunk, Inner};

/// Runs until the store is closed (and drained) or poisoned.
pub(crate) fn run(inner: Arc<Inner>) {
    while let Some((chunks, seq)) = next_batch(&inner) {
        match write_batch(&inner, &chunks) {
            Ok(end) => complete(&inner, chunks, seq, end),
            Err(err) => return inner.poison(err),
        }
        if let Err(err) = delete_dead_segments(&inner) {
            return inner.poison(err);
        }
    }
}

/// Waits for buffered chunks; `None` when the thread should stop.
fn next_batch(inner: &Inner) -> Option<(VecDeque<Chunk>, u64)> {
    let mut shared = inner.lock();
    loop {
        if shared.poisoned.is_some() {
            return None;
        }
        if !shared.chunks.is_empty() {
            shared.pending_bytes = 0;
            let seq = shared.appended;
            return Some((std::mem::take(&mut shared.chunks), seq));
        }
        if shared.closed {
            return None;
        }
        shared = inner.work.wait(shared).unwrap_or_else(|e| e.into_inner());
    }
}

/// Writes the chunks, then fsyncs every file touched (and the directory if a segment was
/// created). Returns the durable end of the log.
fn write_batch(inner: &Inner, chunks: &VecDeque<Chunk>) -> Result<(u32, u64), StoreError> {
    let mut touched: Vec<(u32, Arc<dyn SegmentFile>)> = Vec::new();
    let mut created = false;
    let mut end = (0, 0);
    for chunk in chunks {
        let file = chunk_file(inner, chunk)?;
        created |= chunk.new_file;
        file.write_at(&chunk.buf, chunk.offset)
            .map_err(|e| poison_io("write", &e))?;
        if touched.iter().all(|(s, _)| *s != chunk.segment) {
            touched.push((chunk.segment, file));
        }
        end = (chunk.segment, chunk.offset + chunk.buf.len() as u64);
    }
    for (_, file) in &touched {
        file.sync().map_err(|e| poison_io("fsync", &e))?;
    }
    if created {
        inner
            .fs
            .sync_dir(&inner.dir)
            .map_err(|e| poison_io("directory fsync", &e))?;
    }
    Ok(end)
}

fn chunk_file(inner: &Inner, chunk: &Chunk) -> Result<Arc<dyn SegmentFile>, StoreError> {
    if chunk.new_file {
        let file = inner
            .fs
            .create(&inner.path(chunk.segment))
            .map_err(|e| poison_io("create segment", &e))?;
        inner.lock().files.insert(chunk.segment, file.clone());
        return Ok(file);
    }
    let file = inner.lock().files.get(&chunk.segment).cloned();
    file.ok_or_else(|| StoreError::Poisoned(format!("segment {} is not open", chunk.segment)))
}

fn poison_io(what: &str, err: &std::io::Error) -> StoreError {
    StoreError::Poisoned(format!("{what} failed: {err}"))
}

/// Marks the batch durable, recycles its buffers and runs the completions.
fn complete(inner: &Inner, chunks: VecDeque<Chunk>, seq: u64, end: (u32, u64)) {
    let (due, rolled) = {
        let mut shared = inner.lock();
        shared.durable = seq;
        shared.durable_pos = end;
        for mut chunk in chunks.into_iter().filter(|c| !c.new_file) {
            if shared.spare.len() < 4 && chunk.buf.capacity() <= 4 << 20 {
                chunk.buf.clear();
                shared.spare.push(chunk.buf);
            }
        }
        (shared.take_due(), shared.rolled)
    };
    inner.progress.notify_all();
    if rolled {
        inner.compact.notify_all();
    }
    for f in due {
        f(Ok(()));
    }
}

/// Deletes dead segments in rounds: remove the files, sync the directory, and only then
/// release the pins they held, so a later round never deletes a canceller before the
/// records it cancels are durably gone.
pub(crate) fn delete_dead_segments(inner: &Inner) -> Result<(), StoreError> {
    loop {
        let dead = {
            let shared = inner.lock();
            shared.index.deletable(shared.durable_pos.0, shared.durable)
        };
        if dead.is_empty() {
            return Ok(());
        }
        let removed: Vec<u32> = dead
            .into_iter()
            .filter(|s| remove_file(inner, *s))
            .collect();
        if removed.is_empty() {
            return Ok(());
        }
        inner
            .fs
            .sync_dir(&inner.dir)
            .map_err(|e| poison_io("directory fsync", &e))?;
        let mut shared = inner.lock();
        for segment in removed {
            shared.files.remove(&segment);
            shared.index.remove_segment(segment);
        }
    }
}

/// Deletes a segment file; a file that is already gone counts as deleted.
fn remove_file(inner: &Inner, segment: u32) -> bool {
    match inner.fs.remove(&inner.path(segment)) {
        Ok(()) => true,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => true,
        Err(err) => {
            tracing::warn!(segment, error = %err, "could not delete a dead segment; will retry");
            false
        }
    }
}
