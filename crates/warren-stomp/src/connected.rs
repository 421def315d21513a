//! Frames of a connected session: one function per command, and the RECEIPT each one owes.

use std::sync::Arc;

use warren_model::{DurableWrite, Settlement};

use crate::errors::StompError;
use crate::factory::Shared;
use crate::frame::{Command, Frame};
use crate::live::Live;
use crate::outbox::Outbox;
use crate::{ack, send, subscribe, tx};

/// What the session does after a frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    /// Read on.
    Continue,
    /// DISCONNECT: close once the RECEIPTs owed so far are sent.
    Disconnect,
}

/// Handles one frame after CONNECTED, queueing its RECEIPT.
pub fn handle(
    live: &mut Live,
    shared: &Shared,
    outbox: &Arc<Outbox>,
    frame: Frame,
) -> Result<Step, StompError> {
    let receipt = frame.get("receipt").map(str::to_owned);
    let mut write = None;
    let mut step = Step::Continue;
    match frame.command {
        Command::Send | Command::Ack | Command::Nack => match tx::of(&frame).map(str::to_owned) {
            Some(t) => {
                // Its RECEIPT follows when it takes effect, at COMMIT (as RabbitMQ).
                live.txs
                    .buffer(&t, frame, shared.config.max_transaction_bytes)?;
                return Ok(step);
            }
            None => write = apply(live, shared, outbox, frame)?,
        },
        Command::Subscribe => subscribe::subscribe(live, shared, outbox, &frame)?,
        Command::Unsubscribe => subscribe::unsubscribe(live, &frame)?,
        Command::Begin => live.txs.begin(&frame, shared.config.max_transactions)?,
        Command::Commit => commit(live, shared, outbox, &frame)?,
        Command::Abort => drop(live.txs.end(&frame)?),
        Command::Disconnect => step = Step::Disconnect,
        Command::Connect | Command::Stomp => {
            return Err(StompError::Protocol("Already connected".into()))
        }
        Command::Connected | Command::Message | Command::Receipt | Command::Error => {
            return Err(StompError::Protocol(format!(
                "{} is a frame only a server sends",
                frame.command.name()
            )))
        }
    }
    if let Some(receipt) = receipt {
        live.receipts.push(receipt, write, outbox);
    }
    Ok(step)
}

/// COMMIT: the buffered frames in order, each with its own RECEIPT.
fn commit(
    live: &mut Live,
    shared: &Shared,
    outbox: &Arc<Outbox>,
    frame: &Frame,
) -> Result<(), StompError> {
    for buffered in live.txs.end(frame)? {
        let receipt = buffered.get("receipt").map(str::to_owned);
        let write = apply(live, shared, outbox, buffered)?;
        if let Some(receipt) = receipt {
            live.receipts.push(receipt, write, outbox);
        }
    }
    Ok(())
}

/// A SEND, ACK or NACK, outside a transaction or at its COMMIT; a SEND may have started a
/// write to disk.
fn apply(
    live: &mut Live,
    shared: &Shared,
    outbox: &Arc<Outbox>,
    frame: Frame,
) -> Result<Option<Box<dyn DurableWrite>>, StompError> {
    let how = match frame.command {
        Command::Send => return send::send(live, shared, outbox, frame),
        Command::Ack => Settlement::Ack,
        _ if frame.get("requeue") == Some("false") => Settlement::Discard,
        _ => Settlement::Requeue,
    };
    ack::settle(live, &frame, how)?;
    Ok(None)
}
