//! tx.select, tx.commit and tx.rollback: publishes and settlements are buffered in the
//! channel and applied on commit, dropped on rollback (settled messages go back to being
//! unacknowledged, as in RabbitMQ).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use amq_protocol::protocol::{tx, AMQPClass};
use warren_model::{DurableWrite, ExchangeName, Message, Settlement};

use crate::channel::{Channel, Unacked};
use crate::channel_ack::{resume_shared_window, settle_grouped};
use crate::channel_publish::route;
use crate::env::{Env, Out};
use crate::errors::{AmqpError, INTERNAL_ERROR, PRECONDITION_FAILED};

/// A publish held until commit.
pub struct HeldPublish {
    /// Target exchange.
    pub exchange: ExchangeName,
    /// The message.
    pub message: Arc<Message>,
    /// Return it when unroutable.
    pub mandatory: bool,
}

/// Most body bytes one transaction may hold before commit. RabbitMQ has no such limit; without
/// one, a client that never commits grows broker memory without bound.
pub const MAX_TX_BYTES: usize = 256 * 1024 * 1024;

/// What a transactional channel has buffered since its last commit or rollback.
#[derive(Default)]
pub struct TxBuffer {
    publishes: Vec<HeldPublish>,
    publish_bytes: usize,
    settlements: Vec<(Vec<(u64, Unacked)>, Settlement)>,
}

impl TxBuffer {
    /// Holds a publish; refuses (406, closing the channel) past [`MAX_TX_BYTES`].
    pub fn add_publish(&mut self, held: HeldPublish) -> Result<(), AmqpError> {
        let bytes = self.publish_bytes.saturating_add(held.message.body.len());
        if bytes > MAX_TX_BYTES {
            return Err(AmqpError::new(
                PRECONDITION_FAILED,
                format!("transaction holds more than {MAX_TX_BYTES} bytes of messages"),
            ));
        }
        self.publish_bytes = bytes;
        self.publishes.push(held);
        Ok(())
    }

    /// Holds a settlement of already-validated deliveries.
    pub fn add_settlement(&mut self, items: Vec<(u64, Unacked)>, how: Settlement) {
        self.settlements.push((items, how));
    }

    /// The deliveries whose settlement is held, for requeue when the channel goes.
    pub fn into_held_acks(self) -> Vec<Unacked> {
        self.settlements
            .into_iter()
            .flat_map(|(items, _)| items.into_iter().map(|(_, u)| u))
            .collect()
    }
}

/// Dispatches the tx class.
pub fn handle(
    channel: &mut Channel,
    method: tx::AMQPMethod,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    match method {
        tx::AMQPMethod::Select(_) => select(channel, out),
        tx::AMQPMethod::Commit(_) => commit(channel, env, out),
        tx::AMQPMethod::Rollback(_) => rollback(channel, out),
        _ => Err(AmqpError::hard(
            crate::errors::COMMAND_INVALID,
            "tx method not valid from a client",
        )),
    }
}

fn select(channel: &mut Channel, out: &mut Out<'_>) -> Result<(), AmqpError> {
    if channel.confirms.is_some() {
        return Err(AmqpError::new(
            PRECONDITION_FAILED,
            "cannot switch from confirm to tx mode",
        ));
    }
    channel.tx.get_or_insert_with(TxBuffer::default);
    reply(channel.id, tx::AMQPMethod::SelectOk(tx::SelectOk {}), out);
    Ok(())
}

fn commit(channel: &mut Channel, env: &Env<'_>, out: &mut Out<'_>) -> Result<(), AmqpError> {
    let buffer = channel
        .tx
        .as_mut()
        .map(std::mem::take)
        .ok_or_else(not_transactional)?;
    for (items, how) in buffer.settlements {
        settle_grouped(items.iter().map(|(_, u)| u), how);
    }
    resume_shared_window(channel);
    let mut last_write = None;
    for held in buffer.publishes {
        if let Some(write) = route(channel, &held, env, out)? {
            last_write = Some(write);
        }
    }
    match last_write {
        // Writes complete in order: the last one done means every one is on disk.
        Some(write) => channel.commit_wait = Some(CommitWait::start(write, env)),
        None => reply(channel.id, tx::AMQPMethod::CommitOk(tx::CommitOk {}), out),
    }
    Ok(())
}

/// A commit whose persistent messages are being written: `commit-ok` goes once they are.
#[derive(Debug)]
pub struct CommitWait(Arc<AtomicU8>);

const WAITING: u8 = 0;
const DONE: u8 = 1;
const FAILED: u8 = 2;

impl CommitWait {
    fn start(write: Box<dyn DurableWrite>, env: &Env<'_>) -> Self {
        let state = Arc::new(AtomicU8::new(WAITING));
        let (done, waker) = (Arc::clone(&state), env.outbox.waker());
        write.on_durable(Box::new(move |result| {
            done.store(
                if result.is_ok() { DONE } else { FAILED },
                Ordering::Release,
            );
            waker.wake();
        }));
        Self(state)
    }
}

/// Sends the `commit-ok` of a commit whose writes are done; a failed write closes the channel
/// instead (541), so the commit is never confirmed.
pub fn flush_commit(channel: &mut Channel, out: &mut Out<'_>) {
    let Some(wait) = &channel.commit_wait else {
        return;
    };
    match wait.0.load(Ordering::Acquire) {
        DONE => {
            channel.commit_wait = None;
            reply(channel.id, tx::AMQPMethod::CommitOk(tx::CommitOk {}), out);
        }
        FAILED => {
            channel.commit_wait = None;
            let err = AmqpError::new(INTERNAL_ERROR, "message store failed: commit not stored");
            channel.close_with(&err, 90, 20, out);
        }
        _ => {}
    }
}

fn rollback(channel: &mut Channel, out: &mut Out<'_>) -> Result<(), AmqpError> {
    let buffer = channel
        .tx
        .as_mut()
        .map(std::mem::take)
        .ok_or_else(not_transactional)?;
    for (items, _) in buffer.settlements {
        channel.unacked.extend(items);
    }
    reply(
        channel.id,
        tx::AMQPMethod::RollbackOk(tx::RollbackOk {}),
        out,
    );
    Ok(())
}

fn not_transactional() -> AmqpError {
    AmqpError::new(PRECONDITION_FAILED, "channel is not transactional")
}

fn reply(channel: u16, method: tx::AMQPMethod, out: &mut Out<'_>) {
    out.method(channel, AMQPClass::Tx(method));
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use warren_model::{Annotations, Properties, RoutingKey};

    use super::*;

    fn held(body: &Bytes) -> HeldPublish {
        let message = Message {
            annotations: Annotations {
                exchange: ExchangeName::default_exchange(),
                routing_key: RoutingKey::empty(),
                publisher: None,
            },
            properties: Properties::default(),
            body: body.clone(),
        };
        HeldPublish {
            exchange: ExchangeName::default_exchange(),
            message: Arc::new(message),
            mandatory: false,
        }
    }

    #[test]
    fn a_transaction_past_its_byte_limit_is_refused() {
        // One shared body, so the test itself stays small.
        let quarter = Bytes::from(vec![0u8; MAX_TX_BYTES / 4]);
        let mut buffer = TxBuffer::default();
        for _ in 0..4 {
            buffer.add_publish(held(&quarter)).unwrap();
        }
        let refused = buffer
            .add_publish(held(&Bytes::from_static(b"x")))
            .unwrap_err();
        assert!(
            refused.to_string().contains("transaction holds more than"),
            "{refused}"
        );
        assert_eq!(buffer.publishes.len(), 4);
    }
}
