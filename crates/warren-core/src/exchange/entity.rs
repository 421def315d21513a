//! One declared exchange: its definition and its binding table behind its own `RwLock`, so
//! publishers read-lock only the exchanges they route through.

use std::sync::{Arc, RwLock};

use warren_model::{CoreError, ExchangeName};
use warren_model::{Destination, ExchangeSpec, FieldTable, RoutingKey, VHostName};

use super::{Binding, BindingTable, ExchangeType};
use crate::sync::{read, write};
use crate::text;

/// A declared exchange.
pub(crate) struct Exchange {
    pub name: ExchangeName,
    pub kind: Arc<dyn ExchangeType>,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
    table: RwLock<Box<dyn BindingTable>>,
}

impl Exchange {
    pub fn new(spec: ExchangeSpec, kind: Arc<dyn ExchangeType>) -> Self {
        let table = RwLock::new(kind.new_table());
        Self {
            name: spec.name,
            kind,
            durable: spec.durable,
            auto_delete: spec.auto_delete,
            internal: spec.internal,
            arguments: spec.arguments,
            table,
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
        if spec.kind != self.kind.name() {
            return differ("type", &spec.kind, &self.kind.name());
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
        if !spec.arguments.same_entries(&self.arguments) {
            let (got, have) = (&spec.arguments, &self.arguments);
            return Err(text::inequivalent_args(
                "exchange", &self.name, vhost, got, have,
            ));
        }
        Ok(())
    }

    pub fn route(
        &self,
        key: &RoutingKey,
        headers: Option<&FieldTable>,
        out: &mut Vec<Destination>,
    ) {
        read(&self.table).route(key, headers, out);
    }

    pub fn add(&self, binding: Binding) -> bool {
        write(&self.table).add(binding)
    }

    pub fn remove(&self, binding: &Binding) -> bool {
        write(&self.table).remove(binding)
    }

    pub fn remove_destination(&self, destination: &Destination) -> usize {
        write(&self.table).remove_destination(destination)
    }

    pub fn bindings(&self) -> Vec<Binding> {
        read(&self.table).bindings()
    }

    pub fn binding_count(&self) -> usize {
        read(&self.table).len()
    }
}
