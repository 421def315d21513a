//! MQTT 5 subscription options: subscription identifiers, no-local, retain-as-published and
//! retain handling.

use crate::mqtt;
use crate::mqtt_v5_support::{expect_refusal, raw5, sub5};

use mqtt::v5::{Filter, QoS, RetainForwardRule, SubscribeProperties};
use mqtt::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_identifiers_come_back_on_matching_messages() {
    let Some(t) = target() else { return };
    let root = topic("subid");
    let (mut c, _) = v5::connect(t.v5(&name("sub"))).await;
    let with_id = |id| SubscribeProperties {
        id: Some(id),
        user_properties: vec![],
    };
    c.subscribe_filter(
        Filter::new(format!("{root}/a/+"), QoS::AtMostOnce),
        Some(with_id(7)),
    )
    .await;
    c.subscribe_filter(
        Filter::new(format!("{root}/#"), QoS::AtMostOnce),
        Some(with_id(300)),
    )
    .await;
    c.subscribe_filter(Filter::new(format!("{root}/plain"), QoS::AtMostOnce), None)
        .await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;

    publ.publish(&format!("{root}/a/x"), QoS::AtMostOnce, false, b"both")
        .await;
    // Overlapping subscriptions: one message with both ids, or one copy per subscription
    // (MQTT-3.3.4-3..5); either way every id is present.
    let mut ids = Vec::new();
    let first = c.next_publish().await;
    ids.extend(
        first
            .properties
            .clone()
            .unwrap_or_default()
            .subscription_identifiers,
    );
    if ids.len() < 2 {
        let second = c.next_publish().await;
        ids.extend(
            second
                .properties
                .unwrap_or_default()
                .subscription_identifiers,
        );
    }
    ids.sort_unstable();
    assert_eq!(ids, vec![7, 300]);

    publ.publish(&format!("{root}/plain"), QoS::AtMostOnce, false, b"plain")
        .await;
    // `plain` matches the id-less subscription and `#` (300); never 7. A single copy carries
    // 300 (Warren); a copy per subscription carries 300 on one of the two (Mosquitto).
    let mut plain_ids = Vec::new();
    for _ in 0..2 {
        let p = c.next_publish().await;
        plain_ids.extend(p.properties.unwrap_or_default().subscription_identifiers);
        if plain_ids.contains(&300) {
            break;
        }
    }
    assert_eq!(plain_ids, vec![300]);
}

/// Mosquitto 2.0.11 calls this a Malformed Packet (0x81).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_identifier_zero_is_a_protocol_error() {
    let Some(t) = target() else { return };
    let (mut raw, _) = raw5(&t, Props::new()).await;
    let p = Props::new().varint(prop::SUBSCRIPTION_ID, 0);
    // Section 3.8.2.1.2: a Protocol Error.
    let bytes = subscribe(1, &[(&topic("z"), 0)], Some(&p));
    expect_refusal(&t, &mut raw, &bytes, &[0x82]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_local_suppresses_the_subscribers_own_messages() {
    let Some(t) = target() else { return };
    let topic = topic("nolocal");
    let (mut c, _) = v5::connect(t.v5(&name("nl"))).await;
    let mut f = Filter::new(&topic, QoS::AtLeastOnce);
    f.nolocal = true;
    c.subscribe_filter(f, None).await;
    c.publish(&topic, QoS::AtLeastOnce, false, b"mine").await;
    let (mut other, _) = v5::connect(t.v5(&name("other"))).await;
    other
        .publish(&topic, QoS::AtLeastOnce, false, b"theirs")
        .await;
    // MQTT-3.8.3-3.
    assert_eq!(v5::text(&c.next_publish().await), "theirs");
    c.assert_no_publish(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_no_local_the_subscriber_gets_its_own_messages() {
    let Some(t) = target() else { return };
    let topic = topic("local");
    let (mut c, _) = v5::connect(t.v5(&name("l"))).await;
    c.subscribe(&topic, QoS::AtLeastOnce).await;
    c.publish(&topic, QoS::AtLeastOnce, false, b"mine").await;
    assert_eq!(v5::text(&c.next_publish().await), "mine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_as_published_keeps_the_retain_flag_on_live_forwards() {
    let Some(t) = target() else { return };
    let topic = topic("rap");
    let (mut rap, _) = v5::connect(t.v5(&name("rap"))).await;
    let mut f = Filter::new(&topic, QoS::AtLeastOnce);
    f.preserve_retain = true;
    rap.subscribe_filter(f, None).await;
    let mut plain = sub5(&t, &topic, QoS::AtLeastOnce).await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    publ.publish(&topic, QoS::AtLeastOnce, true, b"r").await;
    // MQTT-3.3.1-12 / 3.3.1-13.
    assert!(rap.next_publish().await.retain, "retain-as-published");
    assert!(
        !plain.next_publish().await.retain,
        "default: RETAIN cleared"
    );
    publ.publish(&topic, QoS::AtLeastOnce, true, b"").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_handling_controls_delivery_of_retained_messages_on_subscribe() {
    let Some(t) = target() else { return };
    let topic = topic("rh");
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    publ.publish(&topic, QoS::AtLeastOnce, true, b"kept").await;
    let filter = |rule| {
        let mut f = Filter::new(&topic, QoS::AtLeastOnce);
        f.retain_forward_rule = rule;
        f
    };

    // 0: on every subscribe, including a repeated one.
    let (mut c, _) = v5::connect(t.v5(&name("rh0"))).await;
    for _ in 0..2 {
        c.subscribe_filter(filter(RetainForwardRule::OnEverySubscribe), None)
            .await;
        assert_eq!(v5::text(&c.next_publish().await), "kept");
    }
    // 1: only when the subscription is new.
    let (mut c, _) = v5::connect(t.v5(&name("rh1"))).await;
    c.subscribe_filter(filter(RetainForwardRule::OnNewSubscribe), None)
        .await;
    assert_eq!(v5::text(&c.next_publish().await), "kept");
    c.subscribe_filter(filter(RetainForwardRule::OnNewSubscribe), None)
        .await;
    c.assert_no_publish(QUIET).await;
    // 2: never.
    let (mut c, _) = v5::connect(t.v5(&name("rh2"))).await;
    c.subscribe_filter(filter(RetainForwardRule::Never), None)
        .await;
    c.assert_no_publish(QUIET).await;
    publ.publish(&topic, QoS::AtLeastOnce, true, b"").await;
}
