"""A raw AMQP 0-9-1 client on a plain socket, for what pika will not send or does not show: a
wrong protocol header, AMQPLAIN, frames above frame_max, content without a publish, garbage,
a peer that stays silent after negotiating heartbeats, and publisher confirms read frame by
frame (pika's BlockingChannel hides the `multiple` flag). Frames are encoded and decoded by
pika's own codec (pika.frame, pika.spec), so only the sequencing lives here."""

import socket
import struct
import time
import urllib.parse

import pika.data
import pika.frame
import pika.spec

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
DEADLINE = 10.0


class Closed(Exception):
    """The server closed the socket."""


class Timeout(Exception):
    """Nothing (or not enough) arrived before the deadline."""


def plain(user, password):
    """A PLAIN response: authzid NUL authcid NUL password."""
    return b"\0" + user.encode() + b"\0" + password.encode()


def amqplain(user, password):
    """An AMQPLAIN response: a field table's entries without the table's length prefix."""
    pieces = []
    pika.data.encode_table(pieces, {"LOGIN": user, "PASSWORD": password})
    return b"".join(pieces)[4:]


def frame(kind, channel, payload):
    """One frame of any type: type octet, channel, size, payload, frame-end."""
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + b"\xce"


def method_frame(channel, method):
    return pika.frame.Method(channel, method).marshal()


def method_payload(method):
    """A method frame's payload: class and method ids, then the arguments."""
    return struct.pack(">I", method.INDEX) + b"".join(method.encode())


def publish_frames(channel, exchange, key, body, properties=None, mandatory=False):
    """basic.publish, its content header and one body frame, as bytes."""
    properties = properties or pika.spec.BasicProperties()
    publish = pika.spec.Basic.Publish(exchange=exchange, routing_key=key, mandatory=mandatory)
    return (
        method_frame(channel, publish)
        + pika.frame.Header(channel, len(body), properties).marshal()
        + pika.frame.Body(channel, body).marshal()
    )


class Ending:
    """How a connection ended: the connection.close the server sent (if any), and whether the
    socket was closed before the deadline."""

    def __init__(self):
        self.close = None
        self.eof = False

    def __repr__(self):
        return f"Ending(close={self.close!r}, eof={self.eof})"


class Raw:
    """One client connection; every read waits at most until a deadline."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=DEADLINE)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.tune = None

    @classmethod
    def to(cls, amqp_url):
        """Connects the socket to the broker of `amqp_url`; nothing is sent."""
        parts = urllib.parse.urlsplit(amqp_url)
        return cls(parts.hostname, parts.port or 5672)

    @classmethod
    def open(cls, amqp_url, frame_max=None, heartbeat=0, vhost="/"):
        """A full PLAIN handshake with the URL's credentials; fails unless open-ok arrives."""
        parts = urllib.parse.urlsplit(amqp_url)
        raw = cls.to(amqp_url)
        raw.hello()
        raw.start_ok("PLAIN", plain(parts.username, parts.password))
        tune = raw.read_tune()
        raw.tune_ok_and_open(tune.channel_max, frame_max or tune.frame_max, heartbeat, vhost)
        raw.expect(pika.spec.Connection.OpenOk, channel=0)
        return raw

    def close(self):
        self.sock.close()

    def send(self, data):
        """Sends bytes; False if the server has already closed the connection."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def send_method(self, channel, method):
        return self.send(method_frame(channel, method))

    def _fill(self, until):
        """Reads what arrives before `until` into the buffer; raises Closed or Timeout."""
        left = until - time.monotonic()
        if left <= 0:
            raise Timeout()
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout() from None
        except OSError:  # reset by the peer
            raise Closed() from None
        if not chunk:
            raise Closed()
        self.buf += chunk

    def read_bytes(self, n, deadline=DEADLINE):
        until = time.monotonic() + deadline
        while len(self.buf) < n:
            self._fill(until)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self, deadline=DEADLINE):
        """The next frame (pika.frame.Method, Header, Body or Heartbeat)."""
        until = time.monotonic() + deadline
        while True:
            used, frame = pika.frame.decode_frame(self.buf)
            if frame is not None:
                self.buf = self.buf[used:]
                return frame
            self._fill(until)

    def read_method(self, deadline=DEADLINE):
        """The next method frame, skipping heartbeats."""
        until = time.monotonic() + deadline
        while True:
            frame = self.read_frame(until - time.monotonic())
            if isinstance(frame, pika.frame.Method):
                return frame
            assert isinstance(frame, pika.frame.Heartbeat), f"expected a method, got {frame!r}"

    def expect(self, method_class, channel=None):
        """Reads the next method and checks its class (and channel); returns the method."""
        frame = self.read_method()
        assert isinstance(frame.method, method_class), f"expected {method_class.NAME}: {frame!r}"
        if channel is not None:
            assert frame.channel_number == channel, frame
        return frame.method

    def hello(self, header=PROTOCOL_HEADER):
        """Sends the protocol header; returns connection.start."""
        self.send(header)
        return self.expect(pika.spec.Connection.Start, channel=0)

    def start_ok(self, mechanism, response):
        props = {"capabilities": {"authentication_failure_close": True}}
        self.send_method(0, pika.spec.Connection.StartOk(props, mechanism, response))

    def read_tune(self):
        self.tune = self.expect(pika.spec.Connection.Tune, channel=0)
        return self.tune

    def tune_ok_and_open(self, channel_max, frame_max, heartbeat, vhost):
        """Sends tune-ok and connection.open; does not wait for open-ok."""
        self.send_method(0, pika.spec.Connection.TuneOk(channel_max, frame_max, heartbeat))
        self.send_method(0, pika.spec.Connection.Open(vhost))

    def open_channel(self, channel):
        self.send_method(channel, pika.spec.Channel.Open())
        self.expect(pika.spec.Channel.OpenOk, channel=channel)

    def wait_closed(self, deadline=DEADLINE):
        """Reads until the server closes the socket or the deadline passes, answering a
        connection.close with close-ok."""
        until = time.monotonic() + deadline
        ending = Ending()
        while True:
            try:
                frame = self.read_frame(until - time.monotonic())
            except Closed:
                ending.eof = True
                return ending
            except Timeout:
                return ending
            if isinstance(frame, pika.frame.Method) and isinstance(
                frame.method, pika.spec.Connection.Close
            ):
                ending.close = frame.method
                self.send_method(0, pika.spec.Connection.CloseOk())


def nested_table(levels):
    """A dict holding `levels` tables nested under key "n" (1 = one empty table)."""
    table = {}
    for _ in range(levels - 1):
        table = {"n": table}
    return table


def depth_of(value):
    """How many tables are nested under key "n", counting `value` itself."""
    depth = 0
    while isinstance(value, dict):
        depth += 1
        value = value.get("n")
    return depth


def nested_table_bytes(levels):
    """An encoded field table holding `levels` tables nested under key "n", built without
    recursion so that it may be far deeper than pika's encoder (or Python's stack) allows."""
    total = 7 * (levels - 1) + 4
    out = bytearray()
    for level in range(levels - 1):
        out += struct.pack(">I", total - 7 * level - 4) + b"\x01nF"
    out += struct.pack(">I", 0)
    return bytes(out)
