"""stomp.py (and, for bytes stomp.py will not write, a raw socket) against the broker over STOMP
1.0, 1.1 and 1.2: `%2F` in names, `x-*` queue-argument headers, `host` as the vhost, bodies
with NUL bytes, frame limits, malformed frames, heart-beats and a dead peer, temporary queues,
durable topic subscriptions, prefetch, ACK and NACK in each ack mode, transactions and
receipts; the broker's queues are checked from the AMQP side with pika."""

import queue
import time

import pytest
import stomp
from stomp.exception import ConnectFailedException

from stomp_conftest_helpers import DEADLINE, QUIET, VERSIONS, Collector, name
from stomp_raw_helpers import amqp, frame, raw, raw_connected, wait_for, warren_only  # noqa: F401

# Warren's default limits (stomp.max_frame_size, stomp.max_headers, stomp.max_header_line).
MAX_FRAME = 16 * 1024 * 1024
MAX_HEADERS = 128
MAX_HEADER_LINE = 64 * 1024


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


# -- bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_bodies_with_nul_bytes_travel_by_content_length(stomp_client, amqp, version):
    q = name("nul")
    amqp.forget(q)
    body = b"a\0b\0\0c"
    c = stomp_client(version)
    # stomp.py writes content-length for every body.
    c.send(f"/queue/{q}", body)
    assert amqp.get(q) == body
    amqp.publish(q, b"\0from amqp\0")
    c.subscribe(f"/queue/{q}")
    m = c.message()
    assert m.body == "\0from amqp\0"
    assert m.headers["content-length"] == "11"


@pytest.mark.parametrize("version", VERSIONS)
def test_raw_frames_with_nul_bodies_and_eols_between_them(stomp_client, raw, version):
    q = f"/queue/{name('rawnul')}"
    sub = stomp_client(version)
    sub.subscribe(q)
    r = raw_connected(raw, version)
    # One write: a content-length body with NULs, heart-beat EOLs, a NUL-terminated body.
    r.write(frame("SEND", [("destination", q), ("content-length", "5")], b"\0x\0y\0")
            + b"\n\r\n\n"
            + frame("SEND", [("destination", q), ("receipt", "r1")], b"plain"))
    receipt = r.recv()
    assert (receipt.command, receipt.headers["receipt-id"]) == ("RECEIPT", "r1")
    assert sub.message().body == "\0x\0y\0"
    assert sub.message().body == "plain"
    q2 = f"/queue/{name('rawnul')}"
    r.write(frame("SUBSCRIBE", [("destination", q2), ("id", "raw"), ("receipt", "r2")]))
    assert r.recv().headers["receipt-id"] == "r2"
    r.write(frame("SEND", [("destination", q2), ("content-length", "3")], b"\0\0\0"))
    m = r.recv()
    assert m.command == "MESSAGE", m
    assert (m.body, m.headers["content-length"]) == (b"\0\0\0", "3")


