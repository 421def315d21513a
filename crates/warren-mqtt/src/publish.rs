//! Inbound PUBLISH and PUBREL: topic aliases, validation, QoS 2 exactly-once, retained
//! messages, routing into the core, and the acknowledgements.
//!
//! QoS 2 is exactly-once (MQTT 5 section 4.3.3, method B): the message is routed on the first
//! PUBLISH and its packet id kept until PUBREL; a PUBLISH with a kept id is acknowledged but
//! not routed again. QoS 1 is acknowledged once the core routed the message and, when the core
//! writes it to disk, once that write is done (`durable_acks`).
//!
//! Receive Maximum (MQTT 5 section 3.3.4): the client may have that many QoS 1 and 2
//! PUBLISHes unacknowledged. They are the kept QoS 2 ids plus the QoS 1 publishes whose
//! PUBACK waits for the disk; one more is DISCONNECT 0x93 (MQTT-3.3.4-9). 3.x clients are
//! never told a Receive Maximum: for them only the kept QoS 2 ids are bounded (the connection
//! closes beyond), and a QoS 1 publisher is never cut off for a slow disk.

use std::sync::Arc;

use bytes::BytesMut;
use bytestring::ByteString;
use warren_model::DurableWrite;

use crate::codec::{Codec, Outbound, Publish, QoS, Version};
use crate::convert::{to_message, Origin};
use crate::durable_acks::Reply;
use crate::errors::{core_reason, MqttError, NO_SUBSCRIBERS, PACKET_ID_NOT_FOUND, QUOTA_EXCEEDED};
use crate::factory::Shared;
use crate::registry::lock;
use crate::session::{send, wall_ms, Live};
use crate::topic::TopicName;

/// The topic of `p`, resolving and recording MQTT 5 topic aliases (section 3.3.2.3.4), and
/// checked as a topic name. It stays the packet's own bytes: most publishes need it only to
/// find their routing key.
fn resolve_topic(live: &mut Live, max_alias: u16, p: &Publish) -> Result<ByteString, MqttError> {
    let alias = p
        .properties
        .as_ref()
        .and_then(|pr| pr.topic_alias)
        .map(|a| a.get());
    let topic = match alias {
        Some(a) if a > max_alias => {
            return Err(MqttError::TopicAlias(format!(
                "alias {a} above {max_alias}"
            )))
        }
        Some(a) if p.topic.is_empty() => live
            .aliases
            .as_ref()
            .and_then(|aliases| aliases.inbound.get(&a))
            .cloned()
            .ok_or_else(|| MqttError::Protocol(format!("unknown topic alias {a}")))?,
        Some(a) => {
            // A copy: a slice of the packet would keep its payload as long as the alias.
            let owned = ByteString::from(&*p.topic);
            live.aliases().inbound.insert(a, owned);
            p.topic.clone()
        }
        None => p.topic.clone(),
    };
    TopicName::check(&topic)?;
    Ok(topic)
}

