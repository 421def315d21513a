//! The per-connection driver: moves bytes between a stream and a sans-IO session, wakes the
//! session when the core has output for it, and runs its timers.
//!
//! The stream is anything that reads and writes bytes: a TCP socket, a TLS stream over one, or
//! a WebSocket seen as a byte stream. Reading and writing are polled together on the one
//! stream (no split, so no lock), and a stream that buffers (TLS, WebSocket) is flushed once
//! the output is written, before the session hears it is drained.
//!
//! The driver is a hand-written future rather than an `async fn` loop: an idle connection is
//! a suspended task, and most connections are idle, so what the task holds is what each of
//! them costs. Polled directly, it holds the connection once, a two-word waker state, and a
//! timer only while the session has a deadline; a `select!` over fresh futures would hold
//! each of their states (and copies of the arguments it was built from) as well.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Sleep};
use warren_model::{PeerInfo, Session, SessionFactory, SessionStatus, Wake};

use crate::handoff;
use crate::shutdown::{ShutdownSignal, ShutdownWatch};

/// The most one read asks for; reads start at [`MIN_READ`] and double while they fill it.
const READ_CHUNK: usize = 64 * 1024;
/// The smallest read. A connection whose reads are this small and that has nothing buffered
/// is idle: it keeps no input buffer, and its next read lands on the stack first.
const MIN_READ: usize = 512;
/// An emptied output buffer whose last round of writes was smaller than this is released:
/// the connection went quiet, so it should not keep a burst's worth of memory.
const SMALL_ROUND: usize = 4 * 1024;
/// How long a closing connection may take to flush its last frames (e.g. `connection.close`).
const FLUSH_DEADLINE: Duration = Duration::from_secs(2);

/// The session's [`Wake`]: a flag plus the task to wake, so waiting costs no future.
#[derive(Default)]
struct SessionWaker {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for SessionWaker {
    fn wake(&self) {
        // The flag outlives a wake that finds no task registered, so none is lost.
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl SessionWaker {
    fn poll_woken(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.woken.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        self.task.register(cx.waker());
        // A wake between the first check and the registration found no task: look again.
        if self.woken.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// Runs one connection to its end.
pub fn drive_connection<S>(
    stream: S,
    peer: PeerInfo,
    factory: Arc<dyn SessionFactory>,
    shutdown: ShutdownSignal,
) -> Driver<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let remote = peer.remote;
    let waker = Arc::new(SessionWaker::default());
    let session = factory.new_session(peer, waker.clone());
    let connection = Connection {
        stream,
        session,
        waker,
        shutdown: shutdown.watch(),
        timer: None,
        input: BytesMut::new(),
        output: BytesMut::new(),
        read_size: MIN_READ,
        round: 0,
        unflushed: false,
        held_input: false,
    };
    Driver {
        phase: Phase::Running(Box::new(connection)),
        remote,
    }
}

/// The future of one connection, from its first byte to its lingering close.
pub struct Driver<S> {
    phase: Phase<S>,
    remote: std::net::SocketAddr,
}

enum Phase<S> {
    // Boxed: the task then holds a pointer, and the connection's memory is one allocation
    // the size of what it really holds.
    Running(Box<Connection<S>>),
    Closing(Pin<Box<dyn Future<Output = ()> + Send>>),
    Done,
}

impl<S> Future for Driver<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            match &mut this.phase {
                Phase::Running(connection) => match connection.poll_run(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) => this.start_closing(),
                },
                Phase::Closing(closing) => {
                    if closing.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.phase = Phase::Done;
                    tracing::debug!(remote = %this.remote, "connection closed");
                }
                Phase::Done => return Poll::Ready(()),
            }
        }
    }
}

impl<S> Driver<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// The session is told the connection is closing and released; what it wrote last (a
    /// close frame, an error) is flushed within [`FLUSH_DEADLINE`].
    fn start_closing(&mut self) {
        let Phase::Running(connection) = std::mem::replace(&mut self.phase, Phase::Done) else {
            return;
        };
        let Connection {
            stream,
            mut session,
            output,
            ..
        } = *connection;
        session.on_close();
        drop(session);
        let linger = tokio::time::timeout(FLUSH_DEADLINE, lingering_close(stream, output));
        self.phase = Phase::Closing(Box::pin(async move {
            let _ = linger.await;
        }));
    }
}

/// Closing a socket with unread input makes the kernel send a reset, which can destroy the
/// close frame just written. So: flush, send FIN, and discard input until the client closes
/// its side too (bounded by the caller's deadline), as RabbitMQ does after
/// `connection.close-ok`.
async fn lingering_close<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, output: BytesMut) {
    if stream.write_all(&output).await.is_err() || stream.flush().await.is_err() {
        return;
    }
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut discard = [0u8; 4096];
    while matches!(stream.read(&mut discard).await, Ok(n) if n > 0) {}
}

struct Connection<S> {
    stream: S,
    session: Box<dyn Session>,
    waker: Arc<SessionWaker>,
    shutdown: ShutdownWatch,
    /// The session's next deadline, allocated the first time it has one.
    timer: Option<Pin<Box<Sleep>>>,
    input: BytesMut,
    output: BytesMut,
    /// How much the next read asks for.
    read_size: usize,
    /// Bytes written since the output was last empty.
    round: usize,
    /// Bytes were written since the last flush.
    unflushed: bool,
    /// The session stopped taking input (a flow pause, an alarm) with some still buffered. It
    /// is handed over again before anything more is read: a pause that ends by its clock, with
    /// no event, would otherwise let the next read land on top of it, the buffer grow by a read
    /// per pause, and an end of stream read then close the connection with those frames unread.
    held_input: bool,
}

