//! CONNECT and CONNACK: 3.1 (`MQIsdp`), 3.1.1 and 5.0 accepted; return and reason codes for
//! refusals; client identifier rules; session takeover of a duplicate client id.

use crate::mqtt;

use mqtt::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_connect_is_accepted_without_a_session() {
    let Some(t) = target() else { return };
    let (c, ack) = v4::connect(t.v4(&name("c311"))).await;
    assert_eq!(ack.code, v4::ConnectReturnCode::Success);
    assert!(!ack.session_present, "clean session never has a session");
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_connect_is_accepted_without_a_session() {
    let Some(t) = target() else { return };
    let (c, ack) = v5::connect(t.v5(&name("c5"))).await;
    assert_eq!(ack.code, v5::ConnectReturnCode::Success);
    assert!(!ack.session_present);
    c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v31_mqisdp_connect_is_accepted_and_usable() {
    let Some(t) = target() else { return };
    let topic = topic("v31");
    let (mut raw, ack) = Raw::open(t.mqtt_addr(), &Connect::new(V31, &name("c31"))).await;
    assert_eq!(ack.connack(), (false, 0));
    assert_eq!(raw_subscribe(&mut raw, 1, &topic, 1, false).await, 1);
    raw.send(&publish(&topic, 1, false, false, 2, b"hi", None))
        .await;
    // The PUBACK and the delivery may come in either order.
    let mut got_ack = false;
    let mut got_msg = None;
    while !(got_ack && got_msg.is_some()) {
        let p = raw.recv().await;
        match p.kind() {
            kind::PUBACK => got_ack = p.pkid() == 2,
            kind::PUBLISH => got_msg = Some(p.publish(false)),
            _ => {}
        }
    }
    let msg = got_msg.expect("delivery");
    assert_eq!(
        (msg.topic.as_str(), msg.payload.as_slice()),
        (topic.as_str(), &b"hi"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_protocol_level_is_refused_and_closed() {
    let Some(t) = target() else { return };
    let mut raw = t.raw().await;
    let mut connect = Connect::new(V311, &name("lvl"));
    connect.level = 7;
    raw.send(&connect.encode()).await;
    let got = raw.expect_close(DEADLINE).await;
    // MQTT-3.1.2-2: CONNACK 0x01 (3.1.1) or 0x84 (5.0), then close.
    assert_eq!(got.len(), 1, "one CONNACK then close: {got:?}");
    let code = got[0].connack().1;
    assert!(code == 0x01 || code == 0x84, "return code {code:#x}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_protocol_name_is_closed_without_connack() {
    let Some(t) = target() else { return };
    let mut raw = t.raw().await;
    let mut body = lp(b"MQTX");
    body.extend([4, 0x02, 0, 30]);
    body.extend(lp(name("pn").as_bytes()));
    raw.send(&packet(kind::CONNECT << 4, &body)).await;
    // MQTT-3.1.2-1: the server MAY disconnect without a CONNACK; it must not accept.
    let got = raw.expect_close(DEADLINE).await;
    assert!(
        got.iter()
            .all(|p| p.kind() != kind::CONNACK || p.connack().1 != 0),
        "connection was accepted: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_packet_other_than_connect_closes_the_connection() {
    let Some(t) = target() else { return };
    let mut raw = t.raw().await;
    raw.send(&pingreq()).await;
    let got = raw.expect_close(DEADLINE).await;
    assert!(
        got.is_empty(),
        "nothing is answered before CONNECT: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_connect_closes_the_connection() {
    let Some(t) = target() else { return };
    let connect = Connect::new(V311, &name("twice"));
    let (mut raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    assert_eq!(ack.connack().1, 0);
    raw.send(&connect.encode()).await;
    // MQTT-3.1.0-2: a second CONNECT is a protocol violation.
    let got = raw.expect_close(DEADLINE).await;
    assert!(
        got.iter().all(|p| p.kind() != kind::CONNACK),
        "second CONNECT answered: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_connect_flag_closes_the_connection() {
    let Some(t) = target() else { return };
    let mut raw = t.raw().await;
    let mut connect = Connect::new(V311, &name("rsv"));
    connect.reserved_flag = true;
    raw.send(&connect.encode()).await;
    // MQTT-3.1.2-3.
    let got = raw.expect_close(DEADLINE).await;
    assert!(
        got.iter()
            .all(|p| p.kind() != kind::CONNACK || p.connack().1 != 0),
        "accepted a CONNECT with the reserved flag: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_password_without_user_name_closes_without_connack() {
    let Some(t) = target() else { return };
    let mut raw = t.raw().await;
    let mut connect = Connect::new(V311, &name("pwonly"));
    connect.username = None;
    raw.send(&connect.encode()).await;
    // MQTT-3.1.2-22, and MQTT-3.1.4-1: close without CONNACK.
    let got = raw.expect_close(DEADLINE).await;
    assert!(
        got.iter().all(|p| p.kind() != kind::CONNACK),
        "answered a CONNECT with a password but no user name: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_password_without_user_name_is_allowed() {
    let Some(t) = warren_only() else { return };
    let mut connect = Connect::new(V5, &name("pw5"));
    connect.username = None;
    // MQTT 5 section 3.1.2.9 allows it; anonymous login as the default user.
    let (_raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    assert_eq!(ack.connack().1, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_bad_password_is_refused_with_code_4() {
    let Some(t) = target() else { return };
    if !t.checks_credentials() {
        eprintln!("skipped: broker does not check credentials");
        return;
    }
    let mut opts = t.v4(&name("badpw"));
    opts.set_credentials("guest", "wrong");
    let mut c = v4::start(opts);
    match c.connack().await {
        Err(v4::ConnectionError::ConnectionRefused(code)) => {
            assert_eq!(code, v4::ConnectReturnCode::BadUserNamePassword)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_unknown_user_is_refused_and_closed() {
    let Some(t) = target() else { return };
    if !t.checks_credentials() {
        eprintln!("skipped: broker does not check credentials");
        return;
    }
    let mut connect = Connect::new(V311, &name("nouser"));
    connect.username = Some(name("nobody"));
    let (mut raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    let code = ack.connack().1;
    assert!(code == 4 || code == 5, "return code {code}");
    raw.expect_close(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_bad_password_is_refused_with_0x86() {
    let Some(t) = target() else { return };
    if !t.checks_credentials() {
        eprintln!("skipped: broker does not check credentials");
        return;
    }
    let mut connect = Connect::new(V5, &name("badpw5"));
    connect.password = Some(b"wrong".to_vec());
    let (mut raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    assert_eq!(ack.connack().1, 0x86);
    raw.expect_close(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_empty_client_id_with_clean_session_is_accepted() {
    let Some(t) = target() else { return };
    let (mut raw, ack) = Raw::open(t.mqtt_addr(), &Connect::new(V311, "")).await;
    assert_eq!(ack.connack(), (false, 0));
    raw.send(&pingreq()).await;
    assert_eq!(raw.recv().await.kind(), kind::PINGRESP);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_empty_client_id_without_clean_session_is_rejected_with_code_2() {
    let Some(t) = target() else { return };
    let mut connect = Connect::new(V311, "");
    connect.clean = false;
    let (mut raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    // MQTT-3.1.3-8.
    assert_eq!(ack.connack().1, 2);
    raw.expect_close(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_empty_client_id_gets_an_assigned_client_identifier() {
    let Some(t) = target() else { return };
    let (mut raw, ack) = Raw::open(t.mqtt_addr(), &Connect::new(V5, "")).await;
    assert_eq!(ack.connack().1, 0);
    let assigned = match find_prop(&ack.connack_props(), prop::ASSIGNED_CLIENT_ID) {
        Some(PropValue::Bytes(b)) => String::from_utf8(b.clone()).expect("UTF-8 id"),
        other => panic!("no Assigned Client Identifier: {other:?}"),
    };
    assert!(!assigned.is_empty());
    raw.send(&disconnect(Some((0, &Props::new())))).await;
    // The assigned id names a real session: a second client with that id takes it over.
    let (_again, ack) = Raw::open(t.mqtt_addr(), &Connect::new(V5, &assigned)).await;
    assert_eq!(ack.connack().1, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_takeover_disconnects_the_old_client_and_sends_its_will() {
    let Some(t) = target() else { return };
    let id = name("take");
    let root = topic("take");
    let (mut watcher, _) = v4::connect(t.v4(&name("watch"))).await;
    watcher
        .subscribe(&format!("{root}/#"), v4::QoS::AtLeastOnce)
        .await;

    let mut first = t.v4(&id);
    first.set_last_will(v4::LastWill::new(
        format!("{root}/will"),
        "gone",
        v4::QoS::AtLeastOnce,
        false,
    ));
    let (mut old, _) = v4::connect(first).await;
    let (mut new, ack) = v4::connect(t.v4(&id)).await;
    assert_eq!(ack.code, v4::ConnectReturnCode::Success);

    assert!(
        old.events.closed(DEADLINE).await.is_some(),
        "the old connection is closed"
    );
    let will = watcher.next_publish().await;
    assert_eq!(will.topic, format!("{root}/will"));
    assert_eq!(v4::text(&will), "gone");
    // The new connection is the session now.
    new.publish(&format!("{root}/after"), v4::QoS::AtLeastOnce, false, b"x")
        .await;
    assert_eq!(watcher.next_publish().await.topic, format!("{root}/after"));
}

/// MQTT-3.1.4-3 and 4.13: the old client is told why. Mosquitto 2.0.11 closes silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_takeover_sends_disconnect_0x8e_to_the_old_client() {
    let Some(t) = target() else { return };
    let id = name("take5");
    let (mut old, _) = Raw::open(t.mqtt_addr(), &Connect::new(V5, &id)).await;
    let (_new, ack) = Raw::open(t.mqtt_addr(), &Connect::new(V5, &id)).await;
    assert_eq!(ack.connack().1, 0);
    let got = old.expect_close(DEADLINE).await;
    let disc = got
        .iter()
        .find(|p| p.kind() == kind::DISCONNECT)
        .unwrap_or_else(|| panic!("no DISCONNECT before close: {got:?}"));
    assert_eq!(disc.reason(), 0x8E, "Session taken over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_connack_reports_server_limits_it_enforces() {
    let Some(t) = target() else { return };
    let (_raw, ack) = Raw::open(t.mqtt_addr(), &Connect::new(V5, &name("caps"))).await;
    let props = ack.connack_props();
    // Absent means "supported"/"no limit"; present values must be consistent with the spec.
    for (id, v) in &props {
        if let (0x24, PropValue::Int(q)) = (id, v) {
            assert!(*q <= 1, "Maximum QoS is 0 or 1 when present, got {q}");
        }
        if let (0x21, PropValue::Int(r)) = (id, v) {
            assert!(*r > 0, "Receive Maximum of 0 is a protocol error");
        }
    }
    if t.is_warren() {
        // Warren supports QoS 2, retain, wildcards, subscription ids and shared subscriptions.
        for id in [0x24u8, 0x25, 0x28, 0x29, 0x2A] {
            assert!(
                !matches!(find_prop(&props, id), Some(PropValue::Int(0))),
                "capability {id:#x} is advertised as unavailable: {props:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ids_are_independent_sessions() {
    let Some(t) = target() else { return };
    let root = topic("indep");
    let (mut a, _) = v4::connect(t.v4(&name("a"))).await;
    let (mut b, _) = v4::connect(t.v4(&name("b"))).await;
    a.subscribe(&root, v4::QoS::AtMostOnce).await;
    b.publish(&root, v4::QoS::AtMostOnce, false, b"1").await;
    assert_eq!(v4::text(&a.next_publish().await), "1");
    // b is still connected: its own round trip works.
    b.subscribe(&root, v4::QoS::AtMostOnce).await;
    b.publish(&root, v4::QoS::AtMostOnce, false, b"2").await;
    assert_eq!(v4::text(&b.next_publish().await), "2");
}

/// Client ids name the session queue `mqtt-subscription-<id>` (255 bytes at most): 237
/// bytes is the longest accepted, longer is refused (3.1.1 return code 2, 5.0 0x85).
/// Mosquitto accepts longer ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ids_longer_than_237_bytes_are_refused() {
    let Some(t) = warren_only() else { return };
    let unique = format!("{}{}", name("long"), "x".repeat(237));
    let longest = &unique[..237];
    let too_long = format!("{longest}y");
    for level in [V311, V5] {
        let (mut raw, ack) = Raw::open(t.mqtt_addr(), &Connect::new(level, longest)).await;
        assert_eq!(ack.connack().1, 0, "237 bytes accepted");
        raw.send(&pingreq()).await;
        assert_eq!(raw.recv().await.kind(), kind::PINGRESP);
        let refused = if level == V5 { 0x85 } else { 2 };
        let (mut raw, ack) = Raw::open(t.mqtt_addr(), &Connect::new(level, &too_long)).await;
        assert_eq!(ack.connack().1, refused, "238 bytes refused");
        raw.expect_close(DEADLINE).await;
    }
}

/// 5.0 with an empty client id and Clean Start 0: CONNACK 0x85, which MQTT 5 section 3.1.3.1
/// lets a server answer to an empty id (docs/adr/0002). Mosquitto assigns an id instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_empty_client_id_without_clean_start_is_refused_with_0x85() {
    let Some(t) = warren_only() else { return };
    let mut connect = Connect::new(V5, "");
    connect.clean = false;
    let (mut raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
    assert_eq!(ack.connack().1, 0x85);
    raw.expect_close(DEADLINE).await;
}

/// Anonymous access disabled (`mqtt.allow_anonymous = false`): 3.1.1 return code 5, 5.0
/// 0x87 Not authorized.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_client_is_not_authorized_when_anonymous_access_is_off() {
    let mut config = warren_testkit::Config::default();
    config.mqtt.allow_anonymous = false;
    let Some(t) = warren_with(config) else { return };
    for (level, code) in [(V311, 5), (V5, 0x87)] {
        let mut connect = Connect::new(level, &name("anon"));
        connect.username = None;
        connect.password = None;
        let (mut raw, ack) = Raw::open(t.mqtt_addr(), &connect).await;
        assert_eq!(ack.connack().1, code, "level {level}");
        raw.expect_close(DEADLINE).await;
    }
}
