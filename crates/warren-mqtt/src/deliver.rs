//! Outbound messages: deliveries from the core become PUBLISH packets, and PUBACK and PUBREC
//! settle them.
//!
//! A delivery's routing key is matched again against the session's own subscriptions, because
//! one queue serves all of them: that gives the delivered QoS (min of the best matching
//! subscription's QoS and the message's, MQTT 5 section 3.8.4), the Subscription Identifiers,
//! retain-as-published and no-local (a message the session published itself, when every
//! matching subscription has No Local, is settled and skipped, MQTT-3.8.3-3). The same match
//! applies the `$`-topic rule (MQTT-4.7.2-1) that the AMQP `#` binding does not know. It
//! matches as the mapping routes (`topic::matches_mapped`): in the `rabbitmq` mapping a
//! subscription to `a.b/c` receives its traffic under the topic `a/b/c`.
//!
//! QoS 0 is settled when written (or, while every subscription of the session is QoS 0,
//! when the queue hands it over: see `subscribe::needs_acks`); QoS 1 on PUBACK; QoS 2 on
//! PUBREC, after which only its packet id awaits PUBCOMP (see `inflight`). A message the
//! client's Maximum Packet Size cannot take is settled and dropped (MQTT-3.1.2-25). A message
//! whose expiry passed while queued is settled and dropped (MQTT-3.3.2-5).

use std::num::{NonZeroU16, NonZeroU32};
use std::sync::Arc;

use bytes::BytesMut;
use bytestring::ByteString;
use warren_model::{Delivery, QueueHandle, QueueSeq, Settlement};

use crate::alias::TopicForm;
use crate::codec::{Codec, Outbound, Publish, PublishRef, QoS, Version};
use crate::convert::{set_expiry, to_v5_publish, AdapterHeaders};
use crate::errors::{MqttError, PACKET_ID_NOT_FOUND};
use crate::factory::Shared;
use crate::inflight::{Origin, Pending, Received, Stage};
use crate::outbox::OutEvent;
use crate::persist;
use crate::session::{send, sent, wall_ms, Live};
use crate::subscribe::{share_queue, AT_MOST_ONCE_TAG, SESSION_TAG};
use crate::topic::matches_mapped;
use crate::topic_cache::Matched;

/// The subscriptions `d` matches. For the session's own queue (`remember`: not a retained
/// replay, whose topic is not its key's) the answer is remembered for the key until the
/// subscriptions change: a subscriber usually receives one topic over and over.
fn matched_for(
    live: &mut Live,
    shared: &Shared,
    d: &Delivery,
    topic: &str,
    remember: bool,
) -> Matched {
    let from_session = live
        .consumer
        .as_ref()
        .is_some_and(|c| c.queue.name() == d.queue.name());
    let mine = d.message.annotations.publisher == Some(live.conn);
    let key = &d.message.annotations.routing_key;
    let remember = remember && from_session;
    if let Some(known) = live.topics.matched(key, mine).filter(|_| remember) {
        return known.clone();
    }
    let matched = matching(live, shared, d, topic, from_session, mine);
    if remember {
        live.topics.remember_matched(key, mine, &matched);
    }
    matched
}

/// The subscriptions of this session that `topic` from the delivery's queue matches: its
/// plain ones when the queue is the session's own, else the shared ones of that queue.
fn matching(
    live: &Live,
    shared: &Shared,
    delivery: &Delivery,
    topic: &str,
    from_session: bool,
    mine: bool,
) -> Matched {
    let state = live.state.lock();
    let plain = state.subs.iter().filter(|_| from_session);
    let shares = state.shares.iter().filter(|((group, filter), _)| {
        !from_session
            && share_queue(group, filter, shared).is_ok_and(|q| &q == delivery.queue.name())
    });
    let mapping = shared.config.topic_mapping;
    let plain = plain
        .filter(|(f, _)| matches_mapped(f, topic, mapping))
        .map(|(_, s)| s);
    let shares = shares
        .filter(|((_, f), _)| matches_mapped(f, topic, mapping))
        .map(|(_, s)| s);
    let mut matched = Matched::default();
    for sub in plain.chain(shares) {
        if !(mine && sub.options.no_local) {
            matched.add(sub);
        }
    }
    matched
}

/// What becomes of a delivery that goes out at QoS 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qos0 {
    /// Written to the client.
    Send,
    /// Settled unwritten: the client is not keeping up (see `MqttSession::encode_outbox`).
    Drop,
}

