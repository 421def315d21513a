"""paho-mqtt with MQTT 5, beyond test_paho_v5.py: QoS 0/1/2 both ways with QoS 2 exactly once,
message expiry of queued messages, Receive Maximum and Maximum Packet Size, server DISCONNECT
reason codes, AUTH, topic and filter validation, outbound topic aliases, reason strings, and
more of no-local, retain-as-published, retain handling, subscription identifiers, user
properties, shared subscriptions and session expiry.

A raw socket client (mqtt_raw) makes the few checks paho cannot: a PUBLISH repeated with the
same packet id, topics paho refuses to send, and DISCONNECT reason codes sent without
properties, which paho 2.1 reports as a normal disconnection."""

import queue
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqtt_conftest_helpers import (
    DEADLINE,
    QUIET,
    connect_props,
    connected,
    publish_props,
    topic,
    uid,
)
from mqtt_raw import (
    DISCONNECT,
    PUBACK,
    PUBCOMP,
    PUBREC,
    PUBREL,
    V5 as RAW_V5,
    ack_packet,
    packet,
    props,
    publish_packet,
    raw_mqtt,  # noqa: F401  (fixture)
)

V = paho.MQTTv5


def next_disconnect(client, timeout=DEADLINE):
    """(reason code, properties) of the client's next disconnect."""
    try:
        return client.disconnects.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"still connected after {timeout}s") from None


def subscribe_many(client, filters, properties=None):
    """One SUBSCRIBE with several filters; returns (reason codes, SUBACK properties)."""
    result, mid = client.paho.subscribe(filters, properties=properties)
    assert result == paho.MQTT_ERR_SUCCESS
    while True:
        got_mid, rcs, got_props = client.subacks.get(timeout=DEADLINE)
        if got_mid == mid:
            return [rc.value for rc in rcs], got_props


def unsubscribe(client, filter_):
    """Unsubscribes and waits for the UNSUBACK; returns its reason codes."""
    acks = queue.Queue()
    client.paho.on_unsubscribe = lambda c, u, mid, rcs, p: acks.put((mid, rcs))
    result, mid = client.paho.unsubscribe(filter_)
    assert result == paho.MQTT_ERR_SUCCESS
    while True:
        got_mid, rcs = acks.get(timeout=DEADLINE)
        if got_mid == mid:
            return [rc.value for rc in rcs]


def persistent(mqtt, cid, expiry=300, **kwargs):
    """A client that resumes (or starts) session `cid` kept `expiry` seconds after it ends."""
    return mqtt(V, client_id=cid, clean=False,
                properties=connect_props(SessionExpiryInterval=expiry), **kwargs)


def end_session(mqtt, cid):
    """Ends a session a test left on a shared broker."""
    connected(mqtt, V, client_id=cid).disconnect()


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


# ----- no-local, retain-as-published, retain handling ----------------------------------------


def test_no_local_applies_per_subscription(mqtt):
    """An overlapping subscription without No Local still gets the client's own messages
    (MQTT-3.8.3-3 is an option of one subscription)."""
    root = topic("nlov")
    client = connected(mqtt, V)
    client.subscribe(f"{root}/#", options=SubscribeOptions(qos=1, noLocal=True))
    client.subscribe(f"{root}/b", options=SubscribeOptions(qos=1))
    client.publish(f"{root}/a", b"hidden")
    client.publish(f"{root}/b", b"through the plain one")
    msg = client.next_message()
    assert (msg.topic, msg.payload) == (f"{root}/b", b"through the plain one")
    client.assert_no_message()


def test_retained_messages_sent_on_subscribe_always_have_retain_set(mqtt):
    """A message sent because of a new subscription has RETAIN set (section 3.3.1.3); the
    RETAIN of live forwards follows retain-as-published (MQTT-3.3.1-12/13)."""
    t = topic("rflag")
    pub = connected(mqtt, V)
    for rap in (False, True):
        pub.publish(t, b"kept", retain=True)
        client = connected(mqtt, V)
        client.subscribe(t, options=SubscribeOptions(qos=1, retainAsPublished=rap))
        replay = client.next_message()
        assert (replay.payload, replay.retain) == (b"kept", True)
        pub.publish(t, b"live", retain=True)
        live = client.next_message()
        assert (live.payload, live.retain) == (b"live", rap)
    pub.publish(t, b"", retain=True)


