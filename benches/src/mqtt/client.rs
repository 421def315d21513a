//! MQTT publisher and consumer.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::sync::Mutex;

use super::{wire, Connection};
use crate::control::{Control, Counter, Stop};
use crate::io::{protocol, ClientError, Reader, Writer, BUSY_BUFFER};
use crate::options::Options;
use crate::pacer::Pacer;
use crate::payload;
use crate::report::Latency;
use crate::window::Window;

/// Packet ids stay below this many in flight, so one is never reused while outstanding.
const MAX_INFLIGHT: u32 = 65_000;

/// A connected publisher.
#[derive(Debug)]
pub struct Publisher {
    conn: Connection,
    /// One per destination, used round robin.
    topics: Vec<String>,
    qos: u8,
    size: usize,
    window: Window,
}

impl Publisher {
    /// Connects as `client_id`.
    pub async fn connect(
        options: &Options,
        client_id: &str,
        topics: Vec<String>,
    ) -> Result<Self, ClientError> {
        let conn =
            Connection::open(options, options.publish_port(), client_id, 0, BUSY_BUFFER).await?;
        let size = options
            .inflight
            .min(MAX_INFLIGHT)
            .min(u32::from(conn.receive_max));
        Ok(Self {
            window: Window::new(options.qos > 0, size),
            conn,
            topics,
            qos: options.qos,
            size: options.size,
        })
    }

    /// Publishes at `rate` per second (0: flat out) until told to stop; with QoS > 0 then
    /// waits for the outstanding acknowledgements until consumers are told to stop.
    pub async fn run(
        self,
        ctl: Arc<Control>,
        rate: f64,
        sent: Counter,
        confirmed: Counter,
    ) -> Result<(), ClientError> {
        let Self {
            conn,
            topics,
            qos,
            size,
            window,
        } = self;
        let version = conn.version;
        let writer = Arc::new(Mutex::new(conn.writer));
        let (done_tx, done_rx) = tokio::sync::watch::channel(false);
        let acks = tokio::spawn(read_acks(
            conn.reader,
            writer.clone(),
            window.clone(),
            confirmed.clone(),
            done_rx,
        ));
        let mut stop = ctl.publishing_stopped();
        // A write under way finishes (so what was written is counted) unless the drain is over.
        let mut hard_stop = ctl.consuming_stopped();
        let mut pacer = Pacer::new(rate);
        let mut out = BytesMut::with_capacity(256 * 1024);
        let mut id: u16 = 0;
        let mut next = topics.iter().cycle();
        while !stop.is_set() {
            let n = window.take(pacer.next_batch().await, &mut stop).await;
            out.clear();
            for _ in 0..n {
                id = id.checked_add(1).unwrap_or(1);
                let topic = next.next().map_or("", String::as_str);
                wire::publish(&mut out, version, topic, qos, id, size, ctl.now_ns());
            }
            tokio::select! {
                r = async { writer.lock().await.send(&out).await } => r?,
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
        let result = acks.await.map_err(|e| protocol(e.to_string()))?;
        out.clear();
        wire::disconnect(&mut out);
        let _ = writer.lock().await.send(&out).await;
        result
    }
}

async fn read_acks(
    mut reader: Reader,
    writer: Arc<Mutex<Writer>>,
    window: Window,
    confirmed: Counter,
    done: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ClientError> {
    let mut stop = Stop::from(done);
    let mut out = BytesMut::new();
    loop {
        let mut n = 0;
        while let Some((packet, used)) = wire::parse(&reader.buf)? {
            n += publisher_packet(&packet, &mut out)?;
            reader.consume(used);
        }
        window.give(n);
        confirmed.add(n);
        if !out.is_empty() {
            writer.lock().await.send(&out).await?;
            out.clear();
        }
        tokio::select! {
            r = reader.fill() => r?,
            () = stop.wait() => return Ok(()),
        }
    }
}

/// Handles a packet to a publisher: 1 when it completed a publish.
fn publisher_packet(packet: &wire::Packet<'_>, out: &mut BytesMut) -> Result<u64, ClientError> {
    let reason = wire::ack_reason(packet.body);
    match packet.kind {
        wire::PUBACK | wire::PUBCOMP if reason < 0x80 => Ok(1),
        wire::PUBREC if reason < 0x80 => {
            wire::ack(out, wire::PUBREL, wire::ack_id(packet.body)?);
            Ok(0)
        }
        wire::PINGRESP => Ok(0),
        kind => Err(protocol(format!(
            "MQTT publisher got packet {kind} (reason {reason:#x})"
        ))),
    }
}

/// A connected, subscribed consumer.
#[derive(Debug)]
pub struct Consumer {
    conn: Connection,
}

impl Consumer {
    /// Its socket's halves, for a client that reads them itself.
    pub fn into_halves(self) -> (Reader, Writer) {
        (self.conn.reader, self.conn.writer)
    }

    /// Connects as `client_id` and subscribes to `filter`.
    pub async fn connect(
        options: &Options,
        client_id: &str,
        filter: &str,
    ) -> Result<Self, ClientError> {
        let mut conn =
            Connection::open(options, options.consumer_port(), client_id, 0, BUSY_BUFFER).await?;
        conn.subscribe(filter, options.qos).await?;
        Ok(Self { conn })
    }

    /// Consumes until told to stop, acknowledging QoS 1 and 2 deliveries once per read.
    pub async fn run(
        self,
        ctl: Arc<Control>,
        received: Counter,
        latency: &mut Latency,
    ) -> Result<(), ClientError> {
        let Connection {
            mut reader,
            mut writer,
            version,
            ..
        } = self.conn;
        let mut stop = ctl.consuming_stopped();
        let mut out = BytesMut::new();
        loop {
            let mut count = 0;
            while let Some((packet, used)) = wire::parse(&reader.buf)? {
                count += consumer_packet(version, &packet, &mut out, &ctl, latency)?;
                reader.consume(used);
            }
            received.add(count);
            if !out.is_empty() {
                writer.send(&out).await?;
                out.clear();
            }
            tokio::select! {
                r = reader.fill() => r?,
                () = stop.wait() => break,
            }
        }
        wire::disconnect(&mut out);
        let _ = writer.send(&out).await;
        Ok(())
    }
}

/// Handles a packet to a consumer: 1 when it was a message.
fn consumer_packet(
    version: u8,
    packet: &wire::Packet<'_>,
    out: &mut BytesMut,
    ctl: &Control,
    latency: &mut Latency,
) -> Result<u64, ClientError> {
    match packet.kind {
        wire::PUBLISH => {
            let (qos, id, body) = wire::publish_parts(version, packet.flags, packet.body)?;
            if let Some(sent) = payload::stamp(body) {
                latency.record(ctl.now_ns().saturating_sub(sent));
            }
            match qos {
                1 => wire::ack(out, wire::PUBACK, id),
                2 => wire::ack(out, wire::PUBREC, id),
                _ => {}
            }
            Ok(1)
        }
        wire::PUBREL => {
            wire::ack(out, wire::PUBCOMP, wire::ack_id(packet.body)?);
            Ok(0)
        }
        wire::PINGRESP => Ok(0),
        kind => Err(protocol(format!("MQTT consumer got packet {kind}"))),
    }
}
