//! Publishing: route through the exchange graph, then enqueue the same `Arc<Message>` once
//! in each distinct queue reached.
//!
//! Exchange-to-exchange bindings are followed breadth-first with a visited set, so cycles
//! end and each exchange routes a message once; queue names are deduplicated before any
//! enqueue, so a queue reached along several paths gets one copy.

use std::sync::Arc;

use warren_model::{CoreError, Destination, ExchangeName, Message, PublishOutcome, QueueName};

use super::VHostCore;
use crate::exchange::Exchange;
use crate::queue::Queue;
use crate::sync::read;
use crate::text;

impl VHostCore {
    pub(super) fn publish_impl(
        &self,
        exchange: &ExchangeName,
        message: Arc<Message>,
    ) -> Result<PublishOutcome, CoreError> {
        let targets = self.route(exchange, &message)?;
        let queues = targets
            .iter()
            .filter(|q| q.enqueue(Arc::clone(&message)))
            .count();
        Ok(PublishOutcome { queues })
    }

    /// The queues a message published to `exchange` goes to.
    fn route(
        &self,
        exchange: &ExchangeName,
        message: &Message,
    ) -> Result<Vec<Arc<Queue>>, CoreError> {
        let key = &message.annotations.routing_key;
        if exchange.is_default() {
            let Ok(name) = QueueName::try_from(key.as_str()) else {
                return Ok(Vec::new());
            };
            return Ok(self.queue(&name).into_iter().collect());
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
        let names = self.queue_names(start, message);
        let map = read(&self.queues);
        Ok(names.iter().filter_map(|n| map.get(n).cloned()).collect())
    }

    /// Distinct queue names reached from `start`, following exchange bindings.
    fn queue_names(&self, start: Arc<Exchange>, message: &Message) -> Vec<QueueName> {
        let key = &message.annotations.routing_key;
        let headers = message.properties.headers.as_ref();
        let mut visited = vec![start.name.clone()];
        let mut pending = vec![start];
        let mut queues = Vec::new();
        let mut hits = Vec::new();
        while let Some(exchange) = pending.pop() {
            exchange.route(key, headers, &mut hits);
            for destination in hits.drain(..) {
                match destination {
                    Destination::Queue(q) => queues.push(q),
                    Destination::Exchange(x) if visited.contains(&x) => {}
                    Destination::Exchange(x) => {
                        pending.extend(self.exchange(&x));
                        visited.push(x);
                    }
                }
            }
        }
        queues.sort_unstable();
        queues.dedup();
        queues
    }
}