def test_retain_handling_with_a_wildcard_filter_and_after_unsubscribe(mqtt):
    root = topic("rhw")
    pub = connected(mqtt, V)
    retained = [f"{root}/a", f"{root}/b/c"]
    for t in retained:
        pub.publish(t, t, retain=True)
    client = connected(mqtt, V)
    options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
    client.subscribe(f"{root}/#", options=options)
    assert sorted(client.next_message().topic for _ in retained) == retained
    client.subscribe(f"{root}/#", options=options)
    client.assert_no_message()  # not new: nothing replayed
    assert unsubscribe(client, f"{root}/#") == [0]
    client.subscribe(f"{root}/#", options=options)
    assert sorted(client.next_message().topic for _ in retained) == retained  # new again
    client.assert_no_message()
    for t in retained:
        pub.publish(t, b"", retain=True)


# ----- subscription identifiers --------------------------------------------------------------


def sub_props(identifier):
    p = Properties(PacketTypes.SUBSCRIBE)
    p.SubscriptionIdentifier = identifier
    return p


def ids_of(client, count_max=2):
    """The subscription identifiers of the next message, or of the next copies while they
    come (a server may send one copy per matching subscription, MQTT-3.3.4-3..5)."""
    ids = list(getattr(client.next_message().properties, "SubscriptionIdentifier", []))
    for _ in range(count_max - 1):
        try:
            msg = client.messages.get(timeout=QUIET)
        except queue.Empty:
            break
        ids.extend(getattr(msg.properties, "SubscriptionIdentifier", []))
    return sorted(ids)


def test_subscription_identifiers_of_overlapping_and_replaced_subscriptions(mqtt):
    root = topic("sids")
    client = connected(mqtt, V)
    client.subscribe(f"{root}/a/+", properties=sub_props(7))
    client.subscribe(f"{root}/#", properties=sub_props(268435455))  # the largest varint
    client.subscribe(f"{root}/plain")
    pub = connected(mqtt, V)
    pub.publish(f"{root}/a/x", b"both")
    assert ids_of(client) == [7, 268435455]
    pub.publish(f"{root}/plain", b"plain")
    assert ids_of(client) == [268435455]
    # Subscribing again replaces the subscription, identifier included (MQTT-3.8.4-3).
    client.subscribe(f"{root}/a/+", properties=sub_props(8))
    pub.publish(f"{root}/a/y", b"again")
    assert ids_of(client) == [8, 268435455]


def test_subscription_identifier_on_retained_replay(mqtt):
    t = topic("sidr")
    pub = connected(mqtt, V)
    pub.publish(t, b"kept", retain=True)
    client = connected(mqtt, V)
    client.subscribe(t, properties=sub_props(5))
    msg = client.next_message()
    assert (msg.payload, msg.retain) == (b"kept", True)
    assert msg.properties.SubscriptionIdentifier == [5]
    pub.publish(t, b"", retain=True)


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


# ----- shared subscriptions ------------------------------------------------------------------


def drain(clients, total):
    """Every message the clients get until `total` arrived, per client."""
    got = [[] for _ in clients]
    until = time.monotonic() + DEADLINE
    while sum(map(len, got)) < total:
        assert time.monotonic() < until, f"only {sum(map(len, got))} of {total}"
        for client, bucket in zip(clients, got):
            try:
                bucket.append(client.messages.get(timeout=0.02).payload)
            except queue.Empty:
                pass
    return got


def test_each_group_and_each_plain_subscriber_gets_one_copy(mqtt):
    root = topic("grps")
    groups = [uid("g1"), uid("g2")]
    members = {g: [connected(mqtt, V) for _ in range(2)] for g in groups}
    for g, clients in members.items():
        for c in clients:
            assert c.subscribe(f"$share/{g}/{root}", 2)[0].value == 2
    plain = connected(mqtt, V)
    plain.subscribe(root)
    pub = connected(mqtt, V)
    sent = [str(i).encode() for i in range(6)]
    for body in sent:
        pub.publish(root, body)
    for clients in members.values():
        got = drain(clients, len(sent))
        assert sorted(got[0] + got[1]) == sorted(sent), "each group gets every message once"
    assert [plain.next_message().payload for _ in sent] == sent
    for c in [plain, *members[groups[0]], *members[groups[1]]]:
        c.assert_no_message(QUIET)


