"""Fixtures for the pika suite.

The broker is the one named by WARREN_IT_AMQP_URL when set (e.g. RabbitMQ, to prove a test
pins real RabbitMQ behaviour); otherwise a Warren binary (WARREN_BIN, default
target/debug/warren under the repository root) started once per session on port 0.
"""

import os
import pathlib
import re
import select
import time
import uuid

import pika
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"^warren listening amqp (\S+):(\d+)$")


def _wait_for_amqp_line(proc, deadline):
    """Reads the broker's stdout until its AMQP listener line, or fails at the deadline."""
    buffered = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            raise RuntimeError(f"warren exited before listening (status {proc.poll()})")
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            match = LISTENING.match(line.decode(errors="replace").strip())
            if match:
                return match.group(1), int(match.group(2))
    raise RuntimeError("warren did not report its AMQP listener in time")


def _drain(stream):
    for _ in iter(lambda: stream.read(4096), b""):
        pass


@pytest.fixture(scope="session")
def amqp_url(tmp_path_factory):
    url = os.environ.get("WARREN_IT_AMQP_URL")
    if url:
        yield url
        return
    from crash_helpers import Broker  # the binary on port 0, its listener lines read

    workdir = tmp_path_factory.mktemp("warren")
    warren = Broker(workdir / "data", workdir / "warren.log")
    try:
        yield warren.amqp_url()
    finally:
        warren.stop()


@pytest.fixture
def params(amqp_url):
    return pika.URLParameters(amqp_url)


@pytest.fixture
def connect(amqp_url):
    """Opens connections (optionally with URL query options) closed at teardown."""
    opened = []

    def _connect(query=""):
        url = amqp_url + (("?" + query) if query else "")
        conn = pika.BlockingConnection(pika.URLParameters(url))
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        if conn.is_open:
            conn.close()


@pytest.fixture
def connection(connect):
    return connect()


@pytest.fixture
def channel(connection):
    return connection.channel()


@pytest.fixture
def unique():
    """Names no other test uses, so tests can share one broker."""
    def _unique(what):
        return f"pika.{what}.{uuid.uuid4().hex}"
    return _unique


def wait_until(condition, deadline=10.0, connection=None):
    """Polls condition until it holds or the deadline passes; pumps connection I/O meanwhile."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        if condition():
            return True
        if connection is not None:
            connection.process_data_events(time_limit=0.05)
        else:
            time.sleep(0.01)
    return condition()


def count(connection, q):
    """Messages ready in queue q, read by a passive declare on a channel of its own."""
    ch = connection.channel()
    n = ch.queue_declare(q, passive=True).method.message_count
    ch.close()
    return n


def dlx_args(dlq, **more):
    """Queue arguments that dead-letter into queue dlq through the default exchange."""
    args = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}
    args.update(more)
    return args


# Tests of Warren's own features, skipped when the suite runs against another broker.
warren_only = pytest.mark.skipif(
    bool(os.environ.get("WARREN_IT_AMQP_URL")), reason="a Warren-only feature"
)


# Fixtures of the paho-mqtt suites (their own broker handle; the fixtures above are unchanged).
from mqtt_conftest_helpers import mqtt, mqtt_broker  # noqa: E402,F401

# Fixtures of the stomp.py suites.
from stomp_conftest_helpers import stomp_broker, stomp_client  # noqa: E402,F401
