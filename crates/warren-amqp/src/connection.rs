//! The connection state machine: reading frames, routing them to the handshake, to
//! channel 0 or to channels, and closing on errors.
//!
//! States follow spec 2.2.4: [`ConnState::AwaitingHeader`], then the handshake
//! (`start`/`start-ok`, `tune`/`tune-ok`, `open`/`open-ok`), then [`ConnState::Open`]. A hard
//! error sends `connection.close` and moves to [`ConnState::Closing`], where every frame but
//! `close` and `close-ok` is discarded (spec 1.4.2.5) until `close-ok` or a deadline.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amq_protocol::protocol::{channel, connection, AMQPClass};
use bytes::{Bytes, BytesMut};
use warren_model::{Broker, ConnectionId, GateWatch, PeerInfo, SessionStatus, UserName, VHost};

use crate::channel::{method_ids, Channel, ChannelState};
use crate::codec::{self, Frame, FrameWriter, PublishMethod, PROTOCOL_HEADER};
use crate::convert::short;
use crate::env::{Env, Out};
use crate::errors::{
    AmqpError, CHANNEL_ERROR, COMMAND_INVALID, FRAME_ERROR, NOT_ALLOWED, UNEXPECTED_FRAME,
};
use crate::factory::AmqpConfig;
use crate::heartbeat::Heartbeat;
use crate::outbox::Outbox;
use crate::{channel_publish, handshake};

/// Class and method ids of `basic.publish`, for the errors it causes.
const PUBLISH_IDS: (u16, u16) = (60, 40);
/// How long the server waits for `close-ok` after sending `connection.close`.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// RabbitMQ's `handshake_timeout`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the connection is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConnState {
    /// Waiting for `AMQP 0-9-1`.
    AwaitingHeader,
    /// `connection.start` sent.
    AwaitingStartOk,
    /// `connection.tune` sent.
    AwaitingTuneOk,
    /// Tuned; waiting for `connection.open`.
    AwaitingOpen,
    /// Working.
    Open,
    /// `connection.close` sent; waiting for `close-ok` until the deadline.
    Closing(Instant),
    /// Done; the driver closes the socket.
    Closed,
}

/// One AMQP connection, driven through [`warren_model::Session`].
pub struct AmqpSession {
    pub(crate) state: ConnState,
    pub(crate) config: AmqpConfig,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) peer: PeerInfo,
    pub(crate) conn_id: ConnectionId,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) user: Option<UserName>,
    pub(crate) vhost: Option<Arc<dyn VHost>>,
    pub(crate) frame_max: u32,
    pub(crate) channel_max: u16,
    pub(crate) cancel_notify: bool,
    pub(crate) heartbeat: Heartbeat,
    pub(crate) handshake_deadline: Instant,
    /// Boxed: a map allocates room for several entries at once, and most connections use one
    /// channel, so inline channels would cost several times their size each.
    pub(crate) channels: HashMap<u16, Box<Channel>>,
    pub(crate) writer: FrameWriter,
    pub(crate) output_full: bool,
    pub(crate) released: bool,
    /// The broker's publish gate as this connection sees it.
    pub(crate) gate: GateWatch,
    /// The client announced the `connection.blocked` capability.
    pub(crate) blocked_notify: bool,
    /// `connection.blocked` was sent and not yet undone.
    pub(crate) blocked_sent: bool,
}

impl AmqpSession {
    /// A session waiting for the protocol header.
    pub(crate) fn new(
        config: AmqpConfig,
        broker: Arc<dyn Broker>,
        peer: PeerInfo,
        outbox: Arc<Outbox>,
        now: Instant,
    ) -> Self {
        let conn_id = broker.next_connection_id();
        let gate = GateWatch::new(broker.publish_gate(), &outbox.waker());
        Self {
            gate,
            blocked_notify: false,
            blocked_sent: false,
            state: ConnState::AwaitingHeader,
            frame_max: config.frame_max,
            channel_max: config.channel_max,
            config,
            broker,
            peer,
            conn_id,
            outbox,
            user: None,
            vhost: None,
            cancel_notify: false,
            heartbeat: Heartbeat::new(now),
            handshake_deadline: now + HANDSHAKE_TIMEOUT,
            channels: HashMap::new(),
            writer: FrameWriter::default(),
            output_full: false,
            released: false,
        }
    }

