//! Slow consumers: clients that subscribe like the measured consumers, then read their socket
//! at a fixed byte rate and throw what they read away, as a client on a poor link does. The
//! measured consumers beside them show whether the broker lets one slow client hold back the
//! publishers, and with them everyone else (Mosquitto drops QoS 0 messages for a client whose
//! queue is full; RabbitMQ lets its queue grow).

use std::sync::Arc;
use std::time::Duration;

use crate::clients::Consumer;
use crate::control::{Control, Counter};
use crate::io::{ClientError, Reader, Writer};

/// How often a slow consumer reads.
const TICK: Duration = Duration::from_millis(10);

/// A subscribed client that reads slowly.
#[derive(Debug)]
pub struct SlowConsumer {
    reader: Reader,
    /// Held, not used: dropping the writing half would end the connection.
    _writer: Writer,
}

impl SlowConsumer {
    /// Takes over a connected, subscribed consumer's socket.
    pub fn new(consumer: Consumer) -> Self {
        let (reader, writer) = consumer.into_halves();
        Self {
            reader,
            _writer: writer,
        }
    }

    /// Reads `bytes_per_sec` a second, in a read every [`TICK`], until consumers are told to
    /// stop; counts the bytes in `read`.
    pub async fn run(
        mut self,
        ctl: Arc<Control>,
        bytes_per_sec: u64,
        read: Counter,
    ) -> Result<(), ClientError> {
        let per_tick = usize::try_from(bytes_per_sec / 100)
            .unwrap_or(usize::MAX)
            .max(1);
        let mut stop = ctl.consuming_stopped();
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.wait() => return Ok(()),
                _ = ticks.tick() => {}
            }
            tokio::select! {
                () = stop.wait() => return Ok(()),
                n = self.reader.discard(per_tick) => read.add(n? as u64),
            }
        }
    }
}
