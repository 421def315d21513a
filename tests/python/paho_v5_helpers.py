"""Helpers of the paho-mqtt MQTT 5 suites: the protocol constant, the next disconnect, SUBSCRIBE
with several filters, UNSUBSCRIBE, and persistent sessions."""

import queue

import paho.mqtt.client as paho

from mqtt_conftest_helpers import DEADLINE, connect_props, connected


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
