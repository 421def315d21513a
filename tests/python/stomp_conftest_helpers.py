"""Fixtures and helpers for the stomp.py suites.

The STOMP broker is the one at WARREN_IT_STOMP_ADDR (host:port, e.g. RabbitMQ's 61614) when set;
interop tests also need WARREN_IT_AMQP_URL (and WARREN_IT_MQTT_ADDR) for the same broker and
are skipped without them. Otherwise a Warren binary (WARREN_BIN, default target/debug/warren)
is started once per session on port 0 and its AMQP, MQTT and STOMP listener lines are read.
"""

import os
import queue
import threading
import time
import uuid

import pytest
import stomp

DEADLINE = 10.0
# How long a test listens to show that something does not arrive.
QUIET = 0.3
VERSIONS = ["1.0", "1.1", "1.2"]


class StompBroker:
    """Where the STOMP (and, for interop, AMQP and MQTT) clients connect."""

    def __init__(self, host, port, amqp_url, mqtt_addr, is_warren):
        self.host = host
        self.port = port
        self.amqp_url = amqp_url
        self.mqtt_addr = mqtt_addr
        self.is_warren = is_warren


@pytest.fixture(scope="session")
def stomp_broker(tmp_path_factory):
    addr = os.environ.get("WARREN_IT_STOMP_ADDR")
    if addr:
        host, port = addr.rsplit(":", 1)
        mqtt = os.environ.get("WARREN_IT_MQTT_ADDR")
        mqtt_addr = None
        if mqtt:
            mqtt_host, mqtt_port = mqtt.rsplit(":", 1)
            mqtt_addr = (mqtt_host, int(mqtt_port))
        yield StompBroker(host, int(port), os.environ.get("WARREN_IT_AMQP_URL") or None,
                          mqtt_addr, False)
        return
    from crash_helpers import Broker  # the binary on port 0, its listener lines read

    workdir = tmp_path_factory.mktemp("warren-stomp")
    warren = Broker(workdir / "data", workdir / "warren.log")
    try:
        amqp_host, amqp_port = warren.addrs["amqp"]
        stomp_host, stomp_port = warren.addrs["stomp"]
        yield StompBroker(stomp_host, stomp_port,
                          f"amqp://guest:guest@{amqp_host}:{amqp_port}/%2f",
                          warren.addrs["mqtt"], True)
    finally:
        warren.stop()


def name(what):
    """A queue name or topic word no other test uses (no dots, so it is one topic word)."""
    return f"py-{what}-{uuid.uuid4().hex[:16]}"


class Collector(stomp.ConnectionListener):
    """Every frame the client receives, in queues read with deadlines."""

    def __init__(self):
        self.messages = queue.Queue()
        self.errors = queue.Queue()
        self.receipts = queue.Queue()
        self.heartbeats = 0
        self.disconnected = threading.Event()
        self.connected = None

    def on_connected(self, frame):
        self.connected = frame

    def on_message(self, frame):
        self.messages.put(frame)

    def on_error(self, frame):
        self.errors.put(frame)

    def on_receipt(self, frame):
        self.receipts.put(frame.headers.get("receipt-id"))

    def on_heartbeat(self):
        self.heartbeats += 1

    def on_disconnected(self):
        self.disconnected.set()


class Client:
    """A stomp.py connection of one version with a Collector."""

    def __init__(self, broker, version, heartbeats=(0, 0)):
        hosts = [(broker.host, broker.port)]
        if version == "1.0":
            self.conn = stomp.Connection10(hosts)
        elif version == "1.1":
            self.conn = stomp.Connection11(hosts, heartbeats=heartbeats, vhost="/")
        else:
            self.conn = stomp.Connection12(hosts, heartbeats=heartbeats, vhost="/")
        self.version = version
        self.events = Collector()
        self.conn.set_listener("collector", self.events)
        self._receipts = 0

    def connect(self, login="guest", passcode="guest"):
        self.conn.connect(login, passcode, wait=True)
        return self

    def receipt(self):
        self._receipts += 1
        return f"r-{self._receipts}-{uuid.uuid4().hex[:6]}"

    def wait_receipt(self, receipt_id):
        while True:
            got = self.events.receipts.get(timeout=DEADLINE)
            if got == receipt_id:
                return

    def send(self, destination, body, headers=None, sync=True, **kwargs):
        receipt = self.receipt() if sync else None
        self.conn.send(destination=destination, body=body, headers=headers or {},
                       receipt=receipt, **kwargs)
        if sync:
            self.wait_receipt(receipt)

    def subscribe(self, destination, sub_id="s", ack="auto", headers=None):
        receipt = self.receipt()
        all_headers = dict(headers or {})
        all_headers["receipt"] = receipt
        self.conn.subscribe(destination=destination, id=sub_id, ack=ack, headers=all_headers)
        self.wait_receipt(receipt)

    def unsubscribe(self, sub_id="s", destination=None):
        receipt = self.receipt()
        if self.version == "1.0":
            self.conn.unsubscribe(destination=destination, id=sub_id,
                                  headers={"receipt": receipt})
        else:
            self.conn.unsubscribe(id=sub_id, headers={"receipt": receipt})
        self.wait_receipt(receipt)

    def message(self, timeout=DEADLINE):
        return self.events.messages.get(timeout=timeout)

    def assert_quiet(self):
        try:
            frame = self.events.messages.get(timeout=QUIET)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected MESSAGE {frame.headers} {frame.body!r}")

    def ack_id(self, frame):
        return frame.headers["ack"] if self.version == "1.2" else frame.headers["message-id"]

    def ack(self, frame, **kwargs):
        if self.version == "1.1":
            self.conn.ack(self.ack_id(frame), frame.headers["subscription"], **kwargs)
        else:
            self.conn.ack(self.ack_id(frame), **kwargs)

    def nack(self, frame, **kwargs):
        if self.version == "1.1":
            self.conn.nack(self.ack_id(frame), frame.headers["subscription"], **kwargs)
        else:
            self.conn.nack(self.ack_id(frame), **kwargs)

    def error(self):
        return self.events.errors.get(timeout=DEADLINE)

    def close(self):
        if self.conn.is_connected():
            try:
                self.conn.disconnect()
            except Exception:  # already gone: nothing to close
                pass


@pytest.fixture
def stomp_client(stomp_broker):
    """Opens connected stomp.py clients of a version, disconnected at teardown."""
    opened = []

    def _open(version="1.2", heartbeats=(0, 0), connect=True):
        client = Client(stomp_broker, version, heartbeats)
        opened.append(client)
        return client.connect() if connect else client

    yield _open
    for client in opened:
        client.close()
