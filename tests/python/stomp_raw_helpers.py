"""Helpers of the STOMP feature suite: a STOMP client on a plain socket (for bytes stomp.py
will not write: limits, malformed frames, silent heart-beat peers), a pika view of the broker's
queues, and polling with a deadline."""

import socket
import time

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from stomp_conftest_helpers import DEADLINE


def wait_for(condition, deadline=DEADLINE):
    """Polls condition until it holds or the deadline passes; returns its last value."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    return condition()


def warren_only(broker, why):
    if not broker.is_warren:
        pytest.skip(why)


class Amqp:
    """A pika connection to the STOMP broker's AMQP side, for looking at queues. Publishes are
    confirmed, so a publish has reached its queue when the call returns."""

    def __init__(self, url):
        self.conn = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = None
        self.made = []
        self._reopen()

    def _reopen(self):
        if self.channel is None or not self.channel.is_open:
            self.channel = self.conn.channel()
            self.channel.confirm_delivery()

    def depth(self, queue_name):
        """Ready messages in the queue, None when it does not exist, "exclusive" when it is
        another connection's exclusive queue."""
        self._reopen()
        try:
            ok = self.channel.queue_declare(queue_name, passive=True)
        except ChannelClosedByBroker as e:
            if e.reply_code == 405:
                return "exclusive"
            assert e.reply_code == 404, e
            return None
        return ok.method.message_count

    def redeclare(self, queue_name, arguments, durable=True):
        """Declares the queue again; the reply code of a refusal, else 200."""
        self._reopen()
        try:
            self.channel.queue_declare(queue_name, durable=durable, arguments=arguments)
        except ChannelClosedByBroker as e:
            return e.reply_code
        return 200

    def declare(self, queue_name):
        self._reopen()
        self.channel.queue_declare(queue_name)
        self.forget(queue_name)

    def publish(self, queue_name, body, properties=None):
        self._reopen()
        self.channel.basic_publish("", queue_name, body, properties, mandatory=True)

    def get(self, queue_name):
        """One message's body taken from the queue, polled within the deadline."""
        self._reopen()

        def take():
            method, _props, body = self.channel.basic_get(queue_name, auto_ack=True)
            return None if method is None else (body,)

        got = wait_for(take)
        assert got, f"no message on {queue_name} within {DEADLINE}s"
        return got[0]

    def forget(self, queue_name):
        """Deletes the queue at teardown (a peer keeps durable queues otherwise)."""
        self.made.append(queue_name)

    def close(self):
        for queue_name in self.made:
            self._reopen()
            try:
                self.channel.queue_delete(queue_name)
            except ChannelClosedByBroker:
                pass
        self.conn.close()


@pytest.fixture
def amqp(stomp_broker):
    if not stomp_broker.amqp_url:
        pytest.skip("no AMQP URL for the STOMP broker under test")
    a = Amqp(stomp_broker.amqp_url)
    yield a
    a.close()


class Frame:
    def __init__(self, command, headers, body):
        self.command = command
        self.headers = headers
        self.body = body

    def text(self):
        return self.body.decode(errors="replace")

    def __repr__(self):
        return f"{self.command} {self.headers} {self.body[:200]!r}"


def frame(command, headers=(), body=b""):
    """A frame's bytes; headers are written as given (no escaping, repeats kept)."""
    out = command.encode() + b"\n"
    for key, value in headers:
        out += f"{key}:{value}".encode() + b"\n"
    return out + b"\n" + body + b"\0"


class Raw:
    """A STOMP client on a plain socket: writes any bytes, reads frames and heart-beats, and
    sees the connection close. Header values are read as sent (no unescaping)."""

    def __init__(self, broker):
        self.sock = socket.create_connection((broker.host, broker.port), timeout=DEADLINE)
        self.buf = b""
        self.heartbeats = 0
        self.closed = False

    def write(self, data):
        self.sock.sendall(data)

    def connect(self, version, host="/", heart_beat=None):
        """CONNECT as a client of `version` (1.0 clients send no accept-version)."""
        headers = [] if version == "1.0" else [("accept-version", version)]
        headers += [("host", host), ("login", "guest"), ("passcode", "guest")]
        if heart_beat is not None:
            headers.append(("heart-beat", heart_beat))
        self.write(frame("CONNECT", headers))
        return self.recv()

    def read_more(self, until):
        """Reads what arrives before `until`; False once the peer closed or nothing came."""
        remaining = until - time.monotonic()
        if remaining <= 0 or self.closed:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        return True

    def take_frame(self):
        """The next whole frame read, or None; EOLs before it count as heart-beats."""
        while self.buf[:1] in (b"\n", b"\r"):
            if self.buf.startswith(b"\r\n"):
                self.buf = self.buf[2:]
            elif self.buf.startswith(b"\n"):
                self.buf = self.buf[1:]
            else:
                return None
            self.heartbeats += 1
        end = self.buf.find(b"\n\n")
        if end < 0:
            return None
        lines = self.buf[:end].decode(errors="replace").split("\n")
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers.setdefault(key, value)
        start = end + 2
        if "content-length" in headers:
            nul = start + int(headers["content-length"])
            if len(self.buf) <= nul:
                return None
            assert self.buf[nul:nul + 1] == b"\0", self.buf[:nul + 1]
        else:
            nul = self.buf.find(b"\0", start)
            if nul < 0:
                return None
        body = self.buf[start:nul]
        self.buf = self.buf[nul + 1:]
        return Frame(lines[0], headers, body)

    def recv(self, deadline=DEADLINE):
        """The next frame; fails at the deadline or when the connection closes first."""
        until = time.monotonic() + deadline
        while True:
            got = self.take_frame()
            if got is not None:
                return got
            if not self.read_more(until):
                raise AssertionError("closed" if self.closed else f"no frame within {deadline}s")

    def error(self):
        got = self.recv()
        assert got.command == "ERROR", got
        return got

    def until_closed(self, deadline=DEADLINE):
        """Frames received until the broker closes; fails if it is still open at the deadline."""
        until = time.monotonic() + deadline
        frames = []
        while True:
            got = self.take_frame()
            if got is not None:
                frames.append(got)
                continue
            if not self.read_more(until):
                assert self.closed, f"still open after {deadline}s (got {frames})"
                return frames

    def close(self):
        self.sock.close()


@pytest.fixture
def raw(stomp_broker):
    """Opens raw clients, closed at teardown."""
    opened = []

    def _open():
        r = Raw(stomp_broker)
        opened.append(r)
        return r

    yield _open
    for r in opened:
        r.close()


def raw_connected(raw, version, **kwargs):
    """A raw client of `version` past CONNECTED."""
    r = raw()
    reply = r.connect(version, **kwargs)
    assert reply.command == "CONNECTED", reply
    return r
