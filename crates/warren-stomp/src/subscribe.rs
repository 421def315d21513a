//! SUBSCRIBE and UNSUBSCRIBE: a destination becomes a queue to consume (declared, checked or
//! made and bound, see [`crate::destination`]) and a consumer with the frame's ack mode and
//! `prefetch-count`.
//!
//! `/topic` and `/exchange` subscriptions get a server-named exclusive queue that goes with
//! the subscription; with `durable:true` (or `persistent:true`) and an `id` they get a durable
//! queue named by `x-queue-name`, else `stomp-subscription-<hash of destination and id>`, which
//! outlives the connection and is deleted by an UNSUBSCRIBE with `durable:true`.

use std::sync::Arc;

use warren_model::{
    BindingSpec, ConsumeSpec, ConsumerTag, Consumption, Destination as Target, ExchangeName,
    ExchangeSpec, FieldTable, QueueName, QueueSpec, RoutingKey,
};

use crate::convert::queue_arguments;
use crate::destination::Destination;
use crate::errors::StompError;
use crate::factory::Shared;
use crate::frame::{Command, Frame};
use crate::live::{AckMode, Live, Subscription};
use crate::outbox::{Outbox, SessionSink};

/// The exchange `/topic` destinations use.
pub const TOPIC_EXCHANGE: &str = "amq.topic";

fn flag(frame: &Frame, name: &str) -> bool {
    frame.get(name) == Some("true")
}

fn wants_durable(frame: &Frame) -> bool {
    flag(frame, "durable") || flag(frame, "persistent")
}

/// SUBSCRIBE.
pub fn subscribe(
    live: &mut Live,
    shared: &Shared,
    outbox: &Arc<Outbox>,
    frame: &Frame,
) -> Result<(), StompError> {
    let text = frame
        .get("destination")
        .ok_or_else(|| StompError::missing(Command::Subscribe, "destination"))?;
    let destination = Destination::parse(text)?;
    let (id, has_id) = frame.get("id").map_or((text, false), |id| (id, true));
    if live.subs.contains_key(id) {
        return Err(StompError::DuplicateSubscription(id.to_owned()));
    }
    if live.subs.len() >= shared.config.max_subscriptions {
        return Err(StompError::Limit(format!(
            "more than {} subscriptions",
            shared.config.max_subscriptions
        )));
    }
    let ack = AckMode::parse(frame.get("ack")).ok_or_else(|| {
        StompError::Header(format!(
            "Invalid ack header '{}'",
            frame.get("ack").unwrap_or_default()
        ))
    })?;
    let prefetch = prefetch(frame)?;
    let (queue, durable_queue) = subscription_queue(live, &destination, frame, id, has_id)?;
    let tag = if has_id {
        format!("T_{id}")
    } else {
        format!("Q_{text}")
    };
    let tag = ConsumerTag::try_from(tag)?;
    let spec = ConsumeSpec {
        tag: tag.clone(),
        no_ack: ack == AckMode::Auto,
        exclusive: flag(frame, "exclusive"),
        prefetch: if ack == AckMode::Auto { 0 } else { prefetch },
        shared_credit: None,
        arguments: FieldTable::new(),
    };
    let consumption = consume(live, outbox, &queue, spec)?;
    let sub = Subscription {
        id: id.to_owned(),
        has_id,
        ack,
        tag,
        consumption,
        durable_queue,
    };
    add(live, sub);
    Ok(())
}

fn prefetch(frame: &Frame) -> Result<u32, StompError> {
    frame.get("prefetch-count").map_or(Ok(0), |v| {
        v.trim()
            .parse()
            .map_err(|_| StompError::Header(format!("Invalid prefetch-count '{v}'")))
    })
}

/// Registers a subscription.
pub fn add(live: &mut Live, sub: Subscription) {
    live.by_tag.insert(sub.tag.clone(), sub.id.clone());
    live.subs.insert(sub.id.clone(), sub);
}

/// Adds a consumer delivering to this connection's outbox.
pub fn consume(
    live: &Live,
    outbox: &Arc<Outbox>,
    queue: &QueueName,
    spec: ConsumeSpec,
) -> Result<Consumption, StompError> {
    let sink = Arc::new(SessionSink(Arc::clone(outbox)));
    Ok(live.vhost.consume(queue, spec, sink, live.conn)?)
}

/// Declares `/queue/{name}`: durable unless `durable:false`, with the frame's queue arguments.
pub fn declare_named(live: &Live, name: &str, frame: &Frame) -> Result<QueueName, StompError> {
    let spec = QueueSpec {
        name: Some(QueueName::try_from(name)?),
        durable: frame.get("durable") != Some("false"),
        exclusive: flag(frame, "exclusive"),
        auto_delete: flag(frame, "auto-delete"),
        arguments: queue_arguments(&frame.headers)?,
    };
    Ok(live.vhost.declare_queue(spec, false, live.conn)?.name)
}

