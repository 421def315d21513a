//! The per-connection driver: moves bytes between a socket and a sans-IO session, wakes the
//! session when the core has output for it, and runs its timers.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use warren_model::{PeerInfo, Session, SessionFactory, SessionStatus, Wake};

use crate::shutdown::ShutdownSignal;

const READ_CHUNK: usize = 64 * 1024;
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
pub async fn drive_connection(
    stream: TcpStream,
    peer: PeerInfo,
    factory: Arc<dyn SessionFactory>,
    shutdown: ShutdownSignal,
) {
    let waker = Arc::new(NotifyWaker(Notify::new()));
    let session = factory.new_session(peer, waker.clone());
    let mut connection = Connection {
        stream,
        session,
        waker,
        input: BytesMut::with_capacity(READ_CHUNK),
        output: BytesMut::with_capacity(READ_CHUNK),
    };
    connection.run(shutdown).await;
    connection.finish().await;
    tracing::debug!(remote = %peer.remote, "connection closed");
}

struct Connection {
    stream: TcpStream,
    session: Box<dyn Session>,
    waker: Arc<NotifyWaker>,
    input: BytesMut,
    output: BytesMut,
}

enum Event {
    Read(std::io::Result<usize>),
    Wrote(std::io::Result<usize>),
    Woken,
    Tick,
    Shutdown,
}

impl Connection {
    async fn run(&mut self, mut shutdown: ShutdownSignal) {
        loop {
            let event = self.next_event(&mut shutdown).await;
            let status = match event {
                Event::Read(result) => self.on_read(result),
                Event::Wrote(result) => self.on_wrote(result),
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
        let writing = !self.output.is_empty();
        let deadline = self.session.next_deadline().map(Instant::from_std);
        let (mut reader, mut writer) = self.stream.split();
        if reading {
            self.input.reserve(READ_CHUNK);
        }
        tokio::select! {
            biased;
            () = shutdown.triggered() => Event::Shutdown,
            written = writer.write(&self.output), if writing => Event::Wrote(written),
            () = self.waker.0.notified() => Event::Woken,
            read = reader.read_buf(&mut self.input), if reading => Event::Read(read),
            () = sleep_until(deadline), if deadline.is_some() => Event::Tick,
        }
    }

    fn on_read(&mut self, result: std::io::Result<usize>) -> SessionStatus {
        match result {
            Ok(0) | Err(_) => SessionStatus::Close,
            // resume_input, run after every event, hands the new bytes to the session.
            Ok(_) => SessionStatus::Continue,
        }
    }

    fn on_wrote(&mut self, result: std::io::Result<usize>) -> SessionStatus {
        match result {
            Ok(0) | Err(_) => SessionStatus::Close,
            Ok(written) => {
                self.output.advance(written);
                if self.output.is_empty() {
                    self.session.on_drained();
                }
                SessionStatus::Continue
            }
        }
    }

    /// Flushes what the session wrote last (a close frame, an error), then releases it.
    async fn finish(&mut self) {
        self.session.on_close();
        let _ = tokio::time::timeout(FLUSH_DEADLINE, self.lingering_close()).await;
    }

    /// Closing a socket with unread input makes the kernel send a reset, which can destroy
    /// the close frame just written. So: flush, send FIN, and discard input until the client
    /// closes its side too (bounded by the caller's deadline), as RabbitMQ does after
    /// `connection.close-ok`.
    async fn lingering_close(&mut self) {
        if self.stream.write_all(&self.output).await.is_err() {
            return;
        }
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let mut discard = [0u8; 4096];
        while matches!(self.stream.read(&mut discard).await, Ok(n) if n > 0) {}
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
