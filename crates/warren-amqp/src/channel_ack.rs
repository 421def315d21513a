//! basic.ack, basic.nack, basic.reject and basic.recover: settling deliveries by tag.
//!
//! Tags follow RabbitMQ's rules: the tag must be outstanding (else 406 "unknown delivery
//! tag N", which also covers a second ack of the same tag); `multiple` settles every
//! outstanding tag up to it; tag 0 with `multiple` settles all. Inside a transaction the
//! settlement is checked now and applied at commit.

use std::sync::Arc;

use amq_protocol::protocol::{basic, AMQPClass};
use warren_model::{QueueHandle, QueueSeq, Settlement};

use crate::channel::{Channel, Unacked};
use crate::env::Out;
use crate::errors::{AmqpError, NOT_IMPLEMENTED, PRECONDITION_FAILED};

/// Settles `tag` (and earlier ones with `multiple`) as `how`.
pub fn ack(
    channel: &mut Channel,
    tag: u64,
    multiple: bool,
    how: Settlement,
) -> Result<(), AmqpError> {
    let taken = take_tags(channel, tag, multiple)?;
    match channel.tx.as_mut() {
        Some(tx) => tx.add_settlement(taken, how),
        None => {
            settle_grouped(taken.iter().map(|(_, u)| u), how);
            resume_shared_window(channel);
        }
    }
    Ok(())
}

/// Settling frees credit in the channel-wide window (`global=true`), which consumers on
/// other queues of this channel may be waiting for: the settled queues re-dispatch by
/// themselves, the others need a kick.
pub fn resume_shared_window(channel: &Channel) {
    if channel.shared_credit.limit() == 0 {
        return;
    }
    for queue in channel.consumed_queues() {
        queue.kick();
    }
}

fn take_tags(
    channel: &mut Channel,
    tag: u64,
    multiple: bool,
) -> Result<Vec<(u64, Unacked)>, AmqpError> {
    if tag == 0 && multiple {
        return Ok(std::mem::take(&mut channel.unacked).into_iter().collect());
    }
    if !channel.unacked.contains_key(&tag) {
        return Err(AmqpError::new(
            PRECONDITION_FAILED,
            format!("unknown delivery tag {tag}"),
        ));
    }
    if !multiple {
        return Ok(channel
            .unacked
            .remove(&tag)
            .map(|u| (tag, u))
            .into_iter()
            .collect());
    }
    let rest = channel.unacked.split_off(&(tag + 1));
    let taken = std::mem::replace(&mut channel.unacked, rest);
    Ok(taken.into_iter().collect())
}

/// basic.recover: requeue everything unacknowledged. RabbitMQ refuses `requeue=false`.
pub fn recover(
    channel: &mut Channel,
    requeue: bool,
    reply: bool,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    if !requeue {
        return Err(AmqpError::new(NOT_IMPLEMENTED, "requeue=false"));
    }
    let taken = std::mem::take(&mut channel.unacked);
    settle_grouped(taken.values(), Settlement::Requeue);
    resume_shared_window(channel);
    if reply {
        let ok = basic::AMQPMethod::RecoverOk(basic::RecoverOk {});
        out.method(channel.id, AMQPClass::Basic(ok));
    }
    Ok(())
}

/// Settles deliveries with one call per queue.
pub fn settle_grouped<'a>(items: impl IntoIterator<Item = &'a Unacked>, how: Settlement) {
    let mut groups: Vec<(Arc<dyn QueueHandle>, Vec<QueueSeq>)> = Vec::new();
    for item in items {
        match groups.iter_mut().find(|(q, _)| same_queue(q, &item.queue)) {
            Some((_, seqs)) => seqs.push(item.seq),
            None => groups.push((Arc::clone(&item.queue), vec![item.seq])),
        }
    }
    for (queue, seqs) in groups {
        queue.settle(&seqs, how);
    }
}

/// Compares queue handles by address only: vtable pointers may differ across codegen units.
fn same_queue(a: &Arc<dyn QueueHandle>, b: &Arc<dyn QueueHandle>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}
