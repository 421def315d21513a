//! Shared subscriptions `$share/{group}/{filter}`: each message goes to one member of the
//! group, load-balanced; every group and every plain subscription gets its own copy; members
//! may use 3.1.1 or 5; invalid share names and no-local on a share are refused.

use crate::mqtt;

use std::collections::HashSet;

use mqtt::v5::{Filter, QoS};
use mqtt::*;

async fn member(t: &MqttTarget, share: &str) -> v5::Client {
    let (mut c, _) = v5::connect(t.v5(&name("mem"))).await;
    let code = c.subscribe(share, QoS::AtLeastOnce).await;
    assert_eq!(code, v5::SubscribeReasonCode::Success(QoS::AtLeastOnce));
    c
}

/// Receives until every one of `want` payloads has arrived across `members`; returns how
/// many each member got. Fails on a duplicate.
async fn collect(members: &mut [&mut v5::Client], want: usize) -> Vec<usize> {
    let mut seen = HashSet::new();
    let mut per = vec![0; members.len()];
    let until = tokio::time::Instant::now() + DEADLINE;
    while seen.len() < want {
        assert!(
            tokio::time::Instant::now() < until,
            "only {} of {want} arrived",
            seen.len()
        );
        for (i, m) in members.iter_mut().enumerate() {
            let got = m
                .try_next_publish(std::time::Duration::from_millis(20))
                .await;
            if let Some(payload) = got.map(|p| p.payload) {
                assert!(seen.insert(payload.clone()), "delivered twice: {payload:?}");
                per[i] += 1;
            }
        }
    }
    for m in members.iter_mut() {
        m.assert_no_publish(QUIET).await;
    }
    per
}

