//! [`MqttSession`]: the connection state machine and the driver's entry points.
//!
//! Lifecycle: `AwaitingConnect` (only CONNECT is accepted, within the connect timeout) ->
//! `Connected` (a [`Live`] session exists) -> `Closed`. Every error goes through
//! [`MqttSession::fail`], the one place that chooses between CONNACK, DISCONNECT and a bare
//! close.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use warren_model::{earliest, GateWatch, PeerInfo, Session, SessionStatus, Wake, OUTPUT_BATCH};

use crate::codec::{unsupported_version_connack, Codec, ConnAckPacket, Inbound, Outbound, Version};
use crate::errors::{MqttError, KEEP_ALIVE_TIMEOUT, SHUTTING_DOWN, TAKEN_OVER};
use crate::factory::Shared;
use crate::outbox::{OutEvent, OutboxSlot, OutboxSource};
use crate::{connect, deliver, persist, publish, subscribe};

pub use crate::live::Live;

/// Where the connection is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// Waiting for CONNECT.
    AwaitingConnect,
    /// CONNECT accepted.
    Connected,
    /// Done; the driver closes the socket after writing the output.
    Closed,
}

/// One MQTT connection.
pub struct MqttSession {
    pub(crate) shared: Arc<Shared>,
    /// The client's address (for the log).
    pub(crate) remote: SocketAddr,
    /// The login its TLS certificate proved, for CONNECT without a user name.
    pub(crate) certificate_login: Option<String>,
    pub(crate) waker: Arc<dyn Wake>,
    /// Made at the first consumer.
    pub(crate) outbox: OutboxSlot,
    pub(crate) codec: Codec,
    pub(crate) state: State,
    pub(crate) live: Option<Box<Live>>,
    pub(crate) output_full: bool,
    /// QoS 0 deliveries dropped since the client last caught up (ADR 0017), for the log.
    dropped: u64,
    /// When the last packet came in; before CONNECT, when the connection opened.
    pub(crate) last_input: Instant,
    /// The broker's publish gate: a publishing client is not read while it is closed.
    pub(crate) gate: GateWatch,
}

/// Wall clock in ms since the epoch (message expiry deadlines).
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Encodes one packet; an encoding failure is logged and the packet dropped.
pub fn send(codec: &mut Codec, out: &mut BytesMut, packet: Outbound) -> bool {
    sent(codec.encode(packet, out))
}

/// Whether an encoding went out; an error (a packet the codec cannot form) is logged.
pub fn sent(encoded: Result<bool, MqttError>) -> bool {
    match encoded {
        Ok(sent) => sent,
        Err(e) => {
            tracing::warn!("mqtt: packet not encoded: {e}");
            false
        }
    }
}

impl MqttSession {
    /// A session for `peer`, created at `now`.
    pub fn new(shared: Arc<Shared>, peer: PeerInfo, waker: Arc<dyn Wake>, now: Instant) -> Self {
        Self {
            gate: GateWatch::new(shared.broker.publish_gate(), &waker),
            codec: Codec::new(shared.config.max_packet_size),
            shared,
            remote: peer.remote,
            certificate_login: peer.certificate_login,
            waker,
            outbox: OutboxSlot::new(),
            state: State::AwaitingConnect,
            live: None,
            output_full: false,
            dropped: 0,
            last_input: now,
        }
    }

    fn status(&self) -> SessionStatus {
        match self.state {
            State::Closed => SessionStatus::Close,
            _ => SessionStatus::Continue,
        }
    }

