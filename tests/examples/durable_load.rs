//! Load for the durability benchmarks (docs/benchmarks.md, "Durability"): persistent
//! messages with publisher confirms into a durable, non-auto-delete queue, with lapin, against
//! any AMQP broker (Warren or RabbitMQ). The load generator in `benches/` declares auto-delete
//! queues, which Warren (like RabbitMQ after a restart) does not keep, so it does not exercise
//! the store.
//!
//! ```text
//! durable_load run  <amqp url> <queue> <seconds> <body bytes> <window>
//!     1 publisher (confirms, up to <window> unconfirmed) and 1 consumer (manual acks)
//! durable_load fill <amqp url> <queue> <count> <body bytes> <window> <publishers>
//!     publishes <count> messages and waits for every confirm; nobody consumes
//! durable_load count <amqp url> <queue>
//!     prints the queue's message count
//! durable_load drain <amqp url> <queue> <seconds>
//!     1 consumer (manual acks) takes from the backlog for <seconds>; nobody publishes
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().context("missing argument");
    let num = |i: usize| -> Result<u64> { Ok(arg(i)?.parse()?) };
    match arg(0)?.as_str() {
        "run" => run(&arg(1)?, &arg(2)?, num(3)?, num(4)?, num(5)?).await,
        "drain" => drain(&arg(1)?, &arg(2)?, num(3)?).await,
        "fill" => fill(&arg(1)?, &arg(2)?, num(3)?, num(4)?, num(5)?, num(6)?).await,
        "count" => {
            let conn = connect(&arg(1)?).await?;
            let ch = declare(&conn, &arg(2)?).await?;
            let q = ch
                .queue_declare(
                    arg(2)?.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            println!("{}", q.message_count());
            Ok(())
        }
        other => bail!("unknown mode {other}"),
    }
}

async fn connect(url: &str) -> Result<Connection> {
    Ok(Connection::connect(url, ConnectionProperties::default()).await?)
}

async fn declare(conn: &Connection, queue: &str) -> Result<Channel> {
    let ch = conn.create_channel().await?;
    let options = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    ch.queue_declare(queue.into(), options, FieldTable::default())
        .await?;
    Ok(ch)
}

/// Publishes until `stop` (or `limit` messages), keeping at most `window` unconfirmed.
async fn publish(
    url: String,
    queue: String,
    size: u64,
    window: u64,
    limit: u64,
    stop: Arc<AtomicBool>,
    confirmed: Arc<AtomicU64>,
) -> Result<()> {
    let conn = connect(&url).await?;
    let ch = declare(&conn, &queue).await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let body = vec![b'x'; usize::try_from(size)?];
    let props = BasicProperties::default().with_delivery_mode(2);
    let mut pending: std::collections::VecDeque<_> = std::collections::VecDeque::new();
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) && sent < limit {
        if pending.len() as u64 >= window {
            acked(pending.pop_front().context("window")?).await?;
            confirmed.fetch_add(1, Ordering::Relaxed);
        }
        let confirm = ch
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                props.clone(),
            )
            .await?;
        pending.push_back(confirm);
        sent += 1;
    }
    for confirm in pending {
        acked(confirm).await?;
        confirmed.fetch_add(1, Ordering::Relaxed);
    }
    conn.close(200, "done".into()).await?;
    Ok(())
}

async fn acked(
    confirm: impl std::future::Future<Output = lapin::Result<lapin::Confirmation>>,
) -> Result<()> {
    if !confirm.await?.is_ack() {
        bail!("nacked");
    }
    Ok(())
}

async fn consume(
    url: String,
    queue: String,
    stop: Arc<AtomicBool>,
    got: Arc<AtomicU64>,
) -> Result<()> {
    let conn = connect(&url).await?;
    let ch = declare(&conn, &queue).await?;
    ch.basic_qos(1000, BasicQosOptions::default()).await?;
    let mut consumer = ch
        .basic_consume(
            queue.as_str().into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let Ok(Some(delivery)) =
            tokio::time::timeout(Duration::from_millis(200), consumer.next()).await
        else {
            continue;
        };
        let delivery = delivery?;
        n += 1;
        got.fetch_add(1, Ordering::Relaxed);
        if n.is_multiple_of(100) {
            delivery.ack(BasicAckOptions { multiple: true }).await?;
        }
    }
    conn.close(200, "done".into()).await?;
    Ok(())
}

async fn run(url: &str, queue: &str, secs: u64, size: u64, window: u64) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let confirmed = Arc::new(AtomicU64::new(0));
    let got = Arc::new(AtomicU64::new(0));
    let consumer = tokio::spawn(consume(url.into(), queue.into(), stop.clone(), got.clone()));
    let publisher = tokio::spawn(publish(
        url.into(),
        queue.into(),
        size,
        window,
        u64::MAX,
        stop.clone(),
        confirmed.clone(),
    ));
    let started = Instant::now();
    // Skip the first second (connection set-up, warm-up), then measure.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (c0, g0, t0) = (
        confirmed.load(Ordering::Relaxed),
        got.load(Ordering::Relaxed),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (c1, g1, t1) = (
        confirmed.load(Ordering::Relaxed),
        got.load(Ordering::Relaxed),
        Instant::now(),
    );
    stop.store(true, Ordering::Relaxed);
    publisher.await??;
    consumer.await??;
    let dt = (t1 - t0).as_secs_f64();
    println!(
        "confirmed {:.0} msg/s, consumed {:.0} msg/s over {:.1} s ({} B bodies, window {window}; {:.1} s in all)",
        (c1 - c0) as f64 / dt,
        (g1 - g0) as f64 / dt,
        dt,
        size,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn fill(
    url: &str,
    queue: &str,
    count: u64,
    size: u64,
    window: u64,
    publishers: u64,
) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let confirmed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let each = count / publishers.max(1);
    let mut tasks = Vec::new();
    for _ in 0..publishers.max(1) {
        tasks.push(tokio::spawn(publish(
            url.into(),
            queue.into(),
            size,
            window,
            each,
            stop.clone(),
            confirmed.clone(),
        )));
    }
    for task in tasks {
        task.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let n = confirmed.load(Ordering::Relaxed);
    println!(
        "filled {n} messages of {size} B in {secs:.1} s ({:.0} msg/s)",
        n as f64 / secs
    );
    Ok(())
}

/// Consumes from an existing backlog for `secs` seconds (after a warm-up second).
async fn drain(url: &str, queue: &str, secs: u64) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let got = Arc::new(AtomicU64::new(0));
    let consumer = tokio::spawn(consume(url.into(), queue.into(), stop.clone(), got.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (g0, t0) = (got.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (g1, t1) = (got.load(Ordering::Relaxed), Instant::now());
    stop.store(true, Ordering::Relaxed);
    consumer.await??;
    let dt = (t1 - t0).as_secs_f64();
    println!(
        "consumed {:.0} msg/s from the backlog over {dt:.1} s",
        (g1 - g0) as f64 / dt
    );
    Ok(())
}
