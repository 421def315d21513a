//! The exchange and queue classes: declare, delete, bind, unbind, purge. Each honours
//! `nowait` by sending no reply. An empty queue name means "the queue last declared on this
//! channel", as in RabbitMQ.

use amq_protocol::protocol::{exchange, queue, AMQPClass};
use warren_model::{
    BindingSpec, Destination, ExchangeName, ExchangeSpec, QueueName, QueueSpec, RoutingKey,
};

use crate::channel::Channel;
use crate::convert::{short, table_from_amqp};
use crate::env::{Env, Out};
use crate::errors::{AmqpError, COMMAND_INVALID, NOT_FOUND};

/// Dispatches the exchange class.
pub fn exchange(
    channel: &mut Channel,
    method: exchange::AMQPMethod,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    use exchange::AMQPMethod as E;
    match method {
        E::Declare(m) => exchange_declare(channel, m, env, out),
        E::Delete(m) => exchange_delete(channel, &m, env, out),
        E::Bind(m) => exchange_bind(channel, m, true, env, out),
        E::Unbind(m) => {
            let bind = exchange::Bind {
                destination: m.destination,
                source: m.source,
                routing_key: m.routing_key,
                nowait: m.nowait,
                arguments: m.arguments,
            };
            exchange_bind(channel, bind, false, env, out)
        }
        _ => Err(not_from_client()),
    }
}

/// Dispatches the queue class.
pub fn queue(
    channel: &mut Channel,
    method: queue::AMQPMethod,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    use queue::AMQPMethod as Q;
    match method {
        Q::Declare(m) => queue_declare(channel, m, env, out),
        Q::Bind(m) => queue_bind(channel, m, env, out),
        Q::Unbind(m) => queue_unbind(channel, m, env, out),
        Q::Purge(m) => queue_purge(channel, &m, env, out),
        Q::Delete(m) => queue_delete(channel, &m, env, out),
        _ => Err(not_from_client()),
    }
}

fn not_from_client() -> AmqpError {
    AmqpError::hard(COMMAND_INVALID, "method not valid from a client")
}

fn reply_exchange(
    channel: &Channel,
    nowait: bool,
    method: exchange::AMQPMethod,
    out: &mut Out<'_>,
) {
    if !nowait {
        out.method(channel.id, AMQPClass::Exchange(method));
    }
}

fn reply_queue(channel: &Channel, nowait: bool, method: queue::AMQPMethod, out: &mut Out<'_>) {
    if !nowait {
        out.method(channel.id, AMQPClass::Queue(method));
    }
}

fn exchange_declare(
    channel: &mut Channel,
    m: exchange::Declare,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    let spec = ExchangeSpec {
        name: ExchangeName::try_from(m.exchange.as_str())?,
        kind: m.kind.as_str().to_owned(),
        durable: m.durable,
        auto_delete: m.auto_delete,
        internal: m.internal,
        arguments: table_from_amqp(&m.arguments),
    };
    env.vhost.declare_exchange(spec, m.passive)?;
    reply_exchange(
        channel,
        m.nowait,
        exchange::AMQPMethod::DeclareOk(exchange::DeclareOk {}),
        out,
    );
    Ok(())
}

fn exchange_delete(
    channel: &mut Channel,
    m: &exchange::Delete,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    let name = ExchangeName::try_from(m.exchange.as_str())?;
    env.vhost.delete_exchange(&name, m.if_unused)?;
    reply_exchange(
        channel,
        m.nowait,
        exchange::AMQPMethod::DeleteOk(exchange::DeleteOk {}),
        out,
    );
    Ok(())
}

fn exchange_bind(
    channel: &mut Channel,
    m: exchange::Bind,
    bind: bool,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    let spec = BindingSpec {
        source: ExchangeName::try_from(m.source.as_str())?,
        destination: Destination::Exchange(ExchangeName::try_from(m.destination.as_str())?),
        routing_key: RoutingKey::try_from(m.routing_key.as_str())?,
        arguments: table_from_amqp(&m.arguments),
    };
    if bind {
        env.vhost.bind(spec, env.conn)?;
        reply_exchange(
            channel,
            m.nowait,
            exchange::AMQPMethod::BindOk(exchange::BindOk {}),
            out,
        );
    } else {
        env.vhost.unbind(spec, env.conn)?;
        reply_exchange(
            channel,
            m.nowait,
            exchange::AMQPMethod::UnbindOk(exchange::UnbindOk {}),
            out,
        );
    }
    Ok(())
}