    /// Handles the packets in `input`. The PUBACKs among them are settled together, a call
    /// per queue, before any other packet and at the end: a fan-out subscriber acknowledging a
    /// burst then frees its window in one dispatch round instead of one round per message.
    /// Likewise the PUBLISHes are handed to subscribers in one round per queue, at the end.
    fn read_packets(&mut self, input: &mut BytesMut, output: &mut BytesMut, now: Instant) {
        let mut pubacks = deliver::AckBatch::default();
        // The read's PUBLISHes reach their subscribers together when it ends.
        let _batch = self.live.as_ref().map(|l| l.vhost.batch_publishes());
        while self.state != State::Closed && output.len() < self.shared.config.max_outbox_bytes {
            let packet = match self.codec.decode(input) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    self.settle_pubacks(pubacks);
                    return self.fail(e, output, now);
                }
            };
            self.last_input = now;
            if let (Inbound::PubAck(id), Some(live)) = (&packet, self.live.as_deref_mut()) {
                pubacks.take_puback(live, *id);
                continue;
            }
            self.settle_pubacks(std::mem::take(&mut pubacks));
            if let Err(e) = self.dispatch(packet, output, now) {
                self.fail(e, output, now);
            }
        }
        self.settle_pubacks(pubacks);
    }

    fn settle_pubacks(&self, pubacks: deliver::AckBatch) {
        if pubacks.settle() {
            if let Some(live) = &self.live {
                deliver::resume_window(live);
            }
        }
    }

    fn dispatch(
        &mut self,
        packet: Inbound,
        out: &mut BytesMut,
        now: Instant,
    ) -> Result<(), MqttError> {
        if self.state == State::AwaitingConnect {
            return match packet {
                Inbound::Connect(c) => connect::connect(self, *c, out, now),
                _ => Err(MqttError::Protocol(
                    "first packet must be CONNECT (MQTT-3.1.0-1)".into(),
                )),
            };
        }
        let Some(live) = self.live.as_deref_mut() else {
            return Ok(());
        };
        let shared = &*self.shared;
        let codec = &mut self.codec;
        match packet {
            Inbound::Publish(p) => {
                self.gate.published();
                let done = publish::inbound(live, shared, codec, out, *p);
                if let Some(valve) = live.flow.take() {
                    self.gate.throttle(valve, now);
                }
                done
            }
            Inbound::PubRel(id) => {
                let done = publish::pubrel(live, codec, out, id);
                persist::save_session(live, shared);
                done
            }
            // Taken by `read_packets`, which settles a read's PUBACKs together.
            Inbound::PubAck(_) => Ok(()),
            Inbound::PubRec(id) => deliver::pubrec(live, shared, codec, out, id),
            Inbound::PubComp(id) => deliver::pubcomp(live, shared, id),
            Inbound::Subscribe(s) => {
                let outbox = OutboxSource::new(&self.outbox, shared, &self.waker);
                let done = subscribe::subscribe(live, shared, &outbox, codec, out, s);
                persist::save_session(live, shared);
                done
            }
            Inbound::Unsubscribe { id, filters } => {
                let done = subscribe::unsubscribe(live, shared, codec, out, id, &filters);
                persist::save_session(live, shared);
                done
            }
            Inbound::PingReq => {
                send(codec, out, Outbound::PingResp);
                Ok(())
            }
            Inbound::Disconnect {
                reason,
                session_expiry,
            } => connect::disconnect(self, reason, session_expiry, now),
            Inbound::Auth => Err(MqttError::Protocol(
                "AUTH without an authentication method".into(),
            )),
            Inbound::Connect(_) => Err(MqttError::Protocol("second CONNECT (MQTT-3.1.0-2)".into())),
            Inbound::ServerOnly => Err(MqttError::Protocol("packet only a server sends".into())),
        }
    }

    /// The one place an error reaches the wire: CONNACK before the session exists, DISCONNECT
    /// with its reason code after (MQTT 5), a bare close for 3.x; then the connection closes.
    pub(crate) fn fail(&mut self, error: MqttError, out: &mut BytesMut, now: Instant) {
        tracing::info!(peer = %self.remote, "mqtt: closing: {error}");
        match (self.state, self.codec.version()) {
            (State::AwaitingConnect, None) if error == MqttError::UnsupportedVersion => {
                out.extend_from_slice(&unsupported_version_connack());
            }
            (State::AwaitingConnect, Some(_)) if connack_worthy(&error) => {
                let connack = ConnAckPacket {
                    code: error.reason_code(),
                    reason_string: Some(error.to_string()),
                    receive_max: self.shared.config.receive_maximum,
                    ..ConnAckPacket::default()
                };
                send(&mut self.codec, out, Outbound::ConnAck(Box::new(connack)));
            }
            (State::Connected, Some(Version::V5)) => {
                let packet = Outbound::Disconnect(error.reason_code(), Some(error.to_string()));
                send(&mut self.codec, out, packet);
            }
            _ => {}
        }
        self.close(now);
    }

    /// Ends the connection at `now`, sending the will if the session still has one.
    pub(crate) fn close(&mut self, now: Instant) {
        if let Some(live) = self.live.take() {
            connect::release(*live, &self.shared, self.outbox.get(), now);
        }
        self.state = State::Closed;
    }

    /// Encodes what the core pushed, a batch at a time: the rest waits until the driver has
    /// written this batch (`on_drained` wakes the session again). Deliveries settled at once
    /// (QoS 0, skipped) freed credit other queues of the session may be waiting for.
    fn drain_outbox(&mut self, output: &mut BytesMut, now: Instant) {
        if !self.encode_outbox(output, now) {
            return;
        }
        if let Some(live) = &self.live {
            deliver::resume_window(live);
        }
        // Every delivery taken may have been skipped (No Local, no match) and none written:
        // then no drain follows, and the queues held back for room are kicked now.
        if output.is_empty() {
            self.on_drained();
        }
    }

    /// True when it took any event. Events are taken a batch at a time, one lock each.
    ///
    /// A client that left half a batch unwritten, on top of a socket buffer it has not read,
    /// is not keeping up: one batch of its outbox is taken anyway, and the QoS 0 deliveries in
    /// it are dropped (at most once allows it; Mosquitto drops them too). Left in its queue,
    /// they would pile up until the queue paused its publishers, and every other subscriber
    /// of theirs would get messages at this client's pace (ADR 0017).
    fn encode_outbox(&mut self, output: &mut BytesMut, now: Instant) -> bool {
        let Some(outbox) = self.outbox.get().cloned() else {
            return false;
        };
        let batch = self.shared.config.max_outbox_bytes.min(OUTPUT_BATCH);
        let shedding = output.len() >= batch / 2;
        let at_most_once = if shedding {
            deliver::Qos0::Drop
        } else {
            deliver::Qos0::Send
        };
        let mut took = false;
        // QoS 0 deliveries are settled together once the batch is written.
        let mut acks = deliver::AckBatch::default();
        let mut events = VecDeque::new();
        if shedding {
            outbox.take_up_to(batch, &mut events);
        }
        while shedding || output.len() < batch {
            if events.is_empty() && !shedding {
                outbox.take_up_to(batch - output.len(), &mut events);
            }
            let Some(event) = events.pop_front() else {
                break;
            };
            took = true;
            let Some(live) = self.live.as_deref_mut() else {
                deliver::refuse(event);
                continue;
            };
            match event {
                OutEvent::Deliver(d) => {
                    let codec = &mut self.codec;
                    let dropped = deliver::deliver(
                        live,
                        &self.shared,
                        codec,
                        output,
                        d,
                        &mut acks,
                        at_most_once,
                    );
                    if dropped && self.dropped == 0 {
                        tracing::warn!(
                            peer = %self.remote,
                            "mqtt: client not keeping up, dropping its QoS 0 deliveries"
                        );
                    }
                    self.dropped += u64::from(dropped);
                }
                OutEvent::Cancelled(tag) => {
                    if deliver::cancelled(live, &tag) {
                        outbox.put_back(events);
                        let gone = warren_model::CoreError::not_found("session queue deleted");
                        acks.settle();
                        self.fail(MqttError::Core(gone), output, now);
                        return false;
                    }
                }
            }
        }
        outbox.put_back(events);
        acks.settle();
        // Room again: the queues told "no" while the client lagged may deliver (the drain
        // that usually tells them is still to come).
        if shedding && outbox.take_refused() {
            if let Some(live) = &self.live {
                deliver::kick(live);
            }
        }
        took
    }

    fn check_takeover(&mut self, output: &mut BytesMut, now: Instant) {
        let taken = self.live.as_ref().is_some_and(|l| l.handle.is_taken_over());
        if taken {
            if self.codec.version() == Some(Version::V5) {
                send(
                    &mut self.codec,
                    output,
                    Outbound::Disconnect(TAKEN_OVER, None),
                );
            }
            self.close(now);
        }
    }

    /// Before CONNECT nothing else moves `last_input`: it is when the connection opened.
    fn connect_deadline(&self) -> Instant {
        let timeout = Duration::from_secs(self.shared.config.connect_timeout_secs.into());
        self.last_input + timeout
    }

    fn keep_alive_deadline(&self) -> Option<Instant> {
        let secs = self.live.as_ref()?.keep_alive;
        (secs > 0).then(|| self.last_input + Duration::from_millis(u64::from(secs) * 1500))
    }

    fn wrote(&mut self, output: &BytesMut) {
        if output.len() >= self.shared.config.max_outbox_bytes {
            self.output_full = true;
        }
    }
}

