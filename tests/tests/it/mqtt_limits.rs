//! Limits and server-side behaviour: the outbound window follows the client's Receive
//! Maximum, Server Keep Alive caps a client's keep alive, a broker shutdown says DISCONNECT
//! 0x8B, and an AMQP consumer of a shared group's queue is one more member of the group.

use crate::mqtt;

use std::collections::HashSet;

use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use mqtt::v5::QoS;
use mqtt::*;
use warren_testkit::{Config, TestBroker};

async fn raw5(addr: std::net::SocketAddr, keep_alive: u16, props: Props) -> (Raw, RawPacket) {
    let mut connect = Connect::new(V5, &name("lim"));
    connect.keep_alive = keep_alive;
    connect.props = props;
    let (raw, ack) = Raw::open(addr, &connect).await;
    assert_eq!(ack.connack().1, 0, "connected");
    (raw, ack)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_window_follows_the_clients_receive_maximum() {
    let Some(t) = target() else { return };
    let topic = topic("window");
    let props = Props::new().u16(prop::RECEIVE_MAXIMUM, 2);
    let (mut raw, _) = raw5(t.mqtt_addr(), 60, props).await;
    assert_eq!(raw_subscribe(&mut raw, 1, &topic, 1, true).await, 1);
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    for i in 0..4 {
        publ.publish(&topic, QoS::AtLeastOnce, false, format!("{i}").as_bytes())
            .await;
    }
    let first = raw.recv_kind(kind::PUBLISH).await.publish(true);
    let second = raw.recv_kind(kind::PUBLISH).await.publish(true);
    assert!(
        raw.recv_within(QUIET).await.is_err(),
        "a third PUBLISH exceeds the client's Receive Maximum of 2 (MQTT-3.3.4-9)"
    );
    raw.send(&ack(kind::PUBACK, first.pkid)).await;
    let third = raw.recv_kind(kind::PUBLISH).await.publish(true);
    assert!(raw.recv_within(QUIET).await.is_err(), "still two in flight");
    raw.send(&ack(kind::PUBACK, second.pkid)).await;
    raw.send(&ack(kind::PUBACK, third.pkid)).await;
    let fourth = raw.recv_kind(kind::PUBLISH).await.publish(true);
    let payloads: Vec<_> = [first, second, third, fourth]
        .into_iter()
        .map(|p| p.payload)
        .collect();
    assert_eq!(payloads, [b"0", b"1", b"2", b"3"].map(|b| b.to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_keep_alive_caps_a_longer_keep_alive() {
    let mut config = Config::default();
    config.mqtt.max_keep_alive = 5;
    let broker = TestBroker::start_with(config);
    let (_raw, ack) = raw5(broker.mqtt_addr(), 600, Props::new()).await;
    match find_prop(&ack.connack_props(), prop::SERVER_KEEP_ALIVE) {
        Some(PropValue::Int(5)) => {}
        other => panic!("Server Keep Alive should be 5, got {other:?}"),
    }
    // A keep alive within the cap is left alone: no Server Keep Alive.
    let (_raw, ack) = raw5(broker.mqtt_addr(), 4, Props::new()).await;
    assert!(find_prop(&ack.connack_props(), prop::SERVER_KEEP_ALIVE).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_keep_alive_is_enforced_at_one_and_a_half_times() {
    let mut config = Config::default();
    config.mqtt.max_keep_alive = 1;
    let broker = TestBroker::start_with(config);
    let (mut raw, _) = raw5(broker.mqtt_addr(), 0, Props::new()).await;
    let got = raw.expect_close(DEADLINE).await;
    let disconnect = got.iter().find(|p| p.kind() == kind::DISCONNECT);
    assert_eq!(disconnect.map(RawPacket::reason), Some(0x8D), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_shutdown_says_disconnect_0x8b() {
    let broker = TestBroker::start();
    let (mut raw, _) = raw5(broker.mqtt_addr(), 60, Props::new()).await;
    // Dropping the broker shuts it down gracefully and waits for it.
    tokio::task::spawn_blocking(move || drop(broker))
        .await
        .expect("broker stopped");
    let got = raw.expect_close(DEADLINE).await;
    let disconnect = got.iter().find(|p| p.kind() == kind::DISCONNECT);
    assert_eq!(disconnect.map(RawPacket::reason), Some(0x8B), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amqp_consumer_of_the_group_queue_joins_the_shared_group() {
    let Some(t) = warren_only() else { return };
    let topic = topic("grp");
    let group = name("g");
    let (mut member, _) = v5::connect(t.v5(&name("mem"))).await;
    let share = format!("$share/{group}/{topic}");
    member.subscribe(&share, QoS::AtLeastOnce).await;

    // The group's queue, named from the group and the filter's routing key (lossless
    // mapping: `/` becomes `.`).
    let queue = format!("mqtt-share/{group}/{}", topic.replace('/', "."));
    let amqp = t.amqp().await;
    let channel = amqp.create_channel().await.expect("channel");
    channel
        .basic_qos(1, BasicQosOptions::default())
        .await
        .expect("qos");
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "amqp-member".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("an AMQP client consumes the group's queue");

    let total = 20;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    for i in 0..total {
        publ.publish(&topic, QoS::AtLeastOnce, false, format!("{i}").as_bytes())
            .await;
    }
    let mut seen = HashSet::new();
    let (mut by_mqtt, mut by_amqp) = (0, 0);
    let until = tokio::time::Instant::now() + DEADLINE;
    while seen.len() < total {
        assert!(
            tokio::time::Instant::now() < until,
            "only {} arrived",
            seen.len()
        );
        let wait = std::time::Duration::from_millis(20);
        if let Ok(Some(Ok(delivery))) = tokio::time::timeout(wait, consumer.next()).await {
            assert!(seen.insert(delivery.data.clone()), "delivered twice");
            by_amqp += 1;
            delivery.ack(BasicAckOptions::default()).await.expect("ack");
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
    assert!(by_mqtt > 0 && by_amqp > 0, "mqtt {by_mqtt}, amqp {by_amqp}");
}