/// The queue a subscription consumes, and the durable queue it owns, if any.
fn subscription_queue(
    live: &Live,
    destination: &Destination,
    frame: &Frame,
    id: &str,
    has_id: bool,
) -> Result<(QueueName, Option<QueueName>), StompError> {
    match destination {
        Destination::Queue(q) => Ok((declare_named(live, q, frame)?, None)),
        Destination::AmqQueue(q) => {
            let spec = QueueSpec {
                name: Some(QueueName::try_from(q.as_str())?),
                durable: false,
                exclusive: false,
                auto_delete: false,
                arguments: FieldTable::new(),
            };
            Ok((live.vhost.declare_queue(spec, true, live.conn)?.name, None))
        }
        Destination::Topic(key) => bound_queue(live, TOPIC_EXCHANGE, key, frame, id, has_id),
        Destination::Exchange(x, key) => bound_queue(live, x, key, frame, id, has_id),
        Destination::TempQueue(_) | Destination::ReplyQueue(_) => Err(StompError::Destination(
            format!("'{destination}' is not a valid destination for 'SUBSCRIBE'"),
        )),
    }
}

fn bound_queue(
    live: &Live,
    exchange: &str,
    key: &str,
    frame: &Frame,
    id: &str,
    has_id: bool,
) -> Result<(QueueName, Option<QueueName>), StompError> {
    let exchange = ExchangeName::try_from(exchange)?;
    check_exchange(live, &exchange)?;
    let durable = wants_durable(frame);
    if durable && !has_id {
        return Err(StompError::durable_without_id());
    }
    let name = match frame.get("x-queue-name") {
        Some(name) => Some(QueueName::try_from(name)?),
        None if durable => Some(durable_name(
            frame.get("destination").unwrap_or_default(),
            id,
        )?),
        None => None,
    };
    let spec = QueueSpec {
        name,
        durable,
        exclusive: !durable,
        auto_delete: !durable,
        arguments: queue_arguments(&frame.headers)?,
    };
    let queue = live.vhost.declare_queue(spec, false, live.conn)?.name;
    let binding = BindingSpec {
        source: exchange,
        destination: Target::Queue(queue.clone()),
        routing_key: RoutingKey::try_from(key)?,
        arguments: FieldTable::new(),
    };
    live.vhost.bind(binding, live.conn)?;
    Ok((queue.clone(), durable.then_some(queue)))
}

/// The exchange must exist before a queue is made for it.
fn check_exchange(live: &Live, exchange: &ExchangeName) -> Result<(), StompError> {
    let spec = ExchangeSpec {
        name: exchange.clone(),
        kind: "topic".into(),
        durable: false,
        auto_delete: false,
        internal: false,
        arguments: FieldTable::new(),
    };
    Ok(live.vhost.declare_exchange(spec, true)?)
}

/// `stomp-subscription-` and a stable 64-bit FNV-1a hash of destination and id.
fn durable_name(destination: &str, id: &str) -> Result<QueueName, StompError> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in destination.bytes().chain([0]).chain(id.bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Ok(QueueName::try_from(format!(
        "stomp-subscription-{hash:016x}"
    ))?)
}

/// UNSUBSCRIBE. Messages awaiting ACK stay so, and may still be acknowledged.
pub fn unsubscribe(live: &mut Live, frame: &Frame) -> Result<(), StompError> {
    let id = frame
        .get("id")
        .or_else(|| frame.get("destination"))
        .ok_or_else(StompError::unsubscribe_without_id)?;
    let sub = live
        .subs
        .remove(id)
        .ok_or_else(|| StompError::Subscription(format!("Subscription to '{id}' not found")))?;
    live.by_tag.remove(&sub.tag);
    sub.consumption.queue.cancel(sub.consumption.id);
    if let Some(queue) = sub.durable_queue.filter(|_| wants_durable(frame)) {
        live.vhost.delete_queue(&queue, false, false, live.conn)?;
    }
    Ok(())
}

/// The core cancelled a consumer (its queue was deleted): the client is told by ERROR.
pub fn cancelled(live: &mut Live, tag: &ConsumerTag) -> Option<StompError> {
    let id = live.by_tag.remove(tag)?;
    live.subs.remove(&id)?;
    Some(StompError::Subscription(format!(
        "Subscription '{id}' was cancelled: its queue was deleted"
    )))
}

/// Asks every subscribed queue to deliver again (after output drained).
pub fn kick(live: &Live) {
    for sub in live.subs.values() {
        sub.consumption.queue.kick();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_names_are_stable_and_distinct() {
        let a = durable_name("/topic/a", "s1").unwrap();
        assert_eq!(a, durable_name("/topic/a", "s1").unwrap());
        assert_ne!(a, durable_name("/topic/a", "s2").unwrap());
        assert_ne!(a, durable_name("/topic/a/", "1").unwrap());
        assert!(a.as_str().starts_with("stomp-subscription-"));
    }
}
