"""paho-mqtt with MQTT 3.1.1, beyond test_paho_v311.py: keep alive enforcement, topic and
filter validation with the spec's reactions, QoS 2 exactly once in both directions, the DUP
flag on redelivery to a returning persistent session, takeover of a persistent session, and
retained messages through `+` and `#` filters.

MQTT 3.1.1 has no DISCONNECT from the server: every refusal here is a closed connection
(MQTT-4.8.0-1). A raw socket client (mqtt_raw) repeats a PUBLISH with the same packet id and
sends what paho refuses to (wildcards in a topic, misplaced wildcards in a filter)."""

import queue
import select
import time

import paho.mqtt.client as paho
import pytest

from mqtt_conftest_helpers import DEADLINE, connected, topic, uid
from mqtt_raw import (
    PUBACK,
    PUBCOMP,
    PUBREC,
    PUBREL,
    SUBACK,
    V311 as RAW_V311,
    ack_packet,
    publish_packet,
    raw_mqtt,  # noqa: F401  (fixture)
    raw_to,  # noqa: F401  (fixture raw_mqtt uses)
    subscribe_packet,
)

V = paho.MQTTv311


def closed_within(client, timeout=DEADLINE):
    """Waits until the client's connection has ended; fails if it is still up at `timeout`."""
    try:
        client.disconnects.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"still connected after {timeout}s") from None


def silence_pings(client):
    """Stops paho from sending PINGREQ, so the client goes silent once connected; paho then
    never ends the connection itself either (it waits for a PINGRESP only to a PINGREQ)."""
    client.paho._send_pingreq = lambda: paho.MQTT_ERR_SUCCESS


def persistent(mqtt, cid, **kwargs):
    return mqtt(V, client_id=cid, clean=False, **kwargs)


def end_session(mqtt, cid):
    """Ends a session a test left on a shared broker."""
    connected(mqtt, V, client_id=cid).disconnect()


# ----- keep alive ----------------------------------------------------------------------------


def test_silent_client_is_disconnected_after_one_and_a_half_keepalives_and_its_will_sent(
        mqtt, mqtt_broker):
    t = topic("ka")
    watcher = connected(mqtt, V)
    watcher.subscribe(t)
    client = mqtt(V, keepalive=1, will={"topic": t, "payload": b"silent", "qos": 1})
    silence_pings(client)
    since = time.monotonic()
    client.connect()  # the CONNECT is the last packet the client sends
    closed_within(client, 30)
    waited = time.monotonic() - since
    # MQTT-3.1.2-24: closed once 1.5 keep alives pass without a packet, and not before one.
    assert waited >= 1.0, f"closed after {waited:.2f}s"
    if mqtt_broker.is_warren:  # Mosquitto 2.0.11 checks keep alives coarsely
        assert waited <= 3.0, f"closed after {waited:.2f}s"
    assert watcher.next_message().payload == b"silent"  # an abnormal end sends the will


def test_client_that_pings_outlives_its_keepalive(mqtt):
    t = topic("ping")
    client = mqtt(V, keepalive=1, will={"topic": t, "payload": b"dead", "qos": 1})
    client.connect()
    watcher = connected(mqtt, V)
    watcher.subscribe(t)
    try:
        got = client.disconnects.get(timeout=3.5)  # well past 1.5 keep alives
    except queue.Empty:
        got = None
    assert got is None, f"disconnected although paho sends PINGREQ: {got}"
    client.subscribe(f"{t}/live")
    client.publish(f"{t}/live", b"still here")
    assert client.next_message().payload == b"still here"
    watcher.assert_no_message()


# ----- topic and filter validation -----------------------------------------------------------


def test_filter_with_a_nul_character_closes_the_connection(mqtt):
    """paho sends it; a malformed filter ends a 3.1.1 connection (MQTT-4.7.3-2, MQTT-4.8.0-1)."""
    client = connected(mqtt, V)
    result, _ = client.paho.subscribe(f"{topic('nulf')}/a\0b", 1)
    assert result == paho.MQTT_ERR_SUCCESS
    closed_within(client)
    assert client.subacks.empty(), "no SUBACK to a malformed SUBSCRIBE"


