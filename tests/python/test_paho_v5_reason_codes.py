"""paho-mqtt with MQTT 5, beyond test_paho_v5.py, on the server's reason codes: DISCONNECT
reason codes, AUTH, topic and filter validation, and reason strings.

A raw socket client (mqtt_raw) makes the few checks paho cannot: topics paho refuses to send,
and DISCONNECT reason codes sent without properties, which paho 2.1 reports as a normal
disconnection."""

import queue
import time

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqtt_conftest_helpers import (
    DEADLINE,
    connect_props,
    connected,
    topic,
    uid,
)
from mqtt_raw import (
    DISCONNECT,
    PUBACK,
    V5 as RAW_V5,
    packet,
    props,
    publish_packet,
    raw_mqtt,  # noqa: F401  (fixture)
    raw_to,  # noqa: F401  (fixture raw_mqtt uses)
)
from paho_v5_helpers import V, next_disconnect, subscribe_many


# ----- server DISCONNECT reason codes --------------------------------------------------------


def test_takeover_is_disconnect_0x8e_and_sends_the_old_will(mqtt, mqtt_broker, raw_mqtt):
    t = topic("take5")
    watcher = connected(mqtt, V)
    watcher.subscribe(t)
    cid = uid("take5")
    old, _ = raw_mqtt(RAW_V5, cid, will=(t, b"old will", 1))
    new = connected(mqtt, V, client_id=cid)
    got = old.expect_close()
    reasons = [p.reason() for p in got if p.kind == DISCONNECT]
    # MQTT-3.1.4-3 requires the close; Warren also says why (Mosquitto 2.0.11 just closes).
    assert reasons == [0x8E] or (reasons == [] and not mqtt_broker.is_warren), got
    assert watcher.next_message().payload == b"old will"
    # The new connection owns the client id.
    new.subscribe(f"{t}/new")
    connected(mqtt, V).publish(f"{t}/new", b"to new")
    assert new.next_message().payload == b"to new"


def test_paho_sees_a_takeover_as_the_servers_disconnect(mqtt, mqtt_broker):
    if not mqtt_broker.is_warren:
        pytest.skip("Mosquitto 2.0.11 closes a taken-over connection without DISCONNECT")
    cid = uid("takep")
    old = connected(mqtt, V, client_id=cid)
    flags = queue.Queue()
    old.paho.on_disconnect = lambda c, u, f, rc, p: flags.put(f.is_disconnect_packet_from_server)
    connected(mqtt, V, client_id=cid)
    assert flags.get(timeout=DEADLINE), "the server sent DISCONNECT before closing"


def test_silent_client_is_disconnect_0x8d_at_one_and_a_half_keepalives(mqtt, mqtt_broker,
                                                                      raw_mqtt):
    t = topic("ka5")
    watcher = connected(mqtt, V)
    watcher.subscribe(t)
    raw, _ = raw_mqtt(RAW_V5, uid("ka5"), keepalive=1, will=(t, b"timed out", 1))
    since = time.monotonic()
    got = raw.expect_close(30)
    waited = time.monotonic() - since
    disconnects = [p for p in got if p.kind == DISCONNECT]
    if mqtt_broker.is_warren:
        assert [d.reason() for d in disconnects] == [0x8D], got  # Keep Alive timeout
        # MQTT-3.1.2-22: after 1.5 times the keep alive, never before the keep alive.
        assert 1.0 <= waited <= 3.0, f"closed after {waited:.2f}s"
    else:  # the DISCONNECT is optional (section 4.13); Mosquitto checks keep alive coarsely
        assert all(d.reason() == 0x8D for d in disconnects), got
        assert waited >= 1.0
    assert watcher.next_message().payload == b"timed out"


# ----- AUTH ----------------------------------------------------------------------------------


def test_unknown_authentication_method_is_connack_0x8c(mqtt):
    client = mqtt(V, properties=connect_props(AuthenticationMethod="X-WARREN-UNKNOWN"))
    _, rc, _ = client.connect(expect_success=False)
    assert rc.value == 0x8C  # Bad authentication method (section 4.12)
    next_disconnect(client)  # and the connection is closed
    assert not client.paho.is_connected()


def test_auth_packet_without_an_authentication_method_is_disconnect_0x82(mqtt_broker, raw_mqtt):
    raw, _ = raw_mqtt(RAW_V5, uid("auth"))
    body = b"\x19" + props(PacketTypes.AUTH, AuthenticationMethod="SCRAM-SHA-1")
    raw.send_lossy(packet(0xF0, body))  # AUTH, Continue authentication
    got = raw.expect_close()  # section 4.12: a Protocol Error
    reasons = [p.reason() for p in got if p.kind == DISCONNECT]
    assert reasons == [0x82] or (reasons == [] and not mqtt_broker.is_warren), got


# ----- topic and filter validation -----------------------------------------------------------


def test_invalid_filters_get_suback_0x8f_one_code_per_filter(mqtt, mqtt_broker):
    """paho refuses misplaced wildcards itself; a share name left empty and a shared
    subscription without a filter reach the server."""
    if not mqtt_broker.is_warren:
        pytest.skip("Mosquitto 2.0.11 grants these as plain filters")
    root = topic("badf5")
    client = connected(mqtt, V)
    filters = [
        (f"{root}/ok", SubscribeOptions(qos=1)),
        (f"$share//{root}", SubscribeOptions(qos=1)),  # MQTT-4.8.2-1
        (f"$share/{uid('g')}", SubscribeOptions(qos=1)),
        (f"{root}/+/two", SubscribeOptions(qos=2)),
    ]
    codes, _ = subscribe_many(client, filters)
    assert codes == [1, 0x8F, 0x8F, 2]  # Topic Filter invalid
    # The connection is still usable, and the valid filters are live.
    connected(mqtt, V).publish(f"{root}/x/two", b"after")
    assert client.next_message().payload == b"after"


