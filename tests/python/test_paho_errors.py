"""paho-mqtt (3.1.1 and 5.0) error cases and server limits: CONNACK refusals (unsupported
protocol level, client identifier rejected, not authorized with anonymous access off) and the
empty client id rules; the server's Receive Maximum, Topic Alias Maximum, Server Keep Alive
and Maximum Packet Size enforced on clients; DISCONNECT with Will Message and a will cancelled
by reconnecting within its delay; and DISCONNECT 0x8B at broker shutdown.

Tests of a limit start a Warren of their own with that limit set (`warren_with_config`), so
they run against Warren only. A raw socket client (mqtt_raw) sends what paho cannot (an
unsupported protocol level, an empty client id without clean session, PUBLISHes without
PUBREL, a bare fixed header) and reads DISCONNECT reason codes that paho 2.1 reports as a
normal disconnection when no properties follow the reason code."""

import queue
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from mqtt_conftest_helpers import (
    DEADLINE,
    connect_props,
    connected,
    publish_props,
    topic,
    uid,
    warren_with_config,  # noqa: F401  (fixture)
)
from mqtt_raw import (
    CONNACK,
    DISCONNECT,
    PINGREQ,
    PINGRESP,
    PUBACK,
    PUBCOMP,
    PUBREC,
    PUBREL,
    V311 as RAW_V311,
    V5 as RAW_V5,
    Raw,
    ack_packet,
    connect_packet,
    lp,
    packet,
    props,
    publish_packet,
    raw_to,  # noqa: F401  (fixture)
    varint,
)

V311 = paho.MQTTv311
V5 = paho.MQTTv5


def connack_properties(ack):
    """The properties of a raw MQTT 5 CONNACK."""
    p = Properties(PacketTypes.CONNACK)
    p.unpack(ack.body[2:])
    return p


def disconnect_reasons(packets):
    return [p.reason() for p in packets if p.kind == DISCONNECT]


def next_disconnect(client, timeout=DEADLINE):
    """(reason code, properties) of the client's next disconnect; fails if none in time."""
    try:
        return client.disconnects.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"still connected after {timeout}s") from None


def disconnect_props(**values):
    p = Properties(PacketTypes.DISCONNECT)
    for key, value in values.items():
        setattr(p, key, value)
    return p


def watch_server_disconnects(client):
    """Records, for each disconnect, whether the server sent a DISCONNECT packet first."""
    flags = queue.Queue()
    client.paho.on_disconnect = lambda c, u, f, rc, p: flags.put(
        f.is_disconnect_packet_from_server)
    return flags


# ----- CONNACK refusals and client identifiers -----------------------------------------------


@pytest.mark.parametrize("level", [3, 6, 7])
def test_unsupported_protocol_level_is_return_code_1_then_close(mqtt_broker, raw_to, level):
    """paho only speaks levels 3 (with the name MQIsdp), 4 and 5. Level 3 under the name MQTT,
    or an unknown level: CONNACK 0x01 in the 3.1.1 layout, then close (MQTT-3.1.2-2)."""
    raw, ack = raw_to(mqtt_broker, level, uid("lvl"), expect=1)
    assert ack.body == b"\x00\x01", ack  # session present 0, return code 1, no properties
    assert raw.expect_close() == []


def test_v311_empty_client_id_without_clean_session_is_return_code_2(mqtt_broker, raw_to):
    """paho refuses to send it (it raises ValueError), so the raw client does (MQTT-3.1.3-8)."""
    raw, _ = raw_to(mqtt_broker, RAW_V311, "", expect=2, clean=False)
    assert raw.expect_close() == []


def test_v5_empty_client_id_without_clean_start_is_0x85(mqtt, mqtt_broker):
    """MQTT 5 section 3.1.3.1 lets a server refuse an empty id with 0x85 (docs/adr/0002)."""
    if not mqtt_broker.is_warren:
        pytest.skip("Mosquitto 2.0.11 assigns an identifier instead")
    client = mqtt(V5, client_id="", clean=False)
    _, rc, _ = client.connect(expect_success=False)
    assert rc.value == 0x85, rc  # Client Identifier not valid
    next_disconnect(client)
    assert not client.paho.is_connected()


