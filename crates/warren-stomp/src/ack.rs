//! Deliveries become MESSAGE frames, and ACK and NACK settle them.
//!
//! A message id is `<consumer tag>@@<session>@@<n>` as in RabbitMQ, `n` counting this
//! connection's deliveries; ACK and NACK find the delivery by `n`. In `client` mode they settle
//! every earlier delivery of the same subscription too; in `client-individual` mode only that
//! one. NACK requeues unless `requeue:false`.

use bytes::BytesMut;
use warren_model::{Delivery, Settlement};

use crate::convert::message_headers;
use crate::destination::Destination;
use crate::errors::StompError;
use crate::frame::{Command, Frame, Version};
use crate::live::{AckMode, Live, Unacked};
use crate::outbox::OutEvent;
use crate::session::write;
use crate::subscribe::TOPIC_EXCHANGE;

/// Writes one delivery as a MESSAGE.
pub fn deliver(live: &mut Live, out: &mut BytesMut, d: Delivery) {
    let sub = d
        .consumer
        .as_ref()
        .and_then(|tag| live.by_tag.get(tag))
        .and_then(|id| live.subs.get(id));
    let Some(sub) = sub else {
        return d.queue.settle(&[d.seq], Settlement::Requeue);
    };
    let n = live.next_delivery;
    live.next_delivery += 1;
    let message_id = format!("{}@@{}@@{n}", sub.tag, live.session_id);
    let annotations = &d.message.annotations;
    let destination = Destination::of_message(
        &annotations.exchange,
        &annotations.routing_key,
        TOPIC_EXCHANGE,
    );
    let mut frame = Frame::new(Command::Message);
    if sub.has_id {
        frame.headers.push("subscription", sub.id.as_str());
    }
    frame.headers.push("destination", destination.to_string());
    frame.headers.push("message-id", message_id.as_str());
    frame.headers.push("redelivered", d.redelivered.to_string());
    if live.version == Version::V1_2 && sub.ack != AckMode::Auto {
        frame.headers.push("ack", message_id.as_str());
    }
    message_headers(&d.message, &mut frame.headers);
    frame.body = d.message.body.clone();
    write(out, &frame, live.version);
    if sub.ack != AckMode::Auto {
        let unacked = Unacked {
            subscription: sub.id.clone(),
            queue: d.queue,
            seq: d.seq,
        };
        live.unacked.insert(n, unacked);
    }
}

/// An event for a session that is gone: deliveries go back to their queue.
pub fn refuse(event: OutEvent) {
    if let OutEvent::Deliver(d) = event {
        d.queue.settle(&[d.seq], Settlement::Requeue);
    }
}

/// The number ending a message id.
fn delivery_number(frame: &Frame) -> Result<u64, StompError> {
    let invalid = || StompError::invalid(frame.command, "id");
    let id = frame
        .get("id")
        .or_else(|| frame.get("message-id"))
        .ok_or_else(invalid)?;
    let (_, n) = id.rsplit_once("@@").ok_or_else(invalid)?;
    n.parse().map_err(|_| invalid())
}

/// ACK or NACK (outside a transaction, or at its COMMIT).
pub fn settle(live: &mut Live, frame: &Frame, how: Settlement) -> Result<(), StompError> {
    let n = delivery_number(frame)?;
    let Some(entry) = live.unacked.get(&n) else {
        return Err(StompError::UnknownAck(format!(
            "PRECONDITION_FAILED - unknown delivery tag {n}"
        )));
    };
    let cumulative = live
        .subs
        .get(&entry.subscription)
        .is_some_and(|s| s.ack == AckMode::Client);
    if !cumulative {
        if let Some(entry) = live.unacked.remove(&n) {
            entry.settle(how);
        }
        return Ok(());
    }
    let sub = entry.subscription.clone();
    let due: Vec<u64> = live
        .unacked
        .range(..=n)
        .filter(|(_, u)| u.subscription == sub)
        .map(|(k, _)| *k)
        .collect();
    for k in due {
        if let Some(entry) = live.unacked.remove(&k) {
            entry.settle(how);
        }
    }
    Ok(())
}