def test_filter_with_a_nul_character_gets_suback_0x8f(mqtt, mqtt_broker):
    """MQTT-4.7.3-2: no U+0000 in a filter. The SUBACK itself must be well formed: a Reason
    String is a UTF-8 string, which may not contain U+0000 either (MQTT-1.5.4-2), or paho
    drops the connection as malformed instead of reporting the code."""
    root = topic("nulf5")
    client = connected(mqtt, V)
    try:
        codes, _ = subscribe_many(client, [(f"{root}/a\0b", SubscribeOptions(qos=1)),
                                           (f"{root}/ok", SubscribeOptions(qos=1))])
    except queue.Empty:
        assert not mqtt_broker.is_warren, "Warren answers with a SUBACK paho can read"
        pytest.skip("the broker closed the connection instead (also allowed)")
    assert codes[1] == 1
    assert codes[0] == 0x8F if mqtt_broker.is_warren else codes[0] >= 0x80, codes
    assert client.paho.is_connected()


def test_invalid_topic_in_publish_is_disconnect_0x90(mqtt, mqtt_broker):
    root = topic("badt5")
    watcher = connected(mqtt, V)
    watcher.subscribe(f"{root}/#")
    client = connected(mqtt, V)
    client.paho.publish(f"{root}/a\0b", b"x", qos=1)  # MQTT-4.7.3-2, MQTT-1.5.4-2
    rc, _ = next_disconnect(client)
    # Mosquitto's DISCONNECT carries no properties, so paho cannot read its code.
    assert rc.value == 0x90 or not mqtt_broker.is_warren, rc
    assert not client.paho.is_connected()
    watcher.assert_no_message()


@pytest.mark.parametrize("suffix", ["+", "#", "a+b", "a/#"])
def test_wildcard_in_a_publish_topic_is_disconnect_0x90(mqtt, mqtt_broker, raw_mqtt, suffix):
    """paho refuses to send these; the raw client does (MQTT-3.3.2-2)."""
    root = topic("wild5")
    watcher = connected(mqtt, V)
    watcher.subscribe(f"{root}/#")
    raw, _ = raw_mqtt(RAW_V5, uid("wild5"))
    raw.send_lossy(publish_packet(RAW_V5, f"{root}/{suffix}", 1, 1, b"x"))
    got = raw.expect_close()
    assert all(p.kind != PUBACK for p in got), f"acknowledged: {got}"
    reasons = [p.reason() for p in got if p.kind == DISCONNECT]
    if mqtt_broker.is_warren:
        assert reasons == [0x90], got  # Topic Name invalid
    else:  # Malformed Packet and Protocol Error are reactions the spec allows too
        assert reasons in ([], [0x90], [0x81], [0x82]), got
    watcher.assert_no_message()


def test_no_local_on_a_shared_subscription_is_disconnect_0x82(mqtt, mqtt_broker):
    if not mqtt_broker.is_warren:
        pytest.skip("Mosquitto 2.0.11 accepts No Local on a shared subscription")
    client = connected(mqtt, V)
    share = f"$share/{uid('g')}/{topic('nlsh')}"
    client.paho.subscribe(share, options=SubscribeOptions(qos=1, noLocal=True))
    rc, _ = next_disconnect(client)
    assert rc.value == 0x82  # Protocol Error (MQTT-3.8.3-4)


# ----- reason strings ------------------------------------------------------------------------


def test_refused_subscription_carries_a_reason_string(mqtt, mqtt_broker):
    if not mqtt_broker.is_warren:
        pytest.skip("a Reason String is optional; Warren always explains a refusal")
    client = connected(mqtt, V)
    codes, suback = subscribe_many(client, [(f"$share//{topic('rs')}", SubscribeOptions())])
    assert codes == [0x8F]
    assert "share" in suback.ReasonString


def test_no_reason_string_unless_problem_information_is_requested(mqtt, mqtt_broker):
    if not mqtt_broker.is_warren:
        pytest.skip("Mosquitto 2.0.11 grants the filter, so there is no refusal to explain")
    client = connected(mqtt, V, properties=connect_props(RequestProblemInformation=0))
    codes, suback = subscribe_many(client, [(f"$share//{topic('rpi')}", SubscribeOptions())])
    assert codes == [0x8F]
    # MQTT-3.1.2-29: no Reason String on anything but PUBLISH, CONNACK and DISCONNECT.
    assert not hasattr(suback, "ReasonString")


def test_disconnect_for_an_error_carries_a_reason_string(mqtt, mqtt_broker):
    if not mqtt_broker.is_warren:
        pytest.skip("a Reason String is optional; Warren explains a DISCONNECT for an error")
    client = connected(mqtt, V, properties=connect_props(RequestProblemInformation=0))
    client.paho.publish(f"{topic('rsd')}/a\0b", b"x", qos=1)
    rc, disconnect = next_disconnect(client)
    assert rc.value == 0x90
    # Allowed on DISCONNECT even when Request Problem Information is 0 (MQTT-3.1.2-29).
    assert "topic" in disconnect.ReasonString