@pytest.mark.parametrize("suffix", ["#/b", "a+", "+a/b", "b#", "##"])
def test_misplaced_wildcard_in_a_filter_closes_the_connection(raw_mqtt, suffix):
    """paho refuses to send these filters; the raw client does (MQTT-4.7.1-2/3)."""
    raw, _ = raw_mqtt(RAW_V311, uid("badf"))
    raw.send_lossy(subscribe_packet(RAW_V311, 1, f"{topic('badf')}/{suffix}", 1))
    got = raw.expect_close()
    # A SUBACK with the failure code 0x80 would be allowed too; Warren closes (docs).
    assert all(p.kind != SUBACK or p.body[2] == 0x80 for p in got), got


def test_subscription_the_server_cannot_bind_gets_suback_0x80(mqtt, mqtt_broker):
    """A well-formed filter can still be refused: its binding key in the AMQP model is at most
    255 bytes. 3.1.1's one failure code is 0x80 (MQTT-3.9.3), the other filters of the
    SUBSCRIBE are granted, and the connection stays up."""
    if not mqtt_broker.is_warren:
        pytest.skip("a limit of Warren's mapping to AMQP routing keys")
    root = topic("long")
    client = connected(mqtt, V)
    result, mid = client.paho.subscribe([(f"{root}/{'x' * 300}", 1), (root, 1)])
    assert result == paho.MQTT_ERR_SUCCESS
    got_mid, codes, _ = client.subacks.get(timeout=DEADLINE)
    assert got_mid == mid
    assert [c.value for c in codes] == [0x80, 1]
    connected(mqtt, V).publish(root, b"still subscribed")
    assert client.next_message().payload == b"still subscribed"


def test_publish_topic_with_a_nul_character_closes_the_connection(mqtt):
    root = topic("nult")
    watcher = connected(mqtt, V)
    watcher.subscribe(f"{root}/#")
    client = connected(mqtt, V)
    client.paho.publish(f"{root}/a\0b", b"x", qos=1)  # MQTT-4.7.3-2
    closed_within(client)
    watcher.assert_no_message()


@pytest.mark.parametrize("suffix", ["+", "#", "a+b", "a/#"])
def test_wildcard_in_a_publish_topic_closes_the_connection(mqtt, raw_mqtt, suffix):
    """paho refuses to send these topics; the raw client does (MQTT-3.3.2-2)."""
    root = topic("wild")
    watcher = connected(mqtt, V)
    watcher.subscribe(f"{root}/#")
    raw, _ = raw_mqtt(RAW_V311, uid("wild"))
    raw.send_lossy(publish_packet(RAW_V311, f"{root}/{suffix}", 1, 1, b"x"))
    got = raw.expect_close()
    assert all(p.kind != PUBACK for p in got), f"acknowledged: {got}"
    watcher.assert_no_message()


# ----- QoS 2 exactly once --------------------------------------------------------------------


def test_qos2_publish_repeated_with_the_same_packet_id_is_delivered_once(mqtt, raw_mqtt):
    """The publisher's PUBREC was lost, so it sends the PUBLISH again with DUP (MQTT-4.3.3);
    paho never does that on a live connection, the raw client does."""
    t = topic("dup2")
    sub = connected(mqtt, V)
    sub.subscribe(t, 2)
    raw, _ = raw_mqtt(RAW_V311, uid("dup2"))
    for dup in (False, True):
        raw.send(publish_packet(RAW_V311, t, 2, 7, b"once", dup=dup))
        assert raw.recv_kind(PUBREC).pkid() == 7
    raw.send(ack_packet(PUBREL, 7))
    assert raw.recv_kind(PUBCOMP).pkid() == 7
    msg = sub.next_message()
    assert (msg.payload, msg.qos) == (b"once", 2)
    sub.assert_no_message()


