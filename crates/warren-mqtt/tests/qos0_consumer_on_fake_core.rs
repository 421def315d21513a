//! A session whose subscriptions are all QoS 0 consumes its queue without acknowledgements;
//! its first subscription above QoS 0 turns them on before that subscription is bound. QoS 0
//! deliveries to a client that is not keeping up are dropped (ADR 0017). Checked against the
//! journal of the fake core of `warren-fake-core`.

mod common;

use common::fake_core::*;
use common::*;
use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::Packet;
use warren_fake_core::Call;
use warren_model::Settlement;

/// The journal's consumes, cancels and binds of the session's queue, in order.
fn consumer_calls(b: &FakeCoreBroker, queue: &str) -> Vec<String> {
    let of_queue = |q: &str| q == queue;
    b.vhost()
        .calls()
        .into_iter()
        .filter_map(|call| match call {
            Call::Consume {
                queue, tag, no_ack, ..
            } if of_queue(&queue) => Some(format!("consume {tag} no_ack={no_ack}")),
            Call::Cancel { queue, .. } if of_queue(&queue) => Some("cancel".into()),
            Call::Bind { queue, key, .. } if of_queue(&queue) => Some(format!("bind {key}")),
            _ => None,
        })
        .collect()
}

fn received(c: &mut Client) -> (QoS, Option<std::num::NonZeroU16>) {
    let got = c.wake3();
    let [Packet::Publish(p)] = got.as_slice() else {
        panic!("{got:?}")
    };
    (p.qos, p.packet_id)
}

#[test]
fn qos0_subscriptions_consume_without_acks_until_a_qos1_subscription() {
    let b = FakeCoreBroker::new();
    let mut c = b.client();
    c.connect3("q0", true);
    let queue = session_queue("q0");
    c.send3(sub3(
        1,
        &[("a/b", QoS::AtMostOnce), ("a/c", QoS::AtMostOnce)],
    ));
    assert_eq!(
        consumer_calls(&b, &queue),
        [
            "consume mqtt-session-qos0 no_ack=true",
            "bind a.b",
            "bind a.c"
        ]
    );

    assert_eq!(core_publish(b.vhost(), "a.b", 1, b"capped"), 1);
    assert_eq!(received(&mut c), (QoS::AtMostOnce, None));
    assert!(
        settles(b.vhost()).is_empty(),
        "the queue let go of it when it handed it over"
    );

    c.send3(sub3(2, &[("x/y", QoS::AtLeastOnce)]));
    assert_eq!(
        consumer_calls(&b, &queue)[3..],
        ["consume mqtt-session no_ack=false", "cancel", "bind x.y"],
        "acknowledgements start before the QoS 1 subscription is bound"
    );
    core_publish(b.vhost(), "x.y", 1, b"tracked");
    let (qos, id) = received(&mut c);
    assert_eq!(qos, QoS::AtLeastOnce);
    assert!(c
        .send3(Packet::PublishAck {
            packet_id: id.unwrap()
        })
        .is_empty());
    let settled = settles(b.vhost());
    assert!(
        matches!(settled.as_slice(), [(q, _, Settlement::Ack)] if *q == queue),
        "{settled:?}"
    );

    // QoS 0 deliveries from the consumer with acknowledgements are settled once written.
    core_publish(b.vhost(), "a.c", 0, b"zero");
    assert_eq!(received(&mut c), (QoS::AtMostOnce, None));
    assert_eq!(settles(b.vhost()).len(), 2);
}

#[test]
fn a_resumed_session_with_a_qos1_subscription_consumes_with_acks() {
    let b = FakeCoreBroker::new();
    let mut c = b.client();
    c.connect3("keep", false);
    c.send3(sub3(
        1,
        &[("a/b", QoS::AtMostOnce), ("c/d", QoS::AtLeastOnce)],
    ));
    c.send3(Packet::Disconnect);
    let mut again = b.client();
    assert!(again.connect3("keep", false), "session present");
    let consumes: Vec<String> = consumer_calls(&b, &session_queue("keep"))
        .into_iter()
        .filter(|call| call.starts_with("consume"))
        .collect();
    assert_eq!(
        consumes,
        [
            "consume mqtt-session-qos0 no_ack=true",
            "consume mqtt-session no_ack=false",
            "consume mqtt-session no_ack=false",
        ]
    );
}

#[test]
fn qos0_deliveries_to_a_client_that_is_not_keeping_up_are_dropped() {
    let b = FakeCoreBroker::new();
    let mut c = b.client();
    c.connect3("lag", true);
    c.send3(sub3(1, &[("a/b", QoS::AtMostOnce)]));
    // As the driver leaves it when the client's socket took nothing more: half a batch.
    let unwritten = vec![0u8; warren_model::OUTPUT_BATCH / 2];
    c.output.extend_from_slice(&unwritten);
    assert_eq!(core_publish(b.vhost(), "a.b", 1, b"dropped"), 1);
    c.session.on_wake(&mut c.output, c.now);
    assert_eq!(
        c.output.len(),
        unwritten.len(),
        "nothing more written for a client that is not keeping up"
    );
    c.output.clear();
    assert!(c.wake3().is_empty(), "dropped, not kept for later");
    assert_eq!(core_publish(b.vhost(), "a.b", 1, b"sent"), 1);
    assert_eq!(
        received(&mut c),
        (QoS::AtMostOnce, None),
        "a client that caught up gets what comes next"
    );
}