# -- frame limits (Warren's; RabbitMQ 3.10 has other limits) ----------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_content_length_above_the_maximum_is_refused_then_closed(stomp_broker, raw, version):
    warren_only(stomp_broker, "Warren's frame size limit")
    r = raw_connected(raw, version)
    # The head alone: the refusal does not wait for the body.
    r.write(f"SEND\ndestination:/queue/big\ncontent-length:{MAX_FRAME + 1}\n\n".encode())
    frames = r.until_closed()
    assert [f.command for f in frames] == ["ERROR"], frames
    assert frames[0].headers["message"] == "Bad frame"
    assert f"exceeds the maximum of {MAX_FRAME}" in frames[0].text()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_body_without_content_length_above_the_maximum_is_refused(stomp_broker, raw, version):
    warren_only(stomp_broker, "Warren's frame size limit")
    r = raw_connected(raw, version)
    head = b"SEND\ndestination:/queue/big\n\n"
    chunk = b"x" * 65536
    sent = len(head)
    r.write(head)
    try:
        while sent <= MAX_FRAME:
            r.write(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused before the whole body was written
    frames = r.until_closed()
    assert [f.command for f in frames] == ["ERROR"], frames
    assert f"exceeds the maximum of {MAX_FRAME}" in frames[0].text()


@pytest.mark.parametrize("version", VERSIONS)
def test_header_count_limit(stomp_broker, raw, version):
    warren_only(stomp_broker, "Warren's header count limit")
    q = f"/queue/{name('headers')}"
    fill = [(f"h{i}", "v") for i in range(MAX_HEADERS - 2)]
    r = raw_connected(raw, version)
    r.write(frame("SEND", [("destination", q), ("receipt", "at-limit")] + fill, b"x"))
    assert r.recv().headers["receipt-id"] == "at-limit"
    r.write(frame("SEND", [("destination", q), ("receipt", "over")] + fill + [("one", "more")],
                  b"x"))
    frames = r.until_closed()
    assert [f.command for f in frames] == ["ERROR"], frames
    assert frames[0].headers["message"] == "Bad frame"
    assert f"more than {MAX_HEADERS} headers" in frames[0].text()


@pytest.mark.parametrize("version", VERSIONS)
def test_header_line_limit(stomp_broker, raw, version):
    warren_only(stomp_broker, "Warren's header line limit")
    q = f"/queue/{name('line')}"
    fits = "v" * (MAX_HEADER_LINE - len("long:"))
    r = raw_connected(raw, version)
    r.write(frame("SEND", [("destination", q), ("receipt", "fits"), ("long", fits)], b"x"))
    assert r.recv().headers["receipt-id"] == "fits"
    r.write(frame("SEND", [("destination", q), ("long", fits + "v")], b"x"))
    frames = r.until_closed()
    assert [f.command for f in frames] == ["ERROR"], frames
    assert frames[0].headers["message"] == "Bad frame"
    assert f"header line longer than {MAX_HEADER_LINE} bytes" in frames[0].text()


@pytest.mark.parametrize("version", VERSIONS)
def test_an_unfinished_header_line_above_the_limit_is_refused(stomp_broker, raw, version):
    warren_only(stomp_broker, "Warren's header line limit")
    r = raw_connected(raw, version)
    r.write(b"SEND\nlong:" + b"v" * MAX_HEADER_LINE)
    frames = r.until_closed()
    assert [f.command for f in frames] == ["ERROR"], frames
    assert f"header line longer than {MAX_HEADER_LINE} bytes" in frames[0].text()


# -- malformed frames --------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_an_unknown_command_is_an_error(stomp_broker, raw, version):
    r = raw_connected(raw, version)
    r.write(frame("BOGUS", [("destination", "/queue/x")]))
    error = r.error()
    assert error.headers["message"] == "Bad command"
    if stomp_broker.is_warren:
        assert "unknown command 'BOGUS'" in error.text()
        r.until_closed()
    else:
        assert 'Could not interpret command "BOGUS"' in error.text()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("command", ["SEND", "SUBSCRIBE"])
def test_a_missing_destination_is_an_error(stomp_broker, raw, version, command):
    r = raw_connected(raw, version)
    r.write(frame(command, [("id", "s"), ("receipt", "r-missing")], b""))
    error = r.error()
    assert f"\"{command}\" must include a 'destination' header" in error.text()
    assert error.headers["message"] == "Missing destination"
    if stomp_broker.is_warren:
        assert error.headers["receipt-id"] == "r-missing"
        r.until_closed()


@pytest.mark.parametrize("version", VERSIONS)
def test_an_undefined_escape_is_an_error_only_where_escapes_exist(stomp_broker, stomp_client,
                                                                  raw, version):
    if version == "1.0":
        warren_only(stomp_broker, "RabbitMQ 3.10 unescapes 1.0 headers too")
    q = f"/queue/{name('escape')}"
    sub = stomp_client("1.2")
    sub.subscribe(q)
    r = raw_connected(raw, version)
    r.write(frame("SEND", [("destination", q), ("odd", "a\\tb"), ("receipt", "r")], b"x"))
    if version == "1.0":
        assert r.recv().headers["receipt-id"] == "r"
        # The 1.2 subscriber sees the backslash escaped on the wire and decoded by stomp.py.
        assert sub.message().headers["odd"] == "a\\tb"
    else:
        frames = r.until_closed()
        if stomp_broker.is_warren:
            # RabbitMQ 3.10 closes without an ERROR.
            assert [f.command for f in frames] == ["ERROR"], frames
            assert frames[0].headers["message"] == "Bad frame"
            assert "undefined escape sequence in header" in frames[0].text()
        sub.assert_quiet()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_frame_before_connect_is_an_error(raw, version):
    r = raw()
    r.write(frame("SEND", [("destination", "/queue/x")], b"early"))
    error = r.error()
    assert error.headers["message"] == "Illegal command"
    assert "You must log in using CONNECT first" in error.text()


# -- heart-beats -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_server_heart_beats_keep_stomp_py_connected(stomp_broker, stomp_client, version):
    c = stomp_client(version, heartbeats=(200, 200))
    if stomp_broker.is_warren:
        # RabbitMQ grants at least a second.
        assert c.events.connected.headers["heart-beat"] == "200,200"
    assert wait_for(lambda: c.events.heartbeats >= 3), f"{c.events.heartbeats} heart-beats"
    assert c.conn.is_connected()
    q = f"/queue/{name('hb')}"
    c.subscribe(q)
    c.send(q, "alive")
    assert c.message().body == "alive"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_the_server_beats_an_idle_raw_client(stomp_broker, raw, version):
    r = raw()
    reply = r.connect(version, heart_beat="0,150")
    sx, sy = reply.headers["heart-beat"].split(",")
    assert (int(sx) >= 150, sy) == (True, "0"), reply
    if stomp_broker.is_warren:
        # RabbitMQ grants at least a second.
        assert sx == "150"
    until = time.monotonic() + DEADLINE
    while r.heartbeats < 3 and time.monotonic() < until:
        r.read_more(min(until, time.monotonic() + 0.1))
        assert r.take_frame() is None, "a frame instead of a heart-beat"
    assert r.heartbeats >= 3


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_client_that_stops_beating_is_disconnected(stomp_broker, raw, version):
    # The broker counts silence from the CONNECT: the clock starts before it is sent.
    started = time.monotonic()
    silent = raw()
    reply = silent.connect(version, heart_beat="200,0")
    sx, sy = reply.headers["heart-beat"].split(",")
    assert (sx, int(sy) >= 200) == ("0", True), reply
    if stomp_broker.is_warren:
        # RabbitMQ grants at least a second.
        assert sy == "200"
    beating = raw_connected(raw, version, heart_beat="200,0")
    silent.sock.settimeout(0.1)
    until = time.monotonic() + DEADLINE
    while not silent.closed and time.monotonic() < until:
        beating.write(b"\n")
        silent.read_more(time.monotonic() + 0.1)
    elapsed = time.monotonic() - started
    assert silent.closed, f"a silent client still connected after {DEADLINE}s"
    assert elapsed >= 2 * int(sy) / 1000, f"closed after {elapsed:.3f}s, before twice {sy} ms"
    assert silent.buf.strip(b"\n") == b"", silent.buf
    # The beating client outlived it and still works.
    q = f"/queue/{name('beats')}"
    beating.write(frame("SUBSCRIBE", [("destination", q), ("id", "s"), ("receipt", "r1")]))
    assert beating.recv().headers["receipt-id"] == "r1"
    beating.write(frame("SEND", [("destination", q)], b"still here"))
    assert beating.recv().body == b"still here"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_heart_beats_are_negotiated(stomp_broker, raw, version):
    r = raw()
    reply = r.connect(version, heart_beat="1000,2000")
    # The server sends every max(cy, sx) and expects every max(cx, sy).
    assert reply.headers["heart-beat"] == "2000,1000"
    r = raw()
    assert r.connect(version, heart_beat="0,0").headers["heart-beat"] == "0,0"


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


# -- ack modes, ACK and NACK -------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("ack", ["auto", "client", "client-individual"])
def test_the_ack_header_is_sent_in_1_2_client_modes_only(stomp_client, version, ack):
    c = stomp_client(version)
    q = f"/queue/{name('ackhdr')}"
    c.subscribe(q, ack=ack)
    c.send(q, "x")
    m = c.message()
    if version == "1.2" and ack != "auto":
        assert m.headers["ack"] == m.headers["message-id"]
    else:
        assert "ack" not in m.headers
    if ack != "auto":
        c.ack(m)


@pytest.mark.parametrize("version", VERSIONS)
def test_client_individual_ack_settles_only_that_message(stomp_client, amqp, version):
    q = name("indiv")
    amqp.forget(q)
    c = stomp_client(version)
    for body in ["1", "2", "3"]:
        c.send(f"/queue/{q}", body)
    c.subscribe(f"/queue/{q}", ack="client-individual")
    frames = [c.message() for _ in range(3)]
    receipt = c.receipt()
    c.ack(frames[1], receipt=receipt)
    c.wait_receipt(receipt)
    c.close()
    assert wait_for(lambda: amqp.depth(q) == 2), amqp.depth(q)
    assert [amqp.get(q), amqp.get(q)] == [b"1", b"3"]


@pytest.mark.parametrize("version", VERSIONS)
def test_client_ack_settles_every_earlier_message(stomp_client, amqp, version):
    q = name("cumul")
    amqp.forget(q)
    c = stomp_client(version)
    for body in ["1", "2", "3"]:
        c.send(f"/queue/{q}", body)
    c.subscribe(f"/queue/{q}", ack="client")
    frames = [c.message() for _ in range(3)]
    receipt = c.receipt()
    c.ack(frames[1], receipt=receipt)
    c.wait_receipt(receipt)
    c.close()
    assert wait_for(lambda: amqp.depth(q) == 1), amqp.depth(q)
    assert amqp.get(q) == b"3"


@pytest.mark.parametrize("version", VERSIONS)
def test_acks_after_unsubscribe_still_settle(stomp_broker, stomp_client, amqp, version):
    warren_only(stomp_broker, "RabbitMQ 3.10 refuses it: 'Subscription not found'")
    q = name("late")
    amqp.forget(q)
    c = stomp_client(version)
    c.send(f"/queue/{q}", "acked late")
    c.send(f"/queue/{q}", "never acked")
    c.subscribe(f"/queue/{q}", ack="client-individual")
    m = c.message()
    assert c.message().body == "never acked"
    c.unsubscribe("s", destination=f"/queue/{q}")
    receipt = c.receipt()
    c.ack(m, receipt=receipt)
    c.wait_receipt(receipt)
    c.close()
    assert wait_for(lambda: amqp.depth(q) == 1), amqp.depth(q)
    assert amqp.get(q) == b"never acked"


@pytest.mark.parametrize("version", VERSIONS)
def test_an_ack_for_an_unknown_message_is_an_error(stomp_broker, stomp_client, version):
    c = stomp_client(version)
    q = f"/queue/{name('unknown')}"
    c.subscribe(q, ack="client-individual")
    c.send(q, "x")
    m = c.message()
    bogus = c.ack_id(m).rsplit("@@", 1)[0] + "@@9999"
    if version == "1.1":
        c.conn.ack(bogus, "s")
    else:
        c.conn.ack(bogus)
    error = c.error()
    assert error.headers["message"] == "precondition_failed"
    assert "unknown delivery tag 9999" in error.body


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_nack_requeue_false_discards_the_message(stomp_client, amqp, version):
    q = name("drop")
    amqp.forget(q)
    c = stomp_client(version)
    c.send(f"/queue/{q}", "unwanted")
    c.send(f"/queue/{q}", "kept")
    c.subscribe(f"/queue/{q}", ack="client-individual")
    m = c.message()
    assert c.message().body == "kept"
    receipt = c.receipt()
    c.nack(m, requeue="false", receipt=receipt)
    c.wait_receipt(receipt)
    # Not requeued: nothing comes back while the connection lives.
    c.assert_quiet()
    c.close()
    assert wait_for(lambda: amqp.depth(q) == 1), amqp.depth(q)
    assert amqp.get(q) == b"kept"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_nack_requeue_false_dead_letters(stomp_client, amqp, version):
    q = name("dlsrc")
    dlq = name("dlq")
    amqp.forget(q)
    amqp.declare(dlq)
    c = stomp_client(version)
    dl = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}
    c.send(f"/queue/{q}", "to the dead letters", headers=dl)
    c.subscribe(f"/queue/{q}", ack="client-individual", headers=dl)
    c.nack(c.message(), requeue="false")
    assert amqp.get(dlq) == b"to the dead letters"
    assert amqp.depth(q) == 0


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_nack_in_client_mode_is_cumulative(stomp_client, amqp, version):
    q = name("nackall")
    amqp.forget(q)
    c = stomp_client(version)
    for body in ["1", "2", "3"]:
        c.send(f"/queue/{q}", body)
    c.subscribe(f"/queue/{q}", ack="client", headers={"prefetch-count": "3"})
    frames = [c.message() for _ in range(3)]
    receipt = c.receipt()
    c.nack(frames[1], requeue="false", receipt=receipt)
    c.wait_receipt(receipt)
    c.close()
    assert wait_for(lambda: amqp.depth(q) == 1), amqp.depth(q)
    assert amqp.get(q) == b"3"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_nack_requeues_by_default(stomp_client, version):
    c = stomp_client(version)
    q = f"/queue/{name('requeue')}"
    c.send(q, "again")
    c.subscribe(q, ack="client-individual")
    first = c.message()
    assert first.headers["redelivered"] == "false"
    c.nack(first)
    again = c.message()
    assert (again.body, again.headers["redelivered"]) == ("again", "true")
    c.ack(again)


