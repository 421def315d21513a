//! STOMP publisher and consumer.

use std::sync::Arc;

use bytes::BytesMut;

use super::{frame_error, wire, Connection};
use crate::control::{Control, Counter, Stop};
use crate::io::{protocol, ClientError, Reader, Writer, BUSY_BUFFER};
use crate::options::{AckMode, Options};
use crate::pacer::Pacer;
use crate::payload;
use crate::report::Latency;
use crate::window::Window;

/// A connected publisher.
#[derive(Debug)]
pub struct Publisher {
    conn: Connection,
    /// One per destination, used round robin.
    prefixes: Vec<BytesMut>,
    size: usize,
    window: Window,
}

impl Publisher {
    /// Connects; SENDs go to `destinations`, round robin.
    pub async fn connect(options: &Options, destinations: &[String]) -> Result<Self, ClientError> {
        let conn = Connection::open(options, options.publish_port(), BUSY_BUFFER).await?;
        Ok(Self {
            conn,
            prefixes: destinations
                .iter()
                .map(|d| wire::send_prefix(d, options.size, options.persistent))
                .collect(),
            size: options.size,
            window: Window::new(options.confirms, options.inflight),
        })
    }

    /// Publishes at `rate` per second (0: flat out) until told to stop; with confirms, each
    /// SEND asks for a receipt and the publisher then waits for the outstanding ones.
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
        let Connection { reader, mut writer } = conn;
        let (done_tx, done_rx) = tokio::sync::watch::channel(false);
        let receipts = tokio::spawn(read_receipts(
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
        let mut seq = 0u64;
        let mut next = prefixes.iter().cycle();
        while !stop.is_set() {
            let n = window.take(pacer.next_batch().await, &mut stop).await;
            out.clear();
            for _ in 0..n {
                seq += 1;
                let receipt = window.is_limited().then_some(seq);
                let prefix = next.next().map_or(&[][..], |p| &p[..]);
                wire::send(&mut out, prefix, receipt, size, ctl.now_ns());
            }
            tokio::select! {
                r = writer.send(&out) => r?,
                () = hard_stop.wait() => break,
            }
            pacer.sent(n);
            sent.add(n);
        }
        if window.is_limited() {
            let mut stop = ctl.consuming_stopped();
            while confirmed.get() < sent.get() && !stop.is_set() {
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_millis(5)) => {}
                    () = stop.wait() => {}
                }
            }
        }
        done_tx.send_replace(true);
        let result = receipts.await.map_err(|e| protocol(e.to_string()))?;
        out.clear();
        wire::frame(&mut out, "DISCONNECT", &[], b"");
        let _ = writer.send(&out).await;
        result
    }
}

async fn read_receipts(
    mut reader: Reader,
    window: Window,
    confirmed: Counter,
    done: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ClientError> {
    let mut stop = Stop::from(done);
    loop {
        let mut n = 0;
        while let Some((frame, used)) = wire::parse(&reader.buf)? {
            if frame.command != b"RECEIPT" {
                return Err(frame_error(&frame));
            }
            n += 1;
            reader.consume(used);
        }
        window.give(n);
        confirmed.add(n);
        tokio::select! {
            r = reader.fill() => r?,
            () = stop.wait() => return Ok(()),
        }
    }
}

/// A connected, subscribed consumer.
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

    /// Connects and subscribes to `destination`, waiting for the subscription's receipt.
    pub async fn connect(options: &Options, destination: &str) -> Result<Self, ClientError> {
        let mut conn = Connection::open(options, options.consumer_port(), BUSY_BUFFER).await?;
        let manual = options.ack == AckMode::Manual;
        let prefetch = options.prefetch.to_string();
        let mut headers = vec![
            ("id", "0"),
            ("destination", destination),
            ("ack", if manual { "client" } else { "auto" }),
            ("receipt", "subscribed"),
        ];
        if manual && options.prefetch > 0 {
            headers.push(("prefetch-count", &prefetch));
        }
        let mut out = BytesMut::new();
        wire::frame(&mut out, "SUBSCRIBE", &headers, b"");
        conn.writer.send(&out).await?;
        conn.expect(b"RECEIPT").await?;
        Ok(Self { conn, manual })
    }

    /// Consumes until told to stop; with `ack:client`, acknowledges cumulatively once per read.
    pub async fn run(
        self,
        ctl: Arc<Control>,
        received: Counter,
        latency: &mut Latency,
    ) -> Result<(), ClientError> {
        let Connection {
            mut reader,
            mut writer,
        } = self.conn;
        let mut stop = ctl.consuming_stopped();
        let mut out = BytesMut::new();
        let mut last_ack = String::new();
        loop {
            let mut count = 0;
            while let Some((frame, used)) = wire::parse(&reader.buf)? {
                if frame.command != b"MESSAGE" {
                    return Err(frame_error(&frame));
                }
                if let Some(sent) = payload::stamp(frame.body) {
                    latency.record(ctl.now_ns().saturating_sub(sent));
                }
                if self.manual {
                    last_ack.clear();
                    last_ack.push_str(
                        frame
                            .header("ack")
                            .ok_or_else(|| protocol("STOMP MESSAGE without ack"))?,
                    );
                }
                count += 1;
                reader.consume(used);
            }
            received.add(count);
            if count > 0 && self.manual {
                out.clear();
                wire::frame(&mut out, "ACK", &[("id", &last_ack)], b"");
                writer.send(&out).await?;
            }
            tokio::select! {
                r = reader.fill() => r?,
                () = stop.wait() => break,
            }
        }
        out.clear();
        wire::frame(&mut out, "DISCONNECT", &[], b"");
        let _ = writer.send(&out).await;
        Ok(())
    }
}
