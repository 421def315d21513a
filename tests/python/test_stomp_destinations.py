"""stomp.py against the broker over STOMP 1.0, 1.1 and 1.2, on destinations and the queues
behind them: `%2F` in names, `x-*` queue-argument headers, `host` as the vhost, temporary
queues, durable topic subscriptions and prefetch; the broker's queues are checked from the AMQP
side with pika."""

import pytest
import stomp
from stomp.exception import ConnectFailedException

from stomp_conftest_helpers import DEADLINE, VERSIONS, Collector, name
from stomp_raw_helpers import amqp, frame, raw, raw_connected, wait_for, warren_only  # noqa: F401


# -- destinations ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_percent_2f_in_a_queue_destination_is_a_slash_in_the_name(stomp_broker, stomp_client, amqp,
                                                                  version):
    base = name("slash")
    queue_name = f"{base}/part"
    amqp.forget(queue_name)
    dest = f"/queue/{base}%2Fpart"
    c = stomp_client(version)
    c.send(dest, "via stomp")
    assert amqp.depth(queue_name) == 1
    assert amqp.depth(f"{base}%2Fpart") is None
    amqp.publish(queue_name, b"via amqp")
    assert amqp.depth(queue_name) == 2
    bodies = ["via stomp", "via amqp"]
    if stomp_broker.is_warren:
        # Warren reads `%2f` too; RabbitMQ 3.10 only `%2F`.
        c.send(f"/queue/{base}%2fpart", "lower case")
        assert amqp.depth(queue_name) == 3
        bodies.append("lower case")
    c.subscribe(dest)
    got = [c.message() for _ in bodies]
    assert [m.body for m in got] == bodies
    assert {m.headers["destination"] for m in got} == {dest}


@pytest.mark.parametrize("version", VERSIONS)
def test_percent_2f_in_an_exchange_routing_key(stomp_client, amqp, version):
    c = stomp_client(version)
    key = name("slashkey")
    c.subscribe(f"/exchange/amq.direct/{key}%2Fx")
    result = amqp.channel.queue_declare("", exclusive=True)
    amqp.channel.queue_bind(result.method.queue, "amq.direct", f"{key}/x")
    c.send(f"/exchange/amq.direct/{key}%2Fx", "slashed key")
    assert c.message().body == "slashed key"
    assert amqp.get(result.method.queue) == b"slashed key"


# -- x-* headers as queue arguments ------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_x_max_length_on_send_limits_the_queue(stomp_client, amqp, version):
    q = name("maxlen")
    amqp.forget(q)
    c = stomp_client(version)
    for body in ["1", "2", "3"]:
        c.send(f"/queue/{q}", body, headers={"x-max-length": "1"})
    assert amqp.depth(q) == 1
    c.subscribe(f"/queue/{q}", headers={"x-max-length": "1"})
    assert c.message().body == "3"
    c.assert_quiet()


@pytest.mark.parametrize("version", VERSIONS)
def test_an_amqp_client_redeclares_a_queue_with_the_stomp_arguments(stomp_client, amqp,
                                                                      version):
    q = name("redecl")
    amqp.forget(q)
    c = stomp_client(version)
    c.send(f"/queue/{q}", "x", headers={"x-max-length": "10", "x-message-ttl": "60000"})
    # pika sends small integers as 32-bit ones: equal values of another integer type match,
    # as in RabbitMQ.
    assert amqp.redeclare(q, {"x-max-length": 10, "x-message-ttl": 60000}) == 200
    assert amqp.redeclare(q, {"x-max-length": 11, "x-message-ttl": 60000}) == 406


@pytest.mark.parametrize("version", VERSIONS)
def test_x_max_length_on_subscribe_declares_the_queue_with_it(stomp_client, amqp, version):
    q = name("maxsub")
    amqp.forget(q)
    c = stomp_client(version)
    c.subscribe(f"/queue/{q}", headers={"x-max-length": "2"})
    c.unsubscribe("s", destination=f"/queue/{q}")
    for body in [b"1", b"2", b"3"]:
        amqp.publish(q, body)
    assert amqp.depth(q) == 2
    assert amqp.get(q) == b"2"


