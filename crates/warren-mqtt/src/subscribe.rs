//! SUBSCRIBE and UNSUBSCRIBE: filters become bindings of the session's queue; shared
//! subscriptions become a queue per group and filter that members consume round-robin; retained
//! messages are replayed into the session's queue.
//!
//! A shared subscription `$share/g/f` is the queue `mqtt-share/g/<binding key of f>`:
//! durable when a persistent session creates it, kept while any session holds the
//! subscription, connected or not (see `groups`); an AMQP or STOMP consumer of that queue is
//! one more member. Retained messages are not sent for shared subscriptions (MQTT 5 section
//! 4.8.2), and No Local on one is a Protocol Error (MQTT-3.8.3-4).

use std::sync::Arc;

use bytes::BytesMut;
use warren_model::{
    BindingSpec, ConnectionId, ConsumeSpec, ConsumerTag, Destination, ExchangeName, FieldTable,
    FieldValue, Message, QueueName, QueueSpec, RoutingKey, VHost,
};

use crate::codec::{Codec, Outbound, QoS, SubscribePacket, Version};
use crate::convert::H_RETAINED_TOPIC;
use crate::errors::{MqttError, NO_SUBSCRIPTION};
use crate::factory::Shared;
use crate::outbox::{OutboxSource, SessionSink};
use crate::registry::{lock, Sub};
use crate::session::{send, wall_ms, Live};
use crate::topic::{filter_to_key, FilterSpec, TopicFilter};

/// The consumer tag of a session's own queue, consumed with acknowledgements.
pub const SESSION_TAG: &str = "mqtt-session";
/// Its tag while consumed without: every plain subscription of the session is QoS 0.
pub const AT_MOST_ONCE_TAG: &str = "mqtt-session-qos0";

/// The queue of shared subscription `$share/{group}/{filter}`.
pub fn share_queue(
    group: &str,
    filter: &TopicFilter,
    shared: &Shared,
) -> Result<QueueName, MqttError> {
    let key = filter_to_key(filter, shared.config.topic_mapping);
    let prefix = crate::groups::PREFIX;
    Ok(QueueName::try_from(format!("{prefix}{group}/{key}"))?)
}

fn bind(
    live: &Live,
    shared: &Shared,
    queue: &QueueName,
    filter: &TopicFilter,
) -> Result<(), MqttError> {
    let key = RoutingKey::try_from(filter_to_key(filter, shared.config.topic_mapping))?;
    live.vhost.bind(binding(shared, queue, key), live.conn)?;
    Ok(())
}

fn binding(shared: &Shared, queue: &QueueName, key: RoutingKey) -> BindingSpec {
    BindingSpec {
        source: shared.config.exchange.clone(),
        destination: Destination::Queue(queue.clone()),
        routing_key: key,
        arguments: FieldTable::new(),
    }
}

fn consume(
    live: &Live,
    queue: &QueueName,
    tag: &str,
    outbox: &OutboxSource<'_>,
) -> Result<warren_model::Consumption, MqttError> {
    let spec = ConsumeSpec {
        tag: ConsumerTag::try_from(tag)?,
        no_ack: tag == AT_MOST_ONCE_TAG,
        exclusive: false,
        prefetch: live.window,
        shared_credit: Some(Arc::clone(&live.credit)),
        arguments: FieldTable::new(),
    };
    let sink = Arc::new(SessionSink(Arc::clone(outbox.outbox())));
    Ok(live.vhost.consume(queue, spec, sink, live.conn)?)
}

/// Starts consuming the queues of a resumed session: its own, which may hold messages, and
/// those of its shared subscriptions. A new session's queue waits for its first subscription.
pub fn start(
    live: &mut Live,
    shared: &Shared,
    outbox: &OutboxSource<'_>,
    resumed: bool,
) -> Result<(), MqttError> {
    if resumed {
        open_session_queue(live, outbox, QoS::AtMostOnce)?;
    }
    let shares: Vec<(String, TopicFilter)> = live
        .state
        .existing()
        .map(|state| lock(state).shares.keys().cloned().collect())
        .unwrap_or_default();
    for (group, filter) in shares {
        join_share(live, shared, outbox, &group, &filter)?;
    }
    Ok(())
}

