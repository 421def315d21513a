"""A raw MQTT client on a plain socket, for the few checks paho-mqtt cannot make: a PUBLISH
repeated with the same packet id, a topic or packet paho refuses to send, and the reason code
of a server DISCONNECT that carries no properties (paho 2.1 reads a DISCONNECT's reason code
only when properties follow it, so it reports 0x8E or 0x8D without them as a normal
disconnection). Properties are encoded and decoded by paho's own Properties class."""

import socket
import struct
import time

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqtt_conftest_helpers import DEADLINE

V311 = 4
V5 = 5

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14


class Closed(Exception):
    """The server closed the connection."""


def varint(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def lp(data):
    """A length-prefixed string or binary field."""
    if isinstance(data, str):
        data = data.encode()
    return struct.pack("!H", len(data)) + data


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def props(packet_type, **values):
    """The encoded property block (length included) of a packet of `packet_type`."""
    p = Properties(packet_type)
    for key, value in values.items():
        setattr(p, key, value)
    return p.pack()


def connect_packet(version, client_id, clean=True, keepalive=60, properties=b"\x00", will=None):
    """CONNECT without user name; `will` is (topic, payload, qos) when given."""
    flags = 0x02 if clean else 0x00
    tail = lp(client_id)
    if will is not None:
        will_topic, will_payload, will_qos = will
        flags |= 0x04 | (will_qos << 3)
        if version == V5:
            tail += b"\x00"  # no will properties
        tail += lp(will_topic) + lp(will_payload)
    body = lp("MQTT") + bytes([version, flags]) + struct.pack("!H", keepalive)
    if version == V5:
        body += properties
    return packet(0x10, body + tail)


def publish_packet(version, topic, qos, pkid, payload, dup=False, retain=False):
    first = (PUBLISH << 4) | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    body = lp(topic)
    if qos:
        body += struct.pack("!H", pkid)
    if version == V5:
        body += b"\x00"
    return packet(first, body + payload)


def subscribe_packet(version, pkid, filter_, qos):
    body = struct.pack("!H", pkid)
    if version == V5:
        body += b"\x00"
    return packet((SUBSCRIBE << 4) | 0x02, body + lp(filter_) + bytes([qos]))


def ack_packet(kind, pkid):
    """PUBACK, PUBREC, PUBREL (flags 0b0010) or PUBCOMP with success and no properties."""
    return packet((kind << 4) | (0x02 if kind == PUBREL else 0), struct.pack("!H", pkid))


class Packet:
    def __init__(self, first, body):
        self.kind = first >> 4
        self.flags = first & 0x0F
        self.body = body

    def pkid(self):
        return struct.unpack("!H", self.body[:2])[0]

    def reason(self):
        """The reason code of a v5 DISCONNECT (absent means 0, MQTT 5 section 3.14.2.1)."""
        return self.body[0] if self.body else 0

    def reason_properties(self):
        """The properties after a v5 DISCONNECT's reason code."""
        p = Properties(PacketTypes.DISCONNECT)
        if len(self.body) > 1:
            p.unpack(self.body[1:])
        return p

    def connack_code(self):
        return self.body[1]

    def publish(self, version):
        """(topic, qos, dup, pkid, payload) of a PUBLISH."""
        qos = (self.flags >> 1) & 0x03
        n = struct.unpack("!H", self.body[:2])[0]
        topic, rest = self.body[2:2 + n].decode(), self.body[2 + n:]
        pkid = None
        if qos:
            pkid, rest = struct.unpack("!H", rest[:2])[0], rest[2:]
        if version == V5:
            _, used = Properties(PacketTypes.PUBLISH).unpack(rest)
            rest = rest[used:]
        return topic, qos, bool(self.flags & 0x08), pkid, rest

    def __repr__(self):
        return f"Packet(kind={self.kind}, flags={self.flags:#x}, body={self.body[:40]!r})"


class Raw:
    """One TCP connection speaking MQTT bytes; every read has a deadline."""

    def __init__(self, broker):
        self.sock = socket.create_connection((broker.host, broker.port), timeout=DEADLINE)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def send_lossy(self, data):
        """Sends what the server takes before it closes (it may refuse a packet early)."""
        try:
            self.sock.sendall(data)
        except OSError:
            pass

    def _parse(self):
        """A whole packet from the buffer, or None."""
        if len(self.buf) < 2:
            return None
        length, shift, i = 0, 0, 1
        while True:
            if i >= len(self.buf):
                return None
            byte = self.buf[i]
            length |= (byte & 0x7F) << shift
            shift += 7
            i += 1
            if not byte & 0x80:
                break
        if len(self.buf) < i + length:
            return None
        first, body = self.buf[0], self.buf[i:i + length]
        self.buf = self.buf[i + length:]
        return Packet(first, body)

    def recv(self, timeout=DEADLINE):
        """The next packet; Closed if the server closed, TimeoutError if none in time."""
        until = time.monotonic() + timeout
        while True:
            got = self._parse()
            if got is not None:
                return got
            left = until - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no packet within {timeout}s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError(f"no packet within {timeout}s") from None
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                raise Closed()
            self.buf += chunk

    def recv_kind(self, kind, timeout=DEADLINE):
        """The next packet, which must be of `kind`."""
        got = self.recv(timeout)
        assert got.kind == kind, f"expected packet type {kind}, got {got}"
        return got

    def assert_silent(self, timeout):
        """Nothing arrives for `timeout` seconds and the connection stays open."""
        try:
            got = self.recv(timeout)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {got}")

    def expect_close(self, timeout=DEADLINE):
        """Every packet received until the server closes; fails if it does not in time."""
        got = []
        until = time.monotonic() + timeout
        while True:
            try:
                got.append(self.recv(max(0.0, until - time.monotonic())))
            except Closed:
                return got
            except TimeoutError:
                raise AssertionError(f"connection still open after {timeout}s: {got}") from None

    def close(self):
        self.sock.close()


@pytest.fixture
def raw_to():
    """Raw connections to any broker, closed at teardown: `raw_to(broker, version,
    client_id, expect=0, **connect_kwargs)` sends CONNECT, reads the CONNACK and checks its
    code unless `expect` is None; returns (Raw, CONNACK)."""
    opened = []

    def _open(broker, version, client_id, expect=0, **kwargs):
        raw = Raw(broker)
        opened.append(raw)
        raw.send(connect_packet(version, client_id, **kwargs))
        ack = raw.recv_kind(CONNACK)
        if expect is not None:
            assert ack.connack_code() == expect, f"CONNACK {ack.connack_code():#x}"
        return raw, ack

    yield _open
    for raw in opened:
        raw.close()


@pytest.fixture
def raw_mqtt(mqtt_broker, raw_to):
    """Opens raw connections to the suite's broker, CONNECT sent and CONNACK read; all closed
    at teardown. `raw_mqtt(version, client_id, expect=0, **connect_kwargs)` returns
    (Raw, CONNACK)."""

    def _open(version, client_id, expect=0, **kwargs):
        return raw_to(mqtt_broker, version, client_id, expect, **kwargs)

    return _open
