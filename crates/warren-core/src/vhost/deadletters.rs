//! Routing dead letters from a queue to its dead-letter exchange.
//!
//! A dead letter can make another queue overflow or expire messages, which dead-letters
//! again, and so on down a chain of queues. Those steps run one after another from a
//! per-thread backlog instead of nesting, so a long chain cannot exhaust the stack; the
//! cycle rule (see `deadletter`) ends every loop that has no rejection in it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;

use warren_model::{ExchangeName, Message, QueueHandle, QueueName};

use super::VHostCore;
use crate::deadletter::{dead_lettered, is_cycle, DeadLetter};
use crate::queue::{DeadLetterTarget, Queue};

struct Job {
    vhost: Arc<VHostCore>,
    from: QueueName,
    target: DeadLetterTarget,
    dead: Vec<DeadLetter>,
}

thread_local! {
    /// Jobs queued while this thread is already routing dead letters.
    static BACKLOG: RefCell<Option<VecDeque<Job>>> = const { RefCell::new(None) };
}

/// Ends this thread's backlog when the outermost caller is done, even on a panic.
struct EndBacklog;

impl Drop for EndBacklog {
    fn drop(&mut self) {
        BACKLOG.with(|b| *b.borrow_mut() = None);
    }
}

impl VHostCore {
    pub(super) fn dead_letter_impl(
        &self,
        from: &QueueName,
        target: &DeadLetterTarget,
        dead: Vec<DeadLetter>,
    ) {
        let Some(vhost) = self.me.upgrade() else {
            return;
        };
        let job = Job {
            vhost,
            from: from.clone(),
            target: target.clone(),
            dead,
        };
        let first = BACKLOG.with(move |b| {
            let mut backlog = b.borrow_mut();
            match backlog.as_mut() {
                Some(jobs) => {
                    jobs.push_back(job);
                    None
                }
                None => {
                    *backlog = Some(VecDeque::new());
                    Some(job)
                }
            }
        });
        let Some(first) = first else {
            return;
        };
        let _end = EndBacklog;
        let mut next = Some(first);
        while let Some(job) = next {
            job.run();
            next = BACKLOG.with(|b| b.borrow_mut().as_mut().and_then(VecDeque::pop_front));
        }
    }

    /// The queues a message sent to `exchange` reaches, internal exchanges included; none
    /// when the exchange does not exist (the dead letter is then dropped, as RabbitMQ does).
    fn dead_letter_targets(&self, exchange: &ExchangeName, message: &Message) -> Vec<Arc<Queue>> {
        if exchange.is_default() {
            return self.default_route(message);
        }
        match self.exchange(exchange) {
            Some(start) => self.route_from(start, message),
            None => Vec::new(),
        }
    }
}

impl Job {
    fn run(self) {
        for dead in self.dead {
            let message = dead_lettered(&dead.message, dead.reason, &self.from, &self.target);
            let targets = self
                .vhost
                .dead_letter_targets(&self.target.exchange, &message);
            let targets: Vec<_> = targets
                .into_iter()
                .filter(|q| !is_cycle(&message, dead.reason, q.name()))
                .collect();
            self.vhost.deliver(&targets, &Arc::new(message));
        }
    }
}
