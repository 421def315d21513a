"""stomp.py against the broker over STOMP 1.0, 1.1 and 1.2: connect, send and subscribe on every
destination kind, headers, ack modes, NACK, transactions, receipts, unsubscribe, heart-beats and
errors."""

import queue
import time

import pytest
import stomp
from stomp.exception import ConnectFailedException

from stomp_conftest_helpers import DEADLINE, VERSIONS, Client, name


@pytest.mark.parametrize("version", VERSIONS)
def test_connect_negotiates_the_version(stomp_client, version):
    c = stomp_client(version)
    assert c.conn.is_connected()
    headers = c.events.connected.headers
    assert headers["version"] == version
    assert headers["session"]
    assert headers["server"]


@pytest.mark.parametrize("version", VERSIONS)
def test_queue_round_trip_with_headers(stomp_client, version):
    c = stomp_client(version)
    q = f"/queue/{name('rt')}"
    c.subscribe(q)
    c.send(q, "hello", headers={"content-type": "text/plain", "custom": "v",
                                "correlation-id": "c1", "persistent": "true"})
    m = c.message()
    assert m.body == "hello"
    assert m.headers["destination"] == q
    assert m.headers["custom"] == "v"
    assert m.headers["correlation-id"] == "c1"
    assert m.headers["persistent"] == "true"
    assert m.headers["content-type"] == "text/plain"
    assert m.headers["redelivered"] == "false"
    assert m.headers["subscription"] == "s"
    assert m.headers["message-id"].startswith("T_s@@")


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_escaped_header_values_survive(stomp_client, version):
    c = stomp_client(version)
    q = f"/queue/{name('esc')}"
    c.subscribe(q)
    c.send(q, "x", headers={"weird": "a:b\nc\\d"})
    assert c.message().headers["weird"] == "a:b\nc\\d"


@pytest.mark.parametrize("version", VERSIONS)
def test_topic_wildcards(stomp_client, version):
    c = stomp_client(version)
    base = name("topic")
    c.subscribe(f"/topic/{base}.*", sub_id="star")
    c.subscribe(f"/topic/{base}.#", sub_id="hash")
    c.send(f"/topic/{base}.a.b", "deep")
    m = c.message()
    assert (m.headers["subscription"], m.body) == ("hash", "deep")
    assert m.headers["destination"] == f"/topic/{base}.a.b"
    c.assert_quiet()


@pytest.mark.parametrize("version", VERSIONS)
def test_exchange_and_amq_queue_destinations(stomp_client, version):
    c = stomp_client(version)
    key = name("x")
    c.subscribe(f"/exchange/amq.direct/{key}", sub_id="x")
    c.send(f"/exchange/amq.direct/{key}", "via exchange")
    assert c.message().body == "via exchange"
    q = name("amq")
    c.send(f"/queue/{q}", "declared")
    c.subscribe(f"/amq/queue/{q}", sub_id="amq")
    assert c.message().body == "declared"


@pytest.mark.parametrize("version", VERSIONS)
def test_client_individual_ack_and_redelivery(stomp_client, version):
    c = stomp_client(version)
    q = f"/queue/{name('ack')}"
    c.send(q, "first")
    c.send(q, "second")
    c.subscribe(q, ack="client-individual")
    first = c.message()
    second = c.message()
    assert (first.body, second.body) == ("first", "second")
    receipt = c.receipt()
    c.ack(second, receipt=receipt)
    c.wait_receipt(receipt)
    c.close()
    c = stomp_client(version)
    c.subscribe(q, ack="client-individual")
    again = c.message()
    assert again.body == "first"
    assert again.headers["redelivered"] == "true"
    c.ack(again)
    c.assert_quiet()


@pytest.mark.parametrize("version", VERSIONS)
def test_client_ack_is_cumulative(stomp_client, version):
    c = stomp_client(version)
    q = f"/queue/{name('cumul')}"
    for body in ["1", "2", "3"]:
        c.send(q, body)
    c.subscribe(q, ack="client")
    frames = [c.message() for _ in range(3)]
    receipt = c.receipt()
    c.ack(frames[1], receipt=receipt)
    c.wait_receipt(receipt)
    c.close()
    c = stomp_client(version)
    c.subscribe(q)
    assert c.message().body == "3"
    c.assert_quiet()


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_nack_requeues_or_drops(stomp_client, version):
    c = stomp_client(version)
    q = f"/queue/{name('nack')}"
    c.send(q, "retry")
    c.subscribe(q, ack="client-individual")
    first = c.message()
    c.nack(first)
    again = c.message()
    assert again.body == "retry"
    assert again.headers["redelivered"] == "true"
    c.nack(again, requeue="false")
    c.assert_quiet()