def test_qos2_message_released_before_a_crash_is_not_delivered_again(mqtt):
    """The subscriber answered PUBREC and got PUBREL, but died before its PUBCOMP: the
    returning session gets the PUBREL again, never the PUBLISH (MQTT-4.4.0-1), so paho
    delivers the message once. paho's manual acknowledgement holds back the PUBCOMP."""
    t = topic("rel2")
    cid = uid("rel2")
    client = persistent(mqtt, cid)
    client.paho.manual_ack_set(True)
    client.connect()
    client.subscribe(t, 2)
    connected(mqtt, V).publish(t, b"exactly once", qos=2)
    msg = client.next_message()  # paho hands the message over at PUBREL
    assert (msg.payload, msg.qos) == (b"exactly once", 2)
    client.kill()  # no PUBCOMP
    back = persistent(mqtt, cid)
    present, _, _ = back.connect()
    assert present
    back.assert_no_message(1.0)
    # The flow was completed: a new message is the only one to arrive.
    connected(mqtt, V).publish(t, b"next", qos=2)
    assert back.next_message().payload == b"next"
    back.assert_no_message()
    back.disconnect()
    end_session(mqtt, cid)


# ----- persistent sessions: DUP on redelivery ------------------------------------------------


def test_unacknowledged_qos1_comes_back_with_dup_and_its_packet_id(mqtt):
    """paho's manual acknowledgement holds back the PUBACK of a message the client got."""
    t = topic("dup1")
    cid = uid("dup1")
    client = persistent(mqtt, cid)
    client.paho.manual_ack_set(True)
    client.connect()
    client.subscribe(t, 1)
    pub = connected(mqtt, V)
    pub.publish(t, b"again", qos=1)
    first = client.next_message()
    assert (first.payload, first.dup) == (b"again", False)
    client.kill()  # no PUBACK
    back = persistent(mqtt, cid)
    present, _, _ = back.connect()
    assert present
    again = back.next_message()
    assert (again.payload, again.qos) == (b"again", 1)
    assert again.dup, "a redelivered PUBLISH has DUP set (MQTT-3.3.1-1)"
    assert again.mid == first.mid, "with its packet id (MQTT-4.4.0-1)"
    back.assert_no_message()  # paho acknowledged it this time
    pub.publish(t, b"fresh", qos=1)
    fresh = back.next_message()
    assert (fresh.payload, fresh.dup) == (b"fresh", False)
    back.disconnect()
    end_session(mqtt, cid)


def test_qos2_publish_the_client_never_read_comes_back_with_dup(mqtt):
    """paho answers a QoS 2 PUBLISH with PUBREC at once, so the client stops reading instead:
    the PUBLISH waits unread in its socket when the connection dies, unacknowledged."""
    t = topic("dup2u")
    cid = uid("dup2u")
    client = persistent(mqtt, cid)
    client.connect()
    client.subscribe(t, 2)
    client.paho.loop_stop()  # paho reads nothing more; the socket stays open
    sock = client.paho.socket()
    connected(mqtt, V).publish(t, b"unread", qos=2)
    readable, _, _ = select.select([sock], [], [], DEADLINE)
    assert readable, "the server sent the PUBLISH"
    client.kill()  # no PUBREC
    back = persistent(mqtt, cid)
    present, _, _ = back.connect()
    assert present
    again = back.next_message()  # paho delivers QoS 2 at PUBREL: the flow completed
    assert (again.payload, again.qos, again.dup) == (b"unread", 2, True)
    back.assert_no_message()
    back.disconnect()
    end_session(mqtt, cid)


# ----- takeover ------------------------------------------------------------------------------


