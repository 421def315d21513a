//! The memory high watermark: a publisher with confirms filling a queue nobody consumes is
//! blocked (`connection.blocked`) once the broker's resident memory passes the watermark, and
//! goes on (`connection.unblocked`) once a consumer has drained the queue. Nothing is lost.
//!
//! The broker runs in this test process, so the watermark is set just above what the process
//! holds at the start.

use std::sync::Arc;
use std::time::Duration;

use futures_lite::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use warren_it::{confirm_channel, connect_to, declare_queue, eventually_async, DEADLINE};
use warren_model::Alarm;
use warren_testkit::{Config, TestBroker};

const BODY: usize = 1 << 20;
/// More than fits under the watermark.
const MESSAGES: usize = 256;
/// Headroom above the process's resident memory at the start. After a burst the allocator
/// keeps some freed memory resident (tens of MiB here, with the clients' buffers in the same
/// process), so the headroom must be well above that for the alarm to clear once drained.
const HEADROOM: u64 = 192 << 20;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_is_blocked_above_the_watermark_and_resumes_once_drained() {
    let mut config = Config::default();
    config.storage.disk_free_limit = 0;
    let watermark = resident_bytes() + HEADROOM;
    config.memory.high_watermark = Some(watermark);
    let broker = TestBroker::start_with(config);
    let gate = Arc::clone(broker.publish_gate());
    let publisher = connect_to(&broker).await;
    let ch = confirm_channel(&publisher).await;
    declare_queue(&ch, "mem.alarm").await;
    let publishing = tokio::spawn(async move {
        let body = vec![7u8; BODY];
        for _ in 0..MESSAGES {
            let confirm = ch
                .basic_publish(
                    "".into(),
                    "mem.alarm".into(),
                    BasicPublishOptions::default(),
                    &body,
                    BasicProperties::default(),
                )
                .await?
                .await?;
            assert!(confirm.is_ack());
        }
        Ok::<_, lapin::Error>(())
    });
    assert!(
        eventually_async(DEADLINE, || async { publisher.status().blocked() }).await,
        "connection.blocked was sent"
    );
    assert!(gate.is_raised(Alarm::Memory) && !gate.is_raised(Alarm::Disk));
    assert!(!publishing.is_finished(), "the publisher waits");
    // A consumer on another connection keeps going and drains the queue.
    let other = connect_to(&broker).await;
    let consumer_ch = other.create_channel().await.expect("channel");
    let mut consumer = consumer_ch
        .basic_consume(
            "mem.alarm".into(),
            "drain".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let mut received = 0;
    while received < MESSAGES {
        let delivery = tokio::time::timeout(DEADLINE, consumer.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "stuck at {received}, rss {} gate {:?}",
                    resident_bytes(),
                    gate
                )
            })
            .expect("a delivery")
            .expect("no error");
        assert_eq!(delivery.data.len(), BODY);
        received += 1;
    }
    tokio::time::timeout(Duration::from_secs(1), publishing)
        .await
        .expect("the publisher finished")
        .expect("task")
        .expect("every publish confirmed");
    assert!(
        eventually_async(DEADLINE, || async { !publisher.status().blocked() }).await,
        "connection.unblocked was sent"
    );
}
