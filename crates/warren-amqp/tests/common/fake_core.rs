//! A small in-memory core for session tests: direct routing (default exchange and exact-key
//! bindings), queues with consumers, settlement and get. It follows the trait docs, not
//! every rule of the real core.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use warren_model::*;

#[derive(Default)]
pub struct FakeBroker {
    pub vhost: Arc<FakeVHost>,
    next_conn: AtomicU64,
}

impl Broker for FakeBroker {
    fn authenticate(
        &self,
        user: &str,
        password: &str,
        _loopback: bool,
    ) -> Result<UserName, CoreError> {
        if user == "guest" && password == "guest" {
            UserName::try_from(user)
        } else {
            Err(CoreError::access_refused(
                "Login was refused using authentication mechanism PLAIN.",
            ))
        }
    }
    fn vhost(&self, _user: &UserName, vhost: &VHostName) -> Result<Arc<dyn VHost>, CoreError> {
        if vhost.as_str() == "/" {
            Ok(self.vhost.clone())
        } else {
            Err(CoreError::not_allowed(format!("vhost {vhost} not found")))
        }
    }
    fn next_connection_id(&self) -> ConnectionId {
        ConnectionId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }
}

pub struct FakeVHost {
    name: VHostName,
    exchanges: Mutex<HashSet<String>>,
    queues: Mutex<HashMap<String, Arc<FakeQueue>>>,
    bindings: Mutex<Vec<(String, String, String)>>,
    next_id: AtomicU64,
    pub closed: Mutex<Vec<ConnectionId>>,
}

impl Default for FakeVHost {
    fn default() -> Self {
        Self {
            name: VHostName::try_from("/").unwrap(),
            exchanges: Mutex::new(["", "amq.direct"].into_iter().map(String::from).collect()),
            queues: Mutex::default(),
            bindings: Mutex::default(),
            next_id: AtomicU64::new(1),
            closed: Mutex::default(),
        }
    }
}

impl FakeVHost {
    pub fn queue(&self, name: &str) -> Option<Arc<FakeQueue>> {
        self.queues.lock().unwrap().get(name).cloned()
    }
}

fn no_queue(name: &str) -> CoreError {
    CoreError::not_found(format!("no queue '{name}' in vhost '/'"))
}

