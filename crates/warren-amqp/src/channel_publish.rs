//! basic.publish with its content, confirm.select and publisher confirms.
//!
//! A publish is a method frame, a content header and body frames (spec 4.2.6); the body is
//! assembled from [`Bytes`] chunks of the read buffer, copied only when it spans frames.
//! Confirms are counted per channel and sent coalesced (`multiple`) when a batch of input was
//! handled; a mandatory message that routed nowhere gets its `basic.return` before the ack.

use std::sync::Arc;

use amq_protocol::protocol::{basic, confirm, AMQPClass};
use bytes::{Bytes, BytesMut};
use warren_model::{Annotations, DurableWrite, ExchangeName, Message, Properties, RoutingKey};

use crate::channel::{Channel, Confirms};
use crate::channel_tx::HeldPublish;
use crate::codec::PublishMethod;
use crate::confirms::{Ready, Wait};
use crate::content::ContentHeader;
use crate::convert::short;
use crate::env::{Env, Out};
use crate::errors::{
    AmqpError, FRAME_ERROR, NOT_IMPLEMENTED, NO_ROUTE, PRECONDITION_FAILED, UNEXPECTED_FRAME,
};

/// RabbitMQ's default `max_message_size`.
pub const MAX_MESSAGE_SIZE: u64 = 128 * 1024 * 1024;
const BASIC_CLASS: u16 = 60;

/// A publish waiting for its content.
pub struct PendingPublish {
    exchange: ExchangeName,
    routing_key: RoutingKey,
    mandatory: bool,
    header: Option<(u64, Properties)>,
    /// The body's frames: most bodies are one, held without a list (an allocation per
    /// message); `more` gets the second and later.
    first: Option<Bytes>,
    more: Vec<Bytes>,
    received: u64,
}

/// basic.publish: remember the method until its content arrives.
pub fn start(
    channel: &mut Channel,
    method: PublishMethod,
    _env: &Env<'_>,
) -> Result<(), AmqpError> {
    if method.immediate {
        return Err(AmqpError::new(NOT_IMPLEMENTED, "immediate=true"));
    }
    channel.pending = Some(PendingPublish {
        exchange: method.exchange,
        routing_key: method.routing_key,
        mandatory: method.mandatory,
        header: None,
        first: None,
        more: Vec::new(),
        received: 0,
    });
    Ok(())
}

/// A content header frame for this channel.
pub fn header(
    channel: &mut Channel,
    header: ContentHeader,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    let Some(pending) = channel.pending.as_mut().filter(|p| p.header.is_none()) else {
        return Err(unexpected("content header"));
    };
    if header.class_id != BASIC_CLASS {
        return Err(unexpected("content header for a class other than basic"));
    }
    if header.body_size > MAX_MESSAGE_SIZE {
        channel.pending = None;
        return Err(AmqpError::new(
            PRECONDITION_FAILED,
            format!(
                "message size {} is larger than configured max size {MAX_MESSAGE_SIZE}",
                header.body_size
            ),
        ));
    }
    pending.header = Some((header.body_size, header.properties));
    if header.body_size == 0 {
        return finish(channel, env, out);
    }
    Ok(())
}

/// A content body frame for this channel.
pub fn body(
    channel: &mut Channel,
    payload: Bytes,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    let Some(pending) = channel.pending.as_mut() else {
        return Err(unexpected("content body"));
    };
    let Some((size, _)) = pending.header else {
        return Err(unexpected("content body before its header"));
    };
    let received = pending.received + payload.len() as u64;
    if received > size {
        return Err(AmqpError::hard(
            FRAME_ERROR,
            "content body exceeds the declared size",
        ));
    }
    pending.received = received;
    match pending.first {
        None => pending.first = Some(payload),
        Some(_) => pending.more.push(payload),
    }
    if received == size {
        return finish(channel, env, out);
    }
    Ok(())
}

fn unexpected(what: &str) -> AmqpError {
    AmqpError::hard(UNEXPECTED_FRAME, format!("unexpected {what} frame"))
}

fn finish(channel: &mut Channel, env: &Env<'_>, out: &mut Out<'_>) -> Result<(), AmqpError> {
    let Some(pending) = channel.pending.take() else {
        return Ok(());
    };
    let properties = pending.header.map(|(_, p)| p).unwrap_or_default();
    check_user_id(&properties, env)?;
    let message = Arc::new(Message {
        annotations: Annotations {
            exchange: pending.exchange.clone(),
            routing_key: pending.routing_key,
            publisher: Some(env.conn),
        },
        properties,
        body: join(pending.first, pending.more),
    });
    let held = HeldPublish {
        exchange: pending.exchange,
        message,
        mandatory: pending.mandatory,
    };
    match channel.tx.as_mut() {
        Some(tx) => tx.add_publish(held),
        None => route(channel, &held, env, out).map(drop),
    }
}

/// Bodies up to this size are copied out of the read buffer: a slice would keep the whole
/// 64 KiB read chunk alive for as long as the message sits in a queue (a backlog of small
/// messages would then cost kilobytes each). Larger bodies are shared without copying.
const COPY_BELOW: usize = 4096;

fn join(first: Option<Bytes>, more: Vec<Bytes>) -> Bytes {
    let Some(first) = first else {
        return Bytes::new();
    };
    if more.is_empty() {
        if first.len() < COPY_BELOW {
            return Bytes::copy_from_slice(&first);
        }
        return first;
    }
    let size = first.len() + more.iter().map(Bytes::len).sum::<usize>();
    let mut body = BytesMut::with_capacity(size);
    body.extend_from_slice(&first);
    for chunk in more {
        body.extend_from_slice(&chunk);
    }
    body.freeze()
}