# -- transactions ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_transactional_ack_applies_at_commit_only(stomp_client, amqp, version):
    q = name("txack")
    amqp.forget(q)
    c = stomp_client(version)
    c.send(f"/queue/{q}", "held")
    c.send(f"/queue/{q}", "kept")
    c.subscribe(f"/queue/{q}", ack="client-individual", headers={"prefetch-count": "1"})
    m = c.message()
    tx = c.conn.begin()
    c.ack(m, transaction=tx)
    c.conn.abort(transaction=tx)
    c.close()
    # The aborted ACK left the message unacknowledged: it is back.
    assert wait_for(lambda: amqp.depth(q) == 2), amqp.depth(q)
    c = stomp_client(version)
    c.subscribe(f"/queue/{q}", ack="client-individual", headers={"prefetch-count": "1"})
    m = c.message()
    assert (m.body, m.headers["redelivered"]) == ("held", "true")
    tx = c.conn.begin()
    c.ack(m, transaction=tx)
    c.assert_quiet()
    receipt = c.receipt()
    c.conn.commit(transaction=tx, headers={"receipt": receipt})
    c.wait_receipt(receipt)
    # The committed ACK freed the one prefetch slot.
    assert c.message().body == "kept"
    c.close()
    assert wait_for(lambda: amqp.depth(q) == 1), amqp.depth(q)
    assert amqp.get(q) == b"kept"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_transactional_nack_applies_at_commit(stomp_client, version):
    q = f"/queue/{name('txnack')}"
    c = stomp_client(version)
    c.send(q, "requeued at commit")
    c.subscribe(q, ack="client-individual")
    m = c.message()
    tx = c.conn.begin()
    c.nack(m, transaction=tx)
    c.assert_quiet()
    c.conn.commit(transaction=tx)
    again = c.message()
    assert (again.body, again.headers["redelivered"]) == ("requeued at commit", "true")
    tx = c.conn.begin()
    c.nack(again, transaction=tx)
    c.conn.abort(transaction=tx)
    c.assert_quiet()
    c.ack(again)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_transactional_send_gets_its_receipt_after_commit(stomp_client, version):
    c = stomp_client(version)
    q = f"/queue/{name('txrcpt')}"
    c.subscribe(q)
    tx = c.conn.begin()
    receipt = c.receipt()
    c.conn.send(destination=q, body="in tx", transaction=tx, headers={"receipt": receipt})
    with pytest.raises(queue.Empty):
        c.events.receipts.get(timeout=QUIET)
    c.assert_quiet()
    c.conn.commit(transaction=tx)
    c.wait_receipt(receipt)
    assert c.message().body == "in tx"


