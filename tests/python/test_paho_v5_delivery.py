"""paho-mqtt with MQTT 5, beyond test_paho_v5.py, on how messages are delivered: QoS 0/1/2 both
ways with QoS 2 exactly once, message expiry of queued messages, Receive Maximum and Maximum
Packet Size, outbound topic aliases, and user properties.

A raw socket client (mqtt_raw) sends a PUBLISH repeated with the same packet id, which paho
cannot."""

import time

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqtt_conftest_helpers import (
    connect_props,
    connected,
    publish_props,
    topic,
    uid,
)
from mqtt_raw import (
    PUBCOMP,
    PUBREC,
    PUBREL,
    V5 as RAW_V5,
    ack_packet,
    publish_packet,
    raw_mqtt,  # noqa: F401  (fixture)
    raw_to,  # noqa: F401  (fixture raw_mqtt uses)
)
from paho_v5_helpers import V, end_session, next_disconnect, persistent


# ----- QoS 0, 1 and 2 ------------------------------------------------------------------------


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_each_qos_round_trips_at_its_level(mqtt, qos):
    t = topic("q5")
    sub = connected(mqtt, V)
    assert sub.subscribe(t, 2)[0].value == 2
    pub = connected(mqtt, V)
    pub.publish(t, f"m{qos}", qos=qos)  # waits for PUBACK, or PUBREC/PUBREL/PUBCOMP
    msg = sub.next_message()
    assert (msg.topic, msg.payload, msg.qos) == (t, f"m{qos}".encode(), qos)
    assert not msg.dup and not msg.retain
    # A packet identifier exactly when QoS > 0 (MQTT-2.2.1-2).
    assert (msg.mid != 0) == (qos > 0)
    sub.assert_no_message()


def test_delivered_qos_is_the_minimum_of_subscription_and_message(mqtt):
    root = topic("min5")
    pub = connected(mqtt, V)
    for sub_qos in range(3):
        sub = connected(mqtt, V)
        assert sub.subscribe(f"{root}/s{sub_qos}/+", sub_qos)[0].value == sub_qos
        for msg_qos in range(3):
            pub.publish(f"{root}/s{sub_qos}/m{msg_qos}", b"x", qos=msg_qos)
            assert sub.next_message().qos == min(sub_qos, msg_qos), (sub_qos, msg_qos)


def test_qos2_publish_repeated_with_the_same_packet_id_is_routed_once(mqtt, raw_mqtt):
    """paho never repeats a PUBLISH on a live connection, so a raw client plays the
    publisher whose PUBREC was lost (MQTT-4.3.3, method B of figure 4.3)."""
    t = topic("dup5")
    sub = connected(mqtt, V)
    sub.subscribe(t, 2)
    raw, _ = raw_mqtt(RAW_V5, uid("raw"))
    for dup in (False, True):
        raw.send(publish_packet(RAW_V5, t, 2, 9, b"once", dup=dup))
        rec = raw.recv_kind(PUBREC)
        assert rec.pkid() == 9
        assert rec.body[2:3] in (b"", b"\x00"), f"PUBREC reason {rec.body[2:3]!r}"
    for _ in range(2):  # a repeated PUBREL is completed again, and releases nothing more
        raw.send(ack_packet(PUBREL, 9))
        assert raw.recv_kind(PUBCOMP).pkid() == 9
    msg = sub.next_message()
    assert (msg.payload, msg.qos) == (b"once", 2)
    sub.assert_no_message()
    # After PUBCOMP the packet id is free: a new PUBLISH with it is a new message.
    raw.send(publish_packet(RAW_V5, t, 2, 9, b"again"))
    assert raw.recv_kind(PUBREC).pkid() == 9
    raw.send(ack_packet(PUBREL, 9))
    assert raw.recv_kind(PUBCOMP).pkid() == 9
    assert sub.next_message().payload == b"again"
    sub.assert_no_message()


# ----- message expiry ------------------------------------------------------------------------