fn check_user_id(properties: &Properties, env: &Env<'_>) -> Result<(), AmqpError> {
    match properties.text.user_id.as_deref() {
        Some(claimed) if claimed != env.user.as_str() => Err(AmqpError::new(
            PRECONDITION_FAILED,
            format!(
                "user_id property set to '{claimed}' but authenticated user was '{}'",
                env.user
            ),
        )),
        _ => Ok(()),
    }
}

/// Hands a message to the core, returns it when mandatory and unroutable, and counts the
/// confirm. Outside confirm mode, returns the disk write the core started, if any (a
/// transaction's commit-ok waits for it).
pub fn route(
    channel: &mut Channel,
    held: &HeldPublish,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<Option<Box<dyn DurableWrite>>, AmqpError> {
    let seq = channel.confirms.as_mut().map(|c| {
        c.last_seq += 1;
        c.last_seq
    });
    let outcome = env
        .vhost
        .publish(&held.exchange, Arc::clone(&held.message))?;
    if held.mandatory && !outcome.routed() {
        send_return(channel.id, &held.message, out);
    }
    if outcome.flow.is_some() {
        channel.flow = outcome.flow;
    }
    let Some(seq) = seq else {
        return Ok(outcome.durable);
    };
    match outcome.rejected {
        0 => confirm_routed(channel, seq, outcome.durable, env),
        _ => nack(channel, seq, out),
    }
    Ok(None)
}

/// The publish may be acked: now, or once its write (and every one before it) is on disk.
fn confirm_routed(
    channel: &mut Channel,
    seq: u64,
    durable: Option<Box<dyn DurableWrite>>,
    env: &Env<'_>,
) {
    let Some(confirms) = channel.confirms.as_mut() else {
        return;
    };
    match durable {
        Some(write) => confirms
            .waiting
            .push_durable(seq, write, env.outbox.waker()),
        None if confirms.waiting.is_empty() => confirms.routed = seq,
        None => confirms.waiting.push(seq, Wait::Ack),
    }
}

/// A queue refused the message (`x-overflow` `reject-publish`): acks owed so far go first,
/// so the nack is for this one publish alone.
fn nack(channel: &mut Channel, seq: u64, out: &mut Out<'_>) {
    if let Some(confirms) = channel.confirms.as_mut() {
        if !confirms.waiting.is_empty() {
            confirms.waiting.push(seq, Wait::Nack);
            return;
        }
    }
    send_nack(channel, seq, out);
}

fn send_nack(channel: &mut Channel, seq: u64, out: &mut Out<'_>) {
    flush_routed(channel, out);
    let Some(confirms) = channel.confirms.as_mut() else {
        return;
    };
    confirms.routed = seq;
    confirms.acked = seq;
    let nack = basic::Nack {
        delivery_tag: seq,
        multiple: false,
        requeue: false,
    };
    out.method(channel.id, AMQPClass::Basic(basic::AMQPMethod::Nack(nack)));
}

fn send_return(channel: u16, message: &Message, out: &mut Out<'_>) {
    let ret = basic::Return {
        reply_code: NO_ROUTE,
        reply_text: short("NO_ROUTE"),
        exchange: short(message.annotations.exchange.as_str()),
        routing_key: short(message.annotations.routing_key.as_str()),
    };
    out.method(channel, AMQPClass::Basic(basic::AMQPMethod::Return(ret)));
    out.content(channel, &message.properties, &message.body);
}

/// confirm.select: number publishes from now on. Refused on a transactional channel.
pub fn confirm_select(
    channel: &mut Channel,
    method: confirm::AMQPMethod,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    let confirm::AMQPMethod::Select(select) = method else {
        return Err(AmqpError::hard(
            crate::errors::COMMAND_INVALID,
            "confirm.select-ok is not valid from a client",
        ));
    };
    if channel.tx.is_some() {
        return Err(AmqpError::new(
            PRECONDITION_FAILED,
            "cannot switch from tx to confirm mode",
        ));
    }
    channel.confirms.get_or_insert_with(Confirms::default);
    if !select.nowait {
        let ok = confirm::AMQPMethod::SelectOk(confirm::SelectOk {});
        out.method(channel.id, AMQPClass::Confirm(ok));
    }
    Ok(())
}

/// Sends the confirms that are ready: one ack covering every publish routed (and, for
/// persistent ones, written) since the last one, and nacks in their turn.
pub fn flush_confirms(channel: &mut Channel, out: &mut Out<'_>) {
    loop {
        let Some(confirms) = channel.confirms.as_mut() else {
            return;
        };
        match confirms.waiting.next_ready() {
            Some(Ready::Ack(seq)) => confirms.routed = seq,
            Some(Ready::Nack(seq)) => send_nack(channel, seq, out),
            None => break,
        }
    }
    flush_routed(channel, out);
}

fn flush_routed(channel: &mut Channel, out: &mut Out<'_>) {
    let Some(confirms) = channel.confirms.as_mut() else {
        return;
    };
    if confirms.routed <= confirms.acked {
        return;
    }
    let ack = basic::Ack {
        delivery_tag: confirms.routed,
        multiple: confirms.routed - confirms.acked > 1,
    };
    confirms.acked = confirms.routed;
    out.method(channel.id, AMQPClass::Basic(basic::AMQPMethod::Ack(ack)));
}
