//! Exchange declare and delete, bind and unbind, and the auto-delete cascade: an auto-delete
//! exchange goes when its last binding as a source does, which may unbind (and so delete)
//! further exchanges. The cascade is a worklist, not recursion, so a long chain cannot
//! exhaust the stack.

use std::sync::Arc;

use warren_model::{BindingSpec, ConnectionId, CoreError, Destination, ExchangeName, ExchangeSpec};

use super::{Topology, VHostCore};
use crate::exchange::{Binding, Exchange, ExchangeType, DELAYED_TYPE};
use crate::text;

impl VHostCore {
    pub(super) fn declare_exchange_impl(
        &self,
        spec: ExchangeSpec,
        passive: bool,
    ) -> Result<(), CoreError> {
        if spec.name.is_default() {
            return Err(text::default_exchange());
        }
        if passive {
            let found = self.exchange(&spec.name).map(|_| ());
            return found.ok_or_else(|| text::no_exchange(&spec.name, &self.name));
        }
        let kind = self.exchange_type(&spec)?;
        let _topology = self.topology();
        if let Some(existing) = self.exchange(&spec.name) {
            return existing.check_equivalent(&spec, &self.name);
        }
        if spec.name.as_str().starts_with("amq.") {
            return Err(text::reserved("exchange", &spec.name));
        }
        self.save_exchange(&spec)?;
        let exchange = Arc::new(Exchange::new(spec, kind));
        self.exchanges_mut().insert(exchange.name.clone(), exchange);
        Ok(())
    }

    /// The type whose table the exchange routes with; a delayed exchange's is its
    /// `x-delayed-type` (errors as the plugin words them).
    pub(super) fn exchange_type(
        &self,
        spec: &ExchangeSpec,
    ) -> Result<Arc<dyn ExchangeType>, CoreError> {
        let name =
            if spec.kind == DELAYED_TYPE {
                let inner = spec
                    .arguments
                    .get("x-delayed-type")
                    .and_then(|v| v.as_str());
                match inner {
                    Some(DELAYED_TYPE) => return Err(CoreError::precondition(
                        "Invalid argument, 'x-delayed-type' can't be of type 'x-delayed-message'",
                    )),
                    Some(inner) => inner,
                    None => {
                        return Err(CoreError::precondition(
                            "Invalid argument, 'x-delayed-type' must be an existing exchange type",
                        ))
                    }
                }
            } else {
                spec.kind.as_str()
            };
        self.registry
            .get(name)
            .ok_or_else(|| CoreError::command_invalid(format!("unknown exchange type '{name}'")))
    }

    pub(super) fn delete_exchange_impl(
        &self,
        name: &ExchangeName,
        if_unused: bool,
    ) -> Result<(), CoreError> {
        if name.is_default() {
            return Err(text::default_exchange());
        }
        if name.as_str().starts_with("amq.") {
            let vhost = &self.name;
            let msg =
                format!("deletion of system exchange '{name}' in vhost '{vhost}' not allowed");
            return Err(CoreError::access_refused(msg));
        }
        let mut topology = self.topology();
        let Some(exchange) = self.exchange(name) else {
            return Ok(());
        };
        if if_unused && exchange.binding_count() > 0 {
            let msg = format!("exchange '{name}' in vhost '{}' in use", self.name);
            return Err(CoreError::precondition(msg));
        }
        self.remove_exchanges(&mut topology, vec![exchange]);
        Ok(())
    }

    pub(super) fn bind_impl(
        &self,
        spec: BindingSpec,
        owner: ConnectionId,
    ) -> Result<(), CoreError> {
        let mut topology = self.topology();
        let source = self.binding_ends(&spec, owner)?;
        source.kind.validate_binding(&spec.arguments)?;
        self.save_binding(&source, &spec)?;
        let binding = to_binding(spec);
        let destination = binding.destination.clone();
        if source.add(binding) {
            topology.added(&source.name, &destination);
        }
        Ok(())
    }

    pub(super) fn unbind_impl(
        &self,
        spec: BindingSpec,
        owner: ConnectionId,
    ) -> Result<(), CoreError> {
        let mut topology = self.topology();
        let source = self.binding_ends(&spec, owner)?;
        let binding = to_binding(spec);
        if !source.remove(&binding) {
            return Ok(());
        }
        self.forget_binding(&source, &binding);
        topology.removed(&source.name, &binding.destination);
        if source.auto_delete && source.binding_count() == 0 {
            self.remove_exchanges(&mut topology, vec![source]);
        }
        Ok(())
    }

    /// Checks both ends of a binding exist and may be used; returns the source.
    fn binding_ends(
        &self,
        spec: &BindingSpec,
        owner: ConnectionId,
    ) -> Result<Arc<Exchange>, CoreError> {
        if spec.source.is_default() {
            return Err(text::default_exchange());
        }
        match &spec.destination {
            Destination::Queue(q) => self.owned_queue(q, owner).map(|_| ())?,
            Destination::Exchange(x) if x.is_default() => return Err(text::default_exchange()),
            Destination::Exchange(x) => {
                self.exchange(x)
                    .ok_or_else(|| text::no_exchange(x, &self.name))?;
            }
        }
        self.exchange(&spec.source)
            .ok_or_else(|| text::no_exchange(&spec.source, &self.name))
    }

    /// Deletes `doomed` and every auto-delete exchange left without bindings as a result.
    pub(super) fn remove_exchanges(&self, topology: &mut Topology, mut doomed: Vec<Arc<Exchange>>) {
        while let Some(exchange) = doomed.pop() {
            if !self.unregister_exchange(&exchange) {
                continue;
            }
            self.forget_exchange(&exchange);
            for binding in exchange.bindings() {
                self.forget_binding(&exchange, &binding);
                topology.removed(&exchange.name, &binding.destination);
            }
            let gone = Destination::Exchange(exchange.name.clone());
            self.unbind_destination(topology, &gone, &mut doomed);
        }
    }

    /// Removes every binding to `destination`; auto-delete sources left bare join `doomed`.
    pub(super) fn unbind_destination(
        &self,
        topology: &mut Topology,
        destination: &Destination,
        doomed: &mut Vec<Arc<Exchange>>,
    ) {
        for name in topology.take_sources(destination) {
            let Some(source) = self.exchange(&name) else {
                continue;
            };
            for binding in source.bindings() {
                if binding.destination == *destination {
                    self.forget_binding(&source, &binding);
                }
            }
            source.remove_destination(destination);
            if source.auto_delete && source.binding_count() == 0 {
                doomed.push(source);
            }
        }
    }

    /// Takes `exchange` out of the map if it is still the one there.
    fn unregister_exchange(&self, exchange: &Arc<Exchange>) -> bool {
        let mut map = self.exchanges_mut();
        let current = map
            .get(&exchange.name)
            .is_some_and(|x| Arc::ptr_eq(x, exchange));
        if current {
            map.remove(&exchange.name);
        }
        current
    }
}

fn to_binding(spec: BindingSpec) -> Binding {
    Binding {
        destination: spec.destination,
        key: spec.routing_key,
        arguments: spec.arguments,
    }
}