def test_queued_message_expires_and_the_rest_carry_the_remaining_interval(mqtt):
    t = topic("mexp")
    cid = uid("mexp")
    client = persistent(mqtt, cid)
    client.connect()
    client.subscribe(t)
    client.disconnect()
    pub = connected(mqtt, V)
    pub.publish(t, b"stale", properties=publish_props(MessageExpiryInterval=1))
    pub.publish(t, b"fresh", properties=publish_props(MessageExpiryInterval=10))
    pub.publish(t, b"forever")
    published = time.monotonic()
    # The interval itself is the behaviour under test: let it pass while nobody consumes.
    time.sleep(2.1)
    back = persistent(mqtt, cid)
    present, _, _ = back.connect()
    assert present
    fresh = back.next_message()
    waited = time.monotonic() - published
    assert fresh.payload == b"fresh", "the expired message is not delivered (MQTT-3.3.2-5)"
    # MQTT-3.3.2-6: the interval received is the one sent minus the time spent waiting.
    # More than 2 s went by before the session came back: at most 8 s are left (7.9 rounded
    # up), and no less than what remains now, rounded down.
    left = fresh.properties.MessageExpiryInterval
    assert 10 - waited - 1 <= left <= 8, f"remaining {left} after {waited:.1f}s"
    forever = back.next_message()
    assert forever.payload == b"forever"
    assert not hasattr(forever.properties, "MessageExpiryInterval")
    back.assert_no_message()
    back.disconnect()
    end_session(mqtt, cid)


# ----- Receive Maximum -----------------------------------------------------------------------


@pytest.mark.parametrize("qos", [1, 2])
def test_server_never_exceeds_the_clients_receive_maximum(mqtt, mqtt_broker, qos):
    """paho's manual acknowledgement holds back PUBACK (QoS 1) or PUBCOMP (QoS 2), so the
    messages stay unacknowledged until the test acknowledges them (MQTT-3.3.4-9)."""
    t = topic("rmax")
    client = mqtt(V, properties=connect_props(ReceiveMaximum=2))
    client.paho.manual_ack_set(True)
    client.connect()
    client.subscribe(t, qos)
    pub = connected(mqtt, V)
    for i in range(5):
        pub.publish(t, str(i), qos=qos)
    first, second = client.next_message(), client.next_message()
    client.assert_no_message()  # two in flight: the window is full
    client.paho.ack(first.mid, qos)
    third = client.next_message()
    if not mqtt_broker.is_warren:
        # Mosquitto 2.0.11 lets a fourth out after the first acknowledgement (three in
        # flight against a Receive Maximum of 2; the raw client sees it too).
        return
    client.assert_no_message()
    client.paho.ack(second.mid, qos)
    client.paho.ack(third.mid, qos)
    fourth, fifth = client.next_message(), client.next_message()
    for msg in (fourth, fifth):
        client.paho.ack(msg.mid, qos)
    got = [m.payload for m in (first, second, third, fourth, fifth)]
    assert got == [str(i).encode() for i in range(5)]
    assert all(m.qos == qos for m in (first, second, third, fourth, fifth))
    client.assert_no_message()


# ----- Maximum Packet Size -------------------------------------------------------------------


def test_message_above_the_clients_maximum_packet_size_is_not_sent_to_it(mqtt):
    t = topic("cmax")
    small = mqtt(V, properties=connect_props(MaximumPacketSize=256))
    small.connect()
    small.subscribe(t)
    big = connected(mqtt, V)
    big.subscribe(t)
    pub = connected(mqtt, V)
    pub.publish(t, b"x" * 1000)
    pub.publish(t, b"small")
    # MQTT-3.1.2-25: discarded for this client only; the next message still comes.
    assert small.next_message().payload == b"small"
    small.assert_no_message()
    assert [big.next_message().payload for _ in range(2)] == [b"x" * 1000, b"small"]


def test_packet_above_the_servers_maximum_is_disconnect_0x95(mqtt, mqtt_broker):
    t = topic("smax")
    watcher = connected(mqtt, V)
    watcher.subscribe(t)
    client = mqtt(V)
    _, _, connack = client.connect()
    limit = getattr(connack, "MaximumPacketSize", None)
    if limit is None:
        assert not mqtt_broker.is_warren, "Warren advertises its Maximum Packet Size"
        pytest.skip("the broker advertises no Maximum Packet Size")
    # paho does not check the server's maximum: the packet goes out at limit + a few bytes.
    client.paho.publish(t, b"x" * limit, qos=1)
    rc, _ = next_disconnect(client)
    assert rc.value == 0x95, rc  # Packet too large (section 3.2.2.3.6)
    watcher.assert_no_message()


