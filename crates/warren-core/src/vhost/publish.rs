//! Publishing: route through the exchange graph, then enqueue the same `Arc<Message>` once
//! in each distinct queue reached.
//!
//! Exchange-to-exchange bindings are followed breadth-first with a visited set, so cycles
//! end and each exchange routes a message once; an exchange that routes a message nowhere
//! hands it to its alternate exchange, if it names one. Queue names are deduplicated before
//! any enqueue, so a queue reached along several paths gets one copy. A delayed-message
//! exchange holds a message with an `x-delay` first (see `delayed`). `CC` and `BCC` headers
//! add routing keys (see `sender_selected`). A thread's last route that depended on the key
//! alone is taken again while nothing it depended on changed (see `route_memo`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use warren_model::{
    CoreError, Destination, ExchangeName, Message, PublishOutcome, QueueName, RoutingKey,
};

use super::delayed::requested_delay;
use super::route_memo::{self, RouteKey};
use super::sender_selected::{extra_keys, without_bcc};
use super::VHostCore;
use crate::exchange::Exchange;
use crate::queue::{parse_expiration, Enqueued, Queue};
use crate::sync::read;
use crate::text;

impl VHostCore {
    pub(super) fn publish_impl(
        &self,
        exchange: &ExchangeName,
        message: Arc<Message>,
    ) -> Result<PublishOutcome, CoreError> {
        check_expiration(&message)?;
        let extra = extra_keys(&message);
        if exchange.is_default() {
            if extra.is_empty() {
                let target = self.default_target(&message);
                return Ok(self.deliver(target.as_slice(), &message));
            }
            let targets = self.default_targets(&message, &extra);
            return Ok(self.deliver(&targets, &message));
        }
        let at = RouteKey {
            vhost: self.id,
            maps: self.maps_version.load(Ordering::Acquire),
            exchange,
            key: &message.annotations.routing_key,
        };
        // A kept route is one from this very exchange (the maps did not change), which was
        // found neither internal nor delayed when the route was kept.
        let kept = extra.is_empty().then(|| route_memo::recall(&at)).flatten();
        if let Some(targets) = kept {
            return Ok(self.deliver(&targets, &message));
        }
        let start = self
            .exchange(exchange)
            .ok_or_else(|| text::no_exchange(exchange, &self.name))?;
        if start.internal {
            let msg = format!(
                "cannot publish to internal exchange '{exchange}' in vhost '{}'",
                self.name
            );
            return Err(CoreError::access_refused(msg));
        }
        // The header is looked for only on a delayed-message exchange: a linear search of
        // the headers on every publish showed in profiles of messages that carry several.
        if let Some(delay) = start.delayed.then(|| requested_delay(&message)).flatten() {
            let durable = self.delayed.hold(start.name.clone(), message, delay);
            return Ok(PublishOutcome {
                delayed: true,
                durable,
                ..PublishOutcome::default()
            });
        }
        let bindings = start.bindings_version();
        let (targets, through_others) = self.route_with(&start, &message, &extra);
        if extra.is_empty() && !through_others && start.routes_by_key() {
            route_memo::remember(&at, &start, bindings, &targets);
        }
        Ok(self.deliver(&targets, &message))
    }

    /// A delayed message's time came: route it from its exchange, if that still exists.
    pub(crate) fn release_delayed(&self, exchange: &ExchangeName, message: Arc<Message>) {
        if let Some(start) = self.exchange(exchange) {
            let targets = self.route_from(start, &message);
            self.deliver(&targets, &message);
        }
    }

    /// Offers the message to each target, counting who took and who refused it.
    pub(super) fn deliver(&self, targets: &[Arc<Queue>], message: &Arc<Message>) -> PublishOutcome {
        let stripped = without_bcc(message);
        let message = stripped.as_ref().unwrap_or(message);
        let mut outcome = PublishOutcome::default();
        let (id, durable) = self.persist(targets, message).unzip();
        let id = id.flatten();
        outcome.durable = durable;
        for queue in targets {
            match queue.enqueue(Arc::clone(message), id) {
                Enqueued::Accepted => {
                    outcome.queues += 1;
                    if let Some(valve) = queue.closed_valve() {
                        outcome.flow = Some(valve);
                    }
                }
                Enqueued::Rejected => outcome.rejected += 1,
                Enqueued::Gone => {}
            }
        }
        outcome
    }

