//! The latency floor of this machine for a broker: an MQTT 3.1.1 "broker" that does nothing
//! but copy each QoS 0 PUBLISH, byte for byte, to every subscriber. No routing, no queue, no
//! topic matching; the same tokio runtime as Warren (a multi-threaded one, one worker per
//! core). What `warren-bench --rate` measures against it is what the loopback, the scheduler
//! and the load generator cost on their own.
//!
//! ```text
//! cargo run --release -p warren-bench --example mqtt_relay -- 127.0.0.1:21884 [direct|task|threads]
//! warren-bench --protocol mqtt --port 21884 --rate 10000 --duration 8
//! ```
//!
//! `direct` (the default) writes to the subscriber's socket from the publisher's task; `task`
//! hands the packet to the subscriber's own task, as a broker with a task per connection does.
//! `threads` has no runtime at all: a thread per connection blocked in `read`, writing each
//! PUBLISH to the subscribers' sockets itself. One wake-up per message in the relay, the least
//! any server can do, so its tail is the machine's and the load generator's alone.

use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Where a subscriber's copies go.
#[derive(Clone)]
enum Subscriber {
    Direct(Arc<tokio::sync::Mutex<OwnedWriteHalf>>),
    Task(mpsc::UnboundedSender<Bytes>),
}

type Subscribers = Arc<Mutex<Vec<Subscriber>>>;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:21884".into());
    match args.next().as_deref() {
        Some("threads") => threads::run(&addr),
        mode => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(run(&addr, mode == Some("task")))
        }
    }
}

async fn run(addr: &str, via_task: bool) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    println!("mqtt relay listening on {}", listener.local_addr()?);
    let subscribers: Subscribers = Arc::default();
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(serve(stream, Arc::clone(&subscribers), via_task));
    }
}

/// CONNACK: session not present, accepted.
const CONNACK: [u8; 4] = [0x20, 2, 0, 0];
/// PINGRESP.
const PINGRESP: [u8; 2] = [0xd0, 0];

/// SUBACK granting QoS 0 to the SUBSCRIBE `packet`'s one filter.
fn suback(packet: &[u8]) -> [u8; 5] {
    let id = packet.get(2..4).map_or([0, 1], |s| [s[0], s[1]]);
    [0x90, 3, id[0], id[1], 0]
}

/// One packet's type and its whole length, once the buffer holds all of it.
fn next_packet(buf: &[u8]) -> Option<(u8, usize)> {
    let (&first, rest) = buf.split_first()?;
    let mut len = 0usize;
    for (i, &b) in rest.iter().take(4).enumerate() {
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let total = 1 + i + 1 + len;
            return (buf.len() >= total).then_some((first >> 4, total));
        }
    }
    None
}

async fn serve(stream: TcpStream, subscribers: Subscribers, via_task: bool) {
    let (mut reader, writer) = stream.into_split();
    let writer = Arc::new(tokio::sync::Mutex::new(writer));
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        while let Some((kind, len)) = next_packet(&buf) {
            let packet = buf.split_to(len).freeze();
            match kind {
                1 => reply(&writer, &CONNACK).await,
                3 => forward(&subscribers, packet).await,
                8 => {
                    reply(&writer, &suback(&packet)).await;
                    let subscriber = if via_task {
                        Subscriber::Task(spawn_writer(Arc::clone(&writer)))
                    } else {
                        Subscriber::Direct(Arc::clone(&writer))
                    };
                    lock(&subscribers).push(subscriber);
                }
                12 => reply(&writer, &PINGRESP).await,
                14 => return,
                _ => {}
            }
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn lock(subscribers: &Subscribers) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
    subscribers.lock().unwrap_or_else(|p| p.into_inner())
}

async fn reply(writer: &tokio::sync::Mutex<OwnedWriteHalf>, bytes: &[u8]) {
    let _ = writer.lock().await.write_all(bytes).await;
}

async fn forward(subscribers: &Subscribers, packet: Bytes) {
    let targets = lock(subscribers).clone();
    for target in targets {
        match target {
            Subscriber::Direct(writer) => {
                let mut writer = writer.lock().await;
                let mut copy = packet.clone();
                while copy.has_remaining() {
                    match writer.write_buf(&mut copy).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            }
            Subscriber::Task(tx) => {
                let _ = tx.send(packet.clone());
            }
        }
    }
}

/// The subscriber's own task: writes what it is handed, a batch per wake-up.
fn spawn_writer(writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>) -> mpsc::UnboundedSender<Bytes> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    tokio::spawn(async move {
        let mut out = BytesMut::new();
        while let Some(first) = rx.recv().await {
            out.extend_from_slice(&first);
            while let Ok(more) = rx.try_recv() {
                out.extend_from_slice(&more);
            }
            if writer.lock().await.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    });
    tx
}

/// The relay without a runtime: blocking sockets, a thread per connection.
mod threads {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    use super::{next_packet, suback, CONNACK, PINGRESP};

    type Subscribers = Arc<Mutex<Vec<TcpStream>>>;

    pub fn run(addr: &str) -> anyhow::Result<()> {
        let listener = TcpListener::bind(addr)?;
        println!(
            "mqtt relay (threads) listening on {}",
            listener.local_addr()?
        );
        let subscribers: Subscribers = Arc::default();
        for stream in listener.incoming() {
            let stream = stream?;
            stream.set_nodelay(true)?;
            let subscribers = Arc::clone(&subscribers);
            std::thread::spawn(move || serve(stream, &subscribers));
        }
        Ok(())
    }

    fn serve(mut stream: TcpStream, subscribers: &Subscribers) {
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut chunk = vec![0; 64 * 1024];
        loop {
            let mut start = 0;
            while let Some((kind, len)) = next_packet(&buf[start..]) {
                let packet = &buf[start..start + len];
                start += len;
                let sent = match kind {
                    1 => stream.write_all(&CONNACK),
                    3 => {
                        forward(subscribers, packet);
                        Ok(())
                    }
                    8 => subscribe(&mut stream, packet, subscribers),
                    12 => stream.write_all(&PINGRESP),
                    14 => return,
                    _ => Ok(()),
                };
                if sent.is_err() {
                    return;
                }
            }
            buf.drain(..start);
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn subscribe(stream: &mut TcpStream, packet: &[u8], to: &Subscribers) -> std::io::Result<()> {
        stream.write_all(&suback(packet))?;
        let copy = stream.try_clone()?;
        to.lock().unwrap_or_else(|p| p.into_inner()).push(copy);
        Ok(())
    }

    /// Writes the PUBLISH to every subscriber; one that fails is skipped, not the publisher.
    fn forward(subscribers: &Subscribers, packet: &[u8]) {
        let subscribers = subscribers.lock().unwrap_or_else(|p| p.into_inner());
        for mut subscriber in subscribers.iter() {
            let _ = subscriber.write_all(packet);
        }
    }
}