/// Turns one delivery into a PUBLISH (or settles it when it is not for the client, or, as
/// `at_most_once` says, when it goes out at QoS 0 to a client that is not keeping up). True
/// when it was dropped so.
pub fn deliver(
    live: &mut Live,
    shared: &Shared,
    codec: &mut Codec,
    out: &mut BytesMut,
    d: Delivery,
    acks: &mut AckBatch,
    at_most_once: Qos0,
) -> bool {
    let headers = AdapterHeaders::of(&d.message);
    let replayed = headers.retained_topic().map(ByteString::from);
    let mapping = shared.config.topic_mapping;
    let topic = match &replayed {
        Some(topic) => topic.clone(),
        None => live
            .topics
            .topic(&d.message.annotations.routing_key, mapping),
    };
    let matched = matched_for(live, shared, &d, &topic, replayed.is_none());
    let expiry = headers.remaining_expiry(wall_ms);
    let best = match matched.best {
        Some(best) if expiry != Some(0) => best,
        _ => {
            settle(&d, Settlement::Ack);
            return false;
        }
    };
    let settled = settled_on_delivery(&d);
    let qos = if settled {
        QoS::AtMostOnce
    } else {
        best.min(headers.qos())
    };
    let v5 = live.version == Version::V5;
    let outgoing = Outgoing {
        topic,
        qos,
        retain: replayed.is_some() || (v5 && headers.retain() && matched.retain_as_published),
        expiry,
        subscription_ids: matched.ids,
    };
    if qos == QoS::AtMostOnce {
        let dropped = at_most_once == Qos0::Drop;
        if !dropped {
            send_publish(live, shared, codec, out, &d, outgoing, None);
        }
        if !settled {
            acks.push(d.queue, d.seq);
        }
        return dropped;
    }
    send_tracked(live, shared, codec, out, outgoing, d);
    false
}

/// What a delivery goes out as, but for its packet id and DUP flag.
struct Outgoing {
    topic: ByteString,
    qos: QoS,
    retain: bool,
    /// Seconds left of its Message Expiry Interval (MQTT 5).
    expiry: Option<u32>,
    subscription_ids: Vec<NonZeroU32>,
}

/// Writes `d`'s message as a PUBLISH; false when it was dropped for the client's Maximum
/// Packet Size. A 3.x client's is written straight from the message; an MQTT 5 client's
/// carries properties and may name its topic by an outbound alias.
fn send_publish(
    live: &mut Live,
    shared: &Shared,
    codec: &mut Codec,
    out: &mut BytesMut,
    d: &Delivery,
    outgoing: Outgoing,
    packet_id: Option<NonZeroU16>,
) -> bool {
    let dup = d.redelivered && packet_id.is_some();
    if live.version.is_v3() {
        let publish = PublishRef {
            dup,
            retain: outgoing.retain,
            qos: outgoing.qos,
            topic: &outgoing.topic,
            packet_id,
            payload: &d.message.body,
        };
        return sent(codec.encode_publish_v3(&publish, out));
    }
    let mapping = shared.config.topic_mapping;
    let mut publish = to_v5_publish(&d.message, outgoing.topic, outgoing.qos, mapping);
    publish.retain = outgoing.retain;
    publish.dup = dup;
    publish.packet_id = packet_id;
    set_expiry(&mut publish, outgoing.expiry);
    if let Some(p) = publish.properties.as_mut() {
        p.subscription_ids = outgoing.subscription_ids;
    }
    send_v5_publish(live, codec, out, publish)
}

/// Writes an MQTT 5 PUBLISH, naming its topic by an outbound alias when the client allows
/// it (an alias it would have defined is forgotten when the packet was dropped, since the
/// client never learnt it).
fn send_v5_publish(
    live: &mut Live,
    codec: &mut Codec,
    out: &mut BytesMut,
    mut publish: Publish,
) -> bool {
    if live.out_alias_max == 0 {
        return send(codec, out, Outbound::Publish(Box::new(publish)));
    }
    let topic = publish.topic.clone();
    let form = live.aliases().outbound.form(&topic);
    if let Some(properties) = publish.properties.as_mut() {
        match form {
            TopicForm::Full => {}
            TopicForm::Define(alias) => properties.topic_alias = NonZeroU16::new(alias),
            TopicForm::Reuse(alias) => {
                properties.topic_alias = NonZeroU16::new(alias);
                publish.topic = String::new().into();
            }
        }
    }
    let sent = send(codec, out, Outbound::Publish(Box::new(publish)));
    if !sent && matches!(form, TopicForm::Define(_)) {
        live.aliases().outbound.forget(&topic);
    }
    sent
}