@pytest.mark.parametrize("protocol", [V311, V5])
def test_client_id_of_237_bytes_is_accepted_and_238_refused(mqtt, mqtt_broker, protocol):
    """The id names the session queue `mqtt-subscription-<id>` (255 bytes at most). paho 2
    reports 3.1.1 return code 2 as 0x85, as it does the MQTT 5 code."""
    if not mqtt_broker.is_warren:
        pytest.skip("Mosquitto accepts longer client ids")
    longest = (uid("long") + "x" * 237)[:237]
    ok = connected(mqtt, protocol, client_id=longest)
    t = topic("long")
    ok.subscribe(t)
    ok.publish(t, b"usable")
    assert ok.next_message().payload == b"usable"

    refused = mqtt(protocol, client_id=longest + "y")
    _, rc, _ = refused.connect(expect_success=False)
    assert rc.value == 0x85, rc
    next_disconnect(refused)
    assert not refused.paho.is_connected()


def test_v311_empty_client_id_with_clean_session_is_accepted_each_its_own(mqtt):
    """MQTT-3.1.3-6/7: the server assigns an id; two such clients do not take each other
    over, and each gets its own messages."""
    t = topic("noid")
    first = connected(mqtt, V311, client_id="")
    second = connected(mqtt, V311, client_id="")
    first.subscribe(f"{t}/1")
    second.subscribe(f"{t}/2")
    first.publish(f"{t}/2", b"to second")
    second.publish(f"{t}/1", b"to first")
    assert first.next_message().payload == b"to first"
    assert second.next_message().payload == b"to second"
    assert first.disconnects.empty() and second.disconnects.empty()
    first.assert_no_message()
    second.assert_no_message()


def test_v5_assigned_client_identifiers_are_distinct_and_name_the_session(mqtt):
    first = mqtt(V5, client_id="")
    _, _, props = first.connect()
    assigned = getattr(props, "AssignedClientIdentifier", "")
    second = mqtt(V5, client_id="")
    _, _, props = second.connect()
    other = getattr(props, "AssignedClientIdentifier", "")
    assert assigned and other and assigned != other, (assigned, other)
    # A client connecting with the assigned id takes the first one's session over.
    connected(mqtt, V5, client_id=assigned)
    next_disconnect(first)
    assert second.disconnects.empty(), "only the session with that id is taken over"


def test_anonymous_client_is_not_authorized_when_anonymous_access_is_off(
        warren_with_config, mqtt, raw_to):
    broker = warren_with_config(allow_anonymous=False)
    for protocol in (V311, V5):
        anonymous = mqtt(protocol, broker=broker, username=None)
        _, rc, _ = anonymous.connect(expect_success=False)
        # Not authorized: 3.1.1 return code 5 (which paho 2 reports as 0x87), 5.0 0x87.
        assert rc.value == 0x87, (protocol, rc)
        next_disconnect(anonymous)
    raw, _ = raw_to(broker, RAW_V311, uid("anon"), expect=5)
    assert raw.expect_close() == []
    # A client with credentials still logs in: the refusal is about the missing user name.
    for protocol in (V311, V5):
        connected(mqtt, protocol, broker=broker)


# ----- Receive Maximum -----------------------------------------------------------------------


def test_qos2_publishes_count_against_the_receive_maximum_until_pubrel(
        warren_with_config, mqtt, raw_to):
    broker = warren_with_config(receive_maximum=2)
    t = topic("rmax")
    watcher = connected(mqtt, V5, broker=broker)
    watcher.subscribe(t, qos=2)
    raw, ack = raw_to(broker, RAW_V5, uid("rmax"))
    assert connack_properties(ack).ReceiveMaximum == 2
    raw.send(publish_packet(RAW_V5, t, 2, 1, b"1") + publish_packet(RAW_V5, t, 2, 2, b"2"))
    assert [raw.recv_kind(PUBREC).pkid() for _ in range(2)] == [1, 2]
    raw.send(ack_packet(PUBREL, 1))
    assert raw.recv_kind(PUBCOMP).pkid() == 1
    raw.send(publish_packet(RAW_V5, t, 2, 3, b"3"))  # the PUBREL gave the credit back
    assert raw.recv_kind(PUBREC).pkid() == 3
    assert watcher.next_message().payload == b"1"
    raw.send_lossy(publish_packet(RAW_V5, t, 2, 4, b"4"))  # 2 and 3 await PUBREL
    got = raw.expect_close()
    assert disconnect_reasons(got) == [0x93], got  # Receive Maximum exceeded (MQTT-3.3.4-8)


