//! Many idle connections, held open (with MQTT keep alive) while the run goes on.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::control::{Control, Counter};
use crate::io::{ClientError, Reader, Writer, IDLE_BUFFER};
use crate::options::{Options, Protocol};
use crate::{amqp, mqtt, stomp};

/// Connections being opened at the same time.
const OPENING: usize = 64;
/// MQTT keep alive of an idle connection; it pings at half of it.
const KEEP_ALIVE_S: u16 = 60;

/// The idle connections of a run.
#[derive(Debug)]
pub struct Idle {
    tasks: JoinSet<Result<(), ClientError>>,
    opened: Counter,
    failed: Counter,
    count: usize,
}

impl Idle {
    /// Starts opening `options.idle` connections of the publishers' protocol.
    pub fn spawn(options: &Options, ctl: &Arc<Control>, run: &str) -> Self {
        let mut tasks = JoinSet::new();
        let opening = Arc::new(Semaphore::new(OPENING));
        let (opened, failed) = (Counter::default(), Counter::default());
        let options = Arc::new(options.clone());
        for index in 0..options.idle {
            let id = format!("wb-{run}-i{index}");
            let (options, ctl, opening) = (options.clone(), ctl.clone(), opening.clone());
            let (opened, failed) = (opened.clone(), failed.clone());
            tasks.spawn(async move {
                let permit = opening.acquire_owned().await;
                let conn = open(&options, &id).await.inspect_err(|_| failed.add(1))?;
                drop(permit);
                opened.add(1);
                hold(conn, options.protocol, &ctl).await
            });
        }
        Self {
            tasks,
            opened,
            failed,
            count: options.idle,
        }
    }

    /// Waits until every connection is open or has failed; returns how many failed.
    pub async fn wait_open(&self) -> u64 {
        while self.opened.get() + self.failed.get() < self.count as u64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.failed.get()
    }

    /// Waits for every connection to close (after the consumers' stop signal); the errors of
    /// connections that failed while held.
    pub async fn join(mut self) -> Vec<String> {
        let mut errors = Vec::new();
        while let Some(result) = self.tasks.join_next().await {
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(format!("idle connection: {e}")),
                Err(e) => errors.push(format!("idle task: {e}")),
            }
        }
        errors
    }
}

async fn open(options: &Options, id: &str) -> Result<(Reader, Writer), ClientError> {
    let port = options.publish_port();
    Ok(match options.protocol {
        Protocol::Amqp => {
            let c = amqp::Connection::open(options, port, IDLE_BUFFER).await?;
            (c.reader, c.writer)
        }
        Protocol::Mqtt => {
            let c = mqtt::Connection::open(options, port, id, KEEP_ALIVE_S, IDLE_BUFFER).await?;
            (c.reader, c.writer)
        }
        Protocol::Stomp => {
            let c = stomp::Connection::open(options, port, IDLE_BUFFER).await?;
            (c.reader, c.writer)
        }
    })
}

/// Holds a connection until consumers are told to stop, discarding what arrives and pinging
/// an MQTT broker within the keep alive.
async fn hold(
    (mut reader, mut writer): (Reader, Writer),
    protocol: Protocol,
    ctl: &Control,
) -> Result<(), ClientError> {
    reader.shrink();
    let mut stop = ctl.consuming_stopped();
    let ping_every = Duration::from_secs(u64::from(KEEP_ALIVE_S / 2));
    let mut out = BytesMut::new();
    loop {
        tokio::select! {
            r = reader.fill() => { r?; reader.buf.clear(); }
            () = tokio::time::sleep(ping_every), if protocol == Protocol::Mqtt => {
                out.clear();
                mqtt::wire::ping(&mut out);
                writer.send(&out).await?;
            }
            () = stop.wait() => return Ok(()),
        }
    }
}
