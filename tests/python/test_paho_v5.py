"""paho-mqtt with MQTT 5: reason codes, assigned client id, message properties (user
properties, content type, payload format, response topic, correlation data, message expiry),
subscription options (no-local, retain-as-published, retain handling), subscription
identifiers, topic aliases, session expiry, will delay and shared subscriptions."""

import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqtt_conftest_helpers import QUIET, connect_props, connected, publish_props, topic, uid

V = paho.MQTTv5


def test_connect_reason_code_is_success(mqtt):
    client = mqtt(V)
    present, rc, _ = client.connect()
    assert rc.value == 0
    assert not present


def test_bad_password_is_refused_with_0x86(mqtt, mqtt_broker):
    if not mqtt_broker.checks_credentials():
        pytest.skip("broker does not check credentials")
    client = mqtt(V, password="wrong")
    _, rc, _ = client.connect(expect_success=False)
    assert rc.value == 0x86


def test_empty_client_id_gets_an_assigned_identifier(mqtt):
    client = mqtt(V, client_id="")
    _, rc, props = client.connect()
    assert rc.value == 0
    assert getattr(props, "AssignedClientIdentifier", "")


def test_message_properties_round_trip(mqtt):
    t = topic("props")
    sub = connected(mqtt, V)
    sub.subscribe(t)
    pub = connected(mqtt, V)
    props = publish_props(
        UserProperty=[("b", "1"), ("a", "2"), ("b", "3")],
        ContentType="application/json",
        PayloadFormatIndicator=1,
        ResponseTopic=f"{t}/reply",
        CorrelationData=b"\x00corr\xff",
        MessageExpiryInterval=120,
    )
    pub.publish(t, b'{"k": 1}', properties=props)
    msg = sub.next_message()
    got = msg.properties
    assert msg.payload == b'{"k": 1}'
    assert got.UserProperty == [("b", "1"), ("a", "2"), ("b", "3")]
    assert got.ContentType == "application/json"
    assert got.PayloadFormatIndicator == 1
    assert got.ResponseTopic == f"{t}/reply"
    assert got.CorrelationData == b"\x00corr\xff"
    assert 0 < got.MessageExpiryInterval <= 120


def test_no_local_hides_own_messages(mqtt):
    t = topic("nl")
    client = connected(mqtt, V)
    client.subscribe(t, options=SubscribeOptions(qos=1, noLocal=True))
    client.publish(t, b"mine")
    connected(mqtt, V).publish(t, b"theirs")
    assert client.next_message().payload == b"theirs"
    client.assert_no_message()


def test_retain_as_published(mqtt):
    t = topic("rap")
    rap = connected(mqtt, V)
    rap.subscribe(t, options=SubscribeOptions(qos=1, retainAsPublished=True))
    plain = connected(mqtt, V)
    plain.subscribe(t)
    pub = connected(mqtt, V)
    pub.publish(t, b"r", retain=True)
    assert rap.next_message().retain
    assert not plain.next_message().retain
    pub.publish(t, b"", retain=True)


@pytest.mark.parametrize("handling,first,again", [
    (SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE, True, True),
    (SubscribeOptions.RETAIN_SEND_IF_NEW_SUB, True, False),
    (SubscribeOptions.RETAIN_DO_NOT_SEND, False, False),
])
def test_retain_handling(mqtt, handling, first, again):
    t = topic("rh")
    pub = connected(mqtt, V)
    pub.publish(t, b"kept", retain=True)
    client = connected(mqtt, V)
    for expected in (first, again):
        client.subscribe(t, options=SubscribeOptions(qos=1, retainHandling=handling))
        if expected:
            assert client.next_message().payload == b"kept"
        else:
            client.assert_no_message()
    pub.publish(t, b"", retain=True)


def test_subscription_identifier_is_returned(mqtt):
    t = topic("sid")
    client = connected(mqtt, V)
    props = Properties(PacketTypes.SUBSCRIBE)
    props.SubscriptionIdentifier = 42
    client.subscribe(t, properties=props)
    connected(mqtt, V).publish(t, b"x")
    assert client.next_message().properties.SubscriptionIdentifier == [42]


def test_topic_alias_from_the_client(mqtt):
    t = topic("alias")
    sub = connected(mqtt, V)
    sub.subscribe(t)
    pub = connected(mqtt, V)
    pub.publish(t, b"1", properties=publish_props(TopicAlias=1))
    pub.publish("", b"2", properties=publish_props(TopicAlias=1))
    for body in (b"1", b"2"):
        msg = sub.next_message()
        assert (msg.topic, msg.payload) == (t, body)


def test_session_expiry_keeps_the_session_and_queued_messages(mqtt):
    t = topic("sexp")
    cid = uid("sexp")
    props = connect_props(SessionExpiryInterval=300)
    client = connected(mqtt, V, client_id=cid, clean=False, properties=props)
    client.subscribe(t)
    client.disconnect()
    connected(mqtt, V).publish(t, b"waiting")
    back = mqtt(V, client_id=cid, clean=False, properties=connect_props(SessionExpiryInterval=300))
    present, _, _ = back.connect()
    assert present
    assert back.next_message().payload == b"waiting"
    back.disconnect()
    connected(mqtt, V, client_id=cid).disconnect()


def test_no_session_expiry_means_no_session(mqtt):
    cid = uid("nexp")
    client = connected(mqtt, V, client_id=cid, clean=False)
    client.subscribe(topic("nexp"))
    client.disconnect()
    back = mqtt(V, client_id=cid, clean=False)
    present, _, _ = back.connect()
    assert not present


def test_will_delay_postpones_the_will(mqtt):
    t = topic("wd")
    watcher = connected(mqtt, V)
    watcher.subscribe(t)
    will_props = Properties(PacketTypes.WILLMESSAGE)
    will_props.WillDelayInterval = 2
    will = {"topic": t, "payload": b"late", "qos": 1, "properties": will_props}
    dying = connected(mqtt, V, will=will, properties=connect_props(SessionExpiryInterval=30))
    dying.kill()
    start = time.monotonic()
    assert watcher.next_message().payload == b"late"
    assert time.monotonic() - start >= 1.5
    connected(mqtt, V, client_id=dying.client_id).disconnect()


def test_shared_subscription_balances_between_v5_members(mqtt):
    root = topic("sh5")
    share = f"$share/{uid('g')}/{root}"
    members = [connected(mqtt, V) for _ in range(2)]
    for m in members:
        m.subscribe(share)
    pub = connected(mqtt, V)
    for i in range(10):
        pub.publish(root, str(i))
    got = [[], []]
    while sum(map(len, got)) < 10:
        for m, bucket in zip(members, got):
            try:
                bucket.append(m.next_message(timeout=0.05).payload)
            except AssertionError:
                pass
    assert sorted(got[0] + got[1]) == sorted(str(i).encode() for i in range(10))
    assert got[0] and got[1]
    for m in members:
        m.assert_no_message(QUIET)
