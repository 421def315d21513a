//! An AMQP publisher: batches of basic.publish, optionally in confirm mode.

use std::sync::Arc;

use bytes::BytesMut;

use super::{wire, Connection, CHANNEL};
use crate::control::{Control, Counter, Stop};
use crate::dest::{Dest, Route};
use crate::io::{protocol, ClientError, Reader, BUSY_BUFFER};
use crate::options::Options;
use crate::pacer::Pacer;
use crate::window::Window;

/// A connected publisher, ready to run.
#[derive(Debug)]
pub struct Publisher {
    conn: Connection,
    /// One per destination, used round robin.
    prefixes: Vec<BytesMut>,
    size: usize,
    window: Window,
}

impl Publisher {
    /// Connects and, with `--confirms`, enters confirm mode.
    pub async fn connect(
        options: &Options,
        dests: &[Dest],
        route: Route,
    ) -> Result<Self, ClientError> {
        let mut conn = Connection::open(options, options.publish_port(), BUSY_BUFFER).await?;
        if options.confirms {
            conn.call(|o| wire::confirm_select(o, CHANNEL), wire::SELECT_OK)
                .await?;
        }
        let prefixes = dests
            .iter()
            .map(|dest| {
                let (exchange, key) = match route {
                    Route::Queue => (String::new(), dest.queue()),
                    Route::Topic => ("amq.topic".to_owned(), dest.key()),
                };
                wire::publish_prefix(CHANNEL, &exchange, &key, options.persistent, options.size)
            })
            .collect();
        Ok(Self {
            conn,
            prefixes,
            size: options.size,
            window: Window::new(options.confirms, options.inflight),
        })
    }

    /// Publishes at `rate` per second (0: flat out) until told to stop, then waits for the
    /// outstanding confirms until consumers are told to stop.
    pub async fn run(
        self,
        ctl: Arc<Control>,
        rate: f64,
        sent: Counter,
        confirmed: Counter,
    ) -> Result<(), ClientError> {
        let Self {
            conn,
            prefixes,
            size,
            window,
        } = self;
        let mut next = prefixes.iter().cycle();
        let Connection {
            reader,
            mut writer,
            frame_max,
        } = conn;
        let (done_tx, done_rx) = tokio::sync::watch::channel(false);
        let acks = tokio::spawn(read_acks(
            reader,
            window.clone(),
            confirmed.clone(),
            done_rx,
        ));
        let mut stop = ctl.publishing_stopped();
        // A write under way finishes (so what was written is counted) unless the drain is over.
        let mut hard_stop = ctl.consuming_stopped();
        let mut pacer = Pacer::new(rate);
        let mut out = BytesMut::with_capacity(256 * 1024);
        while !stop.is_set() {
            let n = window.take(pacer.next_batch().await, &mut stop).await;
            out.clear();
            for _ in 0..n {
                out.extend_from_slice(next.next().map_or(&[][..], |p| &p[..]));
                wire::stamped_body(&mut out, CHANNEL, size, ctl.now_ns(), frame_max);
            }
            tokio::select! {
                r = writer.send(&out) => r?,
                () = hard_stop.wait() => break,
            }
            pacer.sent(n);
            sent.add(n);
        }
        if window.is_limited() {
            wait_confirms(&ctl, &sent, &confirmed).await;
        }
        done_tx.send_replace(true);
        let result = acks.await.map_err(|e| protocol(e.to_string()))?;
        let mut conn_out = BytesMut::new();
        wire::close(&mut conn_out);
        let _ = writer.send(&conn_out).await;
        result
    }
}

/// Waits until every sent message is confirmed or consumers are told to stop.
async fn wait_confirms(ctl: &Control, sent: &Counter, confirmed: &Counter) {
    let mut stop = ctl.consuming_stopped();
    while confirmed.get() < sent.get() && !stop.is_set() {
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_millis(5)) => {}
            () = stop.wait() => {}
        }
    }
}

async fn read_acks(
    mut reader: Reader,
    window: Window,
    confirmed: Counter,
    done: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ClientError> {
    let mut stop = Stop::from(done);
    let mut last = 0u64;
    loop {
        while let Some((frame, used)) = wire::parse(&reader.buf)? {
            if let wire::Frame::Method(_, id, args) = frame {
                let n = on_method(id, args, &mut last)?;
                window.give(n);
                confirmed.add(n);
            }
            reader.consume(used);
        }
        tokio::select! {
            r = reader.fill() => r?,
            () = stop.wait() => return Ok(()),
        }
    }
}

/// Confirms newly covered by a method from the broker.
fn on_method(id: wire::MethodId, args: &[u8], last: &mut u64) -> Result<u64, ClientError> {
    match id {
        wire::ACK => {
            let mut c = wire::Cursor(args);
            let (tag, multiple) = (c.u64()?, c.u8()? & 1 == 1);
            let n = if multiple {
                tag.saturating_sub(*last)
            } else {
                1
            };
            *last = (*last).max(tag);
            Ok(n)
        }
        wire::NACK => Err(protocol("AMQP publish nacked by the broker")),
        wire::RETURN => Err(protocol("AMQP publish returned unroutable")),
        id if super::is_close(id) => Err(wire::close_error(id, args)),
        other => Err(protocol(format!("AMQP publisher got {other:?}"))),
    }
}
