"""Connecting with pika: PLAIN login, refused logins, server properties, tune and heartbeats."""

import time
import urllib.parse

import pika
import pika.exceptions
import pytest

from conftest import wait_until


def _with(amqp_url, user=None, password=None, vhost=None):
    parts = urllib.parse.urlsplit(amqp_url)
    host = parts.hostname
    port = parts.port
    user = user or parts.username
    password = password or parts.password
    path = vhost if vhost is not None else parts.path.lstrip("/")
    return f"amqp://{user}:{password}@{host}:{port}/{path}"


def test_plain_login_opens_a_usable_connection(connection, unique):
    assert connection.is_open
    ch = connection.channel()
    q = ch.queue_declare(unique("q"), exclusive=True).method.queue
    ch.basic_publish("", q, b"hello")
    method, _, body = ch.basic_get(q, auto_ack=True)
    assert body == b"hello"


def test_wrong_password_is_refused_with_403(amqp_url):
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as info:
        pika.BlockingConnection(pika.URLParameters(_with(amqp_url, password="wrong")))
    assert "(403)" in str(info.value)


def test_unknown_vhost_is_refused_with_530(amqp_url):
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as info:
        pika.BlockingConnection(pika.URLParameters(_with(amqp_url, vhost="no-such-vhost")))
    assert "(530)" in str(info.value)


def test_server_properties_announce_rabbitmq_capabilities(connection):
    props = connection._impl.server_properties
    for key in ("product", "version", "platform"):
        assert key in props
    caps = props["capabilities"]
    for cap in (
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
    ):
        assert caps.get(cap) is True, cap


def test_tune_values_are_the_servers_when_the_client_accepts_them(connection):
    p = connection._impl.params
    assert (p.channel_max, p.frame_max, p.heartbeat) == (2047, 131072, 60)


@pytest.mark.parametrize("heartbeat", [0, 5])
def test_heartbeat_is_the_clients_choice(connect, heartbeat):
    conn = connect(f"heartbeat={heartbeat}")
    assert conn._impl.params.heartbeat == heartbeat
    ch = conn.channel()
    ch.basic_qos(prefetch_count=1)
    assert conn.is_open


def test_connection_with_heartbeat_1_survives_several_intervals(connect, unique):
    conn = connect("heartbeat=1")
    ch = conn.channel()
    q = ch.queue_declare(unique("hb"), exclusive=True).method.queue
    until = time.monotonic() + 4
    # pika sends heartbeats while it processes I/O; keep it doing so for 4 intervals.
    wait_until(lambda: not conn.is_open or time.monotonic() >= until, 5, connection=conn)
    assert conn.is_open, "dropped although pika sent heartbeats"
    ch.basic_publish("", q, b"alive")
    assert ch.basic_get(q, auto_ack=True)[2] == b"alive"
