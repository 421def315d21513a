"""stomp.py (and, for bytes stomp.py will not write, a raw socket) against the broker over STOMP
1.0, 1.1 and 1.2, on frames: bodies with NUL bytes, frame limits, malformed frames, and
heart-beats and a dead peer."""

import time

import pytest

from stomp_conftest_helpers import DEADLINE, VERSIONS, name
from stomp_raw_helpers import amqp, frame, raw, raw_connected, wait_for, warren_only  # noqa: F401


# Warren's default limits (stomp.max_frame_size, stomp.max_headers, stomp.max_header_line).
MAX_FRAME = 16 * 1024 * 1024
MAX_HEADERS = 128
MAX_HEADER_LINE = 64 * 1024


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
