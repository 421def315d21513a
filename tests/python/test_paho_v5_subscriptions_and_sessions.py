"""paho-mqtt with MQTT 5, beyond test_paho_v5.py, on subscriptions and sessions: more of
no-local, retain-as-published, retain handling, subscription identifiers, shared subscriptions
and session expiry."""

import queue
import time

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqtt_conftest_helpers import (
    DEADLINE,
    QUIET,
    connect_props,
    connected,
    topic,
    uid,
)
from paho_v5_helpers import V, end_session, next_disconnect, persistent, unsubscribe


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
