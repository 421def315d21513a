//! Helpers for the queue suites: declare options and a consumer on a queue.

use lapin::options::{BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::Channel;

pub fn opts(f: impl FnOnce(&mut QueueDeclareOptions)) -> QueueDeclareOptions {
    let mut o = QueueDeclareOptions::default();
    f(&mut o);
    o
}

pub async fn consume(ch: &Channel, queue: &str, tag: &str) -> lapin::Result<lapin::Consumer> {
    ch.basic_consume(
        queue.into(),
        tag.into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
}
