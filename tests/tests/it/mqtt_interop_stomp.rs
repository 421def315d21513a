//! MQTT with STOMP on one broker: a STOMP consumer of a shared subscription's group queue is
//! one more member of the group.

use crate::mqtt;
use crate::stomp;

use std::collections::HashSet;
use std::time::Duration;

use mqtt::v5::QoS;
use mqtt::{name, topic, v5, warren_only, MqttTarget, DEADLINE};
use stomp::StompClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stomp_consumer_of_the_group_queue_joins_the_shared_group() {
    let Some(t) = warren_only() else { return };
    let MqttTarget::Local(broker) = &t else {
        return;
    };
    let topic = topic("sgrp");
    let group = name("g");
    let (mut member, _) = v5::connect(t.v5(&name("mem"))).await;
    member
        .subscribe(&format!("$share/{group}/{topic}"), QoS::AtLeastOnce)
        .await;

    // The group's queue is `mqtt-share/<group>/<routing key>`; STOMP escapes its slashes.
    let queue = format!("mqtt-share/{group}/{}", topic.replace('/', "."));
    let destination = format!("/amq/queue/{}", queue.replace('/', "%2F"));
    let mut stomp = StompClient::open(broker.stomp_addr()).await;
    let connected = stomp
        .connect(&[("accept-version", "1.2"), ("host", "/")])
        .await;
    assert_eq!(connected.command, "CONNECTED", "{connected:?}");
    stomp.subscribe("s1", &destination).await;

    let total = 20;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    for i in 0..total {
        publ.publish(&topic, QoS::AtLeastOnce, false, format!("{i}").as_bytes())
            .await;
    }
    let mut seen = HashSet::new();
    let (mut by_mqtt, mut by_stomp) = (0, 0);
    let until = tokio::time::Instant::now() + DEADLINE;
    let wait = Duration::from_millis(20);
    while seen.len() < total {
        assert!(
            tokio::time::Instant::now() < until,
            "only {} arrived",
            seen.len()
        );
        if let Some(frame) = stomp.recv_within(wait).await {
            assert_eq!(frame.command, "MESSAGE", "{frame:?}");
            assert!(seen.insert(frame.body), "delivered twice");
            by_stomp += 1;
        }
        if let Some(payload) = member
            .try_next_publish(wait)
            .await
            .map(|p| p.payload.to_vec())
        {
            assert!(seen.insert(payload), "delivered twice");
            by_mqtt += 1;
        }
    }
    assert!(
        by_mqtt > 0 && by_stomp > 0,
        "mqtt {by_mqtt}, stomp {by_stomp}"
    );
}
