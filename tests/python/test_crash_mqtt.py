"""kill -9 crash tests with paho-mqtt, QoS 1 and 2, against the real binary.

A persistent session (clean session 0) subscribes once. Each round restarts the broker on
the same data directory, reconnects that session and takes what it queued while away, then
publishes QoS 1 and QoS 2 messages from another client (each confirmed by PUBACK, or by
PUBREC and PUBCOMP) and kills the broker with SIGKILL at a random moment.

What must hold after every restart:
- the session is still there (session present) and every confirmed message it had not yet
  received comes back;
- no message it received and acknowledged (PUBACK/PUBCOMP) before a fence comes back. The
  acknowledgements are not confirmed to the subscriber, so it publishes one QoS 1 message on
  the same connection afterwards: the broker writes in order, so that PUBACK proves the acks
  before it are on disk;
- nothing appears that was never published.
"""

import queue
import random
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from crash_helpers import Broker, publish_until_killed

ROUNDS = 6
TOPIC = "crash/m"
SUB_ID = "crash-subscriber"


def _client(broker, client_id, clean):
    host, port = broker.addrs["mqtt"]
    c = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean,
        protocol=paho.MQTTv311,
    )
    c.username_pw_set("guest", "guest")
    present = queue.Queue()
    c.on_connect = lambda _c, _u, flags, rc, _p: present.put((flags.session_present, rc))
    c.connect(host, port, keepalive=30)
    c.loop_start()
    session_present, rc = present.get(timeout=10)
    assert not rc.is_failure, rc
    return c, session_present


def _drain_session(broker):
    """Reconnects the persistent session and takes everything it has; fences its acks."""
    got = queue.Queue()
    host, port = broker.addrs["mqtt"]
    c = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=SUB_ID,
        clean_session=False,
        protocol=paho.MQTTv311,
    )
    c.username_pw_set("guest", "guest")
    present = queue.Queue()
    c.on_connect = lambda _c, _u, flags, rc, _p: present.put(flags.session_present)
    c.on_message = lambda _c, _u, m: got.put(m.payload.decode())
    c.connect(host, port, keepalive=30)
    c.loop_start()
    session_present = present.get(timeout=10)
    bodies = []
    while True:
        try:
            bodies.append(got.get(timeout=0.5))
        except queue.Empty:
            break
    # paho acknowledged each message on receipt; a later QoS 1 publish on the same
    # connection is confirmed only once those acks are on disk.
    c.publish("crash/fence", b"fence", qos=1).wait_for_publish(timeout=10)
    c.disconnect()
    c.loop_stop()
    return session_present, bodies


def _publisher(broker, batch, confirmed, stop):
    try:
        c, _ = _client(broker, "crash-publisher", True)
        for i, body in enumerate(batch):
            if stop.is_set():
                return
            info = c.publish(TOPIC, body.encode(), qos=1 + i % 2)
            while not info.is_published() and not stop.is_set():
                try:
                    info.wait_for_publish(timeout=0.1)
                except (RuntimeError, ValueError):
                    return
            if not info.is_published():
                return
            confirmed.append(body)
    except Exception:  # noqa: BLE001 - the broker is killed under it on purpose
        return


def test_confirmed_qos1_and_qos2_messages_survive_kill(tmp_path):
    rng = random.Random(int(time.time()))
    data = tmp_path / "data"
    log = tmp_path / "warren.log"
    broker = Broker(data, log)
    try:
        c, _ = _client(broker, SUB_ID, False)
        result, _ = c.subscribe(TOPIC, qos=2)
        assert result == paho.MQTT_ERR_SUCCESS
        c.publish("crash/fence", b"fence", qos=1).wait_for_publish(timeout=10)
        c.disconnect()
        c.loop_stop()
    finally:
        broker.stop()
    live, acked, published = set(), set(), set()
    next_id = 0
    recovered = 0
    for round_no in range(ROUNDS):
        broker = Broker(data, log)
        try:
            session_present, bodies = _drain_session(broker)
            assert session_present, f"round {round_no}: the persistent session survived"
            present = set(bodies)
            missing = live - present
            assert not missing, f"round {round_no}: confirmed messages lost: {sorted(missing)}"
            back = present & acked
            assert not back, f"round {round_no}: acknowledged messages came back: {sorted(back)}"
            unknown = present - published
            assert not unknown, f"round {round_no}: never published: {sorted(unknown)}"
            recovered += len(present)
            acked |= present
            live = set()
            batch = [f"q{next_id + i}" for i in range(3000)]
            next_id += len(batch)
            published.update(batch)
            confirmed = publish_until_killed(broker, rng, (0.1, 0.6), _publisher, broker, batch)
        finally:
            broker.kill()
        live.update(confirmed)
        print(f"round {round_no}: {len(confirmed)} confirmed")
    broker = Broker(data, log)
    try:
        session_present, bodies = _drain_session(broker)
        assert session_present
        assert live <= set(bodies)
        assert not (set(bodies) & acked)
    finally:
        broker.stop()
    assert recovered > 0, "the kills never caught anything to recover"
