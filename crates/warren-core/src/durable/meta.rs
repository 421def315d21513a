//! Keys and values of durable definitions in the store's metadata.
//!
//! ```text
//! exchange  key = vhost str | name str                 value = kind str | auto-delete | internal | arguments table
//! queue     key = vhost str | name str                 value = queue id u64 | arguments table
//! binding   key = vhost str | source str | dest kind u8 (0 queue, 1 exchange) | dest str
//!                 | routing key str | arguments table   value = empty
//! ```
//! (`str`, `table` as in `codec`.) A binding's whole identity is its key, so binding twice
//! writes the same key and unbinding deletes it.

use warren_model::{
    BindingSpec, Destination, ExchangeName, ExchangeSpec, FieldTable, QueueName, RoutingKey,
    VHostName,
};
use warren_store::{Keyspace, QueueId};

use warren_model::persist::{Reader, Writer};

/// Durable exchanges.
pub(crate) const EXCHANGES: Keyspace = Keyspace(1);
/// Durable queues.
pub(crate) const QUEUES: Keyspace = Keyspace(2);
/// Bindings between durable ends.
pub(crate) const BINDINGS: Keyspace = Keyspace(3);

/// The key of a named object in a vhost.
pub(crate) fn name_key(vhost: &VHostName, name: &str) -> Vec<u8> {
    let mut w = Writer::default();
    w.str(vhost.as_str());
    w.str(name);
    w.out
}

fn split_name_key(key: &[u8]) -> Option<(VHostName, &str)> {
    let mut r = Reader::new(key);
    let vhost = VHostName::try_from(r.str()?).ok()?;
    let name = r.str()?;
    r.is_empty().then_some((vhost, name))
}

pub(crate) fn exchange_value(spec: &ExchangeSpec) -> Vec<u8> {
    let mut w = Writer::default();
    w.str(&spec.kind);
    w.bool(spec.auto_delete);
    w.bool(spec.internal);
    w.table(&spec.arguments);
    w.out
}

pub(crate) fn decode_exchange(key: &[u8], value: &[u8]) -> Option<(VHostName, ExchangeSpec)> {
    let (vhost, name) = split_name_key(key)?;
    let mut r = Reader::new(value);
    let spec = ExchangeSpec {
        name: ExchangeName::try_from(name).ok()?,
        kind: r.str()?.to_owned(),
        durable: true,
        auto_delete: r.bool()?,
        internal: r.bool()?,
        arguments: r.table(0)?,
    };
    Some((vhost, spec))
}

pub(crate) fn queue_value(id: QueueId, arguments: &FieldTable) -> Vec<u8> {
    let mut w = Writer::default();
    w.u64(id.0);
    w.table(arguments);
    w.out
}

/// A durable queue as recovered.
pub(crate) struct QueueRecord {
    pub vhost: VHostName,
    pub name: QueueName,
    pub id: QueueId,
    pub arguments: FieldTable,
}

pub(crate) fn decode_queue(key: &[u8], value: &[u8]) -> Option<QueueRecord> {
    let (vhost, name) = split_name_key(key)?;
    let mut r = Reader::new(value);
    Some(QueueRecord {
        vhost,
        name: QueueName::try_from(name).ok()?,
        id: QueueId(r.u64()?),
        arguments: r.table(0)?,
    })
}

pub(crate) fn binding_key(vhost: &VHostName, spec: &BindingSpec) -> Vec<u8> {
    let mut w = Writer::default();
    w.str(vhost.as_str());
    w.str(spec.source.as_str());
    match &spec.destination {
        Destination::Queue(q) => {
            w.u8(0);
            w.str(q.as_str());
        }
        Destination::Exchange(x) => {
            w.u8(1);
            w.str(x.as_str());
        }
    }
    w.str(spec.routing_key.as_str());
    w.table(&spec.arguments);
    w.out
}

pub(crate) fn decode_binding(key: &[u8]) -> Option<(VHostName, BindingSpec)> {
    let mut r = Reader::new(key);
    let vhost = VHostName::try_from(r.str()?).ok()?;
    let source = ExchangeName::try_from(r.str()?).ok()?;
    let destination = match r.u8()? {
        0 => Destination::Queue(QueueName::try_from(r.str()?).ok()?),
        1 => Destination::Exchange(ExchangeName::try_from(r.str()?).ok()?),
        _ => return None,
    };
    let spec = BindingSpec {
        source,
        destination,
        routing_key: RoutingKey::try_from(r.str()?).ok()?,
        arguments: r.table(0)?,
    };
    Some((vhost, spec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_model::FieldValue;

    fn vhost() -> VHostName {
        VHostName::try_from("/").unwrap()
    }

    #[test]
    fn binding_round_trips() {
        let mut arguments = FieldTable::new();
        arguments.insert("x-match", FieldValue::string("all"));
        let spec = BindingSpec {
            source: ExchangeName::try_from("x").unwrap(),
            destination: Destination::Exchange(ExchangeName::try_from("y").unwrap()),
            routing_key: RoutingKey::try_from("a.#").unwrap(),
            arguments,
        };
        let (v, back) = decode_binding(&binding_key(&vhost(), &spec)).unwrap();
        assert_eq!(v, vhost());
        assert_eq!(back.destination, spec.destination);
        assert_eq!(back.routing_key, spec.routing_key);
        assert!(back.arguments.same_entries(&spec.arguments));
    }

    #[test]
    fn queue_round_trips() {
        let key = name_key(&vhost(), "q1");
        let record = decode_queue(&key, &queue_value(QueueId(9), &FieldTable::new())).unwrap();
        assert_eq!((record.name.as_str(), record.id), ("q1", QueueId(9)));
        assert!(decode_queue(&key[..key.len() - 1], &[]).is_none());
    }
}
