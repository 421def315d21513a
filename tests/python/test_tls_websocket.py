"""TLS and WebSocket with real Python clients: pika over TLS (PLAIN and EXTERNAL), paho-mqtt
over TLS and over WebSocket, stomp.py over WebSocket, across protocols; the wrong transport on
a port; certificate reload on SIGHUP."""

import queue
import signal
import socket
import ssl
import uuid

import paho.mqtt.client as paho
import pika
import pytest
import stomp
from paho.mqtt.enums import CallbackAPIVersion

from tls_ws_helpers import DEADLINE, Broker, eventually, generate_certs


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("warren-tls"))
    yield b
    b.stop()


def name(what):
    return f"py.{what}.{uuid.uuid4().hex[:12]}"


def pika_tls(broker, credentials, with_certificate=False):
    options = pika.SSLOptions(broker.client_context(with_certificate), "localhost")
    params = pika.ConnectionParameters(
        host="localhost", port=broker.port("amqps"), credentials=credentials,
        ssl_options=options, connection_attempts=1,
    )
    return pika.BlockingConnection(params)


def amqp_round_trip(connection):
    channel = connection.channel()
    q = channel.queue_declare(name("q"), exclusive=True).method.queue
    channel.basic_publish("", q, b"over tls")
    eventually(lambda: channel.queue_declare(q, passive=True).method.message_count == 1)
    _, _, body = channel.basic_get(q, auto_ack=True)
    assert body == b"over tls"


def test_pika_over_tls_with_a_password(broker):
    connection = pika_tls(broker, pika.PlainCredentials("guest", "guest"))
    amqp_round_trip(connection)
    connection.close()


def test_pika_sasl_external_logs_in_from_the_certificate(broker):
    connection = pika_tls(broker, pika.credentials.ExternalCredentials(), with_certificate=True)
    amqp_round_trip(connection)
    connection.close()


def test_pika_external_without_a_certificate_is_refused(broker):
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika_tls(broker, pika.credentials.ExternalCredentials())


def test_plaintext_on_the_tls_port_and_tls_on_the_plain_port_are_closed_and_logged(broker):
    params = pika.ConnectionParameters(
        host="127.0.0.1", port=broker.port("amqps"), connection_attempts=1,
        credentials=pika.PlainCredentials("guest", "guest"),
    )
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(params)
    context = broker.client_context()
    with socket.create_connection(("127.0.0.1", broker.port("amqp")), timeout=DEADLINE) as raw:
        with pytest.raises((ssl.SSLError, OSError)):
            context.wrap_socket(raw, server_hostname="localhost")
    assert eventually(lambda: "plaintext on a TLS port" in broker.log())
    assert eventually(lambda: "TLS handshake on a plaintext port" in broker.log())


def paho_client(transport="tcp"):
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=name("paho"), transport=transport)
    received = queue.Queue()
    connected = queue.Queue()
    client.on_message = lambda c, u, m: received.put((m.topic, m.payload))
    client.on_connect = lambda c, u, f, rc, p: connected.put(rc)
    return client, connected, received


def paho_round_trip(client, connected, received, topic):
    rc = connected.get(timeout=DEADLINE)
    assert not rc.is_failure, rc
    client.subscribe(topic, qos=1)
    client.publish(topic, b"hello", qos=1)
    assert received.get(timeout=DEADLINE) == (topic, b"hello")


def test_paho_over_tls_logs_in_from_the_certificate(broker):
    client, connected, received = paho_client()
    client.tls_set_context(broker.client_context(with_certificate=True))
    client.connect("localhost", broker.port("mqtts"))
    client.loop_start()
    try:
        paho_round_trip(client, connected, received, "tls/" + name("t"))
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize("path", ["/ws", "/mqtt"])
def test_paho_over_websocket(broker, path):
    client, connected, received = paho_client("websockets")
    client.ws_set_options(path=path)
    client.connect("127.0.0.1", broker.port("ws"))
    client.loop_start()
    try:
        paho_round_trip(client, connected, received, "ws/" + name("t"))
    finally:
        client.disconnect()
        client.loop_stop()


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.messages = queue.Queue()

    def on_message(self, frame):
        self.messages.put((frame.headers.get("destination"), frame.body))


def stomp_ws(broker, path, header=None):
    connection = stomp.WSStompConnection(
        [("127.0.0.1", broker.port("ws"))], ws_path=path, header=header, vhost="/",
    )
    listener = Listener()
    connection.set_listener("l", listener)
    connection.connect("guest", "guest", wait=True)
    return connection, listener


@pytest.mark.parametrize("path,header", [
    ("/stomp", None),
    ("/ws", {"Sec-WebSocket-Protocol": "v12.stomp"}),
])
def test_stomp_py_over_websocket_with_paho_across_protocols(broker, path, header):
    connection, listener = stomp_ws(broker, path, header)
    key = name("k")
    connection.subscribe(f"/topic/{key}", id="1", ack="auto")
    connection.send(f"/topic/{key}", "from stomp", receipt=name("r"))
    assert listener.messages.get(timeout=DEADLINE)[1] == "from stomp"
    client, connected, _ = paho_client("websockets")
    client.connect("127.0.0.1", broker.port("ws"))
    client.loop_start()
    try:
        assert not connected.get(timeout=DEADLINE).is_failure
        client.publish(key.replace(".", "/"), b"from mqtt", qos=1).wait_for_publish(DEADLINE)
        assert listener.messages.get(timeout=DEADLINE)[1] == "from mqtt"
    finally:
        client.disconnect()
        client.loop_stop()
        connection.disconnect()


def test_websocket_without_a_supported_subprotocol_gets_http_400(broker):
    with socket.create_connection(("127.0.0.1", broker.port("ws")), timeout=DEADLINE) as s:
        s.sendall(
            b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp\r\n\r\n"
        )
        reply = s.recv(4096).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 400"), reply
    assert "v12.stomp" in reply


def served_certificate(port):
    return ssl.get_server_certificate(("127.0.0.1", port))


def test_sighup_reloads_certificates_for_new_connections(tmp_path):
    broker = Broker(tmp_path)
    try:
        port = broker.port("mqtts")
        before = served_certificate(port)
        assert ssl.PEM_cert_to_DER_cert(before) == ssl.PEM_cert_to_DER_cert(
            (broker.certs / "server.pem").read_text())
        # New certificates in the same files, then SIGHUP.
        generate_certs(broker.certs)
        broker.proc.send_signal(signal.SIGHUP)
        new = ssl.PEM_cert_to_DER_cert((broker.certs / "server.pem").read_text())
        assert eventually(lambda: ssl.PEM_cert_to_DER_cert(served_certificate(port)) == new)
        assert eventually(lambda: "TLS certificates reloaded" in broker.log())
        # A bad key keeps the current certificates.
        (broker.certs / "server.key").write_text("not a key")
        broker.proc.send_signal(signal.SIGHUP)
        assert eventually(lambda: "TLS reload failed" in broker.log())
        assert ssl.PEM_cert_to_DER_cert(served_certificate(port)) == new
    finally:
        broker.stop()
