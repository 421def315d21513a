//! Helpers for the queue-feature tests: a core whose timers fire (on plain threads), queue
//! arguments, message properties, and polling with a deadline.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use warren_core::{Core, CoreConfig};
use warren_model::{
    ExchangeName, FieldTable, FieldValue, Message, Properties, PublishOutcome, Scheduler, VHost,
    VHostName,
};

use crate::common::{message, queue_spec, C1};

/// Runs each job on a thread of its own at its time: enough for tests, where the core asks
/// for few wake-ups.
pub struct ThreadScheduler;

impl Scheduler for ThreadScheduler {
    fn schedule(&self, at: Instant, task: Box<dyn FnOnce() + Send>) {
        std::thread::spawn(move || {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            task();
        });
    }
}

/// A vhost whose deadlines fire on time.
pub fn timed_vhost() -> Arc<dyn VHost> {
    let core = Core::with_scheduler(CoreConfig::default(), Arc::new(ThreadScheduler));
    core.vhost_by_name(&VHostName::try_from("/").unwrap())
        .unwrap()
}

/// Polls `check` until it holds or five seconds pass.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub fn table(entries: &[(&str, FieldValue)]) -> FieldTable {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub fn s(text: &str) -> FieldValue {
    FieldValue::string(text)
}

pub fn declare_with(v: &dyn VHost, name: &str, args: &[(&str, FieldValue)]) {
    let mut spec = queue_spec(name);
    spec.arguments = table(args);
    v.declare_queue(spec, false, C1).unwrap();
}

/// A message to `key` with properties set by `props`.
pub fn message_with(key: &str, body: &str, props: impl FnOnce(&mut Properties)) -> Arc<Message> {
    let mut m = Arc::unwrap_or_clone(message(key, body));
    props(&mut m.properties);
    Arc::new(m)
}

pub fn publish(v: &dyn VHost, exchange: &str, m: Arc<Message>) -> PublishOutcome {
    let x = ExchangeName::try_from(exchange).unwrap();
    v.publish(&x, m).unwrap()
}

/// Takes one message off `queue` with basic.get (auto-ack).
pub fn get(v: &dyn VHost, queue: &str) -> Option<Arc<Message>> {
    let name = warren_model::QueueName::try_from(queue).unwrap();
    v.get(&name, true, C1).unwrap().map(|(d, _)| d.message)
}

pub fn count(v: &dyn VHost, queue: &str) -> u32 {
    let name = warren_model::QueueName::try_from(queue).unwrap();
    v.declare_queue(
        warren_model::QueueSpec {
            name: Some(name),
            ..queue_spec(queue)
        },
        true,
        C1,
    )
    .unwrap()
    .message_count
}

pub fn header<'a>(m: &'a Message, key: &str) -> Option<&'a FieldValue> {
    m.properties.headers.as_ref()?.get(key)
}

/// The `x-death` entries of a message, newest first.
pub fn deaths(m: &Message) -> Vec<FieldTable> {
    match header(m, "x-death") {
        Some(FieldValue::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                FieldValue::Table(t) => Some(t.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub fn text<'a>(t: &'a FieldTable, key: &str) -> &'a str {
    t.get(key).and_then(FieldValue::as_str).unwrap_or("")
}

pub fn text_of(m: &Message) -> String {
    String::from_utf8_lossy(&m.body).into_owned()
}