enum Event {
    Io(IoEvent),
    /// The session takes input again and some is buffered (see `Connection::held_input`).
    Resume,
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
    /// Handles events until the session closes (ready) or nothing is ready (pending). Each
    /// event spends a unit of tokio's task budget, so a connection that is woken without end
    /// still yields its worker thread to the others in turn. After a big step, the task it
    /// woke last is handed to the other workers ([`handoff`]).
    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let Poll::Ready(budget) = tokio::task::coop::poll_proceed(cx) else {
                return Poll::Pending;
            };
            let Poll::Ready(event) = self.poll_event(cx) else {
                return Poll::Pending;
            };
            budget.made_progress();
            let read = match &event {
                Event::Io(IoEvent::Read(Ok(read))) => *read,
                _ => 0,
            };
            let output_before = self.output.len();
            if self.handle(event) == SessionStatus::Close
                || self.resume_input() == SessionStatus::Close
            {
                return Poll::Ready(());
            }
            let produced = self.output.len().saturating_sub(output_before);
            handoff::after_step(read + produced);
        }
    }

    fn handle(&mut self, event: Event) -> SessionStatus {
        match event {
            Event::Io(IoEvent::Read(result)) => self.on_read(result),
            Event::Io(IoEvent::Wrote(result)) => self.on_wrote(result),
            Event::Io(IoEvent::Flushed(result)) => self.on_flushed(result),
            Event::Woken => self.session.on_wake(&mut self.output, now()),
            // `resume_input`, run after every event, hands the buffered bytes over.
            Event::Resume => SessionStatus::Continue,
            Event::Tick => self.session.on_tick(&mut self.output, now()),
            Event::Shutdown => {
                let _ = self.session.on_shutdown(&mut self.output);
                SessionStatus::Close
            }
        }
    }

    /// Frames read while the session refused input (backpressure) are still buffered: hand
    /// them over once it wants input again, or a client waiting for a reply would wait forever.
    fn resume_input(&mut self) -> SessionStatus {
        if self.input.is_empty() || !self.session.wants_input() {
            return SessionStatus::Continue;
        }
        let status = self
            .session
            .on_input(&mut self.input, &mut self.output, now());
        self.held_input = !self.input.is_empty() && !self.session.wants_input();
        status
    }

    /// In order: shutdown, the stream, the core's wake-up, the session's deadline.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if self.shutdown.poll_triggered(cx).is_ready() {
            return Poll::Ready(Event::Shutdown);
        }
        let reading = self.session.wants_input();
        if reading && self.held_input {
            self.held_input = false;
            return Poll::Ready(Event::Resume);
        }
        if reading {
            self.reserve_input();
        }
        let mut io = IoInterest {
            stream: &mut self.stream,
            input: reading.then_some(&mut self.input),
            output: &self.output,
            unflushed: self.unflushed,
        };
        if let Poll::Ready(event) = io.poll(cx) {
            return Poll::Ready(Event::Io(event));
        }
        if self.waker.poll_woken(cx).is_ready() {
            return Poll::Ready(Event::Woken);
        }
        if self.poll_deadline(cx).is_ready() {
            return Poll::Ready(Event::Tick);
        }
        Poll::Pending
    }

    /// The timer is kept and moved rather than made anew for every event.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.session.next_deadline() else {
            return Poll::Pending;
        };
        let deadline = Instant::from_std(deadline);
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        timer.as_mut().poll(cx)
    }

    /// Room for the next read: grown while reads fill it, and given back once a burst is
    /// over and everything read was consumed. An idle connection keeps no buffer at all: its
    /// next read goes to the stack (see [`IoInterest::poll`]).
    fn reserve_input(&mut self) {
        if self.input.is_empty() {
            if self.read_size == MIN_READ {
                self.input = BytesMut::new();
                return;
            }
            if self.input.capacity() > 2 * self.read_size {
                self.input = BytesMut::new();
            }
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
}

/// The stream's readiness, polled as one so reads and writes share one `&mut` stream.
/// Writing comes first (a client waiting for a reply), then flushing, then reading.
struct IoInterest<'a, S> {
    stream: &'a mut S,
    input: Option<&'a mut BytesMut>,
    output: &'a BytesMut,
    unflushed: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> IoInterest<'_, S> {
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
            Some(input) if input.capacity() > input.len() => {
                tokio_util::io::poll_read_buf(stream, cx, input).map(IoEvent::Read)
            }
            Some(input) => poll_read_idle(stream, cx, input).map(IoEvent::Read),
            None => Poll::Pending,
        }
    }
}

/// Reads into a stack buffer and copies what arrived into `input`, which then holds exactly
/// that: a connection waiting for its next packet holds no buffer while it waits.
fn poll_read_idle<S: AsyncRead>(
    stream: Pin<&mut S>,
    cx: &mut Context<'_>,
    input: &mut BytesMut,
) -> Poll<std::io::Result<usize>> {
    // Not zeroed: the read fills what it reports, and only that is copied.
    let mut scratch = [std::mem::MaybeUninit::<u8>::uninit(); MIN_READ];
    let mut buf = tokio::io::ReadBuf::uninit(&mut scratch);
    stream.poll_read(cx, &mut buf).map_ok(|()| {
        input.extend_from_slice(buf.filled());
        buf.filled().len()
    })
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

    /// The task of an idle connection holds the driver: it must stay a few words, with the
    /// connection's state in one allocation beside it.
    #[test]
    fn the_driver_future_is_small() {
        assert!(std::mem::size_of::<Driver<tokio::net::TcpStream>>() <= 64);
        assert!(std::mem::size_of::<Connection<tokio::net::TcpStream>>() <= 256);
    }
}