impl VHost for FakeVHost {
    fn name(&self) -> &VHostName {
        &self.name
    }
    fn declare_exchange(&self, spec: ExchangeSpec, passive: bool) -> Result<(), CoreError> {
        let mut ex = self.exchanges.lock().unwrap();
        let name = spec.name.as_str().to_owned();
        if passive && !ex.contains(&name) {
            return Err(CoreError::not_found(format!(
                "no exchange '{name}' in vhost '/'"
            )));
        }
        ex.insert(name);
        Ok(())
    }
    fn delete_exchange(&self, name: &ExchangeName, _if_unused: bool) -> Result<(), CoreError> {
        self.exchanges.lock().unwrap().remove(name.as_str());
        Ok(())
    }
    fn declare_queue(
        &self,
        spec: QueueSpec,
        passive: bool,
        _owner: ConnectionId,
    ) -> Result<QueueDeclareOk, CoreError> {
        let name = match spec.name {
            Some(n) => n.as_str().to_owned(),
            None => format!("amq.gen-{}", self.next_id.fetch_add(1, Ordering::Relaxed)),
        };
        let mut queues = self.queues.lock().unwrap();
        if passive && !queues.contains_key(&name) {
            return Err(no_queue(&name));
        }
        let q = queues
            .entry(name.clone())
            .or_insert_with(|| FakeQueue::new(&name))
            .clone();
        drop(queues);
        let consumer_count = q.inner.lock().unwrap().consumers.len() as u32;
        Ok(QueueDeclareOk {
            name: QueueName::try_from(name).unwrap(),
            message_count: q.message_count(),
            consumer_count,
        })
    }
    fn delete_queue(
        &self,
        name: &QueueName,
        _u: bool,
        _e: bool,
        _o: ConnectionId,
    ) -> Result<u32, CoreError> {
        let q = self
            .queues
            .lock()
            .unwrap()
            .remove(name.as_str())
            .ok_or_else(|| no_queue(name.as_str()))?;
        let count = q.message_count();
        let consumers: Vec<_> = q.inner.lock().unwrap().consumers.drain(..).collect();
        for c in consumers {
            c.sink.cancelled(&c.tag);
        }
        Ok(count)
    }
    fn purge_queue(&self, name: &QueueName, _o: ConnectionId) -> Result<u32, CoreError> {
        let q = self
            .queue(name.as_str())
            .ok_or_else(|| no_queue(name.as_str()))?;
        let mut inner = q.inner.lock().unwrap();
        let n = inner.ready.len() as u32;
        inner.ready.clear();
        Ok(n)
    }
    fn bind(&self, b: BindingSpec, _o: ConnectionId) -> Result<(), CoreError> {
        let Destination::Queue(q) = b.destination else {
            return Err(CoreError::not_implemented("e2e"));
        };
        self.queue(q.as_str()).ok_or_else(|| no_queue(q.as_str()))?;
        self.bindings.lock().unwrap().push((
            b.source.to_string(),
            q.to_string(),
            b.routing_key.to_string(),
        ));
        Ok(())
    }
    fn unbind(&self, b: BindingSpec, _o: ConnectionId) -> Result<(), CoreError> {
        let Destination::Queue(q) = b.destination else {
            return Ok(());
        };
        let key = (
            b.source.to_string(),
            q.to_string(),
            b.routing_key.to_string(),
        );
        self.bindings.lock().unwrap().retain(|x| *x != key);
        Ok(())
    }
    fn publish(
        &self,
        exchange: &ExchangeName,
        message: Arc<Message>,
    ) -> Result<PublishOutcome, CoreError> {
        if !self.exchanges.lock().unwrap().contains(exchange.as_str()) {
            return Err(CoreError::not_found(format!(
                "no exchange '{exchange}' in vhost '/'"
            )));
        }
        let key = message.annotations.routing_key.as_str();
        let targets: Vec<String> = if exchange.is_default() {
            vec![key.to_owned()]
        } else {
            let b = self.bindings.lock().unwrap();
            b.iter()
                .filter(|(e, _, k)| e == exchange.as_str() && k == key)
                .map(|(_, q, _)| q.clone())
                .collect()
        };
        let mut queues = 0;
        for t in targets {
            if let Some(q) = self.queue(&t) {
                q.push(message.clone());
                queues += 1;
            }
        }
        Ok(PublishOutcome {
            queues,
            ..Default::default()
        })
    }
    fn consume(
        &self,
        queue: &QueueName,
        spec: ConsumeSpec,
        sink: Arc<dyn DeliverySink>,
        _o: ConnectionId,
    ) -> Result<Consumption, CoreError> {
        let q = self
            .queue(queue.as_str())
            .ok_or_else(|| no_queue(queue.as_str()))?;
        let id = ConsumerId(self.next_id.fetch_add(1, Ordering::Relaxed));
        q.inner.lock().unwrap().consumers.push(FakeConsumer {
            id,
            tag: spec.tag,
            sink,
            no_ack: spec.no_ack,
        });
        q.dispatch();
        Ok(Consumption { id, queue: q })
    }
    fn get(
        &self,
        queue: &QueueName,
        no_ack: bool,
        _o: ConnectionId,
    ) -> Result<Option<(Delivery, u32)>, CoreError> {
        let q = self
            .queue(queue.as_str())
            .ok_or_else(|| no_queue(queue.as_str()))?;
        let mut inner = q.inner.lock().unwrap();
        let Some((seq, message, redelivered)) = inner.ready.pop_front() else {
            return Ok(None);
        };
        if !no_ack {
            inner.unacked.insert(seq, message.clone());
        }
        let left = inner.ready.len() as u32;
        drop(inner);
        let queue: Arc<dyn QueueHandle> = q.clone();
        Ok(Some((
            Delivery {
                queue,
                seq: QueueSeq(seq),
                message,
                redelivered,
                consumer: None,
            },
            left,
        )))
    }
    fn connection_closed(&self, owner: ConnectionId) {
        self.closed.lock().unwrap().push(owner);
    }
    fn queue_names(&self) -> Vec<QueueName> {
        let queues = self.queues.lock().unwrap();
        queues
            .keys()
            .filter_map(|name| QueueName::try_from(name.as_str()).ok())
            .collect()
    }
}

