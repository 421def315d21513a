"""paho-mqtt with MQTT 3.1.1: connect and refusals, QoS 0/1/2 both ways, retained messages,
last will, persistent sessions and shared subscriptions."""

import paho.mqtt.client as paho
import pytest

from mqtt_conftest_helpers import QUIET, connected, topic, uid

V = paho.MQTTv311


def test_connect_is_accepted_without_a_session(mqtt):
    client = mqtt(V)
    present, rc, _ = client.connect()
    assert rc == 0
    assert not present


def test_bad_password_is_refused_with_code_4(mqtt, mqtt_broker):
    if not mqtt_broker.checks_credentials():
        pytest.skip("broker does not check credentials")
    client = mqtt(V, password="wrong")
    _, rc, _ = client.connect(expect_success=False)
    # Return code 4, bad user name or password (3.1.1 table 3.1), which paho 2 reports as the
    # MQTT 5 reason code 0x86.
    assert rc == 0x86, rc


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_each_qos_round_trips_at_its_level(mqtt, qos):
    t = topic("qos")
    sub = connected(mqtt, V)
    assert sub.subscribe(t, 2)[0] == 2
    pub = connected(mqtt, V)
    pub.publish(t, f"m{qos}", qos=qos)
    msg = sub.next_message()
    assert (msg.topic, msg.payload, msg.qos) == (t, f"m{qos}".encode(), qos)
    assert not msg.retain
    sub.assert_no_message()


def test_delivered_qos_is_the_minimum_of_subscription_and_message(mqtt):
    root = topic("min")
    pub = connected(mqtt, V)
    for sub_qos in range(3):
        sub = connected(mqtt, V)
        sub.subscribe(f"{root}/s{sub_qos}/+", sub_qos)
        for msg_qos in range(3):
            pub.publish(f"{root}/s{sub_qos}/m{msg_qos}", b"x", qos=msg_qos)
            assert sub.next_message().qos == min(sub_qos, msg_qos)


def test_retained_set_replace_clear(mqtt):
    t = topic("ret")
    pub = connected(mqtt, V)
    pub.publish(t, b"old", retain=True)
    pub.publish(t, b"new", retain=True)
    first = connected(mqtt, V)
    first.subscribe(t)
    msg = first.next_message()
    assert (msg.payload, msg.retain) == (b"new", True)
    first.assert_no_message()
    pub.publish(t, b"", retain=True)
    later = connected(mqtt, V)
    later.subscribe(t)
    later.assert_no_message()


def test_retained_messages_reach_wildcard_subscriptions(mqtt):
    root = topic("rwild")
    pub = connected(mqtt, V)
    topics = [f"{root}/a/x", f"{root}/b/x", f"{root}/b/y"]
    for t in topics:
        pub.publish(t, t, retain=True)
    sub = connected(mqtt, V)
    sub.subscribe(f"{root}/+/x")
    got = sorted(sub.next_message().topic for _ in range(2))
    assert got == topics[:2]
    sub.assert_no_message()
    sub2 = connected(mqtt, V)
    sub2.subscribe(f"{root}/#")
    assert sorted(sub2.next_message().topic for _ in range(3)) == topics
    for t in topics:
        pub.publish(t, b"", retain=True)


def test_will_is_sent_on_abnormal_close_only(mqtt):
    t = topic("will")
    watcher = connected(mqtt, V)
    watcher.subscribe(t)
    clean = connected(mqtt, V, will={"topic": t, "payload": b"clean", "qos": 1})
    clean.disconnect()
    watcher.assert_no_message()
    crash = connected(mqtt, V, will={"topic": t, "payload": b"crash", "qos": 1})
    crash.kill()
    assert watcher.next_message().payload == b"crash"


def test_takeover_closes_the_old_connection_and_sends_its_will(mqtt):
    t = topic("take")
    watcher = connected(mqtt, V)
    watcher.subscribe(t)
    cid = uid("take")
    old = connected(mqtt, V, client_id=cid, will={"topic": t, "payload": b"old", "qos": 1})
    connected(mqtt, V, client_id=cid)
    old.disconnects.get(timeout=10)
    assert watcher.next_message().payload == b"old"


def test_persistent_session_queues_qos1_and_qos2_while_offline(mqtt):
    t = topic("pers")
    cid = uid("pers")
    client = connected(mqtt, V, client_id=cid, clean=False)
    client.subscribe(t, 2)
    client.disconnect()
    pub = connected(mqtt, V)
    pub.publish(t, b"one", qos=1)
    pub.publish(t, b"two", qos=2)
    back = mqtt(V, client_id=cid, clean=False)
    present, _, _ = back.connect()
    assert present
    got = [(m.payload, m.qos) for m in (back.next_message(), back.next_message())]
    assert got == [(b"one", 1), (b"two", 2)]
    back.disconnect()
    fresh = mqtt(V, client_id=cid, clean=True)
    present, _, _ = fresh.connect()
    assert not present


def test_shared_subscription_balances_between_members(mqtt):
    root = topic("share")
    share = f"$share/{uid('g')}/{root}"
    a = connected(mqtt, V)
    b = connected(mqtt, V)
    a.subscribe(share)
    b.subscribe(share)
    pub = connected(mqtt, V)
    for i in range(10):
        pub.publish(root, str(i))
    got_a, got_b = [], []
    while len(got_a) + len(got_b) < 10:
        for member, got in ((a, got_a), (b, got_b)):
            try:
                got.append(member.next_message(timeout=0.05).payload)
            except AssertionError:
                pass
    assert sorted(got_a + got_b) == sorted(str(i).encode() for i in range(10))
    assert got_a and got_b, "both members get messages"
    a.assert_no_message(QUIET)
    b.assert_no_message(QUIET)


def test_dollar_topics_are_not_matched_by_a_leading_wildcard(mqtt):
    leaf = uid("leaf")
    sub = connected(mqtt, V)
    sub.subscribe(f"+/{leaf}")
    pub = connected(mqtt, V)
    pub.publish(f"${uid('d')}/{leaf}", b"hidden")
    pub.publish(f"{uid('p')}/{leaf}", b"seen")
    assert sub.next_message().payload == b"seen"
    sub.assert_no_message()
