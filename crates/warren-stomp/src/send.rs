//! SEND: the destination picks the exchange and routing key (see [`crate::destination`]), the
//! headers become properties, and the message is published. A `/temp-queue/n` in `reply-to`
//! makes (once) an exclusive server-named queue consumed by this connection under the
//! subscription `/temp-queue/n`, and `reply_to` becomes the queue's bare name, as RabbitMQ does:
//! an AMQP replier publishes to it on the default exchange, and a STOMP replier sees it as
//! `/reply-queue/<queue>`.
//!
//! An unroutable SEND is dropped without error, as in RabbitMQ. A persistent SEND into a
//! durable queue returns the core's write to disk, and its RECEIPT waits for it (see
//! [`crate::receipts`]). A SEND with a `receipt` that a queue's `reject-publish` length limit
//! refuses cannot be confirmed: it gets an ERROR "Message rejected" (RabbitMQ closes such a
//! connection without a word). Without a receipt it is dropped silently, like an AMQP publish
//! without confirms.

use std::sync::Arc;

use warren_model::{
    Annotations, ConsumeSpec, ConsumerTag, CoreError, DurableWrite, ExchangeName, FieldTable,
    Message, QueueName, QueueSpec, RoutingKey,
};

use crate::convert::{has_queue_arguments, properties};
use crate::destination::Destination;
use crate::errors::StompError;
use crate::factory::Shared;
use crate::frame::{Command, Frame};
use crate::live::{AckMode, Live, Subscription};
use crate::outbox::Outbox;
use crate::subscribe::{add, consume, declare_named, TOPIC_EXCHANGE};

/// SEND (outside a transaction, or at its COMMIT).
pub fn send(
    live: &mut Live,
    shared: &Shared,
    outbox: &Arc<Outbox>,
    frame: Frame,
) -> Result<Option<Box<dyn DurableWrite>>, StompError> {
    if frame.get("message-id").is_some() {
        return Err(StompError::Header(
            "'message-id' is not allowed on 'SEND'.".into(),
        ));
    }
    let text = frame
        .get("destination")
        .ok_or_else(|| StompError::missing(Command::Send, "destination"))?
        .to_owned();
    let destination = Destination::parse(&text)?;
    let wants_receipt = frame.get("receipt").is_some();
    let mut props = properties(&frame.headers)?;
    if let Some(user) = &props.text.user_id {
        if user != live.user.as_str() {
            return Err(CoreError::precondition(format!(
                "user_id property set to '{user}' but authenticated user was '{}'",
                live.user
            ))
            .into());
        }
    }
    if let Some(reply_to) = props.text.reply_to.as_deref() {
        if let Ok(Destination::TempQueue(name)) = Destination::parse(reply_to) {
            let queue = temp_queue(live, shared, outbox, &name)?;
            props.text.to_mut().reply_to = Some(queue.to_string());
        }
    }
    let (exchange, key) = route(live, shared, outbox, &destination, &frame).inspect_err(|_| {
        live.declared.clear();
    })?;
    let message = Message {
        annotations: Annotations {
            exchange: ExchangeName::try_from(exchange.as_str())?,
            routing_key: RoutingKey::try_from(key.as_str())?,
            publisher: Some(live.conn),
        },
        properties: props,
        body: frame.body,
    };
    let exchange = message.annotations.exchange.clone();
    let outcome = live
        .vhost
        .publish(&exchange, Arc::new(message))
        .inspect_err(|_| live.declared.clear())?;
    if outcome.flow.is_some() {
        live.flow = outcome.flow;
    }
    if outcome.rejected > 0 && wants_receipt {
        return Err(StompError::Rejected(format!(
            "a queue bound to '{text}' is full and refuses new messages (x-overflow \
             reject-publish); the message was not taken"
        )));
    }
    Ok(outcome.durable)
}

/// The exchange and routing key a SEND to `destination` publishes with.
fn route(
    live: &mut Live,
    shared: &Shared,
    outbox: &Arc<Outbox>,
    destination: &Destination,
    frame: &Frame,
) -> Result<(String, String), StompError> {
    Ok(match destination {
        Destination::Queue(q) => (String::new(), declared_queue(live, q, frame)?),
        Destination::AmqQueue(q) | Destination::ReplyQueue(q) => (String::new(), q.clone()),
        Destination::Topic(key) => (TOPIC_EXCHANGE.into(), key.clone()),
        Destination::Exchange(x, key) => (x.clone(), key.clone()),
        Destination::TempQueue(name) => (
            String::new(),
            temp_queue(live, shared, outbox, name)?.to_string(),
        ),
    })
}

/// `/queue/{name}`, declared by the connection's first SEND to it. Later SENDs without
/// queue-shaping headers skip the declaration; one with them declares again, so a mismatch
/// is still refused. A queue deleted since is then unroutable, as in RabbitMQ.
fn declared_queue(live: &mut Live, name: &str, frame: &Frame) -> Result<String, StompError> {
    let plain = !shapes_queue(frame);
    if plain && live.declared.contains(name) {
        return Ok(name.to_owned());
    }
    let queue = declare_named(live, name, frame)?.to_string();
    if plain {
        live.declared.insert(name);
    }
    Ok(queue)
}

/// True if the frame says how its queue should be made.
fn shapes_queue(frame: &Frame) -> bool {
    ["durable", "exclusive", "auto-delete"]
        .iter()
        .any(|h| frame.get(h).is_some())
        || has_queue_arguments(&frame.headers)
}

/// This connection's temporary queue `name`, made and consumed on first use.
fn temp_queue(
    live: &mut Live,
    shared: &Shared,
    outbox: &Arc<Outbox>,
    name: &str,
) -> Result<QueueName, StompError> {
    if let Some(queue) = live.temp_queues.get(name) {
        return Ok(queue.clone());
    }
    let id = Destination::TempQueue(name.to_owned()).to_string();
    if live.subs.len() >= shared.config.max_subscriptions || live.subs.contains_key(&id) {
        return Err(StompError::Limit(format!(
            "no room for the subscription of '{id}'"
        )));
    }
    let spec = QueueSpec {
        name: None,
        durable: false,
        exclusive: true,
        auto_delete: false,
        arguments: FieldTable::new(),
    };
    let queue = live.vhost.declare_queue(spec, false, live.conn)?.name;
    let tag = ConsumerTag::try_from(format!("T_{id}"))?;
    let spec = ConsumeSpec {
        tag: tag.clone(),
        no_ack: true,
        exclusive: true,
        prefetch: 0,
        shared_credit: None,
        arguments: FieldTable::new(),
    };
    let consumption = consume(live, outbox, &queue, spec)?;
    add(
        live,
        Subscription {
            id,
            has_id: true,
            ack: AckMode::Auto,
            tag,
            consumption,
            durable_queue: None,
        },
    );
    live.temp_queues.insert(name.to_owned(), queue.clone());
    Ok(queue)
}