@pytest.mark.parametrize("version", VERSIONS)
def test_commit_of_an_unknown_transaction_is_an_error(stomp_client, version):
    c = stomp_client(version)
    c.conn.commit(transaction="never-begun")
    error = c.error()
    assert error.headers["message"] == "Bad transaction"
    assert "never-begun" in error.body


@pytest.mark.parametrize("version", VERSIONS)
def test_a_send_in_an_unknown_transaction_is_an_error(stomp_client, version):
    c = stomp_client(version)
    c.conn.send(destination=f"/queue/{name('notx')}", body="x", transaction="never-begun")
    error = c.error()
    assert error.headers["message"] == "Bad transaction"
    assert "never-begun" in error.body


# -- receipts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_receipts_for_subscribe_unsubscribe_and_disconnect(stomp_client, raw, version):
    q = f"/queue/{name('rcpt')}"
    sender = stomp_client(version)
    r = raw_connected(raw, version)
    r.write(frame("SUBSCRIBE", [("destination", q), ("id", "s"), ("receipt", "sub")]))
    got = r.recv()
    assert (got.command, got.headers["receipt-id"]) == ("RECEIPT", "sub")
    # The subscription is in place once its RECEIPT came.
    sender.send(q, "while subscribed")
    m = r.recv()
    assert (m.command, m.body) == ("MESSAGE", b"while subscribed")
    r.write(frame("UNSUBSCRIBE", [("id", "s"), ("destination", q), ("receipt", "unsub")]))
    got = r.recv()
    assert (got.command, got.headers["receipt-id"]) == ("RECEIPT", "unsub")
    # And gone once the UNSUBSCRIBE's came: the next message waits in the queue.
    sender.send(q, "after")
    r.write(frame("DISCONNECT", [("receipt", "bye")]))
    frames = r.until_closed()
    assert [(f.command, f.headers.get("receipt-id")) for f in frames] == [("RECEIPT", "bye")]
    sender.subscribe(q)
    assert sender.message().body == "after"