/// Declares and consumes the session's own queue unless it already is. It is opened at the
/// first subscription, not at CONNECT: most idle connections of a fleet never subscribe,
/// and a queue with its consumer is most of what an idle connection would otherwise cost.
/// `adding` is the QoS of the subscription about to be added (see `needs_acks`).
fn open_session_queue(
    live: &mut Live,
    outbox: &OutboxSource<'_>,
    adding: QoS,
) -> Result<(), MqttError> {
    let acks = needs_acks(live, adding);
    match &live.consumer {
        Some(_) if !acks || live.consumer_acks => return Ok(()),
        Some(_) => return start_acks(live, outbox),
        None => {}
    }
    let spec = QueueSpec {
        name: Some(live.queue()?),
        durable: live.durable_queue,
        exclusive: !live.durable_queue,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    live.vhost.declare_queue(spec, false, live.conn)?;
    let tag = if acks { SESSION_TAG } else { AT_MOST_ONCE_TAG };
    live.consumer = Some(consume(live, &live.queue()?, tag, outbox)?);
    live.consumer_acks = acks;
    Ok(())
}

/// Whether the session's queue must be consumed with acknowledgements: some plain
/// subscription, or the one being added, is QoS 1 or 2. While all are QoS 0 it is consumed
/// without, as RabbitMQ's MQTT plugin consumes its QoS 0 queue: every message would go out
/// at QoS 0 and be settled once written anyway, and this way the queue neither tracks nor
/// settles each one. What is handed over is lost if the connection drops before writing it,
/// which at most once allows.
fn needs_acks(live: &Live, adding: QoS) -> bool {
    let above_zero = |qos: QoS| qos != QoS::AtMostOnce;
    above_zero(adding)
        || live
            .state
            .existing()
            .is_some_and(|state| lock(state).subs.values().any(|s| above_zero(s.options.qos)))
}

/// A subscription above QoS 0 on a queue consumed without acknowledgements: the consumer is
/// replaced by one with them, before the subscription's binding, so every message it routes
/// is tracked. Deliveries the old consumer already handed over go out at QoS 0.
fn start_acks(live: &mut Live, outbox: &OutboxSource<'_>) -> Result<(), MqttError> {
    let acked = consume(live, &live.queue()?, SESSION_TAG, outbox)?;
    if let Some(old) = live.consumer.replace(acked) {
        old.queue.cancel(old.id);
    }
    live.consumer_acks = true;
    Ok(())
}

/// Cancels every consumer of the session.
pub fn stop(live: &mut Live) {
    if let Some(c) = live.consumer.take() {
        c.queue.cancel(c.id);
    }
    for (_, (_, c)) in std::mem::take(&mut live.shares) {
        c.queue.cancel(c.id);
    }
}

fn join_share(
    live: &mut Live,
    shared: &Shared,
    outbox: &OutboxSource<'_>,
    group: &str,
    filter: &TopicFilter,
) -> Result<(), MqttError> {
    let queue = share_queue(group, filter, shared)?;
    let durable = live.persistent;
    declare_share(&*live.vhost, shared, &queue, filter, durable, live.conn)?;
    if !live.shares.contains_key(&queue) {
        let tag = format!("mqtt-share-{}", live.shares.len() + 1);
        let c = consume(live, &queue, &tag, outbox)?;
        live.shares.insert(queue, (ConsumerTag::try_from(tag)?, c));
    }
    Ok(())
}

/// Declares the group queue `queue` of a shared subscription to `filter` and binds it;
/// `durable` when it is created for a persistent session.
pub fn declare_share(
    vhost: &dyn VHost,
    shared: &Shared,
    queue: &QueueName,
    filter: &TopicFilter,
    durable: bool,
    conn: ConnectionId,
) -> Result<(), MqttError> {
    let spec = QueueSpec {
        name: Some(queue.clone()),
        durable,
        exclusive: false,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    // A group queue that exists (made by another member, or by AMQP with TTL, a length limit
    // or a dead letter exchange) is used as it is, whatever its flags. The last passive check
    // covers a member that created it, with other flags, between the first two calls.
    let passive = || vhost.declare_queue(spec.clone(), true, conn);
    passive()
        .or_else(|_| vhost.declare_queue(spec.clone(), false, conn))
        .or_else(|e| passive().map_err(|_| e))?;
    let key = RoutingKey::try_from(filter_to_key(filter, shared.config.topic_mapping))?;
    vhost.bind(binding(shared, queue, key), conn)?;
    Ok(())
}

/// SUBSCRIBE: one SUBACK code per filter, in order (MQTT-3.8.4-6).
pub fn subscribe(
    live: &mut Live,
    shared: &Shared,
    outbox: &OutboxSource<'_>,
    codec: &mut Codec,
    out: &mut BytesMut,
    s: SubscribePacket,
) -> Result<(), MqttError> {
    // What the subscriptions matched changes with them.
    live.topics.forget_matched();
    let mut codes = Vec::with_capacity(s.filters.len());
    let mut reason = None;
    let mut replay = Vec::new();
    for (text, options) in s.filters {
        let sub = Sub {
            options,
            id: s.sub_id,
        };
        let outcome = match FilterSpec::try_from(text.as_str()) {
            Ok(spec) => add(live, shared, outbox, spec, sub, &mut replay)?,
            Err(e) if live.version == Version::V5 => Err(e),
            Err(e) => return Err(e),
        };
        codes.push(match outcome {
            Ok(granted) => granted,
            Err(e) => {
                let code = e.reason_code();
                reason.get_or_insert_with(|| format!("{text}: {e}"));
                code
            }
        });
    }
    send(codec, out, Outbound::SubAck(s.id, codes, reason));
    replay_retained(live, shared, replay);
    Ok(())
}

/// Adds one subscription: the granted QoS, or (MQTT 5) the refusal to report in SUBACK.
/// 3.x has one failure code, 0x80, and no reason string.
fn add(
    live: &mut Live,
    shared: &Shared,
    outbox: &OutboxSource<'_>,
    spec: FilterSpec,
    sub: Sub,
    replay: &mut Vec<TopicFilter>,
) -> Result<Result<u8, MqttError>, MqttError> {
    let result = match spec {
        FilterSpec::Plain(filter) => open_session_queue(live, outbox, sub.options.qos)
            .and_then(|()| live.queue())
            .and_then(|queue| bind(live, shared, &queue, &filter))
            .map(|()| {
                let existed = live.state.lock().subs.insert(filter.clone(), sub).is_some();
                let handling = sub.options.retain_handling;
                if handling == 0 || (handling == 1 && !existed) {
                    replay.push(filter);
                }
            }),
        FilterSpec::Shared { group, filter } => {
            if sub.options.no_local {
                return Err(MqttError::Protocol(
                    "no local on a shared subscription (MQTT-3.8.3-4)".into(),
                ));
            }
            join_share(live, shared, outbox, &group, &filter).and_then(|()| {
                let queue = share_queue(&group, &filter, shared)?;
                let added = live.state.lock().shares.insert((group, filter), sub);
                if added.is_none() {
                    shared.groups.joined(live.vhost.name(), &queue);
                }
                Ok(())
            })
        }
    };
    Ok(match result {
        Ok(()) => Ok(sub.options.qos.value()),
        Err(e) if live.version == Version::V5 => Err(e),
        Err(_) => Ok(0x80),
    })
}

/// Publishes the retained messages matching `filters` into the session's own queue through
/// the default exchange, so they share its window, backpressure and redelivery.
fn replay_retained(live: &Live, shared: &Shared, filters: Vec<TopicFilter>) {
    let Ok(queue) = live.queue() else {
        return;
    };
    let now = wall_ms();
    let mut seen = std::collections::BTreeSet::new();
    for filter in filters {
        let mapping = shared.config.topic_mapping;
        let matching = shared
            .retained
            .matching(live.vhost.name(), &filter, mapping, now);
        for (topic, message) in matching {
            if seen.insert(topic.clone()) {
                let copy = retained_copy(&message, &topic, &queue);
                if let Err(e) = live
                    .vhost
                    .publish(&ExchangeName::default_exchange(), Arc::new(copy))
                {
                    tracing::warn!("mqtt: retained message not replayed: {e}");
                }
            }
        }
    }
}

fn retained_copy(message: &Message, topic: &str, queue: &QueueName) -> Message {
    let mut copy = message.clone();
    copy.annotations.exchange = ExchangeName::default_exchange();
    copy.annotations.routing_key =
        RoutingKey::try_from(queue.as_str()).unwrap_or_else(|_| RoutingKey::empty());
    copy.annotations.publisher = None;
    let headers = copy.properties.headers.get_or_insert_with(FieldTable::new);
    headers.insert(H_RETAINED_TOPIC, FieldValue::string(topic));
    copy
}

/// UNSUBSCRIBE: bindings removed; MQTT 5 gets a code per filter.
pub fn unsubscribe(
    live: &mut Live,
    shared: &Shared,
    codec: &mut Codec,
    out: &mut BytesMut,
    id: u16,
    filters: &[String],
) -> Result<(), MqttError> {
    // What the subscriptions matched changes with them.
    live.topics.forget_matched();
    let mut codes = Vec::with_capacity(filters.len());
    for text in filters {
        let code = match FilterSpec::try_from(text.as_str()) {
            Ok(spec) => remove(live, shared, spec),
            Err(e) if live.version == Version::V5 => e.reason_code(),
            Err(e) => return Err(e),
        };
        codes.push(code);
    }
    send(codec, out, Outbound::UnsubAck(id, codes));
    Ok(())
}

/// Removes one subscription. Two filters can share a binding key (`a/+` and a literal
/// `a/*`; in the `rabbitmq` mapping `a.b/c` and `a/b/c`) and so a binding, or a group
/// queue: it is kept while another subscription of the session still needs it.
fn remove(live: &mut Live, shared: &Shared, spec: FilterSpec) -> u8 {
    let mapping = shared.config.topic_mapping;
    match spec {
        FilterSpec::Plain(filter) => {
            let key = filter_to_key(&filter, mapping);
            let still_bound = {
                let mut state = live.state.lock();
                if state.subs.remove(&filter).is_none() {
                    return NO_SUBSCRIPTION;
                }
                state.subs.keys().any(|f| filter_to_key(f, mapping) == key)
            };
            if still_bound {
                return 0;
            }
            let unbound = RoutingKey::try_from(key)
                .map_err(MqttError::from)
                .and_then(|k| {
                    Ok(live
                        .vhost
                        .unbind(binding(shared, &live.queue()?, k), live.conn)?)
                });
            unbound.map_or_else(|e| e.reason_code(), |()| 0)
        }
        FilterSpec::Shared { group, filter } => {
            if live
                .state
                .lock()
                .shares
                .remove(&(group.clone(), filter.clone()))
                .is_none()
            {
                return NO_SUBSCRIPTION;
            }
            if let Ok(queue) = share_queue(&group, &filter, shared) {
                let still_held = live
                    .state
                    .lock()
                    .shares
                    .keys()
                    .any(|(g, f)| share_queue(g, f, shared).is_ok_and(|q| q == queue));
                if !still_held {
                    if let Some((_, c)) = live.shares.remove(&queue) {
                        c.queue.cancel(c.id);
                    }
                }
                crate::groups::leave(shared, &live.vhost, &queue, live.conn);
            }
            0
        }
    }
}