def test_paho_publishing_past_the_receive_maximum_is_disconnect_0x93(warren_with_config, mqtt):
    """paho 2.1 ignores the server's Receive Maximum. With its network loop stopped it
    writes three QoS 2 PUBLISHes before it can read a PUBREC, so none is released."""
    broker = warren_with_config(receive_maximum=2)
    client = mqtt(V5, broker=broker)
    _, _, props = client.connect()
    assert props.ReceiveMaximum == 2
    client.paho.loop_stop()
    t = topic("rmaxp")
    for i in range(3):
        client.paho.publish(t, str(i), qos=2)
    client.paho.loop_start()
    rc, _ = next_disconnect(client)
    assert rc.value == 0x93, rc


def test_paho_keeping_to_the_receive_maximum_gets_everything_through(warren_with_config, mqtt):
    broker = warren_with_config(receive_maximum=2)
    t = topic("rmaxk")
    watcher = connected(mqtt, V5, broker=broker)
    watcher.subscribe(t, qos=2)
    client = mqtt(V5, broker=broker)
    client.paho.max_inflight_messages_set(2)  # paho allows it before connecting only
    _, _, props = client.connect()
    assert props.ReceiveMaximum == 2
    infos = [client.paho.publish(t, str(i), qos=2) for i in range(8)]
    for info in infos:
        info.wait_for_publish(timeout=DEADLINE)
        assert info.is_published()
    assert [watcher.next_message().payload for _ in range(8)] == [
        str(i).encode() for i in range(8)]
    watcher.assert_no_message()
    assert client.disconnects.empty()


def test_v311_client_is_held_to_the_receive_maximum_for_qos2_only(
        warren_with_config, raw_to):
    """3.1.1 has no Receive Maximum to announce: QoS 1 is not limited; a QoS 2 PUBLISH beyond
    the limit without PUBREL closes the connection (there is no DISCONNECT to send)."""
    broker = warren_with_config(receive_maximum=2)
    t = topic("rmax4")
    raw, _ = raw_to(broker, RAW_V311, uid("rmax4"))
    raw.send(b"".join(publish_packet(RAW_V311, t, 1, i, b"q1") for i in range(1, 6)))
    assert [raw.recv_kind(PUBACK).pkid() for _ in range(5)] == [1, 2, 3, 4, 5]
    raw.send(publish_packet(RAW_V311, t, 2, 6, b"a") + publish_packet(RAW_V311, t, 2, 7, b"b"))
    assert [raw.recv_kind(PUBREC).pkid() for _ in range(2)] == [6, 7]
    raw.send_lossy(publish_packet(RAW_V311, t, 2, 8, b"c"))
    assert raw.expect_close() == []


# ----- Topic Alias Maximum -------------------------------------------------------------------


def test_topic_alias_above_the_announced_maximum_is_disconnect_0x94(mqtt_broker, raw_to):
    raw, ack = raw_to(mqtt_broker, RAW_V5, uid("alias"))
    maximum = getattr(connack_properties(ack), "TopicAliasMaximum", 0)
    assert maximum >= 1, "the server accepts topic aliases"
    body = lp(topic("alias")) + props(PacketTypes.PUBLISH, TopicAlias=maximum + 1) + b"x"
    raw.send_lossy(packet(0x30, body))  # QoS 0 PUBLISH
    got = raw.expect_close()
    # MQTT-3.3.2-9/10: Topic Alias invalid. The DISCONNECT is optional (section 4.13).
    assert disconnect_reasons(got) == [0x94] or (
        not got and not mqtt_broker.is_warren), got


