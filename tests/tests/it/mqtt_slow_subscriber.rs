//! A QoS 0 subscriber that stops reading loses its messages instead of keeping them queued,
//! as Mosquitto drops QoS 0 messages for a client whose queue is full: left in its queue they
//! would pile up until the queue paused the publisher, and every other subscriber of the
//! topic would get its messages at the stalled client's pace.

use crate::mqtt;

use mqtt::*;

/// Large enough that a thousand fill any socket buffer many times over: about 65 of them
/// (4 MiB) were left in the buffers here.
const PAYLOAD: usize = 64 * 1024;
const MESSAGES: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qos0_subscriber_that_stopped_reading_does_not_keep_what_it_misses() {
    let Some(t) = warren_only() else { return };
    let topic = topic("stalled");
    let (mut stalled, _) = Raw::open(t.mqtt_addr(), &Connect::new(V311, &name("stalled"))).await;
    assert_eq!(raw_subscribe(&mut stalled, 1, &topic, 0, false).await, 0);
    let (mut reader, _) = Raw::open(t.mqtt_addr(), &Connect::new(V311, &name("reader"))).await;
    assert_eq!(raw_subscribe(&mut reader, 1, &topic, 0, false).await, 0);
    let (mut publisher, _) = Raw::open(t.mqtt_addr(), &Connect::new(V311, &name("pub"))).await;
    let packet = publish(&topic, 0, false, false, 0, &vec![7; PAYLOAD], None);
    // One at a time: the reader is never behind, so whatever is dropped is the stalled one's.
    for _ in 0..MESSAGES {
        publisher.send(&packet).await;
        let got = reader.recv_kind(kind::PUBLISH).await.publish(false);
        assert_eq!(got.payload.len(), PAYLOAD);
    }
    // Whatever it was not dropped sits in its socket's buffers, its session's outbox, or its
    // queue, and reaches it now that it reads again.
    let mut kept = 0;
    while let Ok(packet) = stalled.recv_within(QUIET).await {
        if packet.kind() == kind::PUBLISH {
            kept += 1;
        }
    }
    assert!(
        kept < MESSAGES / 4,
        "{kept} of {MESSAGES} messages were kept for a subscriber that had stopped reading"
    );
}