def test_prefetch_count_limits_unacked(stomp_client):
    c = stomp_client("1.2")
    q = f"/queue/{name('prefetch')}"
    for body in ["1", "2", "3"]:
        c.send(q, body)
    c.subscribe(q, ack="client-individual", headers={"prefetch-count": "1"})
    one = c.message()
    c.assert_quiet()
    c.ack(one)
    assert c.message().body == "2"


@pytest.mark.parametrize("version", VERSIONS)
def test_transactions_commit_and_abort(stomp_client, version):
    c = stomp_client(version)
    q = f"/queue/{name('tx')}"
    c.subscribe(q)
    tx = c.conn.begin()
    c.send(q, "in tx", sync=False, transaction=tx)
    c.assert_quiet()
    c.conn.commit(transaction=tx)
    assert c.message().body == "in tx"
    tx = c.conn.begin()
    c.send(q, "aborted", sync=False, transaction=tx)
    c.conn.abort(transaction=tx)
    c.send(q, "after")
    assert c.message().body == "after"
    c.assert_quiet()


@pytest.mark.parametrize("version", VERSIONS)
def test_unsubscribe_stops_deliveries(stomp_client, version):
    c = stomp_client(version)
    dest = f"/topic/{name('unsub')}"
    c.subscribe(dest)
    c.send(dest, "before")
    assert c.message().body == "before"
    c.unsubscribe("s", destination=dest)
    c.send(dest, "after")
    c.assert_quiet()


def test_temp_queue_rpc(stomp_client):
    requester = stomp_client("1.2")
    worker = stomp_client("1.2")
    service = f"/queue/{name('svc')}"
    worker.subscribe(service)
    requester.send(service, "ping", headers={"reply-to": "/temp-queue/r"})
    request = worker.message()
    assert request.headers["reply-to"].startswith("/reply-queue/")
    worker.send(request.headers["reply-to"], "pong")
    reply = requester.message()
    assert reply.body == "pong"
    assert reply.headers["subscription"] == "/temp-queue/r"


def test_durable_topic_subscription(stomp_client):
    dest = f"/topic/{name('durable')}"
    c = stomp_client("1.2")
    c.subscribe(dest, sub_id="d1", headers={"durable": "true", "auto-delete": "false"})
    c.close()
    p = stomp_client("1.2")
    p.send(dest, "while away")
    c = stomp_client("1.2")
    c.subscribe(dest, sub_id="d1", headers={"durable": "true", "auto-delete": "false"})
    assert c.message().body == "while away"
    receipt = c.receipt()
    c.conn.unsubscribe(id="d1", headers={"durable": "true", "receipt": receipt})
    c.wait_receipt(receipt)


def test_heart_beats_keep_a_live_connection(stomp_client):
    c = stomp_client("1.2", heartbeats=(200, 200))
    deadline = time.monotonic() + DEADLINE
    while c.events.heartbeats < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert c.events.heartbeats >= 3
    assert c.conn.is_connected()
    q = f"/queue/{name('hb')}"
    c.subscribe(q)
    c.send(q, "alive")
    assert c.message().body == "alive"


@pytest.mark.parametrize("version", VERSIONS)
def test_bad_password_is_refused(stomp_broker, version):
    c = Client(stomp_broker, version)
    with pytest.raises(ConnectFailedException):
        c.connect(passcode="wrong")
    c.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_bad_destination_is_an_error_frame(stomp_client, version):
    c = stomp_client(version)
    c.send("/nowhere/x", "lost", sync=False)
    error = c.error()
    assert error.headers["message"] == "Unknown destination"
    assert "'/nowhere/x' is not a valid destination" in error.body


def test_missing_amq_queue_is_not_found(stomp_client):
    c = stomp_client("1.2")
    missing = name("missing")
    c.conn.subscribe(destination=f"/amq/queue/{missing}", id="s")
    error = c.error()
    assert error.headers["message"] == "not_found"
    assert f"no queue '{missing}'" in error.body


def test_the_connection_closes_after_an_error(stomp_broker, stomp_client):
    if not stomp_broker.is_warren:
        pytest.skip("RabbitMQ keeps some connections open after ERROR")
    c = stomp_client("1.2")
    c.send("/nowhere/x", "lost", sync=False)
    c.error()
    assert c.events.disconnected.wait(DEADLINE)
