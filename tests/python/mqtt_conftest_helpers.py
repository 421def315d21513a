"""Fixtures and helpers for the paho-mqtt suites.

The MQTT broker is the one at WARREN_IT_MQTT_ADDR (host:port, e.g. Mosquitto) when set; the
interop suite also needs WARREN_IT_AMQP_URL for the same broker (e.g. RabbitMQ's 1884 and 5673)
and is skipped when only one is set. Otherwise a Warren binary (WARREN_BIN, default
target/debug/warren) is started once per session on port 0 and both of its listener lines are
read, so MQTT and AMQP clients reach the same broker.

Tests that need non-default `[mqtt]` settings start a Warren of their own with
`warren_with_config` (Warren only: they skip when WARREN_IT_MQTT_ADDR names another broker).
"""

import os
import queue
import subprocess
import threading
import time
import uuid

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

DEADLINE = 10.0
# How long a test listens to show that something does not arrive.
QUIET = 0.3


class MqttBroker:
    """Where the MQTT (and, for interop, AMQP) clients connect."""

    def __init__(self, host, port, amqp_url, is_warren):
        self.host = host
        self.port = port
        self.amqp_url = amqp_url
        self.is_warren = is_warren

    def checks_credentials(self):
        return self.is_warren or os.environ.get("WARREN_IT_MQTT_AUTH") == "1"


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory):
    addr = os.environ.get("WARREN_IT_MQTT_ADDR")
    if addr:
        host, port = addr.rsplit(":", 1)
        yield MqttBroker(host, int(port), os.environ.get("WARREN_IT_AMQP_URL") or None, False)
        return
    from crash_helpers import Broker  # the binary on port 0, its listener lines read

    workdir = tmp_path_factory.mktemp("warren-mqtt")
    warren = Broker(workdir / "data", workdir / "warren.log")
    try:
        amqp_host, amqp_port = warren.addrs["amqp"]
        mqtt_host, mqtt_port = warren.addrs["mqtt"]
        amqp_url = f"amqp://guest:guest@{amqp_host}:{amqp_port}/%2f"
        if os.environ.get("WARREN_IT_AMQP_URL"):
            amqp_url = None  # AMQP elsewhere, MQTT here: not one broker
        yield MqttBroker(mqtt_host, mqtt_port, amqp_url, True)
    finally:
        warren.stop()


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"no TOML for {value!r}")