fn send_tracked(
    live: &mut Live,
    shared: &Shared,
    codec: &mut Codec,
    out: &mut BytesMut,
    outgoing: Outgoing,
    d: Delivery,
) {
    let wanted = if d.redelivered {
        live.state.lock().resume_ids.remove(&d.seq)
    } else {
        None
    };
    let Some(id) = live.inflight.allocate(wanted) else {
        return settle(&d, Settlement::Requeue);
    };
    let stage = if outgoing.qos == QoS::ExactlyOnce {
        Stage::Rec
    } else {
        Stage::Ack
    };
    let sent = send_publish(live, shared, codec, out, &d, outgoing, NonZeroU16::new(id));
    // Moved, not cloned: the queue's count is shared with the threads that dispatch it.
    let origin = Origin {
        queue: d.queue,
        seq: d.seq,
    };
    if sent {
        live.inflight.insert(id, Pending { origin, stage });
    } else {
        origin.settle(Settlement::Ack);
    }
}

/// Acknowledgements gathered to be settled together: one call into each queue instead of
/// one per message.
#[derive(Default)]
pub struct AckBatch {
    acks: Vec<(Arc<dyn QueueHandle>, QueueSeq)>,
}

impl AckBatch {
    /// A delivery done with once written (QoS 0).
    fn push(&mut self, queue: Arc<dyn QueueHandle>, seq: QueueSeq) {
        self.acks.push((queue, seq));
    }

    /// PUBACK for `id`: its delivery leaves the window now and is settled with the batch.
    pub fn take_puback(&mut self, live: &mut Live, id: u16) {
        if let Some(origin) = live.inflight.acked(id) {
            self.acks.push((origin.queue, origin.seq));
        }
    }

    /// Acknowledges everything gathered, one call per run of one queue; true when there was
    /// anything.
    pub fn settle(self) -> bool {
        let any = !self.acks.is_empty();
        let mut seqs = Vec::with_capacity(self.acks.len());
        let mut acks = self.acks.into_iter().peekable();
        while let Some((queue, seq)) = acks.next() {
            seqs.push(seq);
            if acks
                .peek()
                .is_none_or(|(next, _)| !Arc::ptr_eq(next, &queue))
            {
                queue.settle(&seqs, Settlement::Ack);
                seqs.clear();
            }
        }
        any
    }
}

/// Whether `d` came from the session's consumer without acknowledgements (see
/// `subscribe::needs_acks`): the queue let go of it when handing it over, so it goes out at
/// QoS 0 and is never settled or requeued.
fn settled_on_delivery(d: &Delivery) -> bool {
    d.consumer
        .as_ref()
        .is_some_and(|tag| tag.as_str() == AT_MOST_ONCE_TAG)
}

fn settle(d: &Delivery, how: Settlement) {
    if !settled_on_delivery(d) {
        d.queue.settle(&[d.seq], how);
    }
}

/// An event for a session that is gone: deliveries go back to their queue.
pub fn refuse(event: OutEvent) {
    if let OutEvent::Deliver(d) = event {
        settle(&d, Settlement::Requeue);
    }
}

/// PUBREC: answered with PUBREL (0x92 when the id is unknown, MQTT 5).
pub fn pubrec(
    live: &mut Live,
    shared: &Shared,
    codec: &mut Codec,
    out: &mut BytesMut,
    id: u16,
) -> Result<(), MqttError> {
    let code = match live.inflight.received(id) {
        Received::First(origin) => {
            handed_over(live, shared, &origin);
            0
        }
        Received::Again => 0,
        Received::Unknown => PACKET_ID_NOT_FOUND,
    };
    send(codec, out, Outbound::PubRel(id, code));
    Ok(())
}

/// The client owns a QoS 2 message once it sent PUBREC. The id awaiting PUBCOMP is written
/// before the message leaves its queue, so a crash between the two sends the message again
/// instead of losing it; the message's credit stays held until PUBCOMP.
fn handed_over(live: &Live, shared: &Shared, origin: &Origin) {
    persist::save_session(live, shared);
    live.credit.hold();
    origin.settle(Settlement::Ack);
}

/// PUBCOMP: the id is free and its credit given back.
pub fn pubcomp(live: &mut Live, shared: &Shared, id: u16) -> Result<(), MqttError> {
    if live.inflight.completed(id) {
        persist::save_session(live, shared);
        live.credit.give_back();
        kick(live);
    }
    Ok(())
}

/// Credit freed by one queue's settle is the whole session's (one pool): the session's
/// other queues may be waiting for it.
pub fn resume_window(live: &Live) {
    if !live.shares.is_empty() {
        kick(live);
    }
}

/// The core cancelled a consumer; true when it was the session's own (fatal).
pub fn cancelled(live: &mut Live, tag: &warren_model::ConsumerTag) -> bool {
    if [SESSION_TAG, AT_MOST_ONCE_TAG].contains(&tag.as_str()) {
        return true;
    }
    live.shares.retain(|_, (t, _)| t != tag);
    false
}

/// Asks the session's queues to deliver again (after output drained).
pub fn kick(live: &Live) {
    if let Some(c) = &live.consumer {
        c.queue.kick();
    }
    for (_, c) in live.shares.values() {
        c.queue.kick();
    }
}
