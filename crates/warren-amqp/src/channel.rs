//! One AMQP channel: its lifecycle, its dispatcher, and the state the method groups share
//! (consumers, unacknowledged deliveries, publisher confirms, transactions).
//!
//! Lifecycle: a channel exists from `channel.open` and is either [`ChannelState::Open`] or
//! [`ChannelState::Closing`] (the server sent `channel.close` after a soft error and waits
//! for `close-ok`, discarding everything else, spec 1.5.2.5). Its resources (consumers,
//! unacknowledged messages) are released the moment it stops being open.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use amq_protocol::protocol::{access, channel, AMQPClass};
use warren_model::flow::FlowValve;
use warren_model::{
    ConsumerTag, Consumption, CreditPool, QueueHandle, QueueName, QueueSeq, Settlement,
};

use crate::channel_ack::settle_grouped;
use crate::channel_publish::PendingPublish;
use crate::channel_tx::TxBuffer;
use crate::convert::short;
use crate::env::{Env, Out};
use crate::errors::{AmqpError, COMMAND_INVALID};
use crate::{channel_ack, channel_consume, channel_declare, channel_publish, channel_tx};

/// Where a channel is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ChannelState {
    /// Working.
    Open,
    /// The server sent `channel.close`; waiting for `close-ok`.
    Closing,
}

/// A consumer registered on this channel.
pub struct ConsumerEntry {
    /// The core's handle on it.
    pub consumption: Consumption,
    /// Deliveries need no acknowledgement.
    pub no_ack: bool,
}

/// A delivery the client has not settled yet.
#[derive(Clone)]
pub struct Unacked {
    /// Its queue.
    pub queue: Arc<dyn QueueHandle>,
    /// Its position there.
    pub seq: QueueSeq,
}

/// Publisher-confirm bookkeeping: sequence numbers, and how far acks were sent.
#[derive(Default, Debug)]
pub struct Confirms {
    /// The last sequence number given to a publish.
    pub last_seq: u64,
    /// The highest sequence number the core accepted.
    pub routed: u64,
    /// The highest sequence number acknowledged to the client.
    pub acked: u64,
    /// Publishes after `routed` whose confirm waits (for the disk, or behind one that does).
    pub waiting: crate::confirms::Waiting,
}

/// One channel's state.
pub struct Channel {
    /// Its number.
    pub id: u16,
    /// Open or closing.
    pub state: ChannelState,
    /// A publish waiting for its header and body.
    pub pending: Option<PendingPublish>,
    /// Consumers by tag.
    pub consumers: HashMap<ConsumerTag, ConsumerEntry>,
    /// Unsettled deliveries by delivery tag.
    pub unacked: BTreeMap<u64, Unacked>,
    /// The last delivery tag given out.
    pub last_tag: u64,
    /// Prefetch for consumers created from now on (`basic.qos global=false`).
    pub prefetch: u32,
    /// The channel-wide window (`basic.qos global=true`).
    pub shared_credit: Arc<CreditPool>,
    /// Publisher confirms, once `confirm.select` was seen.
    pub confirms: Option<Confirms>,
    /// Buffered work, once `tx.select` was seen.
    pub tx: Option<TxBuffer>,
    /// A committed transaction waiting for its persistent messages to be on disk.
    pub commit_wait: Option<crate::channel_tx::CommitWait>,
    /// The queue last declared here, for RabbitMQ's empty-name shortcut.
    pub last_queue: Option<QueueName>,
    /// A publish reached a queue in flow: the connection pauses on its valve.
    pub flow: Option<Arc<FlowValve>>,
}

impl Channel {
    /// A freshly opened channel.
    pub fn new(id: u16) -> Self {
        Self {
            id,
            state: ChannelState::Open,
            pending: None,
            consumers: HashMap::new(),
            unacked: BTreeMap::new(),
            last_tag: 0,
            prefetch: 0,
            shared_credit: Arc::new(CreditPool::new(0)),
            confirms: None,
            tx: None,
            commit_wait: None,
            last_queue: None,
            flow: None,
        }
    }

    /// Runs one method (not `channel.open`/`close`/`close-ok`, which the connection handles).
    pub fn handle(
        &mut self,
        method: AMQPClass,
        args: &[u8],
        env: &Env<'_>,
        out: &mut Out<'_>,
    ) -> Result<(), AmqpError> {
        match method {
            AMQPClass::Exchange(m) => channel_declare::exchange(self, m, env, out),
            AMQPClass::Queue(m) => channel_declare::queue(self, m, env, out),
            AMQPClass::Basic(m) => self.basic(m, args, env, out),
            AMQPClass::Tx(m) => channel_tx::handle(self, m, env, out),
            AMQPClass::Confirm(m) => channel_publish::confirm_select(self, m, out),
            AMQPClass::Channel(m) => self.channel_method(m, out),
            AMQPClass::Access(access::AMQPMethod::Request(_)) => {
                out.method(
                    self.id,
                    AMQPClass::Access(access::AMQPMethod::RequestOk(access::RequestOk {})),
                );
                Ok(())
            }
            other => Err(invalid(&other, self.id)),
        }
    }