def test_takeover_of_a_persistent_session_moves_it_to_the_new_connection(mqtt, mqtt_broker):
    t = topic("takep")
    cid = uid("takep")
    old = persistent(mqtt, cid, will={"topic": f"{t}/will", "payload": b"old", "qos": 1})
    old.connect()
    old.subscribe(t)
    watcher = connected(mqtt, V)
    watcher.subscribe(f"{t}/will")
    new = persistent(mqtt, cid)
    present, _, _ = new.connect()
    assert present, "the session is the old connection's (MQTT-3.2.2-2)"
    closed_within(old)  # MQTT-3.1.4-2: the old connection is closed
    if mqtt_broker.is_warren:
        # Closed without DISCONNECT, so its will goes out (the takeover rule);
        # Mosquitto 2.0.11 sends none when the new connection resumes the session.
        assert watcher.next_message().payload == b"old"
    connected(mqtt, V).publish(t, b"to the session")
    assert new.next_message().payload == b"to the session"
    new.assert_no_message()
    old.assert_no_message()
    new.disconnect()
    end_session(mqtt, cid)


# ----- retained messages and wildcards -------------------------------------------------------


def retain_all(pub, topics):
    for t in topics:
        pub.publish(t, t, retain=True)


def clear_all(pub, topics):
    for t in topics:
        pub.publish(t, b"", retain=True)


def replayed(client, count):
    got = [client.next_message() for _ in range(count)]
    client.assert_no_message()
    assert all(m.retain for m in got)
    return sorted(m.topic for m in got)


def test_retained_messages_through_plus_and_hash_filters(mqtt):
    root = topic("rw")
    topics = [f"{root}/a", f"{root}/a/x", f"{root}/a/x/deep", f"{root}/b/x", f"{root}//x"]
    pub = connected(mqtt, V)
    retain_all(pub, topics)
    cases = [
        (f"{root}/+/x", [f"{root}//x", f"{root}/a/x", f"{root}/b/x"]),  # `+` matches ""
        (f"{root}/a/#", [f"{root}/a", f"{root}/a/x", f"{root}/a/x/deep"]),  # and the parent
        (f"{root}/+/+/+", [f"{root}/a/x/deep"]),
        (f"{root}/+/x/#", [f"{root}//x", f"{root}/a/x", f"{root}/a/x/deep", f"{root}/b/x"]),
        (f"{root}/#", sorted(topics)),
        (f"{root}/+", [f"{root}/a"]),
    ]
    for filter_, expected in cases:
        client = connected(mqtt, V)
        client.subscribe(filter_)
        assert replayed(client, len(expected)) == sorted(expected), filter_
    clear_all(pub, topics)


def test_cleared_retained_messages_are_not_replayed_to_wildcards(mqtt):
    root = topic("rclr")
    topics = [f"{root}/a", f"{root}/b"]
    pub = connected(mqtt, V)
    retain_all(pub, topics)
    pub.publish(f"{root}/a", b"", retain=True)
    client = connected(mqtt, V)
    client.subscribe(f"{root}/+")
    assert replayed(client, 1) == [f"{root}/b"]
    clear_all(pub, topics)
    later = connected(mqtt, V)
    later.subscribe(f"{root}/#")
    later.assert_no_message()


def test_retained_dollar_topic_is_not_replayed_to_a_leading_wildcard(mqtt):
    leaf = uid("leaf")
    dollar = f"${uid('d')}/{leaf}"
    pub = connected(mqtt, V)
    pub.publish(dollar, b"hidden", retain=True)
    wild = connected(mqtt, V)
    wild.subscribe(f"+/{leaf}")
    wild.assert_no_message()  # MQTT-4.7.2-1
    exact = connected(mqtt, V)
    exact.subscribe(f"{dollar.split('/')[0]}/+")
    assert exact.next_message().payload == b"hidden"
    pub.publish(dollar, b"", retain=True)


def test_retained_replay_is_at_the_minimum_of_both_qos(mqtt):
    root = topic("rq")
    pub = connected(mqtt, V)
    for q in range(3):
        pub.publish(f"{root}/m{q}", b"r", qos=q, retain=True)
    for sub_qos in range(3):
        client = connected(mqtt, V)
        client.subscribe(f"{root}/+", sub_qos)
        got = sorted((m.topic, m.qos) for m in (client.next_message() for _ in range(3)))
        assert got == [(f"{root}/m{q}", min(q, sub_qos)) for q in range(3)], sub_qos
    clear_all(pub, [f"{root}/m{q}" for q in range(3)])
