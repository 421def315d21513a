//! The per-connection driver: moves bytes between a stream and a sans-IO session, wakes the
//! session when the core has output for it, and runs its timers.
//!
//! The stream is anything that reads and writes bytes: a TCP socket, a TLS stream over one, or
//! a WebSocket seen as a byte stream. Reading and writing are polled together on the one
//! stream (no split, so no lock), and a stream that buffers (TLS, WebSocket) is flushed once
//! the output is written, before the session hears it is drained.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::Instant;
use warren_model::{PeerInfo, Session, SessionFactory, SessionStatus, Wake};

use crate::shutdown::ShutdownSignal;

/// The most one read asks for; reads start at [`MIN_READ`] and double while they fill it.
const READ_CHUNK: usize = 64 * 1024;
/// What an idle connection keeps for its next read: idle connections are most connections,
/// so this, not [`READ_CHUNK`], is what each of them costs.
const MIN_READ: usize = 512;
/// An emptied output buffer whose last round of writes was smaller than this is released:
/// the connection went quiet, so it should not keep a burst's worth of memory.
const SMALL_ROUND: usize = 4 * 1024;
/// How long a closing connection may take to flush its last frames (e.g. `connection.close`).
const FLUSH_DEADLINE: Duration = Duration::from_secs(2);

struct NotifyWaker(Notify);

impl Wake for NotifyWaker {
    fn wake(&self) {
        // notify_one stores a permit when no one waits, so no wake-up is lost.
        self.0.notify_one();
    }
}

/// Runs one connection to its end.
pub async fn drive_connection<S>(
    stream: S,
    peer: PeerInfo,
    factory: Arc<dyn SessionFactory>,
    shutdown: ShutdownSignal,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let remote = peer.remote;
    let waker = Arc::new(NotifyWaker(Notify::new()));
    let session = factory.new_session(peer, waker.clone());
    let mut connection = Connection {
        stream,
        session,
        waker,
        input: BytesMut::new(),
        output: BytesMut::new(),
        read_size: MIN_READ,
        round: 0,
        unflushed: false,
    };
    connection.run(shutdown).await;
    connection.finish().await;
    tracing::debug!(%remote, "connection closed");
}

struct Connection<S> {
    stream: S,
    session: Box<dyn Session>,
    waker: Arc<NotifyWaker>,
    input: BytesMut,
    output: BytesMut,
    /// How much the next read asks for.
    read_size: usize,
    /// Bytes written since the output was last empty.
    round: usize,
    /// Bytes were written since the last flush.
    unflushed: bool,
}

enum Event {
    Io(IoEvent),
    Woken,
    Tick,
    Shutdown,
}

