//! [`StompSession`]: the connection state machine and the driver's entry points.
//!
//! Lifecycle: `AwaitingConnect` (only CONNECT or STOMP, within the connect timeout) ->
//! `Connected` (a [`Live`] session exists) -> `Closed`. Every error goes through
//! [`StompSession::fail`], the one place that writes an ERROR frame; the connection then
//! closes, as the spec requires.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use warren_model::{earliest, GateWatch, PeerInfo, Session, SessionStatus, Wake, OUTPUT_BATCH};

use crate::codec::{encode, Codec};
use crate::connected::{self, Step};
use crate::errors::StompError;
use crate::factory::Shared;
use crate::frame::{Command, Frame, Version};
use crate::heartbeat::{Beat, Heartbeat};
use crate::live::Live;
use crate::outbox::{OutEvent, Outbox};
use crate::{ack, connect, subscribe};

/// Where the connection is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// Waiting for CONNECT or STOMP.
    AwaitingConnect,
    /// CONNECTED sent.
    Connected,
    /// Done; the driver closes the socket after writing the output.
    Closed,
}

/// One STOMP connection.
pub struct StompSession {
    pub(crate) shared: Arc<Shared>,
    pub(crate) peer: PeerInfo,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) codec: Codec,
    pub(crate) state: State,
    pub(crate) live: Option<Box<Live>>,
    pub(crate) heartbeat: Heartbeat,
    output_full: bool,
    /// DISCONNECT received: no more input; close once every RECEIPT owed is sent.
    disconnecting: bool,
    connect_deadline: Instant,
    input_seen: usize,
    /// The broker's publish gate: a client that sends is not read while it is closed.
    gate: GateWatch,
}

/// Encodes one frame for `version`.
pub fn write(out: &mut BytesMut, frame: &Frame, version: Version) {
    encode(frame, version, out);
}

impl StompSession {
    /// A session for `peer`, created at `now`.
    pub fn new(shared: Arc<Shared>, peer: PeerInfo, waker: Arc<dyn Wake>, now: Instant) -> Self {
        let gate = GateWatch::new(shared.broker.publish_gate(), &waker);
        let outbox = Arc::new(Outbox::new(shared.config.max_outbox_bytes, waker));
        let timeout = Duration::from_secs(shared.config.connect_timeout_secs.into());
        Self {
            gate,
            codec: Codec::new(shared.config.limits),
            shared,
            peer,
            outbox,
            state: State::AwaitingConnect,
            live: None,
            heartbeat: Heartbeat::off(now),
            output_full: false,
            disconnecting: false,
            connect_deadline: now + timeout,
            input_seen: 0,
        }
    }

    /// Where the connection stands.
    pub fn state(&self) -> State {
        self.state
    }

    fn status(&self) -> SessionStatus {
        match self.state {
            State::Closed => SessionStatus::Close,
            _ => SessionStatus::Continue,
        }
    }

    fn read_frames(&mut self, input: &mut BytesMut, out: &mut BytesMut, now: Instant) {
        while self.reading()
            && !self.gate.holds()
            && out.len() < self.shared.config.max_outbox_bytes
        {
            let frame = match self.codec.decode(input) {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(e) => return self.fail(e.into(), None, out),
            };
            let receipt = frame.get("receipt").map(str::to_owned);
            if frame.command == Command::Send {
                self.gate.published();
            }
            if let Err(e) = self.dispatch(frame, out, now) {
                self.fail(e, receipt.as_deref(), out);
            }
        }
    }

    fn dispatch(
        &mut self,
        frame: Frame,
        out: &mut BytesMut,
        now: Instant,
    ) -> Result<(), StompError> {
        if self.state == State::AwaitingConnect {
            return match frame.command {
                Command::Connect | Command::Stomp => connect::connect(self, &frame, out, now),
                _ => Err(StompError::NotConnected),
            };
        }
        let shared = Arc::clone(&self.shared);
        let Some(live) = self.live.as_deref_mut() else {
            return Ok(());
        };
        let step = connected::handle(live, &shared, &self.outbox, frame);
        if let Some(valve) = live.flow.take() {
            self.gate.throttle(valve, now);
        }
        if step? == Step::Disconnect {
            self.disconnecting = true;
        }
        self.flush_receipts(out)
    }

    /// Sends the RECEIPTs that are ready; after DISCONNECT, closes once none is owed.
    fn flush_receipts(&mut self, out: &mut BytesMut) -> Result<(), StompError> {
        let Some(live) = self.live.as_deref_mut() else {
            return Ok(());
        };
        live.receipts.flush(out, live.version)?;
        if self.disconnecting && live.receipts.is_empty() {
            self.close();
        }
        Ok(())
    }