@pytest.mark.parametrize("version", VERSIONS)
def test_x_message_ttl_expires_messages_into_the_dead_letter_queue(stomp_client, amqp, version):
    q = name("ttl")
    dlq = name("ttl-dlq")
    amqp.forget(q)
    amqp.declare(dlq)
    args = {"x-message-ttl": "50", "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dlq}
    c = stomp_client(version)
    c.send(f"/queue/{q}", "short-lived", headers=args)
    assert amqp.get(dlq) == b"short-lived"
    assert amqp.depth(q) == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_x_queue_name_names_a_topic_subscription_queue(stomp_client, amqp, version):
    key = name("named")
    queue_name = name("subq")
    c = stomp_client(version)
    c.subscribe(f"/topic/{key}", headers={"x-queue-name": queue_name})
    c.send(f"/topic/{key}", "by topic")
    assert c.message().body == "by topic"
    amqp.publish(queue_name, b"by queue name")
    m = c.message()
    assert m.body == "by queue name"
    assert m.headers["destination"] == f"/queue/{queue_name}"
    c.close()
    # Not durable: the queue goes with the connection.
    assert wait_for(lambda: amqp.depth(queue_name) is None), f"{queue_name} still exists"


@pytest.mark.parametrize("version", VERSIONS)
def test_x_single_active_consumer_gives_one_subscriber_everything(stomp_broker, stomp_client, amqp,
                                                                  version):
    warren_only(stomp_broker, "RabbitMQ 3.10 takes no x-single-active-consumer from STOMP")
    q = name("sac")
    amqp.forget(q)
    dest = f"/queue/{q}"
    sac = {"x-single-active-consumer": "true"}
    first = stomp_client(version)
    second = stomp_client(version)
    first.subscribe(dest, ack="client-individual", headers=sac)
    second.subscribe(dest, ack="client-individual", headers=sac)
    assert amqp.redeclare(q, {"x-single-active-consumer": True}) == 200
    sender = stomp_client(version)
    for i in range(4):
        sender.send(dest, f"m{i}", headers=sac)
    got = [first.message() for _ in range(4)]
    assert [m.body for m in got] == [f"m{i}" for i in range(4)]
    for m in got:
        first.ack(m)
    second.assert_quiet()
    first.close()
    sender.send(dest, "after", headers=sac)
    assert second.message().body == "after"


# -- host as the vhost -------------------------------------------------------------------------


def stomp_py(broker, version, vhost):
    """A stomp.py connection, not yet connected, sending `vhost` as `host` (None: its default)."""
    hosts = [(broker.host, broker.port)]
    if version == "1.0":
        conn = stomp.Connection10(hosts)
    elif version == "1.1":
        conn = stomp.Connection11(hosts, vhost=vhost)
    else:
        conn = stomp.Connection12(hosts, vhost=vhost)
    events = Collector()
    conn.set_listener("collector", events)
    return conn, events


@pytest.mark.parametrize("version", VERSIONS)
def test_host_names_the_vhost_and_an_unknown_one_is_refused(stomp_broker, raw, version):
    conn, events = stomp_py(stomp_broker, version, "no-such-vhost")
    # stomp.py's 1.0 connection has no vhost setting: the header is given by hand.
    headers = {"host": "no-such-vhost"} if version == "1.0" else {}
    with pytest.raises(ConnectFailedException):
        conn.connect("guest", "guest", wait=True, headers=headers)
    error = events.errors.get(timeout=DEADLINE)
    assert error.headers["message"] == "Bad CONNECT"
    assert "Virtual host 'no-such-vhost' access denied" in error.body
    r = raw()
    error = r.connect(version, host="no-such-vhost")
    assert error.command == "ERROR", error
    assert error.headers["message"] == "Bad CONNECT"
    if stomp_broker.is_warren:
        # RabbitMQ 3.10 closes 10 s later.
        assert events.disconnected.wait(DEADLINE)
        r.until_closed()
    assert raw_connected(raw, version, host="/")


def test_stomp_py_1_2_without_vhost_sends_the_server_name_as_host(stomp_broker):
    conn, events = stomp_py(stomp_broker, "1.2", None)
    with pytest.raises(ConnectFailedException):
        conn.connect("guest", "guest", wait=True)
    error = events.errors.get(timeout=DEADLINE)
    assert f"Virtual host '{stomp_broker.host}' access denied" in error.body


# -- temporary queues, durable subscriptions, prefetch -----------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_temp_queue_rpc(stomp_client, version):
    requester = stomp_client(version)
    worker = stomp_client(version)
    service = f"/queue/{name('svc')}"
    worker.subscribe(service)
    requester.send(service, "ping", headers={"reply-to": "/temp-queue/r"})
    requester.send(service, "ping again", headers={"reply-to": "/temp-queue/r"})
    first = worker.message()
    second = worker.message()
    assert first.headers["reply-to"].startswith("/reply-queue/")
    # One temporary queue per name and connection.
    assert first.headers["reply-to"] == second.headers["reply-to"]
    worker.send(first.headers["reply-to"], "pong")
    reply = requester.message()
    assert reply.body == "pong"
    assert reply.headers["subscription"] == "/temp-queue/r"
    queue_dest = first.headers["reply-to"].replace("/reply-queue/", "/queue/")
    assert reply.headers["destination"] == queue_dest


@pytest.mark.parametrize("version", VERSIONS)
def test_a_temp_queue_cannot_be_subscribed(stomp_client, version):
    c = stomp_client(version)
    c.conn.subscribe(destination="/temp-queue/t", id="s")
    error = c.error()
    assert "is not a valid destination for 'SUBSCRIBE'" in error.body


@pytest.mark.parametrize("version", VERSIONS)
def test_durable_topic_subscription(stomp_client, version):
    dest = f"/topic/{name('durable')}"
    durable = {"durable": "true", "auto-delete": "false"}
    c = stomp_client(version)
    c.subscribe(dest, sub_id="d1", headers=durable)
    c.close()
    publisher = stomp_client(version)
    publisher.send(dest, "while away")
    c = stomp_client(version)
    c.subscribe(dest, sub_id="d1", headers=durable)
    assert c.message().body == "while away"
    receipt = c.receipt()
    c.conn.unsubscribe(id="d1", headers={"durable": "true", "receipt": receipt})
    c.wait_receipt(receipt)
    c.close()
    publisher.send(dest, "after unsubscribe")
    c = stomp_client(version)
    c.subscribe(dest, sub_id="d1", headers=durable)
    c.assert_quiet()
    receipt = c.receipt()
    c.conn.unsubscribe(id="d1", headers={"durable": "true", "receipt": receipt})
    c.wait_receipt(receipt)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_durable_subscription_named_by_x_queue_name(stomp_broker, stomp_client, amqp, version):
    dest = f"/topic/{name('durname')}"
    queue_name = name("durq")
    amqp.forget(queue_name)
    headers = {"durable": "true", "auto-delete": "false", "x-queue-name": queue_name}
    c = stomp_client(version)
    c.subscribe(dest, sub_id="d1", headers=headers)
    c.close()
    publisher = stomp_client(version)
    publisher.send(dest, "kept")
    assert wait_for(lambda: amqp.depth(queue_name) == 1), amqp.depth(queue_name)
    c = stomp_client(version)
    c.subscribe(dest, sub_id="d1", headers=headers)
    assert c.message().body == "kept"
    receipt = c.receipt()
    c.conn.unsubscribe(id="d1", headers={"durable": "true", "receipt": receipt})
    c.wait_receipt(receipt)
    if stomp_broker.is_warren:
        # RabbitMQ 3.10 deletes the queue it would have named itself, and keeps this one.
        assert amqp.depth(queue_name) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_durable_without_id_is_refused(stomp_broker, raw, version):
    r = raw_connected(raw, version)
    r.write(frame("SUBSCRIBE", [("destination", f"/topic/{name('noid')}"), ("durable", "true")]))
    error = r.error()
    assert error.headers["message"] == "Missing Header"
    assert "Header 'id' is required for durable subscriptions" in error.text()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("ack", ["client", "client-individual"])
def test_prefetch_count_limits_unacked(stomp_client, version, ack):
    c = stomp_client(version)
    q = f"/queue/{name('prefetch')}"
    for body in ["1", "2", "3", "4"]:
        c.send(q, body)
    c.subscribe(q, ack=ack, headers={"prefetch-count": "2"})
    one, two = c.message(), c.message()
    assert (one.body, two.body) == ("1", "2")
    c.assert_quiet()
    c.ack(two if ack == "client" else one)
    if ack == "client":
        # Cumulative: both settled, two more may come.
        assert [c.message().body, c.message().body] == ["3", "4"]
    else:
        assert c.message().body == "3"
        c.assert_quiet()