def test_topic_alias_zero_is_disconnect_0x94(mqtt_broker, raw_to):
    """paho refuses to encode Topic Alias 0 (MQTT-3.3.2-8)."""
    raw, _ = raw_to(mqtt_broker, RAW_V5, uid("alias0"))
    alias_zero = b"\x03\x23\x00\x00"  # properties: Topic Alias (0x23) = 0, which paho rejects
    body = lp(topic("alias0")) + alias_zero + b"x"
    raw.send_lossy(packet(0x30, body))
    got = raw.expect_close()
    if mqtt_broker.is_warren:
        assert disconnect_reasons(got) == [0x94], got  # Topic Alias invalid
    else:  # Mosquitto 2.0.11: a Malformed Packet
        assert disconnect_reasons(got) in ([], [0x81], [0x82], [0x94]), got


def test_paho_topic_alias_above_the_configured_maximum_is_disconnect_0x94(
        warren_with_config, mqtt):
    broker = warren_with_config(topic_alias_maximum=2)
    t = topic("alias2")
    watcher = connected(mqtt, V5, broker=broker)
    watcher.subscribe(t)
    client = mqtt(V5, broker=broker)
    _, _, props_ = client.connect()
    assert props_.TopicAliasMaximum == 2
    client.publish(t, b"set", properties=publish_props(TopicAlias=2))
    client.publish("", b"used", properties=publish_props(TopicAlias=2))
    assert [watcher.next_message().payload for _ in range(2)] == [b"set", b"used"]
    client.paho.publish(t, b"bad", qos=1, properties=publish_props(TopicAlias=3))
    rc, _ = next_disconnect(client)
    assert rc.value == 0x94, rc  # Topic Alias invalid (MQTT-3.3.2-10)
    watcher.assert_no_message()


# ----- Server Keep Alive ---------------------------------------------------------------------


def test_keep_alive_above_the_cap_is_answered_with_server_keep_alive(warren_with_config, mqtt):
    broker = warren_with_config(max_keep_alive=5)
    # 0 asks for no keep alive at all, which is more than the cap too.
    for asked, answered in [(600, 5), (6, 5), (0, 5), (5, None), (4, None)]:
        client = mqtt(V5, broker=broker, keepalive=asked)
        _, _, props = client.connect()
        assert getattr(props, "ServerKeepAlive", None) == answered, asked
        client.disconnect()


def test_v5_client_is_held_to_the_server_keep_alive(warren_with_config, mqtt, raw_to):
    """paho 2.1 keeps its own keep alive (600 s) whatever the CONNACK says, so it is silent
    past the server's 1 s and is disconnected at 1.5 s (MQTT-3.1.2-21/24)."""
    broker = warren_with_config(max_keep_alive=1)
    client = mqtt(V5, broker=broker, keepalive=600)
    from_server = watch_server_disconnects(client)
    since = time.monotonic()
    _, _, props = client.connect()
    assert props.ServerKeepAlive == 1
    assert from_server.get(timeout=DEADLINE), "the server sent DISCONNECT before closing"
    waited = time.monotonic() - since
    assert 1.0 <= waited <= 3.0, f"closed after {waited:.2f}s"
    raw, _ = raw_to(broker, RAW_V5, uid("ska"), keepalive=600)
    got = raw.expect_close()
    assert disconnect_reasons(got) == [0x8D], got  # Keep Alive timeout


def test_client_pinging_within_the_server_keep_alive_stays_connected(
        warren_with_config, raw_to):
    broker = warren_with_config(max_keep_alive=1)
    raw, _ = raw_to(broker, RAW_V5, uid("skap"), keepalive=600)
    since = time.monotonic()
    while time.monotonic() - since < 3.0:  # twice 1.5 times the server's keep alive
        raw.assert_silent(0.4)
        raw.send(packet(PINGREQ << 4, b""))
        assert raw.recv_kind(PINGRESP).body == b""


def test_v311_keep_alive_is_capped_too(warren_with_config, mqtt):
    """3.1.1 cannot be told the cap: a client asking for 600 s is held to 1 s silently."""
    broker = warren_with_config(max_keep_alive=1)
    client = mqtt(V311, broker=broker, keepalive=600)
    since = time.monotonic()
    client.connect()
    next_disconnect(client)
    waited = time.monotonic() - since
    assert 1.0 <= waited <= 3.0, f"closed after {waited:.2f}s"


# ----- DISCONNECT with Will Message and the will delay ---------------------------------------


