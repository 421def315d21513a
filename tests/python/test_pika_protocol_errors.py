"""Protocol errors and hostile peers, seen from Python: a wrong protocol header, a frame above
frame_max (501), field tables nested deeper than Warren's limit (502), content without a
publish (505), garbage bytes, a consumer that stops reading, a peer silent after negotiating
heartbeats, an unknown vhost (530), and AMQPLAIN logins. What pika will not send goes through
the raw client of amqp_raw.py. Each test checks that a pika connection opened beforehand, and
a fresh one, are still served.

Every test also runs against RabbitMQ (WARREN_IT_AMQP_URL). Where RabbitMQ answers otherwise
(it speaks AMQP 0-8, accepts any nesting depth, closes without a reason for garbage before the
handshake), the test checks what both do and pins Warren's exact answer only for Warren."""

import os
import threading
import time

import pika
import pika.exceptions
import pika.frame
import pika.spec
import pytest

import amqp_raw
from amqp_raw import PROTOCOL_HEADER, Raw
from conftest import wait_until

PEER = bool(os.environ.get("WARREN_IT_AMQP_URL"))
WARREN = not PEER

# Warren's deepest accepted nesting of tables (warren_model::MAX_TABLE_DEPTH), counting the
# outermost table (the headers or the arguments) as the first level.
MAX_TABLE_DEPTH = 32

DEADLINE = 15.0


class Bystander:
    """A pika connection opened before the hostile act, with its own queue."""

    def __init__(self, connect, unique):
        self.connect = connect
        self.connection = connect()
        self.channel = self.connection.channel()
        self.queue = self.channel.queue_declare(unique("bystander"), exclusive=True).method.queue

    def assert_served(self):
        assert self.connection.is_open, "the bystander's connection was closed"
        self.channel.basic_publish("", self.queue, b"still fine")
        assert self.channel.basic_get(self.queue, auto_ack=True)[2] == b"still fine"
        fresh = self.connect().channel()
        q = fresh.queue_declare("", exclusive=True).method.queue
        fresh.basic_publish("", q, b"fresh")
        assert fresh.basic_get(q, auto_ack=True)[2] == b"fresh"


@pytest.fixture
def bystander(connect, unique):
    return Bystander(connect, unique)


# --- the protocol header ---------------------------------------------------------------------