/// PUBLISH from the client.
pub fn inbound(
    live: &mut Live,
    shared: &Shared,
    codec: &mut Codec,
    out: &mut BytesMut,
    p: Publish,
) -> Result<(), MqttError> {
    let topic = resolve_topic(live, shared.config.topic_alias_maximum, &p)?;
    let retained = p.retain.then(|| TopicName::try_from(&*topic)).transpose()?;
    let id = p.packet_id.map_or(0, |n| n.get());
    let qos2 = p.qos == QoS::ExactlyOnce;
    if p.qos == QoS::AtLeastOnce && unacknowledged(live) >= receive_maximum(shared) {
        return Err(MqttError::ReceiveMaximum);
    }
    if qos2 && !admit_qos2(live, shared, id)? {
        let handle = Arc::clone(&live.handle);
        live.acks
            .reply(Reply::PubRec(id, 0), None, &handle, codec, out);
        return Ok(());
    }
    if qos2 {
        // Written before the message, so it is on disk when the PUBREC goes out.
        crate::persist::save_session(live, shared);
    }
    let routed = route(live, shared, &topic, retained.as_ref(), p);
    let reply = |code| match routed.1 {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce => Some(Reply::PubAck(id, code)),
        QoS::ExactlyOnce => Some(Reply::PubRec(id, code)),
    };
    match routed.0 {
        Ok(Accepted { code, durable }) => {
            if code >= 0x80 && live.version == Version::V5 {
                // A PUBREC with an error ends the QoS 2 flow: no PUBREL follows.
                forget_qos2(live, id);
            }
            if let Some(packet) = reply(code) {
                let handle = Arc::clone(&live.handle);
                live.acks.reply(packet, durable, &handle, codec, out);
            }
            Ok(())
        }
        Err(e) if live.version == Version::V5 && routed.1 != QoS::AtMostOnce => {
            forget_qos2(live, id);
            if let Some(packet) = reply(core_reason(&e)) {
                let handle = Arc::clone(&live.handle);
                live.acks.reply(packet, None, &handle, codec, out);
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn receive_maximum(shared: &Shared) -> usize {
    usize::from(shared.config.receive_maximum)
}

/// QoS 1 PUBLISHes the client counts against our Receive Maximum: those whose PUBACK is held
/// back (MQTT 5 only, see above).
fn held_qos1(live: &Live) -> usize {
    if live.version == Version::V5 {
        live.acks.held_pubacks()
    } else {
        0
    }
}

/// QoS 1 and 2 PUBLISHes the client has not had acknowledged (PUBACK, or PUBCOMP after its
/// PUBREL) yet.
fn unacknowledged(live: &Live) -> usize {
    live.state
        .existing()
        .map_or(0, |state| lock(state).qos2_in.len())
        + held_qos1(live)
}

/// True when the QoS 2 packet id is new (and is now kept); false for a duplicate.
fn admit_qos2(live: &Live, shared: &Shared, id: u16) -> Result<bool, MqttError> {
    let held = held_qos1(live);
    let mut state = live.state.lock();
    if state.qos2_in.contains(&id) {
        return Ok(false);
    }
    if state.qos2_in.len() + held >= receive_maximum(shared) {
        return Err(MqttError::ReceiveMaximum);
    }
    state.qos2_in.insert(id);
    Ok(true)
}

fn forget_qos2(live: &Live, id: u16) {
    live.state.lock().qos2_in.remove(&id);
}

/// Routes `p`, published to `topic` (`retained`: the same, owned, when `p` is to be
/// retained).
fn route(
    live: &mut Live,
    shared: &Shared,
    topic: &str,
    retained: Option<&TopicName>,
    p: Publish,
) -> (Routed, QoS) {
    let config = &shared.config;
    let key = match live.topics.key(topic, config.topic_mapping) {
        Ok(k) => k,
        Err(e) => return (Err(e), p.qos),
    };
    // The clock is only read for a message that expires.
    let expires = p
        .properties
        .as_ref()
        .is_some_and(|props| props.message_expiry_interval.is_some());
    let origin = Origin {
        exchange: &config.exchange,
        key,
        publisher: live.conn,
        mapping: config.topic_mapping,
        now_ms: if expires { wall_ms() } else { 0 },
    };
    let message = Arc::new(to_message(
        p.qos,
        p.retain,
        p.payload,
        p.properties.as_ref(),
        origin,
    ));
    if let Some(topic) = retained {
        crate::persist::save_retained(shared, live.vhost.name(), topic, &message);
        shared
            .retained
            .set(live.vhost.name(), topic, Arc::clone(&message));
    }
    let outcome = live.vhost.publish(&config.exchange, message).map(|o| {
        if o.flow.is_some() {
            live.flow = o.flow;
        }
        Accepted {
            code: ack_code(o.queues, o.rejected, o.delayed),
            durable: o.durable,
        }
    });
    (outcome, p.qos)
}

/// The PUBACK/PUBREC reason code for a routed publish: 0x97 Quota exceeded when a queue's
/// length limit refused it (`x-overflow` `reject-publish`, as AMQP nacks it), 0x10 No matching
/// subscribers when nothing took it and no delayed-message exchange holds it, else success.
fn ack_code(queues: usize, rejected: usize, delayed: bool) -> u8 {
    if rejected > 0 {
        QUOTA_EXCEEDED
    } else if queues == 0 && !delayed {
        NO_SUBSCRIBERS
    } else {
        0
    }
}

/// A publish the core routed: its acknowledgement code, and the disk write the
/// acknowledgement waits for.
struct Accepted {
    code: u8,
    durable: Option<Box<dyn DurableWrite>>,
}

type Routed = Result<Accepted, warren_model::CoreError>;

/// PUBREL: the QoS 2 packet id is released; PUBCOMP (0x92 when it was unknown, MQTT 5).
pub fn pubrel(
    live: &mut Live,
    codec: &mut Codec,
    out: &mut BytesMut,
    id: u16,
) -> Result<(), MqttError> {
    let known = live.state.lock().qos2_in.remove(&id);
    let code = if known { 0 } else { PACKET_ID_NOT_FOUND };
    send(codec, out, Outbound::PubComp(id, code));
    Ok(())
}