def test_disconnect_with_will_message_publishes_the_will(mqtt):
    t = topic("dww")
    watcher = connected(mqtt, V5)
    watcher.subscribe(f"{t}/#")
    with_will = connected(mqtt, V5, will={"topic": f"{t}/04", "payload": b"asked", "qos": 1})
    normal = connected(mqtt, V5, will={"topic": f"{t}/00", "payload": b"dropped", "qos": 1})
    with_will.paho.disconnect(
        reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
    normal.paho.disconnect()  # 0x00: the will is discarded (MQTT-3.1.2-10)
    next_disconnect(with_will)
    next_disconnect(normal)
    msg = watcher.next_message()
    assert (msg.topic, msg.payload) == (f"{t}/04", b"asked")
    watcher.assert_no_message()


def test_reconnect_within_the_will_delay_cancels_the_will(mqtt):
    t = topic("wdc")
    watcher = connected(mqtt, V5)
    watcher.subscribe(t)
    cid = uid("wdc")
    will_props = Properties(PacketTypes.WILLMESSAGE)
    will_props.WillDelayInterval = 1
    session = connect_props(SessionExpiryInterval=30)
    dying = connected(mqtt, V5, client_id=cid, clean=False, properties=session,
                      will={"topic": t, "payload": b"cancelled", "qos": 1,
                            "properties": will_props})
    dying.kill()
    back = mqtt(V5, client_id=cid, clean=False, properties=session)
    present, _, _ = back.connect()
    assert present
    # MQTT-3.1.3-9: the session resumed within the delay; listen well past the delay.
    watcher.assert_no_message(timeout=2.0)
    back.paho.disconnect(properties=disconnect_props(SessionExpiryInterval=0))
    next_disconnect(back)


# ----- Maximum Packet Size -------------------------------------------------------------------


def test_v311_packet_at_the_maximum_passes_and_one_byte_more_closes(warren_with_config, mqtt):
    limit = 1024
    broker = warren_with_config(max_packet_size=limit)
    t = topic("max4")
    watcher = connected(mqtt, V311, broker=broker)
    watcher.subscribe(f"{t}/#")
    client = connected(mqtt, V311, broker=broker,
                       will={"topic": f"{t}/will", "payload": b"closed", "qos": 1})
    # QoS 1 PUBLISH: type byte, 2-byte remaining length, topic, packet id, payload.
    payload = b"x" * (limit - 1 - 2 - (2 + len(t)) - 2)
    client.publish(t, payload)
    assert watcher.next_message().payload == payload
    client.paho.publish(t, payload + b"x", qos=1)  # the fixed header says 1025 bytes
    next_disconnect(client)
    # MQTT 3.1.1 has no DISCONNECT from the server: the close is the refusal, and an
    # abnormal end sends the will.
    msg = watcher.next_message()
    assert (msg.topic, msg.payload) == (f"{t}/will", b"closed")
    watcher.assert_no_message()


@pytest.mark.parametrize("version", [RAW_V311, RAW_V5])
def test_oversized_packet_is_refused_from_its_fixed_header(warren_with_config, raw_to,
                                                            version):
    """Only the fixed header is sent, announcing a body of 100 000 bytes: the server closes
    without waiting for the body, so it never buffers it."""
    broker = warren_with_config(max_packet_size=1024)
    raw, ack = raw_to(broker, version, uid("hdr"))
    if version == RAW_V5:
        assert connack_properties(ack).MaximumPacketSize == 1024
    raw.send_lossy(bytes([0x30]) + varint(100_000))
    got = raw.expect_close()
    assert disconnect_reasons(got) == ([0x95] if version == RAW_V5 else []), got


# ----- broker shutdown -----------------------------------------------------------------------


def test_broker_shutdown_is_disconnect_0x8b_for_v5_clients(warren_with_config, mqtt, raw_to):
    broker = warren_with_config()
    raw5, _ = raw_to(broker, RAW_V5, uid("down5"))
    raw4, _ = raw_to(broker, RAW_V311, uid("down4"))
    client = connected(mqtt, V5, broker=broker)
    from_server = watch_server_disconnects(client)
    broker.stop()
    got = raw5.expect_close()
    assert disconnect_reasons(got) == [0x8B], got  # Server shutting down
    assert from_server.get(timeout=DEADLINE), "paho got the server's DISCONNECT"
    assert raw4.expect_close() == [], "3.1.1 has no server DISCONNECT"
