//! Input a session left buffered when it paused (a flow pause, an alarm) is handed over again
//! before anything more is read. A pause ends by its clock, with no event: the driver used to
//! read first, so each pause added a read to the buffer, and when that read was the end of the
//! stream the connection closed with the buffered frames never processed (STOMP publishers
//! paused by a slow subscriber lost tens of thousands of SENDs that way).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use common::{peer_info, OneSession};
use tokio::io::AsyncWriteExt;
use warren_model::{Session, SessionStatus};
use warren_net::{drive_connection, Shutdown};

const LINES: usize = 50;
const PAUSE: Duration = Duration::from_millis(1);

/// Takes one line per call, then pauses by its clock, as a publisher whose publish met a
/// closed flow valve.
struct OneLineAPause {
    lines: Arc<AtomicUsize>,
    paused_until: Instant,
}

impl Session for OneLineAPause {
    fn on_input(&mut self, input: &mut BytesMut, _: &mut BytesMut, _: Instant) -> SessionStatus {
        if let Some(end) = input.iter().position(|&b| b == b'\n') {
            input.advance(end + 1);
            self.lines.fetch_add(1, Ordering::SeqCst);
            self.paused_until = Instant::now() + PAUSE;
        }
        SessionStatus::Continue
    }
    fn on_wake(&mut self, _: &mut BytesMut, _: Instant) -> SessionStatus {
        SessionStatus::Continue
    }
    fn on_tick(&mut self, _: &mut BytesMut, _: Instant) -> SessionStatus {
        SessionStatus::Continue
    }
    fn next_deadline(&self) -> Option<Instant> {
        (Instant::now() < self.paused_until).then_some(self.paused_until)
    }
    fn on_drained(&mut self) {}
    fn wants_input(&self) -> bool {
        Instant::now() >= self.paused_until
    }
    fn on_close(&mut self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_sent_before_the_end_of_stream_is_taken_despite_the_pauses() {
    let lines = Arc::new(AtomicUsize::new(0));
    let factory = OneSession::new(OneLineAPause {
        lines: lines.clone(),
        paused_until: Instant::now(),
    });
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    client.write_all(&b"line\n".repeat(LINES)).await.unwrap();
    // The end of the stream is there to be read as soon as the first pause is over.
    drop(client);
    let (_shutdown, signal) = Shutdown::new();
    let driving = drive_connection(server, peer_info(), factory, signal);
    tokio::time::timeout(Duration::from_secs(10), driving)
        .await
        .expect("the connection ends once its input is taken");
    assert_eq!(lines.load(Ordering::SeqCst), LINES);
}