    /// The one place an error reaches the wire: an ERROR frame, then the connection closes.
    pub(crate) fn fail(&mut self, error: StompError, receipt: Option<&str>, out: &mut BytesMut) {
        tracing::info!(peer = %self.peer.remote, "stomp: closing: {error}");
        let mut frame = error.to_frame(receipt);
        if self.state == State::AwaitingConnect {
            frame = frame.header("version", "1.0,1.1,1.2");
        }
        write(out, &frame, self.codec.version());
        self.close();
    }

    fn close(&mut self) {
        if let Some(live) = self.live.take() {
            live.release();
        }
        self.state = State::Closed;
    }

    fn reading(&self) -> bool {
        self.state != State::Closed && !self.disconnecting
    }

    /// Encodes what the core pushed, a batch at a time: the rest waits until the driver has
    /// written this batch (`on_drained` wakes the session again).
    fn drain_outbox(&mut self, out: &mut BytesMut) {
        let batch = self.shared.config.max_outbox_bytes.min(OUTPUT_BATCH);
        while out.len() < batch {
            let Some(event) = self.outbox.pop() else {
                return;
            };
            let Some(live) = self.live.as_deref_mut() else {
                ack::refuse(event);
                continue;
            };
            match event {
                OutEvent::Deliver(d) => ack::deliver(live, out, d),
                OutEvent::Cancelled(tag) => {
                    if let Some(e) = subscribe::cancelled(live, &tag) {
                        return self.fail(e, None, out);
                    }
                }
            }
        }
    }

    /// Records traffic both ways for heart-beating.
    fn traffic(&mut self, input: Option<&BytesMut>, out: &BytesMut, before: usize, now: Instant) {
        if let Some(input) = input {
            self.input_seen = input.len();
        }
        if out.len() > before {
            self.heartbeat.sent(now);
        }
        if out.len() >= self.shared.config.max_outbox_bytes {
            self.output_full = true;
        }
    }
}

impl Session for StompSession {
    fn on_input(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
        now: Instant,
    ) -> SessionStatus {
        // The driver calls again with the same bytes after other events; only growth is news.
        if input.len() > self.input_seen {
            self.heartbeat.received(now);
        }
        let before = output.len();
        self.gate.saw(now);
        // The read's SENDs reach their subscribers together when it ends.
        let batch = self.live.as_ref().map(|l| l.vhost.batch_publishes());
        self.read_frames(input, output, now);
        drop(batch);
        self.traffic(Some(input), output, before, now);
        self.status()
    }

    fn on_wake(&mut self, output: &mut BytesMut, now: Instant) -> SessionStatus {
        let before = output.len();
        if self.state != State::Closed {
            self.drain_outbox(output);
        }
        if let Err(e) = self.flush_receipts(output) {
            self.fail(e, None, output);
        }
        self.traffic(None, output, before, now);
        self.status()
    }

    fn on_tick(&mut self, output: &mut BytesMut, now: Instant) -> SessionStatus {
        self.gate.saw(now);
        if self.gate.holds() {
            // Not read while held back, so the client's heart-beats cannot be seen.
            self.heartbeat.received(now);
        }
        match self.state {
            State::AwaitingConnect if now >= self.connect_deadline => {
                tracing::info!(peer = %self.peer.remote, "stomp: no CONNECT in time");
                self.state = State::Closed;
            }
            State::Connected => match self.heartbeat.tick(now) {
                Beat::Send => output.extend_from_slice(b"\n"),
                Beat::Dead => {
                    tracing::info!(peer = %self.peer.remote, "stomp: missed heart-beats");
                    self.close();
                }
                Beat::Idle => {}
            },
            _ => {}
        }
        self.status()
    }

    fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            State::AwaitingConnect => Some(self.connect_deadline),
            State::Connected => earliest(self.heartbeat.deadline(), self.gate.deadline()),
            State::Closed => None,
        }
    }

    fn on_drained(&mut self) {
        self.output_full = false;
        if !self.outbox.is_empty() {
            self.outbox.wake();
        }
        if self.outbox.take_refused() {
            if let Some(live) = &self.live {
                subscribe::kick(live);
            }
        }
    }

    fn wants_input(&self) -> bool {
        !self.output_full && self.outbox.has_room() && self.reading() && !self.gate.holds()
    }

    fn on_close(&mut self) {
        self.close();
        while let Some(event) = self.outbox.pop() {
            ack::refuse(event);
        }
    }
}
