//! Shared subscription groups outlive their connected members.
//!
//! A group's queue (`mqtt-share/<group>/<key>`) exists while at least one session holds the
//! shared subscription, connected or not (MQTT 5 section 4.8.2: a shared subscription is part
//! of each member's session). So a group whose persistent members are all offline keeps
//! collecting messages for them. The queue is deleted when the last session holding the
//! subscription unsubscribes or ends.
//!
//! Durability: the member that creates the queue decides. A persistent session (3.x clean
//! session 0, 5.0 session expiry > 0) creates it durable, so the core keeps it and its
//! persistent (QoS 1 and 2) messages across a restart; a clean session creates it transient.
//! Later members, and AMQP or STOMP declarations made before any member, use the queue as it
//! is: it is never declared again with other flags, so joining never fails on a mismatch. A
//! persistent member that joins a transient group queue loses what the queue holds at a
//! restart; at start it declares the queue again, durable this time.
//!
//! At start the restored persistent sessions rejoin their groups (the counts below are rebuilt
//! from them), and then every kept `mqtt-share/` queue that no restored session holds is
//! deleted: its members were all clean sessions, or it comes from sessions that are gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use warren_model::{ConnectionId, QueueName, VHost, VHostName};

use crate::factory::Shared;
use crate::registry::{lock, SharedState};
use crate::subscribe::share_queue;

/// How many sessions hold each group's subscription.
#[derive(Default)]
pub struct Groups {
    members: Mutex<HashMap<(VHostName, QueueName), usize>>,
}

impl Groups {
    fn lock(&self) -> MutexGuard<'_, HashMap<(VHostName, QueueName), usize>> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session took up the subscription of `queue`'s group.
    pub fn joined(&self, vhost: &VHostName, queue: &QueueName) {
        *self
            .lock()
            .entry((vhost.clone(), queue.clone()))
            .or_default() += 1;
    }

    /// True while some session holds the subscription of `queue`'s group.
    pub fn held(&self, vhost: &VHostName, queue: &QueueName) -> bool {
        self.lock().contains_key(&(vhost.clone(), queue.clone()))
    }

    /// A session gave it up; true when it was the last.
    pub fn left(&self, vhost: &VHostName, queue: &QueueName) -> bool {
        let mut members = self.lock();
        let key = (vhost.clone(), queue.clone());
        match members.get_mut(&key) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                members.remove(&key);
                true
            }
            None => false,
        }
    }
}

/// The prefix of every group queue's name.
pub const PREFIX: &str = "mqtt-share/";

/// Deletes the group queues of `vhost` that no session holds: called at start, once the
/// restored sessions have rejoined their groups.
pub fn sweep(shared: &Shared, vhost: &Arc<dyn VHost>) {
    for queue in vhost.queue_names() {
        if queue.as_str().starts_with(PREFIX) && !shared.groups.held(vhost.name(), &queue) {
            match vhost.delete_queue(&queue, false, false, ConnectionId(0)) {
                Ok(n) => tracing::info!(
                    "mqtt: group queue {queue} has no members, deleted ({n} messages)"
                ),
                Err(e) => tracing::warn!("mqtt: group queue {queue} not deleted: {e}"),
            }
        }
    }
}

/// One session gave up the group subscription of `queue`: the last one deletes the queue.
pub fn leave(shared: &Shared, vhost: &Arc<dyn VHost>, queue: &QueueName, conn: ConnectionId) {
    if shared.groups.left(vhost.name(), queue) {
        if let Err(e) = vhost.delete_queue(queue, false, false, conn) {
            tracing::debug!("mqtt: group queue {} not deleted: {e}", queue.as_str());
        }
    }
}

/// A session's state ended (clean session closed, session expired or discarded by a clean
/// start): it leaves every group it held.
pub fn leave_all(shared: &Shared, vhost: &Arc<dyn VHost>, state: &SharedState, conn: ConnectionId) {
    let shares: Vec<_> = std::mem::take(&mut lock(state).shares)
        .into_keys()
        .collect();
    for (group, filter) in shares {
        if let Ok(queue) = share_queue(&group, &filter, shared) {
            leave(shared, vhost, &queue, conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_member_to_leave_is_told() {
        let groups = Groups::default();
        let vhost = VHostName::try_from("/").unwrap_or_else(|_| unreachable!());
        let queue = QueueName::try_from("mqtt-share/g/a").unwrap_or_else(|_| unreachable!());
        assert!(!groups.held(&vhost, &queue));
        groups.joined(&vhost, &queue);
        groups.joined(&vhost, &queue);
        assert!(!groups.left(&vhost, &queue));
        assert!(groups.held(&vhost, &queue));
        assert!(groups.left(&vhost, &queue));
        assert!(!groups.held(&vhost, &queue));
        assert!(!groups.left(&vhost, &queue), "nobody left to leave");
    }
}