    pub(crate) fn out<'a>(
        writer: &'a mut FrameWriter,
        buf: &'a mut BytesMut,
        frame_max: u32,
    ) -> Out<'a> {
        Out::new(buf, writer, frame_max)
    }

    /// Reads every whole frame in `input`, stopping early while the output is over its limit.
    pub(crate) fn read_frames(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
        now: Instant,
    ) -> SessionStatus {
        loop {
            match self.state {
                ConnState::Closed => return SessionStatus::Close,
                ConnState::AwaitingHeader => match codec::read_protocol_header(input) {
                    None => return SessionStatus::Continue,
                    Some(false) => {
                        output.extend_from_slice(PROTOCOL_HEADER);
                        self.state = ConnState::Closed;
                        return SessionStatus::Close;
                    }
                    Some(true) => handshake::send_start(self, output),
                },
                _ => {}
            }
            if output.len() >= self.config.max_outbox_bytes {
                self.output_full = true;
                return SessionStatus::Continue;
            }
            match codec::decode(input, self.frame_max) {
                Ok(None) => return SessionStatus::Continue,
                Ok(Some(frame)) => {
                    self.heartbeat.received(now);
                    self.handle_frame(frame, output, now);
                }
                Err(err) => {
                    input.clear();
                    self.close_connection(&err, (0, 0), output, now);
                    self.state = ConnState::Closed;
                }
            }
        }
    }

    fn handle_frame(&mut self, frame: Frame, output: &mut BytesMut, now: Instant) {
        match self.state {
            ConnState::AwaitingStartOk | ConnState::AwaitingTuneOk | ConnState::AwaitingOpen => {
                handshake::handle(self, frame, output, now);
            }
            ConnState::Open => self.open_frame(frame, output, now),
            ConnState::Closing(_) => self.closing_frame(frame, output),
            ConnState::AwaitingHeader | ConnState::Closed => {}
        }
    }

    fn open_frame(&mut self, frame: Frame, output: &mut BytesMut, now: Instant) {
        match frame {
            Frame::Heartbeat { channel: 0 } => {}
            Frame::Heartbeat { .. } => self.fail(
                AmqpError::hard(FRAME_ERROR, "heartbeat on a non-zero channel"),
                (0, 0),
                output,
                now,
            ),
            Frame::Method {
                channel: 0,
                method,
                args,
            } => self.connection_method(*method, &args, output, now),
            Frame::Method {
                channel,
                method,
                args,
            } => self.channel_method(channel, *method, args, output, now),
            Frame::Publish { channel: 0, .. } => {
                let err = AmqpError::hard(CHANNEL_ERROR, "non-connection method on channel 0");
                self.fail(err, PUBLISH_IDS, output, now);
            }
            Frame::Publish { channel, publish } => self.publish(channel, publish, output, now),
            Frame::Header { channel: 0, .. } | Frame::Body { channel: 0, .. } => {
                self.fail(
                    AmqpError::hard(UNEXPECTED_FRAME, "content frame on channel 0"),
                    (0, 0),
                    output,
                    now,
                );
            }
            Frame::Header { channel, header } => {
                self.on_channel(channel, PUBLISH_IDS, output, now, |ch, env, out| {
                    channel_publish::header(ch, header, env, out)
                })
            }
            Frame::Body { channel, payload } => {
                self.on_channel(channel, PUBLISH_IDS, output, now, |ch, env, out| {
                    channel_publish::body(ch, payload, env, out)
                })
            }
        }
    }

    fn closing_frame(&mut self, frame: Frame, output: &mut BytesMut) {
        let Frame::Method {
            channel: 0, method, ..
        } = frame
        else {
            return;
        };
        let AMQPClass::Connection(m) = *method else {
            return;
        };
        match m {
            connection::AMQPMethod::Close(_) => {
                let ok = connection::AMQPMethod::CloseOk(connection::CloseOk {});
                Self::out(&mut self.writer, output, self.frame_max)
                    .method(0, AMQPClass::Connection(ok));
                self.state = ConnState::Closed;
            }
            connection::AMQPMethod::CloseOk(_) => self.state = ConnState::Closed,
            _ => {}
        }
    }

    fn connection_method(
        &mut self,
        method: AMQPClass,
        args: &[u8],
        output: &mut BytesMut,
        now: Instant,
    ) {
        let mut out = Self::out(&mut self.writer, output, self.frame_max);
        match method {
            AMQPClass::Connection(connection::AMQPMethod::Close(_)) => {
                out.method(
                    0,
                    AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})),
                );
                self.release();
                self.state = ConnState::Closed;
            }
            AMQPClass::Connection(connection::AMQPMethod::CloseOk(_)) => {}
            AMQPClass::Connection(connection::AMQPMethod::UpdateSecret(_)) => {
                let ok = connection::AMQPMethod::UpdateSecretOk(connection::UpdateSecretOk {});
                out.method(0, AMQPClass::Connection(ok));
            }
            AMQPClass::Connection(_) => {
                let err = AmqpError::hard(COMMAND_INVALID, "connection method not valid now");
                self.fail(err, method_ids(args), output, now);
            }
            _ => {
                let err = AmqpError::hard(CHANNEL_ERROR, "non-connection method on channel 0");
                self.fail(err, method_ids(args), output, now);
            }
        }
    }

    fn channel_method(
        &mut self,
        id: u16,
        method: AMQPClass,
        args: Bytes,
        output: &mut BytesMut,
        now: Instant,
    ) {
        let ids = method_ids(&args);
        if self.beyond_channel_max(id, ids, output, now) {
            return;
        }
        match (self.channels.contains_key(&id), method) {
            (false, AMQPClass::Channel(channel::AMQPMethod::Open(_))) => {
                self.open_channel(id, ids, output, now)
            }
            (true, AMQPClass::Channel(channel::AMQPMethod::Close(_))) => {
                self.client_closed_channel(id, output)
            }
            (true, AMQPClass::Channel(channel::AMQPMethod::CloseOk(_))) => {
                self.channels.remove(&id);
            }
            (_, method) => {
                if self.awaiting_content(id, ids, output, now) {
                    return;
                }
                self.on_channel(id, ids, output, now, |ch, env, out| {
                    ch.handle(method, &args, env, out)
                })
            }
        }
    }

    /// `basic.publish`: checked as any channel method, then counted by the publish gate.
    fn publish(&mut self, id: u16, publish: PublishMethod, output: &mut BytesMut, now: Instant) {
        if self.beyond_channel_max(id, PUBLISH_IDS, output, now)
            || self.awaiting_content(id, PUBLISH_IDS, output, now)
        {
            return;
        }
        if self
            .channels
            .get(&id)
            .is_some_and(|c| c.state != ChannelState::Closing)
        {
            self.gate.published();
        }
        self.on_channel(id, PUBLISH_IDS, output, now, |ch, env, _| {
            channel_publish::start(ch, publish, env)
        })
    }

    /// Fails the connection if `id` is beyond the negotiated channel_max.
    fn beyond_channel_max(
        &mut self,
        id: u16,
        ids: (u16, u16),
        output: &mut BytesMut,
        now: Instant,
    ) -> bool {
        if id <= self.channel_max {
            return false;
        }
        let text = format!(
            "channel number {id} exceeds negotiated channel_max {}",
            self.channel_max
        );
        self.fail(AmqpError::hard(NOT_ALLOWED, text), ids, output, now);
        true
    }

    /// Fails the connection if a method arrives where channel `id` (open, not closing) waits
    /// for the content of a publish.
    fn awaiting_content(
        &mut self,
        id: u16,
        ids: (u16, u16),
        output: &mut BytesMut,
        now: Instant,
    ) -> bool {
        let waiting = self
            .channels
            .get(&id)
            .is_some_and(|c| c.state != ChannelState::Closing && c.pending.is_some());
        if waiting {
            let err = AmqpError::hard(
                UNEXPECTED_FRAME,
                "expected content header for class 60, got a method frame",
            );
            self.fail(err, ids, output, now);
        }
        waiting
    }

    fn open_channel(&mut self, id: u16, ids: (u16, u16), output: &mut BytesMut, now: Instant) {
        if self.channels.len() >= usize::from(self.channel_max) {
            let text = format!(
                "number of channels opened ({}) has reached the negotiated channel_max ({})",
                self.channels.len(),
                self.channel_max
            );
            return self.fail(AmqpError::hard(NOT_ALLOWED, text), ids, output, now);
        }
        self.channels.insert(id, Box::new(Channel::new(id)));
        let ok = channel::AMQPMethod::OpenOk(channel::OpenOk {});
        Self::out(&mut self.writer, output, self.frame_max).method(id, AMQPClass::Channel(ok));
    }

    fn client_closed_channel(&mut self, id: u16, output: &mut BytesMut) {
        let mut out = Self::out(&mut self.writer, output, self.frame_max);
        if let Some(mut ch) = self.channels.remove(&id) {
            channel_publish::flush_confirms(&mut ch, &mut out);
            ch.release();
        }
        out.method(
            id,
            AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})),
        );
    }

    /// Runs `work` on an open channel with its environment, then turns its error into
    /// `channel.close` or `connection.close`.
    pub(crate) fn on_channel(
        &mut self,
        id: u16,
        ids: (u16, u16),
        output: &mut BytesMut,
        now: Instant,
        work: impl FnOnce(&mut Channel, &Env<'_>, &mut Out<'_>) -> Result<(), AmqpError>,
    ) {
        let (Some(vhost), Some(user)) = (self.vhost.as_ref(), self.user.as_ref()) else {
            return;
        };
        let Some(ch) = self.channels.get_mut(&id) else {
            let err = AmqpError::hard(CHANNEL_ERROR, "expected 'channel.open'");
            return self.fail(err, ids, output, now);
        };
        if ch.state == ChannelState::Closing {
            return;
        }
        let env = Env {
            vhost,
            conn: self.conn_id,
            user,
            outbox: &self.outbox,
        };
        let mut out = Self::out(&mut self.writer, output, self.frame_max);
        let result = work(ch, &env, &mut out);
        if let Some(valve) = ch.flow.take() {
            self.gate.throttle(valve, now);
        }
        match result {
            Ok(()) => {}
            Err(err @ AmqpError::Channel { .. }) => ch.close_with(&err, ids.0, ids.1, &mut out),
            Err(err) => self.fail(err, ids, output, now),
        }
    }

    /// A hard error: `connection.close`, then wait for `close-ok`.
    pub(crate) fn fail(
        &mut self,
        err: AmqpError,
        ids: (u16, u16),
        output: &mut BytesMut,
        now: Instant,
    ) {
        tracing::warn!(conn = %self.conn_id, code = err.code(), text = err.text(), "closing connection");
        self.close_connection(&err, ids, output, now);
    }

    pub(crate) fn close_connection(
        &mut self,
        err: &AmqpError,
        ids: (u16, u16),
        output: &mut BytesMut,
        now: Instant,
    ) {
        let close = connection::Close {
            reply_code: err.code(),
            reply_text: short(err.text()),
            class_id: ids.0,
            method_id: ids.1,
        };
        let mut out = Self::out(&mut self.writer, output, self.frame_max);
        for ch in self.channels.values_mut() {
            channel_publish::flush_confirms(ch, &mut out);
        }
        out.method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Close(close)),
        );
        self.release_channels();
        self.state = ConnState::Closing(now + CLOSE_TIMEOUT);
    }
}