pub struct FakeConsumer {
    id: ConsumerId,
    tag: ConsumerTag,
    sink: Arc<dyn DeliverySink>,
    no_ack: bool,
}

#[derive(Default)]
pub struct Inner {
    pub ready: VecDeque<(u64, Arc<Message>, bool)>,
    pub unacked: HashMap<u64, Arc<Message>>,
    consumers: Vec<FakeConsumer>,
    next_seq: u64,
    cursor: usize,
    pub acked: u64,
}

pub struct FakeQueue {
    name: QueueName,
    me: Weak<FakeQueue>,
    pub inner: Mutex<Inner>,
}

impl FakeQueue {
    fn new(name: &str) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            name: QueueName::try_from(name).unwrap(),
            me: me.clone(),
            inner: Mutex::default(),
        })
    }
    fn push(&self, message: Arc<Message>) {
        {
            let mut inner = self.inner.lock().unwrap();
            inner.next_seq += 1;
            let seq = inner.next_seq;
            inner.ready.push_back((seq, message, false));
        }
        self.dispatch();
    }
    fn dispatch(&self) {
        loop {
            let next = {
                let mut inner = self.inner.lock().unwrap();
                let n = inner.consumers.len();
                if n == 0 || inner.ready.is_empty() {
                    return;
                }
                inner.cursor = (inner.cursor + 1) % n;
                let c = &inner.consumers[inner.cursor];
                if !c.sink.has_room() {
                    return;
                }
                let (sink, tag, no_ack) = (c.sink.clone(), c.tag.clone(), c.no_ack);
                let (seq, message, redelivered) = inner.ready.pop_front().unwrap();
                if !no_ack {
                    inner.unacked.insert(seq, message.clone());
                }
                (sink, tag, seq, message, redelivered)
            };
            let (sink, tag, seq, message, redelivered) = next;
            let queue: Arc<dyn QueueHandle> = self.me.upgrade().unwrap();
            sink.deliver(Delivery {
                queue,
                seq: QueueSeq(seq),
                message,
                redelivered,
                consumer: Some(tag),
            });
        }
    }
}

impl QueueHandle for FakeQueue {
    fn name(&self) -> &QueueName {
        &self.name
    }
    fn settle(&self, seqs: &[QueueSeq], how: Settlement) {
        {
            let mut inner = self.inner.lock().unwrap();
            let mut back = Vec::new();
            for s in seqs {
                if let Some(m) = inner.unacked.remove(&s.0) {
                    match how {
                        Settlement::Ack => inner.acked += 1,
                        Settlement::Requeue => back.push((s.0, m, true)),
                        Settlement::Discard => {}
                    }
                }
            }
            back.sort_by_key(|b| std::cmp::Reverse(b.0));
            for b in back {
                inner.ready.push_front(b);
            }
        }
        self.dispatch();
    }
    fn cancel(&self, consumer: ConsumerId) {
        let mut inner = self.inner.lock().unwrap();
        inner.consumers.retain(|c| c.id != consumer);
        inner.cursor = 0;
    }
    fn kick(&self) {
        self.dispatch();
    }
    fn message_count(&self) -> u32 {
        self.inner.lock().unwrap().ready.len() as u32
    }
}
