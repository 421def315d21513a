//! Shared subscription groups outlive their connected members.
//!
//! A group's queue (`mqtt-share/<group>/<key>`) exists while at least one session holds the
//! shared subscription, connected or not (MQTT 5 section 4.8.2: a shared subscription is part
//! of each member's session). So a group whose persistent members are all offline keeps
//! collecting messages for them. The queue is deleted when the last session holding the
//! subscription unsubscribes or ends.

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
        groups.joined(&vhost, &queue);
        groups.joined(&vhost, &queue);
        assert!(!groups.left(&vhost, &queue));
        assert!(groups.left(&vhost, &queue));
        assert!(!groups.left(&vhost, &queue), "nobody left to leave");
    }
}
