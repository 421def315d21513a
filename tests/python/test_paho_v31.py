"""paho-mqtt with MQTT 3.1 (protocol name MQIsdp): connect, QoS 0/1/2, retained messages,
last will and persistent sessions."""

import paho.mqtt.client as paho
import pytest

from mqtt_conftest_helpers import connected, topic, uid

V = paho.MQTTv31


def test_mqisdp_connect_is_accepted(mqtt):
    client = mqtt(V)
    _, rc, _ = client.connect()
    assert rc == 0


def test_bad_password_is_refused(mqtt, mqtt_broker):
    if not mqtt_broker.checks_credentials():
        pytest.skip("broker does not check credentials")
    client = mqtt(V, password="wrong")
    _, rc, _ = client.connect(expect_success=False)
    # paho 2 reports 3.x return codes as MQTT 5 reason codes: 4 (bad user name or password)
    # as 0x86, 5 (not authorized) as 0x87. 3.1 brokers use either for a wrong password.
    assert rc in (0x86, 0x87), rc


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_each_qos_round_trips(mqtt, qos):
    t = topic("q31")
    sub = connected(mqtt, V)
    assert sub.subscribe(t, 2)[0] == 2
    pub = connected(mqtt, V)
    pub.publish(t, b"x", qos=qos)
    msg = sub.next_message()
    assert (msg.topic, msg.payload, msg.qos) == (t, b"x", qos)
    sub.assert_no_message()


def test_31_and_311_clients_talk_to_each_other(mqtt):
    t = topic("mix")
    old = connected(mqtt, V)
    new = connected(mqtt, paho.MQTTv311)
    old.subscribe(t)
    new.subscribe(t)
    old.publish(t, b"from 3.1")
    new.publish(t, b"from 3.1.1")
    for client in (old, new):
        got = sorted(client.next_message().payload for _ in range(2))
        assert got == [b"from 3.1", b"from 3.1.1"]


def test_retained_message_reaches_a_later_subscriber(mqtt):
    t = topic("r31")
    pub = connected(mqtt, V)
    pub.publish(t, b"kept", retain=True)
    sub = connected(mqtt, V)
    sub.subscribe(t)
    msg = sub.next_message()
    assert (msg.payload, msg.retain) == (b"kept", True)
    pub.publish(t, b"", retain=True)


def test_will_is_sent_when_a_31_client_dies(mqtt):
    t = topic("w31")
    watcher = connected(mqtt, V)
    watcher.subscribe(t)
    dying = connected(mqtt, V, will={"topic": t, "payload": b"bye", "qos": 1})
    dying.kill()
    assert watcher.next_message().payload == b"bye"


def test_persistent_session_survives_reconnect(mqtt):
    t = topic("p31")
    cid = uid("p31")
    client = connected(mqtt, V, client_id=cid, clean=False)
    client.subscribe(t)
    client.disconnect()
    connected(mqtt, V).publish(t, b"queued")
    back = mqtt(V, client_id=cid, clean=False)
    back.connect()
    assert back.next_message().payload == b"queued"
    back.disconnect()
    connected(mqtt, V, client_id=cid).disconnect()