@pytest.mark.parametrize("version", VERSIONS)
def test_receipts_come_in_frame_order_and_disconnect_last(stomp_broker, raw, version):
    q = f"/queue/{name('order')}"
    r = raw_connected(raw, version)
    r.write(frame("SEND", [("destination", q), ("receipt", "send")], b"x")
            + frame("SUBSCRIBE", [("destination", q), ("id", "s"), ("receipt", "sub"),
                                  ("ack", "client")])
            + frame("BEGIN", [("transaction", "t"), ("receipt", "begin")])
            + frame("UNSUBSCRIBE", [("id", "s"), ("destination", q), ("receipt", "unsub")])
            + frame("ABORT", [("transaction", "t"), ("receipt", "abort")])
            + frame("DISCONNECT", [("receipt", "bye")]))
    frames = [f for f in r.until_closed() if f.command != "MESSAGE"]
    expected = ["send", "sub", "begin", "unsub", "abort", "bye"]
    if not stomp_broker.is_warren:
        # RabbitMQ 3.10 confirms a SEND later, here never: the DISCONNECT came first.
        expected.remove("send")
    assert [(f.command, f.headers.get("receipt-id")) for f in frames] == [
        ("RECEIPT", rid) for rid in expected]


@pytest.mark.parametrize("version", VERSIONS)
def test_stomp_py_disconnect_waits_for_its_receipt(stomp_client, version):
    c = stomp_client(version)
    receipt = c.receipt()
    c.conn.disconnect(receipt=receipt)
    c.wait_receipt(receipt)
    assert c.events.disconnected.wait(DEADLINE)
