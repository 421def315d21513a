//! One declared exchange: its definition and its binding table behind its own `RwLock`, so
//! publishers read-lock only the exchanges they route through.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use warren_model::{CoreError, ExchangeName};
use warren_model::{Destination, ExchangeSpec, FieldTable, RoutingKey, VHostName};

use super::{Binding, BindingTable, ExchangeType};
use crate::sync::{read, write};
use crate::text;

/// The delayed-message exchange type: routes as its `x-delayed-type` after a delay.
pub(crate) const DELAYED_TYPE: &str = "x-delayed-message";

/// A declared exchange.
pub(crate) struct Exchange {
    pub name: ExchangeName,
    pub kind: Arc<dyn ExchangeType>,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
    /// An `x-delayed-message` exchange: `kind` is its `x-delayed-type`.
    pub delayed: bool,
    /// Where messages this exchange cannot route go (`alternate-exchange`).
    pub alternate: Option<ExchangeName>,
    table: RwLock<Box<dyn BindingTable>>,
    /// Counts changes of the table (see `bindings_version`).
    version: AtomicU64,
}

impl Exchange {
    pub fn new(spec: ExchangeSpec, kind: Arc<dyn ExchangeType>) -> Self {
        let table = RwLock::new(kind.new_table());
        let alternate = spec
            .arguments
            .get("alternate-exchange")
            .and_then(|v| v.as_str())
            .and_then(|name| ExchangeName::try_from(name).ok());
        Self {
            delayed: spec.kind == DELAYED_TYPE,
            alternate,
            name: spec.name,
            kind,
            durable: spec.durable,
            auto_delete: spec.auto_delete,
            internal: spec.internal,
            arguments: spec.arguments,
            table,
            version: AtomicU64::new(0),
        }
    }

    /// 406 unless `spec` declares this same exchange.
    pub fn check_equivalent(
        &self,
        spec: &ExchangeSpec,
        vhost: &VHostName,
    ) -> Result<(), CoreError> {
        let differ =
            |arg: &str, received: &dyn std::fmt::Display, current: &dyn std::fmt::Display| {
                Err(text::inequivalent(
                    arg, "exchange", &self.name, vhost, received, current,
                ))
            };
        if spec.kind != self.type_name() {
            return differ("type", &spec.kind, &self.type_name());
        }
        if spec.durable != self.durable {
            return differ("durable", &spec.durable, &self.durable);
        }
        if spec.auto_delete != self.auto_delete {
            return differ("auto_delete", &spec.auto_delete, &self.auto_delete);
        }
        if spec.internal != self.internal {
            return differ("internal", &spec.internal, &self.internal);
        }
        // RabbitMQ compares only the alternate exchange; the delayed-message type's own
        // argument is compared too, since it changes how the exchange routes.
        let (got, have) = (&spec.arguments, &self.arguments);
        let compared = ["alternate-exchange", "x-delayed-type"];
        if let Some(key) = text::first_inequivalent(&compared, got, have) {
            return Err(text::inequivalent_args(
                "exchange", &self.name, vhost, key, got, have,
            ));
        }
        Ok(())
    }

    /// The type it was declared with.
    pub fn type_name(&self) -> &'static str {
        if self.delayed {
            DELAYED_TYPE
        } else {
            self.kind.name()
        }
    }

    pub fn route(
        &self,
        key: &RoutingKey,
        headers: Option<&FieldTable>,
        out: &mut Vec<Destination>,
    ) {
        read(&self.table).route(key, headers, out);
    }

    /// Whether a route depends only on the routing key (and the bindings): true for the
    /// types that say so, never for a delayed exchange.
    pub fn routes_by_key(&self) -> bool {
        !self.delayed && self.kind.routes_by_key()
    }

    /// Changes with every change of the bindings: a route worked out under one version is
    /// the route for as long as the version stays.
    pub fn bindings_version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Changes the table, counting the change before the lock is released.
    fn change<R>(&self, how: impl FnOnce(&mut dyn BindingTable) -> R) -> R {
        let mut table = write(&self.table);
        let result = how(table.as_mut());
        self.version.fetch_add(1, Ordering::Release);
        result
    }

    pub fn add(&self, binding: Binding) -> bool {
        self.change(|table| table.add(binding))
    }

    pub fn remove(&self, binding: &Binding) -> bool {
        self.change(|table| table.remove(binding))
    }

    pub fn remove_destination(&self, destination: &Destination) -> usize {
        self.change(|table| table.remove_destination(destination))
    }

    pub fn bindings(&self) -> Vec<Binding> {
        read(&self.table).bindings()
    }

    pub fn binding_count(&self) -> usize {
        read(&self.table).len()
    }
}