async fn publish_n(t: &MqttTarget, topic: &str, n: usize) {
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    for i in 0..n {
        publ.publish(topic, QoS::AtLeastOnce, false, format!("{i}").as_bytes())
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_load_balanced_across_the_group() {
    let Some(t) = target() else { return };
    let root = topic("share");
    let share = format!("$share/{}/{root}/#", name("g"));
    let mut a = member(&t, &share).await;
    let mut b = member(&t, &share).await;
    publish_n(&t, &format!("{root}/x"), 20).await;
    let per = collect(&mut [&mut a, &mut b], 20).await;
    assert!(
        per.iter().all(|&n| n > 0),
        "both members get messages: {per:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_group_and_each_plain_subscriber_gets_a_copy() {
    let Some(t) = target() else { return };
    let root = topic("groups");
    let g1 = format!("$share/{}/{root}", name("g1"));
    let g2 = format!("$share/{}/{root}", name("g2"));
    let mut a1 = member(&t, &g1).await;
    let mut a2 = member(&t, &g1).await;
    let mut b1 = member(&t, &g2).await;
    let mut plain = member(&t, &root).await;
    publish_n(&t, &root, 6).await;
    assert_eq!(
        collect(&mut [&mut a1, &mut a2], 6)
            .await
            .iter()
            .sum::<usize>(),
        6
    );
    assert_eq!(collect(&mut [&mut b1], 6).await, vec![6]);
    assert_eq!(collect(&mut [&mut plain], 6).await, vec![6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_clients_can_be_members() {
    let Some(t) = target() else { return };
    let root = topic("share4");
    let share = format!("$share/{}/{root}", name("g"));
    let (mut m4, _) = v4::connect(t.v4(&name("m4"))).await;
    let code = m4.subscribe(&share, v4::QoS::AtLeastOnce).await;
    assert_eq!(code, v4::SubscribeReasonCode::Success(v4::QoS::AtLeastOnce));
    let mut m5 = member(&t, &share).await;
    publish_n(&t, &root, 10).await;
    let mut from4 = HashSet::new();
    let mut from5 = HashSet::new();
    let until = tokio::time::Instant::now() + DEADLINE;
    while from4.len() + from5.len() < 10 && tokio::time::Instant::now() < until {
        let short = std::time::Duration::from_millis(20);
        if let Some(p) = m4.try_next_publish(short).await {
            from4.insert(p.payload);
        }
        if let Some(p) = m5.try_next_publish(short).await {
            from5.insert(p.payload);
        }
    }
    assert_eq!(from4.len() + from5.len(), 10);
    assert!(from4.is_disjoint(&from5), "no message to both members");
    assert!(
        !from4.is_empty() && !from5.is_empty(),
        "{} / {}",
        from4.len(),
        from5.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remaining_member_gets_everything_after_another_leaves() {
    let Some(t) = target() else { return };
    let root = topic("leave");
    let share = format!("$share/{}/{root}", name("g"));
    let mut a = member(&t, &share).await;
    let b = member(&t, &share).await;
    b.disconnect().await;
    // A member leaving must not leave a gap: all later messages go to the one left.
    let mut probe = 0;
    assert!(
        eventually_async_probe(&t, &root, &mut a, &mut probe).await,
        "the group keeps serving its remaining member"
    );
    publish_n(&t, &root, 8).await;
    let per = collect(&mut [&mut a], 8).await;
    assert_eq!(per, vec![8]);
}

/// Publishes probes until one reaches `m` (the group has settled after a change).
async fn eventually_async_probe(
    t: &MqttTarget,
    root: &str,
    m: &mut v5::Client,
    n: &mut usize,
) -> bool {
    let (mut publ, _) = v5::connect(t.v5(&name("probe"))).await;
    let until = tokio::time::Instant::now() + DEADLINE;
    while tokio::time::Instant::now() < until {
        *n += 1;
        publ.publish(
            root,
            QoS::AtLeastOnce,
            false,
            format!("probe{n}").as_bytes(),
        )
        .await;
        let got = m
            .try_next_publish(std::time::Duration::from_millis(100))
            .await;
        if got.is_some() {
            // Drain any other probe that is still in flight.
            while m.try_next_publish(QUIET).await.is_some() {}
            return true;
        }
    }
    false
}

/// MQTT 5 section 3.3.1.3 sends retained messages only for a new non-shared subscription;
/// Mosquitto 2.0.11 sends them to shared ones too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_messages_are_not_sent_to_a_new_shared_subscription() {
    let Some(t) = target() else { return };
    let root = topic("shret");
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    publ.publish(&root, QoS::AtLeastOnce, true, b"kept").await;
    let mut m = member(&t, &format!("$share/{}/{root}", name("g"))).await;
    m.assert_no_publish(QUIET).await;
    publ.publish(&root, QoS::AtLeastOnce, true, b"").await;
}

/// Mosquitto 2.0.11 grants it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_local_on_a_shared_subscription_is_a_protocol_error() {
    let Some(t) = target() else { return };
    let (mut raw, _) = Raw::open(t.mqtt_addr(), &Connect::new(V5, &name("nl"))).await;
    let share = format!("$share/{}/{}", name("g"), topic("nl"));
    raw.send_lossy(&subscribe(1, &[(&share, 0x04)], Some(&Props::new())))
        .await;
    // MQTT-3.8.3-4.
    let got = raw.expect_close(DEADLINE).await;
    assert!(got.iter().all(|p| p.kind() != kind::SUBACK), "{got:?}");
    if let Some(d) = got.iter().find(|p| p.kind() == kind::DISCONNECT) {
        assert_eq!(d.reason(), 0x82);
    }
}

/// MQTT-4.8.2-1/2: a share name of one or more characters without `+`, `#` or `/`, then `/`
/// and a filter. Mosquitto 2.0.11 grants `$share/g` as if it were a plain filter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_share_names_are_refused() {
    let Some(t) = target() else { return };
    let g = name("g");
    for filter in [
        format!("$share/{g}"),
        format!("$share/{g}+/x"),
        "$share//x".to_string(),
    ] {
        let (mut raw, _) = Raw::open(t.mqtt_addr(), &Connect::new(V5, &name("bad"))).await;
        raw.send_lossy(&subscribe(1, &[(&filter, 0)], Some(&Props::new())))
            .await;
        match raw.recv_within(DEADLINE).await {
            Ok(p) if p.kind() == kind::SUBACK => {
                let code = p.suback_codes(true)[0];
                assert!(code >= 0x80, "{filter} granted {code:#x}");
            }
            Ok(p) if p.kind() == kind::DISCONNECT => assert!(p.reason() >= 0x80),
            Ok(p) => panic!("unexpected {p:?}"),
            Err(RawEnd::Closed) => {}
            Err(RawEnd::Timeout) => panic!("no reaction to {filter}"),
        }
    }
}

/// A SHOULD of the spec that Warren's queue-backed groups honour; Mosquitto 2.0.11 drops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_message_of_a_departed_member_goes_to_another() {
    let Some(t) = target() else { return };
    let root = topic("shredo");
    let share = format!("$share/{}/{root}", name("g"));
    // A raw member that never acknowledges.
    let (mut raw, _) = Raw::open(t.mqtt_addr(), &Connect::new(V5, &name("slow"))).await;
    assert_eq!(raw_subscribe(&mut raw, 1, &share, 1, true).await, 1);
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    publ.publish(&root, QoS::AtLeastOnce, false, b"orphan")
        .await;
    let p = raw.recv_kind(kind::PUBLISH).await.publish(true);
    assert_eq!(p.payload, b"orphan");
    let mut other = member(&t, &share).await;
    drop(raw); // its session ends with the connection (no session expiry)
               // MQTT 5 section 4.8.2: SHOULD be sent to another member.
    assert_eq!(v5::text(&other.next_publish().await), "orphan");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_filter_wildcards_apply_within_the_group() {
    let Some(t) = target() else { return };
    let root = topic("shwild");
    let share = format!("$share/{}/{root}/+/x", name("g"));
    let (mut m, _) = v5::connect(t.v5(&name("m"))).await;
    m.subscribe_filter(Filter::new(&share, QoS::AtMostOnce), None)
        .await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    publ.publish(&format!("{root}/a/y"), QoS::AtLeastOnce, false, b"no")
        .await;
    publ.publish(&format!("{root}/a/x"), QoS::AtLeastOnce, false, b"yes")
        .await;
    let got = m.next_publish().await;
    assert_eq!(
        (v5::topic_of(&got), v5::text(&got)),
        (format!("{root}/a/x"), "yes".into())
    );
    m.assert_no_publish(QUIET).await;
}

/// A shared subscription is part of each member's session (MQTT 5 section 4.8.2): while a
/// persistent member is away, the group keeps collecting and the member gets the messages
/// when it returns. Once the last session holding the subscription ends, the group is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_offline_persistent_members_keeps_its_messages() {
    let Some(t) = warren_only() else { return };
    let root = topic("away");
    let group = name("g");
    let share = format!("$share/{group}/{root}");
    let id = name("away");
    let mut connect = Connect::new(V5, &id);
    connect.clean = false;
    connect.props = Props::new().u32(prop::SESSION_EXPIRY, 300);
    let (mut raw, _) = Raw::open(t.mqtt_addr(), &connect).await;
    assert_eq!(raw_subscribe(&mut raw, 1, &share, 1, true).await, 1);
    raw.send(&disconnect(Some((0, &Props::new())))).await;
    raw.expect_close(DEADLINE).await;

    publish_n(&t, &root, 3).await;
    let (mut raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    assert_eq!(ack.connack(), (true, 0), "the session was kept");
    let mut got = Vec::new();
    for _ in 0..3 {
        let p = raw.recv_kind(kind::PUBLISH).await.publish(true);
        raw.send(&ack_packet(p.pkid)).await;
        got.push(p.payload);
    }
    assert_eq!(got, [b"0", b"1", b"2"].map(|b| b.to_vec()));

    // Ending the session (clean start, then a normal DISCONNECT) ends the group.
    drop(raw);
    let mut clean = Connect::new(V5, &id);
    clean.clean = true;
    let (mut raw, ack) = Raw::open(t.mqtt_addr(), &clean).await;
    assert_eq!(ack.connack(), (false, 0));
    raw.send(&disconnect(Some((0, &Props::new())))).await;
    raw.expect_close(DEADLINE).await;
    let amqp = t.amqp().await;
    let channel = amqp.create_channel().await.expect("channel");
    let queue = format!("mqtt-share/{group}/{}", root.replace('/', "."));
    let passive = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let declared = channel
        .queue_declare(
            queue.as_str().into(),
            passive,
            lapin::types::FieldTable::default(),
        )
        .await;
    assert!(declared.is_err(), "the group queue is gone: {declared:?}");
}

fn ack_packet(pkid: u16) -> Vec<u8> {
    ack(kind::PUBACK, pkid)
}