@pytest.mark.parametrize("header", [
    pytest.param(b"AMQP\x01\x01\x00\x0a", id="amqp-0-10"),
    pytest.param(b"AMQP\x00\x00\x09\x00", id="amqp-0-9-0"),
    pytest.param(b"AMQP\x00\x00\x08\x00", id="amqp-0-8-misnumbered"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", id="http"),
])
def test_a_wrong_protocol_header_is_answered_with_0_9_1_and_closed(amqp_url, bystander, header):
    raw = Raw.to(amqp_url)
    raw.send(header)
    assert raw.read_bytes(8) == PROTOCOL_HEADER, "the server names the version it speaks"
    ending = raw.wait_closed(DEADLINE)
    assert ending.eof, "the server closes after refusing the header"
    assert ending.close is None, "no connection.close before a handshake"
    assert raw.buf == b"", "nothing follows the header"
    bystander.assert_served()


def test_an_amqp_0_8_header_never_starts_a_0_9_1_session(amqp_url, bystander):
    # "AMQP" 1 1 8 0 is what 0-8 clients send. RabbitMQ still speaks 0-8 and starts a session
    # announcing version 8-0; Warren speaks only 0-9-1, so it refuses the header as any other.
    raw = Raw.to(amqp_url)
    raw.send(b"AMQP\x01\x01\x08\x00")
    reply = raw.read_bytes(8)
    if WARREN:
        assert reply == PROTOCOL_HEADER
    if reply == PROTOCOL_HEADER:
        ending = raw.wait_closed(DEADLINE)
        assert ending.eof and ending.close is None, ending
    else:
        raw.buf = reply + raw.buf
        start = raw.expect(pika.spec.Connection.Start, channel=0)
        assert (start.version_major, start.version_minor) == (8, 0), start
    raw.close()
    bystander.assert_served()


# --- frame errors ----------------------------------------------------------------------------


def test_a_frame_above_frame_max_is_501_and_closes_only_that_connection(amqp_url, bystander):
    raw = Raw.open(amqp_url, frame_max=4096)
    raw.open_channel(1)
    # One body frame of 10,000 bytes where 4,096 (header and frame-end included) were agreed.
    raw.send(amqp_raw.publish_frames(1, "", "oversized", b"\0" * 10_000))
    ending = raw.wait_closed(DEADLINE)
    assert ending.close is not None, f"no connection.close: {ending}"
    assert ending.close.reply_code == 501, ending
    assert (ending.close.class_id, ending.close.method_id) == (0, 0), "no method to blame"
    assert ending.eof, "the socket is closed after connection.close"
    bystander.assert_served()


def test_a_frame_announcing_a_gigabyte_is_refused_without_its_payload(amqp_url, bystander):
    raw = Raw.open(amqp_url)
    raw.open_channel(1)
    # A method frame header announcing 1 GiB; the payload never follows.
    raw.send(bytes([1, 0, 1]) + (1 << 30).to_bytes(4, "big"))
    ending = raw.wait_closed(DEADLINE)
    assert ending.eof, f"the connection waits for a 1 GiB frame: {ending}"
    if ending.close is not None:
        assert ending.close.reply_code == 501, ending
    if WARREN:
        assert ending.close is not None and ending.close.reply_code == 501, ending
    bystander.assert_served()


def test_a_body_frame_without_a_publish_is_505(amqp_url, bystander):
    raw = Raw.open(amqp_url)
    raw.open_channel(1)
    raw.send(amqp_raw.frame(pika.spec.FRAME_BODY, 1, b"orphan body"))
    ending = raw.wait_closed(DEADLINE)
    assert ending.close is not None, f"no connection.close: {ending}"
    assert ending.close.reply_code == 505, f"UNEXPECTED_FRAME: {ending}"
    assert ending.eof
    bystander.assert_served()


def test_a_content_header_without_a_publish_is_505(amqp_url, bystander):
    raw = Raw.open(amqp_url)
    raw.open_channel(1)
    raw.send(pika.frame.Header(1, 5, pika.spec.BasicProperties()).marshal())
    ending = raw.wait_closed(DEADLINE)
    assert ending.close is not None, f"no connection.close: {ending}"
    assert ending.close.reply_code == 505, f"UNEXPECTED_FRAME: {ending}"
    assert ending.eof
    bystander.assert_served()


# --- nesting depth ---------------------------------------------------------------------------


def test_headers_nested_to_the_limit_are_delivered_intact(connection, channel):
    channel.confirm_delivery()
    q = channel.queue_declare("", exclusive=True).method.queue
    inner = MAX_TABLE_DEPTH - 1  # the headers table itself is the first level
    headers = {"deep": amqp_raw.nested_table(inner)}
    channel.basic_publish("", q, b"deep", pika.BasicProperties(headers=headers))
    _, props, body = channel.basic_get(q, auto_ack=True)
    assert body == b"deep"
    assert amqp_raw.depth_of(props.headers["deep"]) == inner


@pytest.mark.parametrize("inner", [MAX_TABLE_DEPTH, 40])
def test_headers_nested_deeper_than_the_limit(connect, bystander, inner):
    # RabbitMQ has no depth limit and delivers them; Warren refuses the frame before parsing
    # it: 502 SYNTAX_ERROR, closing the connection.
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = ch.queue_declare("", exclusive=True).method.queue
    headers = {"deep": amqp_raw.nested_table(inner)}
    try:
        ch.basic_publish("", q, b"deep", pika.BasicProperties(headers=headers))
        _, props, body = ch.basic_get(q, auto_ack=True)
        outcome = ("delivered", body, amqp_raw.depth_of(props.headers["deep"]))
    except pika.exceptions.ConnectionClosedByBroker as closed:
        outcome = ("closed", closed.reply_code, closed.reply_text)
    if outcome[0] == "delivered":
        assert outcome[1:] == (b"deep", inner), "delivered intact"
    else:
        assert outcome[1] == 502, outcome
    if WARREN:
        assert outcome[0] == "closed" and outcome[1] == 502, outcome
        assert f"nested deeper than {MAX_TABLE_DEPTH}" in outcome[2], outcome
    bystander.assert_served()


def test_declare_arguments_nested_40_deep(connect, bystander, unique):
    conn = connect()
    ch = conn.channel()
    try:
        ch.queue_declare(unique("deepargs"), exclusive=True,
                         arguments={"x-deep": amqp_raw.nested_table(40)})
        outcome = "declared"
    except pika.exceptions.ConnectionClosedByBroker as closed:
        outcome = closed.reply_code
    assert outcome in ("declared", 502), outcome
    if WARREN:
        assert outcome == 502
    bystander.assert_served()


def test_ten_thousand_nested_tables_are_answered_and_harmless(amqp_url, bystander, unique):
    # Deep enough to overflow a parser that recurses per level without a guard.
    raw = Raw.open(amqp_url)
    raw.open_channel(1)
    declare = amqp_raw.method_payload(pika.spec.Queue.Declare(queue=unique("deep10k")))
    assert declare.endswith(b"\0\0\0\0"), "ends with the empty arguments table"
    deep = amqp_raw.nested_table_bytes(10_000)
    entry = b"\x06x-deepF" + deep
    args = len(entry).to_bytes(4, "big") + entry
    raw.send(amqp_raw.frame(pika.spec.FRAME_METHOD, 1, declare[:-4] + args))
    try:
        reply = raw.read_method(DEADLINE)
        answer = reply.method
    except amqp_raw.Closed:
        answer = None
    if isinstance(answer, pika.spec.Connection.Close):
        assert answer.reply_code >= 500, answer
    elif isinstance(answer, pika.spec.Channel.Close):
        assert answer.reply_code >= 400, answer
    else:
        assert isinstance(answer, pika.spec.Queue.DeclareOk), answer
    if WARREN:
        assert isinstance(answer, pika.spec.Connection.Close), answer
        assert answer.reply_code == 502, answer
    raw.close()
    bystander.assert_served()


# --- garbage ---------------------------------------------------------------------------------


def garbage():
    return bytes(((i * 2_654_435_761) >> 13) & 0xFF for i in range(4096))


@pytest.mark.parametrize("stage", ["after-the-header", "after-the-handshake"])
def test_garbage_ends_only_that_connection(amqp_url, bystander, stage):
    if stage == "after-the-header":
        raw = Raw.to(amqp_url)
        raw.hello()
    else:
        raw = Raw.open(amqp_url)
    raw.send(garbage())  # the server may close before it has read it all
    ending = raw.wait_closed(DEADLINE)
    assert ending.eof, f"garbage must end the connection: {ending}"
    if ending.close is not None:
        assert ending.close.reply_code >= 500, ending
    if WARREN:
        assert ending.close is not None and ending.close.reply_code == 501, ending
    if stage == "after-the-handshake":
        # RabbitMQ too says why once the connection is open.
        assert ending.close is not None and ending.close.reply_code == 501, ending
    bystander.assert_served()


# --- a consumer that stops reading -----------------------------------------------------------

BIG_BODY = 100 * 1024
BIG_COUNT = 300  # 30 MB, far beyond what socket buffers hold


def test_a_consumer_that_stops_reading_stalls_no_one_else(amqp_url, connect, unique):
    q = unique("nonreader")
    # A pika consumer without prefetch that never reads again: BlockingConnection does I/O
    # only when called, and this one is not called until the end.
    slow = connect()
    slow_ch = slow.channel()
    slow_ch.queue_declare(q)
    slow_ch.basic_consume(q, lambda *a: None)

    other = connect()
    pair = other.channel()
    side_q = pair.queue_declare(unique("neighbour"), exclusive=True).method.queue
    side_got = []
    pair.basic_consume(side_q, lambda c, m, p, body: side_got.append(body), auto_ack=True)

    # The publisher runs on its own thread (and connection) so that a stall fails the test
    # at the deadline instead of hanging it.
    confirmed = []

    def publish_all():
        conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
        ch = conn.channel()
        ch.confirm_delivery()
        body = b"x" * BIG_BODY
        for i in range(BIG_COUNT):
            ch.basic_publish("", q, body)  # returns once confirmed; raises on a nack
            confirmed.append(i)
            if i % 50 == 0:
                ch.basic_publish("", side_q, f"side {i}".encode())
        conn.close()

    publisher = threading.Thread(target=publish_all, daemon=True)
    publisher.start()
    publisher.join(60.0)
    assert not publisher.is_alive(), f"{len(confirmed)} of {BIG_COUNT} confirmed within 60 s"
    assert len(confirmed) == BIG_COUNT, "the publisher failed"
    assert wait_until(lambda: len(side_got) == BIG_COUNT // 50, DEADLINE, other), side_got

    watcher = connect().channel()
    ready = watcher.queue_declare(q, passive=True).method.message_count
    assert ready < BIG_COUNT, "the non-reading consumer was sent nothing"

    # The unread deliveries go back to the queue once their consumer's connection is gone.
    slow.close()

    def all_back():
        ok = watcher.queue_declare(q, passive=True).method
        return ok.consumer_count == 0 and ok.message_count == BIG_COUNT

    assert wait_until(all_back, 30.0), "unacked deliveries to the closed consumer return"
    watcher.queue_delete(q)


# --- heartbeats ------------------------------------------------------------------------------


def test_a_peer_silent_after_negotiating_heartbeats_is_dropped(amqp_url, bystander):
    raw = Raw.open(amqp_url, heartbeat=1)
    started = time.monotonic()
    ending = raw.wait_closed(DEADLINE)  # reads (heartbeats arrive) but never sends
    elapsed = time.monotonic() - started
    assert ending.eof, f"a peer silent for {DEADLINE} s with heartbeat 1 is still connected"
    assert elapsed >= 1.0, f"dropped after {elapsed:.2f} s, before one heartbeat interval"
    bystander.assert_served()


# --- login and vhost -------------------------------------------------------------------------


def test_an_unknown_vhost_is_530_blaming_connection_open(amqp_url, bystander):
    raw = Raw.to(amqp_url)
    raw.hello()
    raw.start_ok("PLAIN", amqp_raw.plain("guest", "guest"))
    tune = raw.read_tune()
    raw.tune_ok_and_open(tune.channel_max, tune.frame_max, 0, "no-such-vhost")
    ending = raw.wait_closed(DEADLINE)
    assert ending.close is not None, f"no connection.close: {ending}"
    assert ending.close.reply_code == 530, ending
    assert (ending.close.class_id, ending.close.method_id) == (10, 40), "blames connection.open"
    assert "no-such-vhost" in ending.close.reply_text, ending
    assert ending.eof
    bystander.assert_served()


def test_amqplain_login_is_accepted(amqp_url, bystander, unique):
    raw = Raw.to(amqp_url)
    start = raw.hello()
    mechanisms = start.mechanisms.decode().split()
    assert "AMQPLAIN" in mechanisms and "PLAIN" in mechanisms, mechanisms
    raw.start_ok("AMQPLAIN", amqp_raw.amqplain("guest", "guest"))
    tune = raw.read_tune()
    raw.tune_ok_and_open(tune.channel_max, tune.frame_max, 0, "/")
    raw.expect(pika.spec.Connection.OpenOk, channel=0)
    raw.open_channel(1)
    q = unique("amqplain")
    raw.send_method(1, pika.spec.Queue.Declare(queue=q, exclusive=True))
    raw.expect(pika.spec.Queue.DeclareOk, channel=1)
    raw.send(amqp_raw.publish_frames(1, "", q, b"via amqplain"))
    raw.send_method(1, pika.spec.Basic.Get(queue=q, no_ack=True))
    raw.expect(pika.spec.Basic.GetOk, channel=1)
    assert isinstance(raw.read_frame(), pika.frame.Header)
    assert raw.read_frame().fragment == b"via amqplain"
    raw.close()
    bystander.assert_served()


@pytest.mark.parametrize("mechanism,response", [
    ("AMQPLAIN", amqp_raw.amqplain("guest", "not-the-password")),
    ("AMQPLAIN", amqp_raw.amqplain("nobody-by-this-name", "guest")),
    ("PLAIN", amqp_raw.plain("guest", "not-the-password")),
], ids=["amqplain-wrong-password", "amqplain-unknown-user", "plain-wrong-password"])
def test_a_refused_login_is_403(amqp_url, bystander, mechanism, response):
    raw = Raw.to(amqp_url)
    raw.hello()
    raw.start_ok(mechanism, response)
    ending = raw.wait_closed(DEADLINE)
    assert ending.close is not None, f"no connection.close: {ending}"
    assert ending.close.reply_code == 403, ending
    assert mechanism in ending.close.reply_text, ending
    assert ending.eof
    bystander.assert_served()
