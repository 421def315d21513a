//! MQTT 5 message properties: user properties, content type, payload format indicator,
//! response topic and correlation data passed through unchanged, and message expiry.

use crate::mqtt;
use crate::mqtt_v5_support::sub5;

use std::time::Duration;

use bytes::Bytes;
use mqtt::v5::{PublishProperties, QoS};
use mqtt::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_properties_pass_through_unchanged() {
    let Some(t) = target() else { return };
    let topic = topic("props");
    let mut sub = sub5(&t, &topic, QoS::AtLeastOnce).await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    let sent = PublishProperties {
        payload_format_indicator: Some(1),
        content_type: Some("application/json; charset=utf-8".into()),
        response_topic: Some(format!("{topic}/reply")),
        correlation_data: Some(Bytes::from_static(&[0, 1, 2, 255])),
        // Order kept and duplicate keys allowed (MQTT-3.3.2-17/18).
        user_properties: vec![
            ("b".into(), "1".into()),
            ("a".into(), "2".into()),
            ("b".into(), "3".into()),
            ("ünï".into(), "cödé ✓".into()),
        ],
        ..Default::default()
    };
    publ.publish_with(&topic, QoS::AtLeastOnce, false, br#"{"k":1}"#, sent.clone())
        .await;
    let got = sub.next_publish().await;
    assert_eq!(v5::text(&got), r#"{"k":1}"#);
    let p = got.properties.expect("properties");
    assert_eq!(p.payload_format_indicator, sent.payload_format_indicator);
    assert_eq!(p.content_type, sent.content_type);
    assert_eq!(p.response_topic, sent.response_topic);
    assert_eq!(p.correlation_data, sent.correlation_data);
    assert_eq!(p.user_properties, sent.user_properties);
    assert_eq!(p.topic_alias, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_expiry_is_forwarded_as_the_remaining_interval() {
    let Some(t) = target() else { return };
    let topic = topic("mexp");
    let mut sub = sub5(&t, &topic, QoS::AtLeastOnce).await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    let props = PublishProperties {
        message_expiry_interval: Some(120),
        ..Default::default()
    };
    publ.publish_with(&topic, QoS::AtLeastOnce, false, b"x", props)
        .await;
    let got = sub.next_publish().await;
    let left = got
        .properties
        .and_then(|p| p.message_expiry_interval)
        .expect("expiry forwarded (MQTT-3.3.2-6)");
    assert!(left > 0 && left <= 120, "remaining {left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_message_is_not_delivered_to_a_returning_session() {
    let Some(t) = target() else { return };
    let id = name("mexpoff");
    let topic = topic("mexpoff");
    let mut opts = t.v5(&id);
    opts.set_clean_start(false)
        .set_session_expiry_interval(Some(60));
    let (mut c, _) = v5::connect(opts.clone()).await;
    c.subscribe(&topic, QoS::AtLeastOnce).await;
    c.disconnect().await;
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    let short = PublishProperties {
        message_expiry_interval: Some(1),
        ..Default::default()
    };
    publ.publish_with(&topic, QoS::AtLeastOnce, false, b"stale", short)
        .await;
    publ.publish(&topic, QoS::AtLeastOnce, false, b"fresh")
        .await;
    // The interval itself is the behaviour under test: let it pass.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (mut c, ack) = v5::connect(opts).await;
    assert!(ack.session_present);
    assert_eq!(v5::text(&c.next_publish().await), "fresh");
    c.assert_no_publish(QUIET).await;
    Raw::open(t.mqtt_addr(), &Connect::new(V5, &id)).await;
}
