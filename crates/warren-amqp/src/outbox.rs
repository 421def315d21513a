//! The connection's outbox: the model's shared [`Outbox`](warren_model::outbox::Outbox) of
//! events that name their channel, and the per-consumer sink that fills it.

use std::sync::Arc;

use warren_model::outbox::{OutboxEvent, EVENT_OVERHEAD};
use warren_model::{ConsumerTag, Delivery, DeliverySink};

/// The connection's outbox.
pub type Outbox = warren_model::outbox::Outbox<OutEvent>;

/// Something the core pushed for one channel.
#[derive(Debug)]
pub enum OutEvent {
    /// A message for a consumer.
    Deliver {
        /// The consumer's channel.
        channel: u16,
        /// The delivery.
        delivery: Delivery,
    },
    /// The core cancelled a consumer (its queue went away).
    Cancelled {
        /// The consumer's channel.
        channel: u16,
        /// Its tag.
        tag: ConsumerTag,
    },
}

impl OutboxEvent for OutEvent {
    fn cost(&self) -> usize {
        match self {
            Self::Deliver { delivery, .. } => delivery.message.body.len() + EVENT_OVERHEAD,
            Self::Cancelled { .. } => EVENT_OVERHEAD,
        }
    }
}

/// The sink one consumer's queue delivers to.
#[derive(Debug)]
pub struct ConsumerSink {
    channel: u16,
    outbox: Arc<Outbox>,
}

impl ConsumerSink {
    /// A sink for a consumer on `channel`.
    pub fn new(channel: u16, outbox: Arc<Outbox>) -> Self {
        Self { channel, outbox }
    }
}

impl DeliverySink for ConsumerSink {
    fn deliver(&self, delivery: Delivery) {
        self.outbox.push(OutEvent::Deliver {
            channel: self.channel,
            delivery,
        });
    }

    fn deliver_all(&self, deliveries: Vec<Delivery>) {
        let channel = self.channel;
        self.outbox.push_all(
            deliveries
                .into_iter()
                .map(|delivery| OutEvent::Deliver { channel, delivery }),
        );
    }

    fn has_room(&self) -> bool {
        self.outbox.room_for_queue()
    }

    fn cancelled(&self, tag: &ConsumerTag) {
        self.outbox.push(OutEvent::Cancelled {
            channel: self.channel,
            tag: tag.clone(),
        });
    }
}
