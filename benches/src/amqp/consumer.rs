//! An AMQP consumer: one queue, no-ack or manual acks (cumulative, once per read).

use std::sync::Arc;

use bytes::BytesMut;

use super::{wire, Connection, CHANNEL};
use crate::control::{Control, Counter};
use crate::dest::{Dest, Route};
use crate::io::{protocol, ClientError, Reader, Writer, BUSY_BUFFER};
use crate::options::{AckMode, Options};
use crate::payload;
use crate::report::Latency;

/// A connected consumer, subscribed and ready to run.
#[derive(Debug)]
pub struct Consumer {
    conn: Connection,
    manual: bool,
}

impl Consumer {
    /// Its socket's halves, for a client that reads them itself.
    pub fn into_halves(self) -> (Reader, Writer) {
        (self.conn.reader, self.conn.writer)
    }

    /// Connects, declares (and for a topic, binds) its queue and starts consuming.
    pub async fn connect(
        options: &Options,
        dest: &Dest,
        route: Route,
    ) -> Result<Self, ClientError> {
        let mut conn = Connection::open(options, options.consumer_port(), BUSY_BUFFER).await?;
        let manual = options.ack == AckMode::Manual;
        if manual && options.prefetch > 0 {
            conn.call(|o| wire::qos(o, CHANNEL, options.prefetch), wire::QOS_OK)
                .await?;
        }
        let queue = declare(&mut conn, options, dest, route).await?;
        conn.call(
            |o| wire::consume(o, CHANNEL, &queue, !manual),
            wire::CONSUME_OK,
        )
        .await?;
        Ok(Self { conn, manual })
    }

    /// Consumes until told to stop, counting into `received` and timing into `latency`.
    pub async fn run(
        self,
        ctl: Arc<Control>,
        received: Counter,
        latency: &mut Latency,
    ) -> Result<(), ClientError> {
        let Connection {
            mut reader,
            mut writer,
            ..
        } = self.conn;
        let mut stop = ctl.consuming_stopped();
        let mut state = Delivery::default();
        let mut out = BytesMut::new();
        loop {
            let mut count = 0;
            while let Some((frame, used)) = wire::parse(&reader.buf)? {
                count += state.on_frame(frame, &ctl, latency)?;
                reader.consume(used);
            }
            received.add(count);
            if self.manual && state.last_tag > state.acked {
                out.clear();
                wire::ack(&mut out, CHANNEL, state.last_tag, true);
                writer.send(&out).await?;
                state.acked = state.last_tag;
            }
            tokio::select! {
                r = reader.fill() => r?,
                () = stop.wait() => break,
            }
        }
        out.clear();
        wire::close(&mut out);
        let _ = writer.send(&out).await;
        Ok(())
    }
}

/// Declares the consumer's queue: the shared named queue, or its own queue bound to the topic.
async fn declare(
    conn: &mut Connection,
    options: &Options,
    dest: &Dest,
    route: Route,
) -> Result<String, ClientError> {
    let flags = wire::QueueFlags {
        durable: options.persistent,
        exclusive: !options.persistent,
        auto_delete: true,
    };
    let name = match route {
        Route::Queue => dest.queue(),
        Route::Topic => String::new(),
    };
    let ok = conn
        .call(
            |o| wire::queue_declare(o, CHANNEL, &name, flags),
            wire::DECLARE_OK,
        )
        .await?;
    let queue = wire::Cursor(&ok).shortstr()?.to_owned();
    if route == Route::Topic {
        let key = dest.key();
        conn.call(
            |o| wire::queue_bind(o, CHANNEL, &queue, "amq.topic", &key),
            wire::BIND_OK,
        )
        .await?;
    }
    Ok(queue)
}

/// Where the consumer is within a delivery (method, header, body frames).
#[derive(Debug, Default)]
struct Delivery {
    last_tag: u64,
    acked: u64,
    body_left: u64,
    first_body: bool,
}

impl Delivery {
    /// Handles one frame; 1 when it completed a message.
    fn on_frame(
        &mut self,
        frame: wire::Frame<'_>,
        ctl: &Control,
        latency: &mut Latency,
    ) -> Result<u64, ClientError> {
        match frame {
            wire::Frame::Method(_, wire::DELIVER, args) => {
                let mut c = wire::Cursor(args);
                c.shortstr()?;
                self.last_tag = c.u64()?;
                Ok(0)
            }
            wire::Frame::Method(_, id, args) if super::is_close(id) => {
                Err(wire::close_error(id, args))
            }
            wire::Frame::Method(_, id, _) => Err(protocol(format!("AMQP consumer got {id:?}"))),
            wire::Frame::Header(_, size) => {
                self.body_left = size;
                self.first_body = true;
                Ok(u64::from(size == 0))
            }
            wire::Frame::Body(_, chunk) => Ok(self.on_body(chunk, ctl, latency)),
            wire::Frame::Heartbeat => Ok(0),
        }
    }

    fn on_body(&mut self, chunk: &[u8], ctl: &Control, latency: &mut Latency) -> u64 {
        if std::mem::take(&mut self.first_body) {
            if let Some(sent) = payload::stamp(chunk) {
                latency.record(ctl.now_ns().saturating_sub(sent));
            }
        }
        self.body_left = self.body_left.saturating_sub(chunk.len() as u64);
        u64::from(self.body_left == 0)
    }
}
