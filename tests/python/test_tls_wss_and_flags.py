"""WSS with real clients (paho-mqtt and stomp.py over WebSocket over TLS), the WebSocket
listener's origin check, and the TLS command-line flags on the running binary: a broker
started with `--tls-cert/--tls-key/--tls-ca/--tls-verify`, the `--*-listen` overrides, `--wss`
and `none` for a plain listener serves TLS only."""

import queue
import socket
import ssl
import uuid

import paho.mqtt.client as paho
import pika
import pytest
import stomp
from paho.mqtt.enums import CallbackAPIVersion

from tls_ws_helpers import DEADLINE, Broker

ALLOWED = "https://app.example.com"
LOOPBACK = "127.0.0.1:0"


@pytest.fixture(scope="module")
def wss_broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("warren-wss"), wss=True)
    yield b
    b.stop()


@pytest.fixture(scope="module")
def origin_broker(tmp_path_factory):
    """A WSS listener that allows one origin (client libraries send their own Origin, so
    they use the broker above)."""
    b = Broker(tmp_path_factory.mktemp("warren-origin"), wss=True, allowed_origins=[ALLOWED])
    yield b
    b.stop()


def name(what):
    return f"py.{what}.{uuid.uuid4().hex[:12]}"


def paho_wss(broker, with_certificate):
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=name("paho"),
                         transport="websockets")
    received, connected = queue.Queue(), queue.Queue()
    client.on_message = lambda c, u, m: received.put((m.topic, m.payload))
    client.on_connect = lambda c, u, f, rc, p: connected.put(rc)
    client.tls_set_context(broker.client_context(with_certificate))
    client.ws_set_options(path="/mqtt")
    return client, connected, received


def paho_round_trip(client, connected, received, port):
    client.connect("localhost", port)
    client.loop_start()
    try:
        rc = connected.get(timeout=DEADLINE)
        assert not rc.is_failure, rc
        topic = "wss/" + name("t")
        client.subscribe(topic, qos=1)
        client.publish(topic, b"over wss", qos=1)
        assert received.get(timeout=DEADLINE) == (topic, b"over wss")
    finally:
        client.disconnect()
        client.loop_stop()


def test_paho_over_wss_logs_in_from_the_certificate(wss_broker):
    client, connected, received = paho_wss(wss_broker, with_certificate=True)
    paho_round_trip(client, connected, received, wss_broker.port("ws"))


def test_paho_over_wss_with_a_password(wss_broker):
    client, connected, received = paho_wss(wss_broker, with_certificate=False)
    client.username_pw_set("guest", "guest")
    paho_round_trip(client, connected, received, wss_broker.port("ws"))


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.messages = queue.Queue()

    def on_message(self, frame):
        self.messages.put(frame.body)


def test_stomp_py_over_wss(wss_broker):
    port = wss_broker.port("ws")
    connection = stomp.WSStompConnection([("localhost", port)], ws_path="/stomp", vhost="/")
    connection.set_ssl(for_hosts=[("localhost", port)], ca_certs=str(wss_broker.certs / "ca.pem"))
    listener = Listener()
    connection.set_listener("l", listener)
    connection.connect("guest", "guest", wait=True)
    try:
        destination = f"/queue/{name('q')}"
        connection.subscribe(destination, id="1", ack="auto")
        connection.send(destination, "over wss", receipt=name("r"))
        assert listener.messages.get(timeout=DEADLINE) == "over wss"
    finally:
        connection.disconnect()


def upgrade_status(broker, origin):
    """The status line the WSS listener answers a STOMP upgrade from `origin` with."""
    context = broker.client_context()
    request = (
        "GET /stomp HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v12.stomp\r\n"
    )
    if origin is not None:
        request += f"Origin: {origin}\r\n"
    with socket.create_connection(("127.0.0.1", broker.port("ws")), timeout=DEADLINE) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall((request + "\r\n").encode())
            reply = tls.recv(4096).decode(errors="replace")
    return reply.split("\r\n", 1)[0]


def test_an_origin_not_allowed_gets_http_403(origin_broker):
    assert upgrade_status(origin_broker, "https://evil.example.com").startswith("HTTP/1.1 403")


def test_an_allowed_origin_and_a_request_without_origin_are_upgraded(origin_broker):
    assert upgrade_status(origin_broker, ALLOWED).startswith("HTTP/1.1 101")
    assert upgrade_status(origin_broker, None).startswith("HTTP/1.1 101")


def tls_only_command_line(certs):
    return [
        "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"),
        "--tls-ca", str(certs / "ca.pem"), "--tls-verify", "required",
        "--amqp-listen", "none", "--mqtt-listen", "none", "--stomp-listen", "none",
        "--amqps-listen", LOOPBACK, "--mqtts-listen", LOOPBACK, "--stomps-listen", LOOPBACK,
        "--ws-listen", LOOPBACK, "--wss",
    ]


@pytest.fixture(scope="module")
def flags_broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("warren-flags"), args=tls_only_command_line,
               wanted=("amqps", "mqtts", "stomps", "ws"))
    yield b
    b.stop()


def test_the_tls_flags_start_tls_listeners_only(flags_broker):
    assert sorted(flags_broker.ports) == ["amqps", "mqtts", "stomps", "ws"]


def test_the_flags_require_a_client_certificate(flags_broker):
    options = pika.SSLOptions(flags_broker.client_context(with_certificate=False), "localhost")
    params = pika.ConnectionParameters(
        host="localhost", port=flags_broker.port("amqps"), connection_attempts=1,
        credentials=pika.PlainCredentials("guest", "guest"), ssl_options=options,
    )
    with pytest.raises((pika.exceptions.AMQPConnectionError, ssl.SSLError)):
        connection = pika.BlockingConnection(params)
        # TLS 1.3 may report the refusal only at the first read after the handshake.
        connection.channel()


def test_pika_with_a_certificate_through_the_flags(flags_broker):
    options = pika.SSLOptions(flags_broker.client_context(with_certificate=True), "localhost")
    params = pika.ConnectionParameters(
        host="localhost", port=flags_broker.port("amqps"), connection_attempts=1,
        credentials=pika.PlainCredentials("guest", "guest"), ssl_options=options,
    )
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        q = channel.queue_declare("", exclusive=True).method.queue
        channel.confirm_delivery()
        channel.basic_publish("", q, b"via flags")
        _, _, body = channel.basic_get(q, auto_ack=True)
        assert body == b"via flags"
    finally:
        connection.close()


def test_paho_over_wss_through_the_flags(flags_broker):
    client, connected, received = paho_wss(flags_broker, with_certificate=True)
    client.username_pw_set("guest", "guest")
    paho_round_trip(client, connected, received, flags_broker.port("ws"))