    /// A `basic` method other than `publish`, which the codec decodes into its own frame and
    /// the connection starts (`channel_publish::start`) after counting it for the publish gate.
    fn basic(
        &mut self,
        method: amq_protocol::protocol::basic::AMQPMethod,
        args: &[u8],
        env: &Env<'_>,
        out: &mut Out<'_>,
    ) -> Result<(), AmqpError> {
        use amq_protocol::protocol::basic::AMQPMethod as B;
        match method {
            B::Qos(m) => channel_consume::qos(self, &m, args, out),
            B::Consume(m) => channel_consume::consume(self, m, env, out),
            B::Cancel(m) => channel_consume::cancel(self, &m, out),
            B::Get(m) => channel_consume::get(self, &m, env, out),
            B::Ack(m) => channel_ack::ack(self, m.delivery_tag, m.multiple, Settlement::Ack),
            B::Nack(m) => channel_ack::ack(self, m.delivery_tag, m.multiple, requeue(m.requeue)),
            B::Reject(m) => channel_ack::ack(self, m.delivery_tag, false, requeue(m.requeue)),
            B::Recover(m) => channel_ack::recover(self, m.requeue, true, out),
            B::RecoverAsync(m) => channel_ack::recover(self, m.requeue, false, out),
            other => Err(invalid(&AMQPClass::Basic(other), self.id)),
        }
    }

    fn channel_method(
        &mut self,
        method: channel::AMQPMethod,
        out: &mut Out<'_>,
    ) -> Result<(), AmqpError> {
        match method {
            // As RabbitMQ: a client may not stop the server's deliveries this way (prefetch
            // does that); asking to is 540, and asking to resume is answered.
            channel::AMQPMethod::Flow(f) if !f.active => Err(AmqpError::hard(
                crate::errors::NOT_IMPLEMENTED,
                "active=false",
            )),
            channel::AMQPMethod::Flow(_) => {
                let ok = channel::FlowOk { active: true };
                out.method(self.id, AMQPClass::Channel(channel::AMQPMethod::FlowOk(ok)));
                Ok(())
            }
            channel::AMQPMethod::FlowOk(_) => Ok(()),
            channel::AMQPMethod::Open(_) => Err(AmqpError::new(
                crate::errors::CHANNEL_ERROR,
                "second 'channel.open' seen",
            )),
            other => Err(invalid(&AMQPClass::Channel(other), self.id)),
        }
    }

    /// Gives a delivery tag to a message sent to the client.
    pub fn next_tag(&mut self) -> u64 {
        self.last_tag += 1;
        self.last_tag
    }

    /// Sends `channel.close` for a soft error and stops working.
    pub fn close_with(
        &mut self,
        err: &AmqpError,
        class_id: u16,
        method_id: u16,
        out: &mut Out<'_>,
    ) {
        channel_publish::flush_confirms(self, out);
        let close = channel::Close {
            reply_code: err.code(),
            reply_text: short(err.text()),
            class_id,
            method_id,
        };
        out.method(
            self.id,
            AMQPClass::Channel(channel::AMQPMethod::Close(close)),
        );
        self.release();
        self.state = ChannelState::Closing;
    }

    /// Cancels this channel's consumers and requeues what it holds unsettled.
    pub fn release(&mut self) {
        for (_, entry) in self.consumers.drain() {
            entry.consumption.queue.cancel(entry.consumption.id);
        }
        self.pending = None;
        let mut held: Vec<Unacked> = std::mem::take(&mut self.unacked).into_values().collect();
        if let Some(tx) = self.tx.take() {
            held.extend(tx.into_held_acks());
        }
        settle_grouped(&held, Settlement::Requeue);
    }

    /// The queues this channel's consumers read from.
    pub fn consumed_queues(&self) -> impl Iterator<Item = &Arc<dyn QueueHandle>> {
        self.consumers.values().map(|c| &c.consumption.queue)
    }
}

fn requeue(requeue: bool) -> Settlement {
    if requeue {
        Settlement::Requeue
    } else {
        Settlement::Discard
    }
}

fn invalid(_method: &AMQPClass, channel: u16) -> AmqpError {
    AmqpError::hard(
        COMMAND_INVALID,
        format!("method not valid from a client on channel {channel}"),
    )
}

/// The class and method ids of a raw method payload, for close frames.
pub fn method_ids(args: &[u8]) -> (u16, u16) {
    let id = |at: usize| {
        args.get(at..at + 2)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map_or(0, u16::from_be_bytes)
    };
    (id(0), id(2))
}