def test_shared_subscription_gets_no_retained_messages(mqtt, mqtt_broker):
    if not mqtt_broker.is_warren:
        pytest.skip("Mosquitto 2.0.11 sends retained messages to shared subscriptions")
    t = topic("shret")
    pub = connected(mqtt, V)
    pub.publish(t, b"kept", retain=True)
    member = connected(mqtt, V)
    member.subscribe(f"$share/{uid('g')}/{t}")
    member.assert_no_message()  # MQTT 5 section 4.8.2
    pub.publish(t, b"live")
    assert member.next_message().payload == b"live"
    pub.publish(t, b"", retain=True)


def test_remaining_member_gets_everything_after_the_other_unsubscribes(mqtt):
    root = topic("shun")
    share = f"$share/{uid('g')}/{root}"
    a, b = connected(mqtt, V), connected(mqtt, V)
    a.subscribe(share)
    b.subscribe(share)
    assert unsubscribe(b, share) == [0]
    pub = connected(mqtt, V)
    for i in range(4):
        pub.publish(root, str(i))
    assert [a.next_message().payload for _ in range(4)] == [b"0", b"1", b"2", b"3"]
    b.assert_no_message()


# ----- session expiry ------------------------------------------------------------------------


def test_session_ends_when_its_expiry_interval_passes(mqtt):
    """A will delayed past the session's life is published when the session ends
    (section 3.1.3.2.2): the test learns the session has expired without sleeping."""
    t = topic("sexp1")
    cid = uid("sexp1")
    watcher = connected(mqtt, V)
    watcher.subscribe(t)
    will_props = Properties(PacketTypes.WILLMESSAGE)
    will_props.WillDelayInterval = 3600
    client = persistent(mqtt, cid, expiry=1,
                        will={"topic": t, "payload": b"expired", "qos": 1,
                              "properties": will_props})
    client.connect()
    client.subscribe(f"{t}/sub")
    client.kill()
    assert watcher.next_message().payload == b"expired"
    back = persistent(mqtt, cid)
    present, _, _ = back.connect()
    assert not present, "the expired session is gone"
    back.disconnect()
    end_session(mqtt, cid)


def test_disconnect_with_session_expiry_zero_ends_the_session(mqtt):
    cid = uid("sexp0")
    client = persistent(mqtt, cid)
    client.connect()
    client.subscribe(topic("sexp0"))
    p = Properties(PacketTypes.DISCONNECT)
    p.SessionExpiryInterval = 0
    client.paho.disconnect(properties=p)
    next_disconnect(client)
    client.paho.loop_stop()
    client.started = False
    back = persistent(mqtt, cid)
    present, _, _ = back.connect()
    assert not present  # the DISCONNECT's interval replaces CONNECT's (section 3.14.2.2.2)
    back.disconnect()
    end_session(mqtt, cid)


def test_clean_start_discards_a_session_that_has_not_expired(mqtt):
    t = topic("cstart")
    cid = uid("cstart")
    client = persistent(mqtt, cid)
    client.connect()
    client.subscribe(t)
    client.disconnect()
    fresh = mqtt(V, client_id=cid, clean=True, properties=connect_props(SessionExpiryInterval=300))
    present, _, _ = fresh.connect()
    assert not present
    connected(mqtt, V).publish(t, b"lost")
    fresh.assert_no_message()  # the old subscription went with the old session
    fresh.disconnect()
    end_session(mqtt, cid)


def test_session_expiry_above_the_servers_cap_is_answered_with_the_cap(mqtt, mqtt_broker):
    if not mqtt_broker.is_warren:
        pytest.skip("Warren's cap (mqtt.max_session_expiry, 7 days by default)")
    cid = uid("scap")
    client = persistent(mqtt, cid, expiry=0xFFFFFFFE)
    _, _, connack = client.connect()
    assert connack.SessionExpiryInterval == 7 * 86400  # MQTT 5 section 3.2.2.3.2
    client.disconnect()
    end_session(mqtt, cid)