# ----- outbound topic aliases ----------------------------------------------------------------


def resolve_aliases(messages, maximum):
    """The topics of `messages` (paho does not resolve inbound aliases itself), checking every
    alias is within 1..maximum and defined before it is used (MQTT-3.3.2-9/10/12)."""
    aliases, topics, reused = {}, [], 0
    for msg in messages:
        alias = getattr(msg.properties, "TopicAlias", None)
        if alias is None:
            assert msg.topic, "an empty topic needs an alias"
            topics.append(msg.topic)
            continue
        assert 1 <= alias <= maximum, f"alias {alias} above the client's maximum {maximum}"
        if msg.topic:
            aliases[alias] = msg.topic
        else:
            assert alias in aliases, f"alias {alias} used before it was defined"
            reused += 1
        topics.append(aliases[alias])
    return topics, reused


@pytest.mark.parametrize("maximum", [0, 1, 2])
def test_outbound_topic_aliases_stay_within_the_clients_maximum(mqtt, mqtt_broker, maximum):
    root = topic("oal")
    kwargs = {"properties": connect_props(TopicAliasMaximum=maximum)} if maximum else {}
    client = connected(mqtt, V, **kwargs)
    client.subscribe(f"{root}/+", 0)
    pub = connected(mqtt, V)
    sent = [f"{root}/{i % 3}" for i in range(9)]
    for t in sent:
        pub.publish(t, t, qos=0)
    got = [client.next_message() for _ in sent]
    topics, reused = resolve_aliases(got, maximum)
    assert topics == sent
    assert [m.payload.decode() for m in got] == sent
    if maximum == 0:
        assert reused == 0
    elif mqtt_broker.is_warren:
        # Warren binds the first `maximum` topics and never rebinds: each further copy of
        # them goes as alias + empty topic (docs/protocols/mqtt.md).
        assert reused == 2 * maximum, [(m.topic, m.properties) for m in got]


# ----- user properties -----------------------------------------------------------------------


def test_user_properties_survive_retained_replay_and_qos2(mqtt):
    t = topic("uprop")
    pairs = [("k", "1"), ("k", "2"), ("ünï", "cödé ✓")]
    pub = connected(mqtt, V)
    props_ = publish_props(UserProperty=pairs, ContentType="text/plain")
    pub.publish(t, b"kept", qos=2, retain=True, properties=props_)
    client = connected(mqtt, V)
    client.subscribe(t, 2)
    msg = client.next_message()
    assert (msg.payload, msg.qos, msg.retain) == (b"kept", 2, True)
    assert msg.properties.UserProperty == pairs  # order and repeats kept (MQTT-3.3.2-18)
    assert msg.properties.ContentType == "text/plain"
    pub.publish(t, b"", retain=True)


def test_will_properties_travel_with_the_will(mqtt):
    t = topic("wprop")
    watcher = connected(mqtt, V)
    watcher.subscribe(t)
    will_props = Properties(PacketTypes.WILLMESSAGE)
    will_props.UserProperty = [("who", "me"), ("who", "again")]
    will_props.ContentType = "text/plain"
    will_props.ResponseTopic = f"{t}/reply"
    will_props.CorrelationData = b"\x00c"
    dying = connected(mqtt, V, will={"topic": t, "payload": b"bye", "qos": 1,
                                     "properties": will_props})
    dying.kill()
    msg = watcher.next_message()
    assert msg.payload == b"bye"
    assert msg.properties.UserProperty == [("who", "me"), ("who", "again")]
    assert msg.properties.ContentType == "text/plain"
    assert msg.properties.ResponseTopic == f"{t}/reply"
    assert msg.properties.CorrelationData == b"\x00c"


def test_user_properties_on_connect_and_subscribe_are_accepted(mqtt):
    t = topic("upcs")
    client = connected(mqtt, V, properties=connect_props(UserProperty=[("device", "d1")]))
    p = Properties(PacketTypes.SUBSCRIBE)
    p.UserProperty = [("why", "test")]
    assert client.subscribe(t, properties=p)[0].value == 1
    connected(mqtt, V).publish(t, b"x")
    assert client.next_message().payload == b"x"
