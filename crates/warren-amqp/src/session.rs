//! [`Session`] for [`AmqpSession`]: the driver's entry points, with output accounting
//! (heartbeat timing, backpressure) around the connection state machine.

use std::time::Instant;

use amq_protocol::protocol::{connection, AMQPClass};
use bytes::BytesMut;
use warren_model::{earliest, Session, SessionStatus, Settlement, OUTPUT_BATCH};

use crate::channel::ChannelState;
use crate::connection::{AmqpSession, ConnState};
use crate::convert::short;
use crate::errors::{code_name, CONNECTION_FORCED};
use crate::heartbeat::Beat;
use crate::outbox::OutEvent;
use crate::{channel_consume, channel_publish};

impl AmqpSession {
    fn status(&self) -> SessionStatus {
        match self.state {
            ConnState::Closed => SessionStatus::Close,
            _ => SessionStatus::Continue,
        }
    }

    fn wrote_since(&mut self, before: usize, output: &BytesMut, now: Instant) {
        if output.len() > before {
            self.heartbeat.sent(now);
        }
        if output.len() >= self.config.max_outbox_bytes {
            self.output_full = true;
        }
    }

    /// Sends coalesced publisher confirms for every channel.
    fn flush_confirms(&mut self, output: &mut BytesMut) {
        let mut out = Self::out(&mut self.writer, output, self.frame_max);
        for ch in self.channels.values_mut() {
            if ch.state == ChannelState::Open {
                channel_publish::flush_confirms(ch, &mut out);
                crate::channel_tx::flush_commit(ch, &mut out);
            }
        }
    }

    /// Moves events the core pushed into `output`, a batch at a time: the rest waits until
    /// the driver has written this batch (`on_drained` wakes the session again).
    fn drain_outbox(&mut self, output: &mut BytesMut) {
        let open = self.state == ConnState::Open;
        let batch = self.config.max_outbox_bytes.min(OUTPUT_BATCH);
        while !open || output.len() < batch {
            let Some(event) = self.outbox.pop() else {
                return;
            };
            let mut out = Self::out(&mut self.writer, output, self.frame_max);
            match event {
                OutEvent::Deliver { channel, delivery } => match self.channels.get_mut(&channel) {
                    Some(ch) if open && ch.state == ChannelState::Open => {
                        channel_consume::deliver(ch, delivery, &mut out)
                    }
                    _ => delivery.queue.settle(&[delivery.seq], Settlement::Requeue),
                },
                OutEvent::Cancelled { channel, tag } => {
                    if let Some(ch) = self.channels.get_mut(&channel).filter(|_| open) {
                        channel_consume::cancelled(ch, &tag, self.cancel_notify, &mut out);
                    }
                }
            }
        }
    }

    pub(crate) fn release_channels(&mut self) {
        for ch in self.channels.values_mut() {
            ch.release();
        }
    }

    /// Releases everything the connection holds; safe to call twice.
    pub(crate) fn release(&mut self) {
        self.release_channels();
        if self.released {
            return;
        }
        self.released = true;
        if let Some(vhost) = &self.vhost {
            vhost.connection_closed(self.conn_id);
        }
    }

    fn before_open(&self) -> bool {
        matches!(
            self.state,
            ConnState::AwaitingHeader
                | ConnState::AwaitingStartOk
                | ConnState::AwaitingTuneOk
                | ConnState::AwaitingOpen
        )
    }
}

impl Session for AmqpSession {
    fn on_input(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
        now: Instant,
    ) -> SessionStatus {
        let before = output.len();
        self.gate.saw(now);
        // The read's publishes reach their consumers together when it ends.
        let batch = self.vhost.as_ref().map(|v| v.batch_publishes());
        let status = self.read_frames(input, output, now);
        drop(batch);
        self.flush_confirms(output);
        self.sync_blocked(output);
        self.wrote_since(before, output, now);
        status
    }

    fn on_wake(&mut self, output: &mut BytesMut, now: Instant) -> SessionStatus {
        let before = output.len();
        self.gate.saw(now);
        self.drain_outbox(output);
        // Confirms that waited for the disk are sent when their write completes.
        self.flush_confirms(output);
        self.sync_blocked(output);
        self.wrote_since(before, output, now);
        self.status()
    }

    fn on_tick(&mut self, output: &mut BytesMut, now: Instant) -> SessionStatus {
        self.gate.saw(now);
        self.sync_blocked(output);
        match self.state {
            ConnState::Closing(deadline) if now >= deadline => self.state = ConnState::Closed,
            _ if self.before_open() && now >= self.handshake_deadline => {
                tracing::info!(peer = %self.peer.remote, "handshake timeout");
                self.state = ConnState::Closed;
            }
            ConnState::Open => match self.heartbeat.tick(now) {
                Beat::Idle => {}
                Beat::Send => {
                    AmqpSession::out(&mut self.writer, output, self.frame_max).heartbeat()
                }
                // A blocked connection is not read, so its heartbeats go unseen (RabbitMQ
                // also suspends the heartbeat monitor while blocked).
                Beat::Dead if self.gate.holds() => {}
                Beat::Dead => {
                    tracing::warn!(
                        peer = %self.peer.remote,
                        "missed heartbeats from client, timeout: {}s",
                        self.heartbeat.secs()
                    );
                    self.release();
                    self.state = ConnState::Closed;
                }
            },
            _ => {}
        }
        self.status()
    }

    fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            ConnState::Closing(deadline) => Some(deadline),
            ConnState::Open => earliest(self.heartbeat.deadline(), self.gate.deadline()),
            ConnState::Closed => None,
            _ => Some(self.handshake_deadline),
        }
    }

    fn on_drained(&mut self) {
        self.output_full = false;
        if !self.outbox.is_empty() {
            self.outbox.wake();
        }
        if self.outbox.take_refused() {
            for ch in self.channels.values() {
                for queue in ch.consumed_queues() {
                    queue.kick();
                }
            }
        }
    }

    fn wants_input(&self) -> bool {
        !self.output_full
            && self.outbox.has_room()
            && self.state != ConnState::Closed
            && !self.gate.holds()
    }

    fn on_close(&mut self) {
        self.release();
        self.state = ConnState::Closed;
        let mut scratch = BytesMut::new();
        self.drain_outbox(&mut scratch);
    }

    fn on_shutdown(&mut self, output: &mut BytesMut) -> SessionStatus {
        if !matches!(self.state, ConnState::AwaitingHeader | ConnState::Closed) {
            let close = connection::Close {
                reply_code: CONNECTION_FORCED,
                reply_text: short(&format!(
                    "{} - broker forced connection closure with reason 'shutdown'",
                    code_name(CONNECTION_FORCED)
                )),
                class_id: 0,
                method_id: 0,
            };
            let mut out = AmqpSession::out(&mut self.writer, output, self.frame_max);
            out.method(
                0,
                AMQPClass::Connection(connection::AMQPMethod::Close(close)),
            );
        }
        self.release();
        self.state = ConnState::Closed;
        SessionStatus::Close
    }
}