    /// The default exchange: the queues named by the routing key and any `CC`/`BCC` keys.
    pub(super) fn default_route(&self, message: &Message) -> Vec<Arc<Queue>> {
        self.default_targets(message, &extra_keys(message))
    }

    /// The queues named by the routing key and the `extra` keys, each once.
    fn default_targets(&self, message: &Message, extra: &[RoutingKey]) -> Vec<Arc<Queue>> {
        if extra.is_empty() {
            return self.default_target(message).into_iter().collect();
        }
        let map = read(&self.queues);
        let mut names: Vec<&str> = extra.iter().map(RoutingKey::as_str).collect();
        names.push(message.annotations.routing_key.as_str());
        names.sort_unstable();
        names.dedup();
        names.iter().filter_map(|n| map.get(*n).cloned()).collect()
    }

    /// The default exchange's one target, looked up by the routing key as it is: the most
    /// common publish builds no name and no list.
    fn default_target(&self, message: &Message) -> Option<Arc<Queue>> {
        let key: &str = message.annotations.routing_key.as_str();
        read(&self.queues).get(key).cloned()
    }

    /// The queues a message routed from `start` reaches.
    pub(super) fn route_from(&self, start: Arc<Exchange>, message: &Message) -> Vec<Arc<Queue>> {
        self.route_with(&start, message, &extra_keys(message)).0
    }

    /// The queues a message with the `extra` routing keys reaches from `start`, and whether
    /// it was routed through other exchanges on the way (exchange bindings, an alternate).
    fn route_with(
        &self,
        start: &Exchange,
        message: &Message,
        extra: &[RoutingKey],
    ) -> (Vec<Arc<Queue>>, bool) {
        let (names, through_others) = self.queue_names(start, message, extra);
        let map = read(&self.queues);
        let queues = names.iter().filter_map(|n| map.get(n).cloned()).collect();
        (queues, through_others)
    }

    /// Distinct queue names reached from `start`, following exchange bindings and
    /// alternate exchanges, and whether any other exchange was routed through. The common
    /// case, an exchange bound only to queues, makes no list but the result.
    fn queue_names(
        &self,
        start: &Exchange,
        message: &Message,
        extra: &[RoutingKey],
    ) -> (Vec<QueueName>, bool) {
        let mut hits = Vec::new();
        route_once(start, message, extra, &mut hits);
        let mut queues = Vec::with_capacity(hits.len());
        let mut visited: Vec<ExchangeName> = Vec::new();
        let mut pending = Vec::new();
        loop {
            for destination in hits.drain(..) {
                match destination {
                    Destination::Queue(q) => queues.push(q),
                    Destination::Exchange(x) if x == start.name || visited.contains(&x) => {}
                    Destination::Exchange(x) => {
                        pending.extend(self.exchange(&x));
                        visited.push(x);
                    }
                }
            }
            let Some(next) = pending.pop() else {
                break;
            };
            route_once(&next, message, extra, &mut hits);
        }
        queues.sort_unstable();
        queues.dedup();
        (queues, !visited.is_empty())
    }
}

/// Where one exchange sends a message: its bindings' matches for the routing key and any
/// `CC`/`BCC` keys, or its alternate exchange when nothing matched.
fn route_once(
    exchange: &Exchange,
    message: &Message,
    extra: &[RoutingKey],
    hits: &mut Vec<Destination>,
) {
    let headers = message.properties.headers.as_ref();
    exchange.route(&message.annotations.routing_key, headers, hits);
    for cc in extra {
        exchange.route(cc, headers, hits);
    }
    if hits.is_empty() {
        hits.extend(exchange.alternate.clone().map(Destination::Exchange));
    }
}

/// 406 for an `expiration` that is not a non-negative integer, worded as RabbitMQ.
fn check_expiration(message: &Message) -> Result<(), CoreError> {
    let Some(text) = message.properties.text.expiration.as_deref() else {
        return Ok(());
    };
    parse_expiration(text)
        .map(drop)
        .map_err(|why| CoreError::precondition(format!("invalid expiration '{text}': {why}")))
}