class ConfiguredWarren(MqttBroker):
    """A Warren binary of its own, started with `--config` on a TOML file: loopback port-0
    listeners, a fresh data directory and the given `[mqtt]` keys. `stop()` is a clean
    shutdown (SIGTERM, as `crash_helpers.Broker.stop`) and may be called more than once."""

    def __init__(self, workdir, mqtt_settings):
        from crash_helpers import REPO_ROOT, _drain, _read_listeners

        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "warren.toml"
        lines = [
            f"data_dir = {_toml_value(str(workdir / 'data'))}",
            "",
            "[listeners]",
            'amqp = "127.0.0.1:0"',
            'mqtt = "127.0.0.1:0"',
            'stomp = "127.0.0.1:0"',
            "",
            "[mqtt]",
        ]
        lines += [f"{key} = {_toml_value(value)}" for key, value in mqtt_settings.items()]
        config.write_text("\n".join(lines) + "\n")
        binary = os.environ.get("WARREN_BIN", str(REPO_ROOT / "target" / "debug" / "warren"))
        self.log = open(workdir / "warren.log", "ab")
        self.proc = subprocess.Popen(
            [binary, "--config", str(config)], stdout=subprocess.PIPE, stderr=self.log
        )
        try:
            addrs = _read_listeners(self.proc, {"amqp", "mqtt"})
        except Exception:
            self.proc.kill()
            self.proc.wait()
            self.log.close()
            raise
        threading.Thread(target=_drain, args=(self.proc.stdout,), daemon=True).start()
        amqp_host, amqp_port = addrs["amqp"]
        super().__init__(*addrs["mqtt"], f"amqp://guest:guest@{amqp_host}:{amqp_port}/%2f", True)

    def stop(self):
        """SIGTERM and wait for the process to exit."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()


@pytest.fixture
def warren_with_config(tmp_path):
    """Starts Warren with `[mqtt]` keys: `warren_with_config(receive_maximum=2)` returns a
    running ConfiguredWarren; every one started is stopped at teardown. Skips the test when
    the suite runs against another broker (WARREN_IT_MQTT_ADDR)."""
    if os.environ.get("WARREN_IT_MQTT_ADDR"):
        pytest.skip("needs a Warren started with its own configuration")
    started = []

    def _start(**mqtt_settings):
        broker = ConfiguredWarren(tmp_path / f"warren{len(started)}", mqtt_settings)
        started.append(broker)
        return broker

    yield _start
    for broker in started:
        broker.stop()


def uid(what):
    """A client id or topic segment no other test uses (short enough for MQTT 3.1's 23)."""
    return f"{what[:6]}{uuid.uuid4().hex[:14]}"


def topic(what):
    return f"it/{uid(what)}"


class Client:
    """A paho client on its own network thread; events land in queues read with deadlines."""

    def __init__(self, broker, protocol, client_id=None, clean=True, will=None,
                 username="guest", password="guest", keepalive=30, properties=None):
        self.broker = broker
        self.protocol = protocol
        self.client_id = client_id if client_id is not None else uid("py")
        kwargs = {}
        if protocol != paho.MQTTv5:
            kwargs["clean_session"] = clean
        self.clean = clean
        self.paho = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=protocol,
            reconnect_on_failure=False,
            **kwargs,
        )
        if username is not None:
            self.paho.username_pw_set(username, password)
        if will is not None:
            self.paho.will_set(**will)
        self.keepalive = keepalive
        self.connect_properties = properties
        self.messages = queue.Queue()
        self.connacks = queue.Queue()
        self.subacks = queue.Queue()
        self.disconnects = queue.Queue()
        self.paho.on_connect = lambda c, u, flags, rc, props: self.connacks.put((flags, rc, props))
        self.paho.on_message = lambda c, u, msg: self.messages.put(msg)
        self.paho.on_subscribe = lambda c, u, mid, rcs, props: self.subacks.put((mid, rcs, props))
        self.paho.on_disconnect = lambda c, u, flags, rc, props: self.disconnects.put((rc, props))
        self.started = False

    def connect(self, expect_success=True):
        """Connects and returns (session_present, reason_code, properties)."""
        kwargs = {"keepalive": self.keepalive}
        if self.protocol == paho.MQTTv5:
            kwargs["clean_start"] = self.clean
            if self.connect_properties is not None:
                kwargs["properties"] = self.connect_properties
        self.paho.connect(self.broker.host, self.broker.port, **kwargs)
        self.paho.loop_start()
        self.started = True
        flags, rc, props = self.connacks.get(timeout=DEADLINE)
        if expect_success:
            assert not rc.is_failure, f"connection refused: {rc}"
        return flags.session_present, rc, props

    def subscribe(self, filter_, qos=1, options=None, properties=None):
        """Subscribes and returns the granted reason codes."""
        if self.protocol == paho.MQTTv5:
            options = options if options is not None else SubscribeOptions(qos=qos)
            result, mid = self.paho.subscribe(filter_, options=options, properties=properties)
        else:
            result, mid = self.paho.subscribe(filter_, qos)
        assert result == paho.MQTT_ERR_SUCCESS
        while True:
            got_mid, rcs, _ = self.subacks.get(timeout=DEADLINE)
            if got_mid == mid:
                return rcs

    def publish(self, topic_, payload, qos=1, retain=False, properties=None):
        """Publishes and waits until the flow for its QoS is complete."""
        info = self.paho.publish(topic_, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(timeout=DEADLINE)
        assert info.is_published(), f"publish to {topic_} not completed"

    def next_message(self, timeout=DEADLINE):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout}s") from None

    def assert_no_message(self, timeout=QUIET):
        try:
            msg = self.messages.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message on {msg.topic}: {msg.payload!r}")

    def disconnect(self):
        """A clean DISCONNECT."""
        if self.started:
            self.paho.disconnect()
            self.paho.loop_stop()
            self.started = False

    def kill(self):
        """Drops the connection without a DISCONNECT, as a crashed client would."""
        if self.started:
            sock = self.paho.socket()
            self.paho.loop_stop()
            self.started = False
            if sock is not None:
                sock.close()


@pytest.fixture
def mqtt(mqtt_broker):
    """Makes paho clients; every one still open is disconnected at teardown."""
    made = []

    def _make(protocol=paho.MQTTv311, broker=None, **kwargs):
        """A client of `broker` (a ConfiguredWarren), by default the suite's broker."""
        client = Client(broker if broker is not None else mqtt_broker, protocol, **kwargs)
        made.append(client)
        return client

    yield _make
    for client in made:
        try:
            client.disconnect()
        except Exception:  # the test may have left it broken on purpose
            pass


def connected(mqtt, protocol, **kwargs):
    client = mqtt(protocol, **kwargs)
    client.connect()
    return client


def publish_props(**values):
    props = Properties(PacketTypes.PUBLISH)
    for key, value in values.items():
        setattr(props, key, value)
    return props


def connect_props(**values):
    props = Properties(PacketTypes.CONNECT)
    for key, value in values.items():
        setattr(props, key, value)
    return props


def wait_until(condition, deadline=DEADLINE):
    """Polls condition until it holds or the deadline passes."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
