//! basic.qos, basic.consume, basic.cancel, basic.get, and the deliveries and cancel
//! notifications the core pushes for this channel's consumers.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use amq_protocol::protocol::{basic, AMQPClass};
use warren_model::{ConsumeSpec, ConsumerTag, Delivery, Message, Settlement};

use crate::channel::{Channel, ConsumerEntry, Unacked};
use crate::channel_declare::queue_name;
use crate::codec::DeliverFields;
use crate::convert::{short, table_from_amqp};
use crate::env::{Env, Out};
use crate::errors::{AmqpError, NOT_ALLOWED, NOT_IMPLEMENTED};
use crate::guard::qos_prefetch_size;
use crate::outbox::ConsumerSink;

/// basic.qos. `global=false` sets the prefetch of consumers created afterwards,
/// `global=true` the window shared by the channel's consumers. RabbitMQ refuses a non-zero
/// `prefetch-size` (which amq-protocol drops, so it is read from the raw payload).
pub fn qos(
    channel: &mut Channel,
    m: &basic::Qos,
    args: &[u8],
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    let size = qos_prefetch_size(args).unwrap_or(0);
    if size != 0 {
        return Err(AmqpError::new(
            NOT_IMPLEMENTED,
            format!("prefetch_size!=0 ({size})"),
        ));
    }
    let count = u32::from(m.prefetch_count);
    if m.global {
        channel.shared_credit.set_limit(count);
        for queue in channel.consumed_queues() {
            queue.kick();
        }
    } else {
        channel.prefetch = count;
    }
    out.method(
        channel.id,
        AMQPClass::Basic(basic::AMQPMethod::QosOk(basic::QosOk {})),
    );
    Ok(())
}

/// basic.consume. A reused tag is a connection error (530), as in RabbitMQ.
pub fn consume(
    channel: &mut Channel,
    m: basic::Consume,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    let queue = queue_name(channel, m.queue.as_str())?;
    let tag = match m.consumer_tag.as_str() {
        "" => ConsumerTag::try_from(generated_tag())?,
        given => ConsumerTag::try_from(given)?,
    };
    if channel.consumers.contains_key(&tag) {
        return Err(AmqpError::hard(
            NOT_ALLOWED,
            format!("attempt to reuse consumer tag '{tag}'"),
        ));
    }
    let spec = ConsumeSpec {
        tag: tag.clone(),
        no_ack: m.no_ack,
        exclusive: m.exclusive,
        prefetch: channel.prefetch,
        shared_credit: Some(Arc::clone(&channel.shared_credit)),
        arguments: table_from_amqp(&m.arguments),
    };
    let sink = Arc::new(ConsumerSink::new(channel.id, Arc::clone(env.outbox)));
    let consumption = env.vhost.consume(&queue, spec, sink, env.conn)?;
    channel.consumers.insert(
        tag.clone(),
        ConsumerEntry {
            consumption,
            no_ack: m.no_ack,
        },
    );
    if !m.nowait {
        let ok = basic::ConsumeOk {
            consumer_tag: short(tag.as_str()),
        };
        out.method(
            channel.id,
            AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(ok)),
        );
    }
    Ok(())
}

/// `amq.ctag-` and 22 url-safe characters, as RabbitMQ names consumers.
fn generated_tag() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = [0u64; 2].map(|_| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u8(0);
        hasher.finish()
    });
    let mut tag = String::from("amq.ctag-");
    for i in 0..22 {
        let word = &mut bits[i % 2];
        let index = usize::try_from(*word & 63).unwrap_or(0);
        tag.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'A')));
        *word >>= 6;
    }
    tag
}

/// basic.cancel. An unknown tag is not an error (RabbitMQ answers cancel-ok).
pub fn cancel(
    channel: &mut Channel,
    m: &basic::Cancel,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    if let Ok(tag) = ConsumerTag::try_from(m.consumer_tag.as_str()) {
        if let Some(entry) = channel.consumers.remove(&tag) {
            entry.consumption.queue.cancel(entry.consumption.id);
        }
    }
    if !m.nowait {
        let ok = basic::CancelOk {
            consumer_tag: m.consumer_tag.clone(),
        };
        out.method(
            channel.id,
            AMQPClass::Basic(basic::AMQPMethod::CancelOk(ok)),
        );
    }
    Ok(())
}

/// basic.get: one message (get-ok with content) or get-empty.
pub fn get(
    channel: &mut Channel,
    m: &basic::Get,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    let queue = queue_name(channel, m.queue.as_str())?;
    let Some((delivery, message_count)) = env.vhost.get(&queue, m.no_ack, env.conn)? else {
        let empty = basic::AMQPMethod::GetEmpty(basic::GetEmpty {});
        out.method(channel.id, AMQPClass::Basic(empty));
        return Ok(());
    };
    let tag = channel.next_tag();
    if !m.no_ack {
        channel.unacked.insert(tag, unacked(&delivery));
    }
    let msg = &delivery.message;
    let ok = basic::GetOk {
        delivery_tag: tag,
        redelivered: delivery.redelivered,
        exchange: short(msg.annotations.exchange.as_str()),
        routing_key: short(msg.annotations.routing_key.as_str()),
        message_count,
    };
    out.method(channel.id, AMQPClass::Basic(basic::AMQPMethod::GetOk(ok)));
    send_content(channel.id, msg, out);
    Ok(())
}

fn unacked(delivery: &Delivery) -> Unacked {
    Unacked {
        queue: Arc::clone(&delivery.queue),
        seq: delivery.seq,
    }
}

fn send_content(channel: u16, msg: &Message, out: &mut Out<'_>) {
    out.content(channel, &msg.properties, &msg.body);
}

/// Sends a delivery pushed by the core; one for a consumer that is gone goes back.
pub fn deliver(channel: &mut Channel, delivery: Delivery, out: &mut Out<'_>) {
    // The tag is borrowed from the delivery, not cloned: a generated tag is longer than a
    // name held inline, and its clone would count its shared string up and down once more
    // per delivery, on a count the queue's thread writes too.
    let entry = delivery
        .consumer
        .as_ref()
        .and_then(|tag| channel.consumers.get(tag).map(|e| (tag, e.no_ack)));
    let Some((tag, no_ack)) = entry else {
        delivery.queue.settle(&[delivery.seq], Settlement::Requeue);
        return;
    };
    let delivery_tag = channel.next_tag();
    if !no_ack {
        channel.unacked.insert(delivery_tag, unacked(&delivery));
    }
    let msg = &delivery.message;
    let method = DeliverFields {
        consumer_tag: tag.as_str(),
        delivery_tag,
        redelivered: delivery.redelivered,
        exchange: msg.annotations.exchange.as_str(),
        routing_key: msg.annotations.routing_key.as_str(),
    };
    out.deliver(channel.id, &method);
    send_content(channel.id, msg, out);
}

/// The core cancelled a consumer; tell clients that asked to be told.
pub fn cancelled(channel: &mut Channel, tag: &ConsumerTag, notify: bool, out: &mut Out<'_>) {
    if channel.consumers.remove(tag).is_none() || !notify {
        return;
    }
    let cancel = basic::Cancel {
        consumer_tag: short(tag.as_str()),
        nowait: true,
    };
    out.method(
        channel.id,
        AMQPClass::Basic(basic::AMQPMethod::Cancel(cancel)),
    );
}