enum IoEvent {
    Read(std::io::Result<usize>),
    Wrote(std::io::Result<usize>),
    Flushed(std::io::Result<()>),
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Connection<S> {
    async fn run(&mut self, mut shutdown: ShutdownSignal) {
        loop {
            let event = self.next_event(&mut shutdown).await;
            let status = match event {
                Event::Io(IoEvent::Read(result)) => self.on_read(result),
                Event::Io(IoEvent::Wrote(result)) => self.on_wrote(result),
                Event::Io(IoEvent::Flushed(result)) => self.on_flushed(result),
                Event::Woken => self
                    .session
                    .on_wake(&mut self.output, std::time::Instant::now()),
                Event::Tick => self
                    .session
                    .on_tick(&mut self.output, std::time::Instant::now()),
                Event::Shutdown => {
                    let _ = self.session.on_shutdown(&mut self.output);
                    SessionStatus::Close
                }
            };
            if status == SessionStatus::Close || self.resume_input() == SessionStatus::Close {
                return;
            }
        }
    }

    /// Frames read while the session refused input (backpressure) are still buffered: hand
    /// them over once it wants input again, or a client waiting for a reply would wait forever.
    fn resume_input(&mut self) -> SessionStatus {
        if self.input.is_empty() || !self.session.wants_input() {
            return SessionStatus::Continue;
        }
        self.session
            .on_input(&mut self.input, &mut self.output, now())
    }

    async fn next_event(&mut self, shutdown: &mut ShutdownSignal) -> Event {
        let reading = self.session.wants_input();
        let deadline = self.session.next_deadline().map(Instant::from_std);
        if reading {
            self.reserve_input();
        }
        let io = IoInterest {
            stream: &mut self.stream,
            input: reading.then_some(&mut self.input),
            output: &self.output,
            unflushed: self.unflushed,
        };
        tokio::select! {
            biased;
            () = shutdown.triggered() => Event::Shutdown,
            event = io.next() => Event::Io(event),
            () = self.waker.0.notified() => Event::Woken,
            () = sleep_until(deadline), if deadline.is_some() => Event::Tick,
        }
    }

    /// Room for the next read: grown while reads fill it, and given back (the buffer
    /// replaced by a small one) once a burst is over and everything read was consumed.
    fn reserve_input(&mut self) {
        if self.input.is_empty() && self.input.capacity() > 2 * self.read_size {
            self.input = BytesMut::new();
        }
        self.input.reserve(self.read_size);
    }

    fn on_read(&mut self, result: std::io::Result<usize>) -> SessionStatus {
        match result {
            Ok(0) | Err(_) => SessionStatus::Close,
            // resume_input, run after every event, hands the new bytes to the session.
            Ok(read) => {
                self.read_size = next_read_size(self.read_size, read);
                SessionStatus::Continue
            }
        }
    }

    fn on_wrote(&mut self, result: std::io::Result<usize>) -> SessionStatus {
        match result {
            Ok(0) | Err(_) => SessionStatus::Close,
            Ok(written) => {
                self.output.advance(written);
                self.round += written;
                if self.output.is_empty() {
                    self.end_round();
                }
                self.unflushed = true;
                SessionStatus::Continue
            }
        }
    }

    /// Everything was written: after a small round the connection is quiet, so a buffer
    /// grown by an earlier burst is released (a busy connection's rounds are large and keep
    /// theirs).
    fn end_round(&mut self) {
        if self.round < SMALL_ROUND {
            self.output = BytesMut::new();
        }
        self.round = 0;
    }

    fn on_flushed(&mut self, result: std::io::Result<()>) -> SessionStatus {
        if result.is_err() {
            return SessionStatus::Close;
        }
        self.unflushed = false;
        if self.output.is_empty() {
            self.session.on_drained();
        }
        SessionStatus::Continue
    }

    /// Flushes what the session wrote last (a close frame, an error), then releases it.
    async fn finish(&mut self) {
        self.session.on_close();
        // Boxed: only a closing connection needs this future's discard buffer.
        let _ = tokio::time::timeout(FLUSH_DEADLINE, Box::pin(self.lingering_close())).await;
    }

    /// Closing a socket with unread input makes the kernel send a reset, which can destroy
    /// the close frame just written. So: flush, send FIN, and discard input until the client
    /// closes its side too (bounded by the caller's deadline), as RabbitMQ does after
    /// `connection.close-ok`.
    async fn lingering_close(&mut self) {
        if self.stream.write_all(&self.output).await.is_err() || self.stream.flush().await.is_err()
        {
            return;
        }
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let mut discard = [0u8; 4096];
        while matches!(self.stream.read(&mut discard).await, Ok(n) if n > 0) {}
    }
}

/// The stream's readiness, polled as one future so reads and writes share one `&mut` stream.
/// Writing comes first (a client waiting for a reply), then flushing, then reading.
struct IoInterest<'a, S> {
    stream: &'a mut S,
    input: Option<&'a mut BytesMut>,
    output: &'a BytesMut,
    unflushed: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> IoInterest<'_, S> {
    async fn next(mut self) -> IoEvent {
        poll_fn(move |cx| self.poll(cx)).await
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<IoEvent> {
        let mut stream = Pin::new(&mut *self.stream);
        if !self.output.is_empty() {
            if let Poll::Ready(r) = stream.as_mut().poll_write(cx, self.output) {
                return Poll::Ready(IoEvent::Wrote(r));
            }
        } else if self.unflushed {
            if let Poll::Ready(r) = stream.as_mut().poll_flush(cx) {
                return Poll::Ready(IoEvent::Flushed(r));
            }
        }
        match self.input.as_deref_mut() {
            Some(input) => tokio_util::io::poll_read_buf(stream, cx, input).map(IoEvent::Read),
            None => Poll::Pending,
        }
    }
}

/// Doubles the read size when a read filled it, halves it when a read used under a quarter.
fn next_read_size(current: usize, read: usize) -> usize {
    if read >= current {
        (current * 2).min(READ_CHUNK)
    } else if read < current / 4 {
        (current / 2).max(MIN_READ)
    } else {
        current
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn now() -> std::time::Instant {
    std::time::Instant::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_grow_while_full_and_shrink_when_quiet() {
        let mut size = MIN_READ;
        for _ in 0..20 {
            size = next_read_size(size, size);
        }
        assert_eq!(size, READ_CHUNK);
        assert_eq!(next_read_size(size, size / 2), size, "half full: kept");
        for _ in 0..20 {
            size = next_read_size(size, 10);
        }
        assert_eq!(size, MIN_READ);
    }
}
