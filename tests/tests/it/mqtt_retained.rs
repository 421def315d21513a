//! Retained messages: set, replace, clear with an empty payload; delivered on subscribe to
//! exact and wildcard (`+`, `#`) filters with RETAIN set, while live forwards carry RETAIN 0;
//! `$`-topics are not matched by a wildcard in the first level.

use crate::mqtt;

use mqtt::v4::{QoS, SubscribeReasonCode};
use mqtt::*;

/// Clears the retained messages a test left on a shared broker.
async fn clear(publ: &mut v4::Client, topics: &[&str]) {
    for t in topics {
        publ.publish(t, QoS::AtLeastOnce, true, b"").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_message_is_delivered_to_a_later_subscriber_with_retain_set() {
    let Some(t) = target() else { return };
    let topic = topic("ret");
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&topic, QoS::AtLeastOnce, true, b"kept").await;
    publ.publish(
        &format!("{topic}/other"),
        QoS::AtLeastOnce,
        false,
        b"not kept",
    )
    .await;

    let (mut sub, _) = v4::connect(t.v4(&name("sub"))).await;
    sub.subscribe(&topic, QoS::AtLeastOnce).await;
    let got = sub.next_publish().await;
    assert_eq!(
        (got.topic.as_str(), v4::text(&got)),
        (topic.as_str(), "kept".into())
    );
    assert!(
        got.retain,
        "a retained delivery has RETAIN set (MQTT-3.3.1-8)"
    );
    assert_eq!(got.qos, QoS::AtLeastOnce);
    sub.assert_no_publish(QUIET).await;
    clear(&mut publ, &[&topic]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_message_survives_its_publishers_disconnect() {
    let Some(t) = target() else { return };
    let topic = topic("retdis");
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&topic, QoS::AtLeastOnce, true, b"kept").await;
    publ.disconnect().await;
    let (mut sub, _) = v4::connect(t.v4(&name("sub"))).await;
    sub.subscribe(&topic, QoS::AtMostOnce).await;
    let got = sub.next_publish().await;
    assert_eq!(v4::text(&got), "kept");
    assert_eq!(got.qos, QoS::AtMostOnce, "bounded by the subscription QoS");
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    clear(&mut publ, &[&topic]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_retained_message_replaces_the_older() {
    let Some(t) = target() else { return };
    let topic = topic("repl");
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&topic, QoS::AtLeastOnce, true, b"old").await;
    publ.publish(&topic, QoS::AtMostOnce, true, b"new").await;
    // A QoS 0 publish is only ordered after the QoS 1 one; make sure it was processed.
    publ.publish(&topic, QoS::AtLeastOnce, true, b"newest")
        .await;
    let (mut sub, _) = v4::connect(t.v4(&name("sub"))).await;
    sub.subscribe(&topic, QoS::AtLeastOnce).await;
    assert_eq!(v4::text(&sub.next_publish().await), "newest");
    sub.assert_no_publish(QUIET).await;
    clear(&mut publ, &[&topic]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_retained_payload_clears_and_is_still_forwarded() {
    let Some(t) = target() else { return };
    let topic = topic("clr");
    let (mut live, _) = v4::connect(t.v4(&name("live"))).await;
    live.subscribe(&topic, QoS::AtLeastOnce).await;
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&topic, QoS::AtLeastOnce, true, b"kept").await;
    publ.publish(&topic, QoS::AtLeastOnce, true, b"").await;
    assert_eq!(v4::text(&live.next_publish().await), "kept");
    // MQTT-3.3.1-10 (3.1.1): the zero-byte retained PUBLISH is forwarded to current subscribers.
    let cleared = live.next_publish().await;
    assert!(cleared.payload.is_empty());

    let (mut late, _) = v4::connect(t.v4(&name("late"))).await;
    late.subscribe(&topic, QoS::AtLeastOnce).await;
    late.assert_no_publish(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_forward_of_a_retained_publish_has_retain_clear() {
    let Some(t) = target() else { return };
    let topic = topic("live");
    let (mut sub, _) = v4::connect(t.v4(&name("sub"))).await;
    sub.subscribe(&topic, QoS::AtLeastOnce).await;
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&topic, QoS::AtLeastOnce, true, b"r").await;
    let got = sub.next_publish().await;
    // MQTT-3.3.1-9 (3.1.1): RETAIN is 0 on messages sent to an established subscription.
    assert!(!got.retain);
    clear(&mut publ, &[&topic]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_messages_are_delivered_to_matching_wildcard_filters() {
    let Some(t) = target() else { return };
    let root = topic("wild");
    let topics = [
        format!("{root}/a/x"),
        format!("{root}/b/x"),
        format!("{root}/b/y"),
        format!("{root}/c/d/x"),
    ];
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    for tp in &topics {
        publ.publish(tp, QoS::AtLeastOnce, true, tp.as_bytes())
            .await;
    }
    let cases: [(String, &[usize]); 4] = [
        (format!("{root}/+/x"), &[0, 1]),
        (format!("{root}/#"), &[0, 1, 2, 3]),
        (format!("{root}/b/#"), &[1, 2]),
        (format!("{root}/+/+/x"), &[3]),
    ];
    for (filter, want) in cases {
        let (mut sub, _) = v4::connect(t.v4(&name("sub"))).await;
        sub.subscribe(&filter, QoS::AtLeastOnce).await;
        let mut got = Vec::new();
        for _ in want {
            let p = sub.next_publish().await;
            assert!(p.retain, "{filter}: retained delivery has RETAIN set");
            got.push(p.topic.clone());
        }
        sub.assert_no_publish(QUIET).await;
        got.sort();
        let mut expected: Vec<String> = want.iter().map(|&i| topics[i].clone()).collect();
        expected.sort();
        assert_eq!(got, expected, "retained messages for {filter}");
    }
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    clear(&mut publ, &refs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dollar_topics_are_not_matched_by_a_leading_wildcard() {
    let Some(t) = target() else { return };
    let leaf = name("leaf");
    let dollar = format!("${}/{leaf}", name("d"));
    let plain = format!("{}/{leaf}", name("p"));
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&dollar, QoS::AtLeastOnce, true, b"dollar")
        .await;
    publ.publish(&plain, QoS::AtLeastOnce, true, b"plain").await;

    // MQTT-4.7.2-1: `+/leaf` matches the plain topic but not the `$` one.
    let (mut sub, _) = v4::connect(t.v4(&name("sub"))).await;
    sub.subscribe(&format!("+/{leaf}"), QoS::AtLeastOnce).await;
    assert_eq!(sub.next_publish().await.topic, plain);
    sub.assert_no_publish(QUIET).await;

    // A filter naming the `$` level explicitly does match.
    let (mut exact, _) = v4::connect(t.v4(&name("exact"))).await;
    let granted = exact
        .subscribe(
            &format!("{}/#", dollar.split('/').next().expect("level")),
            QoS::AtLeastOnce,
        )
        .await;
    assert_eq!(granted, SubscribeReasonCode::Success(QoS::AtLeastOnce));
    assert_eq!(exact.next_publish().await.topic, dollar);
    clear(&mut publ, &[&dollar, &plain]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_dollar_topic_publish_is_not_matched_by_a_leading_wildcard() {
    let Some(t) = target() else { return };
    let leaf = name("leaf");
    let dollar = format!("${}/{leaf}", name("d"));
    let (mut sub, _) = v4::connect(t.v4(&name("sub"))).await;
    sub.subscribe(&format!("+/{leaf}"), QoS::AtLeastOnce).await;
    let (mut publ, _) = v4::connect(t.v4(&name("pub"))).await;
    publ.publish(&dollar, QoS::AtLeastOnce, false, b"x").await;
    sub.assert_no_publish(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_retained_message_arrives_on_subscribe_with_its_properties() {
    let Some(t) = target() else { return };
    let topic = topic("ret5");
    let (mut publ, _) = v5::connect(t.v5(&name("pub"))).await;
    let props = v5::PublishProperties {
        content_type: Some("text/plain".into()),
        user_properties: vec![("k".into(), "v".into())],
        ..Default::default()
    };
    publ.publish_with(&topic, v5::QoS::AtLeastOnce, true, b"kept", props)
        .await;
    let (mut sub, _) = v5::connect(t.v5(&name("sub"))).await;
    sub.subscribe(&topic, v5::QoS::AtLeastOnce).await;
    let got = sub.next_publish().await;
    assert!(got.retain);
    let p = got
        .properties
        .expect("properties kept with the retained message");
    assert_eq!(p.content_type.as_deref(), Some("text/plain"));
    assert_eq!(p.user_properties, vec![("k".to_string(), "v".to_string())]);
    publ.publish(&topic, v5::QoS::AtLeastOnce, true, b"").await;
}
