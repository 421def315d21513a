//! What channel handlers see of their connection: the vhost and identities ([`Env`]), and
//! where their replies go ([`Out`]).

use std::sync::Arc;

use amq_protocol::protocol::AMQPClass;
use bytes::BytesMut;
use warren_model::{ConnectionId, Properties, UserName, VHost};

use crate::codec::{DeliverFields, FrameWriter};
use crate::outbox::Outbox;

/// The connection-wide facts a channel works with.
pub struct Env<'a> {
    /// The open vhost.
    pub vhost: &'a Arc<dyn VHost>,
    /// Owner id for exclusive queues and consumers.
    pub conn: ConnectionId,
    /// The authenticated user.
    pub user: &'a UserName,
    /// Where this connection's consumers deliver.
    pub outbox: &'a Arc<Outbox>,
}

/// The output buffer with its encoder and the negotiated frame size.
pub struct Out<'a> {
    buf: &'a mut BytesMut,
    writer: &'a mut FrameWriter,
    frame_max: u32,
}

impl<'a> Out<'a> {
    /// Output into `buf`, with frames split at `frame_max`.
    pub fn new(buf: &'a mut BytesMut, writer: &'a mut FrameWriter, frame_max: u32) -> Self {
        Self {
            buf,
            writer,
            frame_max,
        }
    }

    /// Appends a method frame.
    pub fn method(&mut self, channel: u16, method: AMQPClass) {
        if self.writer.method(self.buf, channel, method).is_err() {
            tracing::error!(channel, "could not encode a method frame");
        }
    }

    /// Appends a `basic.deliver` method frame.
    pub fn deliver(&mut self, channel: u16, deliver: &DeliverFields<'_>) {
        FrameWriter::deliver(self.buf, channel, deliver);
    }

    /// Appends a content header and body frames.
    pub fn content(&mut self, channel: u16, properties: &Properties, body: &[u8]) {
        let written = self
            .writer
            .content(self.buf, channel, properties, body, self.frame_max);
        if written.is_err() {
            tracing::error!(channel, "could not encode content frames");
        }
    }

    /// Appends a heartbeat.
    pub fn heartbeat(&mut self) {
        FrameWriter::heartbeat(self.buf);
    }
}