fn connack_worthy(error: &MqttError) -> bool {
    !matches!(
        error,
        MqttError::Malformed(_) | MqttError::Protocol(_) | MqttError::TooLarge { .. }
    )
}

impl Session for MqttSession {
    fn on_input(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
        now: Instant,
    ) -> SessionStatus {
        self.check_takeover(output, now);
        self.gate.saw(now);
        self.read_packets(input, output, now);
        self.wrote(output);
        self.status()
    }

    fn on_wake(&mut self, output: &mut BytesMut, now: Instant) -> SessionStatus {
        self.check_takeover(output, now);
        if let Some(live) = self.live.as_deref_mut() {
            if connect::resend_pubrel(live, &mut self.codec, output) {
                persist::save_session(live, &self.shared);
            }
            if let Err(err) = live.acks.flush(&mut self.codec, output) {
                self.fail(err, output, now);
            }
        }
        if self.state != State::Closed {
            self.drain_outbox(output, now);
        }
        self.wrote(output);
        self.status()
    }

    fn on_tick(&mut self, output: &mut BytesMut, now: Instant) -> SessionStatus {
        self.gate.saw(now);
        if self.gate.holds() {
            // Not read while held back, so the client's keep alive cannot be seen.
            self.last_input = now;
        }
        match self.state {
            State::AwaitingConnect if now >= self.connect_deadline() => {
                tracing::info!(peer = %self.remote, "mqtt: no CONNECT in time");
                self.state = State::Closed;
            }
            State::Connected if self.keep_alive_deadline().is_some_and(|d| now >= d) => {
                tracing::info!(peer = %self.remote, "mqtt: keep alive timeout");
                if self.codec.version() == Some(Version::V5) {
                    send(
                        &mut self.codec,
                        output,
                        Outbound::Disconnect(KEEP_ALIVE_TIMEOUT, None),
                    );
                }
                self.close(now);
            }
            _ => {}
        }
        self.status()
    }

    fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            State::AwaitingConnect => Some(self.connect_deadline()),
            State::Connected => earliest(self.keep_alive_deadline(), self.gate.deadline()),
            State::Closed => None,
        }
    }

    fn on_drained(&mut self) {
        self.output_full = false;
        if self.dropped > 0 {
            tracing::info!(
                peer = %self.remote,
                dropped = self.dropped,
                "mqtt: client caught up after QoS 0 deliveries were dropped"
            );
            self.dropped = 0;
        }
        let Some(outbox) = self.outbox.get() else {
            return;
        };
        if !outbox.is_empty() {
            outbox.wake();
        }
        if outbox.take_refused() {
            if let Some(live) = &self.live {
                deliver::kick(live);
            }
        }
    }

    fn wants_input(&self) -> bool {
        !self.output_full
            && self.outbox.get().is_none_or(|o| o.has_room())
            && self.state != State::Closed
            && !self.gate.holds()
    }

    fn on_close(&mut self) {
        // The driver gives no time here: the one clock read of the session.
        self.close(Instant::now());
        while let Some(event) = self.outbox.get().and_then(|o| o.pop()) {
            deliver::refuse(event);
        }
    }

    fn on_shutdown(&mut self, output: &mut BytesMut) -> SessionStatus {
        if self.state == State::Connected && self.codec.version() == Some(Version::V5) {
            send(
                &mut self.codec,
                output,
                Outbound::Disconnect(SHUTTING_DOWN, None),
            );
        }
        // The server closes the connection without a DISCONNECT from the client, so the will
        // is published (MQTT 5 section 3.1.2.5), at once: its delay cannot run on a broker
        // that stops (Mosquitto does the same).
        if let Some(will) = self.live.as_deref_mut().and_then(|l| l.will.as_deref_mut()) {
            will.skip_delay();
        }
        self.close(Instant::now());
        SessionStatus::Close
    }
}
