//! Exchange types and their binding tables.
//!
//! An exchange type is an [`ExchangeType`] registered by name in an [`ExchangeRegistry`]; it
//! makes the [`BindingTable`] each exchange of that type routes with. Adding a type is adding
//! an implementation and registering it, never a new `match` arm.
//!
//! Invariants: a table holds each binding at most once (bindings are equal when destination,
//! key and arguments are, arguments compared order-insensitively), and `route` may report a
//! destination more than once: the caller deduplicates.

use std::collections::HashMap;
use std::sync::Arc;

use warren_model::{CoreError, Destination, FieldTable, RoutingKey};

mod direct;
mod entity;
mod fanout;
mod headers;
mod list;
mod topic;

pub use direct::Direct;
pub(crate) use entity::{Exchange, DELAYED_TYPE};
pub use fanout::Fanout;
pub use headers::Headers;
pub use topic::Topic;

/// One binding as a table stores it (the source is the table's exchange).
#[derive(Clone, Debug)]
pub struct Binding {
    /// Where matching messages go.
    pub destination: Destination,
    /// The binding key.
    pub key: RoutingKey,
    /// Binding arguments.
    pub arguments: FieldTable,
}

impl Binding {
    /// True for the same binding, whatever the order of its arguments.
    pub fn same(&self, other: &Binding) -> bool {
        self.destination == other.destination
            && self.key == other.key
            && self.arguments.same_entries(&other.arguments)
    }
}

/// The bindings of one exchange, indexed the way its type routes.
pub trait BindingTable: Send + Sync {
    /// Adds `binding`; false when it was already there.
    fn add(&mut self, binding: Binding) -> bool;
    /// Removes `binding`; false when it was not there.
    fn remove(&mut self, binding: &Binding) -> bool;
    /// Removes every binding to `destination`, returning how many.
    fn remove_destination(&mut self, destination: &Destination) -> usize;
    /// Appends the destinations a message with `key` and `headers` goes to.
    fn route(&self, key: &RoutingKey, headers: Option<&FieldTable>, out: &mut Vec<Destination>);
    /// Every binding, in no particular order.
    fn bindings(&self) -> Vec<Binding>;
    /// How many bindings there are.
    fn len(&self) -> usize;
    /// True without bindings.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An exchange type: a name and the table its exchanges route with.
pub trait ExchangeType: Send + Sync {
    /// The name clients declare it by, e.g. `topic`.
    fn name(&self) -> &'static str;
    /// An empty table for a new exchange.
    fn new_table(&self) -> Box<dyn BindingTable>;
    /// True when its tables route by the key alone, never by the headers: a route may then
    /// be kept while the bindings do not change. False unless a type says so.
    fn routes_by_key(&self) -> bool {
        false
    }
    /// Checks a binding's arguments before it is added (406 when invalid).
    fn validate_binding(&self, arguments: &FieldTable) -> Result<(), CoreError> {
        let _ = arguments;
        Ok(())
    }
}

/// Exchange types by name.
#[derive(Clone, Default)]
pub struct ExchangeRegistry {
    types: HashMap<&'static str, Arc<dyn ExchangeType>>,
}

impl ExchangeRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The four AMQP types: direct, fanout, topic, headers.
    pub fn standard() -> Self {
        let mut registry = Self::new();
        registry.register(Arc::new(Direct));
        registry.register(Arc::new(Fanout));
        registry.register(Arc::new(Topic));
        registry.register(Arc::new(Headers));
        registry
    }

    /// Adds (or replaces) a type under its name.
    pub fn register(&mut self, kind: Arc<dyn ExchangeType>) {
        self.types.insert(kind.name(), kind);
    }

    /// The type called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn ExchangeType>> {
        self.types.get(name).cloned()
    }
}

impl std::fmt::Debug for ExchangeRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.types.keys()).finish()
    }
}

#[cfg(test)]
pub(crate) mod testing;