/// The queue a method names, resolving RabbitMQ's empty-name shortcut.
pub fn queue_name(channel: &Channel, name: &str) -> Result<QueueName, AmqpError> {
    if !name.is_empty() {
        return Ok(QueueName::try_from(name)?);
    }
    channel
        .last_queue
        .clone()
        .ok_or_else(|| AmqpError::new(NOT_FOUND, "no previously declared queue"))
}

fn queue_declare(
    channel: &mut Channel,
    m: queue::Declare,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    let name = match m.queue.as_str() {
        "" if m.passive => Some(queue_name(channel, "")?),
        "" => None,
        named => Some(QueueName::try_from(named)?),
    };
    let spec = QueueSpec {
        name,
        durable: m.durable,
        exclusive: m.exclusive,
        auto_delete: m.auto_delete,
        arguments: table_from_amqp(&m.arguments),
    };
    let ok = env.vhost.declare_queue(spec, m.passive, env.conn)?;
    channel.last_queue = Some(ok.name.clone());
    let reply = queue::DeclareOk {
        queue: short(ok.name.as_str()),
        message_count: ok.message_count,
        consumer_count: ok.consumer_count,
    };
    reply_queue(channel, m.nowait, queue::AMQPMethod::DeclareOk(reply), out);
    Ok(())
}

fn queue_binding(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    key: &str,
    args: &amq_protocol::types::FieldTable,
) -> Result<BindingSpec, AmqpError> {
    // RabbitMQ: only an empty queue name *and* an empty key bind the last declared queue with
    // its name as the key; a named queue keeps the empty key it was given.
    let key = if queue.is_empty() && key.is_empty() {
        RoutingKey::try_from(queue_name(channel, queue)?.as_str())?
    } else {
        RoutingKey::try_from(key)?
    };
    let queue = queue_name(channel, queue)?;
    Ok(BindingSpec {
        source: ExchangeName::try_from(exchange)?,
        destination: Destination::Queue(queue),
        routing_key: key,
        arguments: table_from_amqp(args),
    })
}

fn queue_bind(
    channel: &mut Channel,
    m: queue::Bind,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    let spec = queue_binding(
        channel,
        m.queue.as_str(),
        m.exchange.as_str(),
        m.routing_key.as_str(),
        &m.arguments,
    )?;
    env.vhost.bind(spec, env.conn)?;
    reply_queue(
        channel,
        m.nowait,
        queue::AMQPMethod::BindOk(queue::BindOk {}),
        out,
    );
    Ok(())
}

fn queue_unbind(
    channel: &mut Channel,
    m: queue::Unbind,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    let spec = queue_binding(
        channel,
        m.queue.as_str(),
        m.exchange.as_str(),
        m.routing_key.as_str(),
        &m.arguments,
    )?;
    env.vhost.unbind(spec, env.conn)?;
    reply_queue(
        channel,
        false,
        queue::AMQPMethod::UnbindOk(queue::UnbindOk {}),
        out,
    );
    Ok(())
}

fn queue_purge(
    channel: &mut Channel,
    m: &queue::Purge,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    let name = queue_name(channel, m.queue.as_str())?;
    let message_count = env.vhost.purge_queue(&name, env.conn)?;
    reply_queue(
        channel,
        m.nowait,
        queue::AMQPMethod::PurgeOk(queue::PurgeOk { message_count }),
        out,
    );
    Ok(())
}

fn queue_delete(
    channel: &mut Channel,
    m: &queue::Delete,
    env: &Env<'_>,
    out: &mut Out<'_>,
) -> Result<(), AmqpError> {
    let name = queue_name(channel, m.queue.as_str())?;
    let message_count = env
        .vhost
        .delete_queue(&name, m.if_unused, m.if_empty, env.conn)?;
    reply_queue(
        channel,
        m.nowait,
        queue::AMQPMethod::DeleteOk(queue::DeleteOk { message_count }),
        out,
    );
    Ok(())
}
