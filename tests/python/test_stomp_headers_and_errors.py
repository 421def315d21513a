"""stomp.py (and, for frames stomp.py will not write, a raw socket) against the broker over STOMP
1.0, 1.1 and 1.2: every SEND header that is an AMQP property, read with pika, and every AMQP
property shown as a MESSAGE header; and the error cases of connecting and subscribing: an
unsupported `accept-version`, a second CONNECT, a `user-id` other than the login, a duplicate
subscription id, a subscribed queue deleted, and a CONNECT without `login` (the default user by
default; refused when `stomp.allow_anonymous` is off)."""

import os
import re
import subprocess
import threading

import pika
import pytest
from stomp.exception import ConnectFailedException

from crash_helpers import REPO_ROOT, _drain, _read_listeners
from stomp_conftest_helpers import DEADLINE, VERSIONS, Client, StompBroker, name
from stomp_raw_helpers import amqp, frame, raw, raw_connected, wait_for  # noqa: F401

# The SEND headers that are AMQP properties, with the value each takes in the test, and the
# property it must land in (as pika names it, with the value pika reads).
PROPERTY_HEADERS = [
    ("content-type", "application/json", "content_type", "application/json"),
    ("content-encoding", "gzip", "content_encoding", "gzip"),
    ("persistent", "true", "delivery_mode", 2),
    ("priority", "7", "priority", 7),
    ("correlation-id", "corr-7", "correlation_id", "corr-7"),
    ("reply-to", "/queue/answers", "reply_to", "/queue/answers"),
    ("expiration", "60000", "expiration", "60000"),
    ("timestamp", "1700000000", "timestamp", 1700000000),
    ("type", "order.created", "type", "order.created"),
    # Equal to the login (guest): any other value is refused, see below.
    ("user-id", "guest", "user_id", "guest"),
    ("app-id", "billing", "app_id", "billing"),
    ("amqp-message-id", "amqp-id-7", "message_id", "amqp-id-7"),
]


def text(value):
    """A header value as pika decodes it (a long string may come as bytes)."""
    return value.decode() if isinstance(value, bytes) else value


def amqp_take(amqp, queue_name):
    """One message taken from the queue with pika, polled within the deadline:
    (method, properties, body)."""
    def take():
        method, props, body = amqp.channel.basic_get(queue_name, auto_ack=True)
        return None if method is None else (method, props, body)

    got = wait_for(take)
    assert got, f"no message on {queue_name} within {DEADLINE}s"
    return got


# -- headers and properties --------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_every_property_header_of_a_send_lands_in_its_amqp_property(stomp_client, amqp, version):
    q = name("s2p")
    amqp.forget(q)
    headers = {header: value for header, value, _, _ in PROPERTY_HEADERS}
    headers["custom-header"] = "custom value"
    c = stomp_client(version)
    c.send(f"/queue/{q}", "every property", headers=headers)
    method, props, body = amqp_take(amqp, q)
    assert body == b"every property"
    assert (method.exchange, method.routing_key) == ("", q)
    for header, _, prop, expected in PROPERTY_HEADERS:
        assert getattr(props, prop) == expected, f"{header} -> {prop}"
    # Any other header is an AMQP header; a property is not repeated as a header.
    amqp_headers = {key: text(value) for key, value in (props.headers or {}).items()}
    assert amqp_headers.get("custom-header") == "custom value"
    repeated = {header for header, _, _, _ in PROPERTY_HEADERS} & amqp_headers.keys()
    assert not repeated, amqp_headers


@pytest.mark.parametrize("version", VERSIONS)
def test_persistent_false_reaches_amqp_as_transient(stomp_broker, stomp_client, amqp, version):
    q = name("s2t")
    amqp.declare(q)
    c = stomp_client(version)
    # An existing queue: the queue a `/queue` SEND with `persistent:false` declares on RabbitMQ
    # 3.10 is locked to that connection (pika gets RESOURCE_LOCKED).
    c.send(f"/amq/queue/{q}", "transient", headers={"persistent": "false"})
    _, props, _ = amqp_take(amqp, q)
    # Warren writes delivery_mode 1; RabbitMQ 3.10 leaves it unset (also transient).
    assert props.delivery_mode in ((1,) if stomp_broker.is_warren else (None, 1))


@pytest.mark.parametrize("version", VERSIONS)
def test_every_amqp_property_shows_as_its_message_header(stomp_client, amqp, version):
    q = name("p2s")
    amqp.forget(q)
    c = stomp_client(version)
    c.subscribe(f"/queue/{q}", sub_id="props")
    props = pika.BasicProperties(
        content_type="application/json",
        content_encoding="gzip",
        headers={"custom-header": "custom value"},
        delivery_mode=2,
        priority=7,
        correlation_id="corr-7",
        reply_to="/queue/answers",
        expiration="60000",
        message_id="amqp-id-7",
        timestamp=1700000000,
        type="order.created",
        user_id="guest",
        app_id="billing",
    )
    amqp.publish(q, b"every property", props)
    m = c.message()
    assert m.body == "every property"
    expected = {header: value for header, value, _, _ in PROPERTY_HEADERS}
    expected["custom-header"] = "custom value"
    expected["destination"] = f"/queue/{q}"
    expected["subscription"] = "props"
    got = {key: m.headers.get(key) for key in expected}
    assert got == expected
    # The broker's own message-id, not the AMQP one.
    assert m.headers["message-id"] not in ("", "amqp-id-7")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_reply_to_queue_name_shows_as_a_reply_queue_destination(stomp_broker, stomp_client, amqp,
                                                                  version):
    q = name("r2s")
    amqp.forget(q)
    c = stomp_client(version)
    c.subscribe(f"/queue/{q}")
    amqp.publish(q, b"answer me", pika.BasicProperties(reply_to="answers", delivery_mode=1))
    m = c.message()
    assert m.headers["reply-to"] == "/reply-queue/answers"
    if stomp_broker.is_warren:
        # Only delivery_mode 2 is shown (`persistent:true`); RabbitMQ 3.10 shows this one as
        # `persistent:1`.
        assert "persistent" not in m.headers


# -- connect errors (a raw socket: stomp.py always offers its own version) --------------------


@pytest.mark.parametrize("command, offered", [
    ("CONNECT", "2.0"),
    ("CONNECT", "0.9,2.0"),
    ("STOMP", "1.3,2.1"),
])
def test_an_unsupported_accept_version_is_a_version_mismatch(stomp_broker, raw, command, offered):
    r = raw()
    r.write(frame(command, [("accept-version", offered), ("host", "/"), ("login", "guest"),
                            ("passcode", "guest")]))
    e = r.error()
    assert e.headers["message"] == "Version mismatch"
    assert e.headers["version"] == "1.0,1.1,1.2"
    assert e.text().strip() == "Supported versions are 1.0,1.1,1.2"
    if stomp_broker.is_warren:
        # RabbitMQ 3.10 leaves this connection open.
        assert r.until_closed() == []
    # The same frame with a supported version among the offered ones is accepted.
    ok = raw()
    ok.write(frame(command, [("accept-version", f"{offered},1.1"), ("host", "/"),
                             ("login", "guest"), ("passcode", "guest")]))
    reply = ok.recv()
    assert (reply.command, reply.headers["version"]) == ("CONNECTED", "1.1"), reply


@pytest.mark.parametrize("version", VERSIONS)
def test_a_second_connect_is_an_error(stomp_broker, raw, version):
    r = raw_connected(raw, version)
    headers = [] if version == "1.0" else [("accept-version", version)]
    r.write(frame("CONNECT", headers + [("host", "/"), ("login", "guest"),
                                        ("passcode", "guest")]))
    frames = r.until_closed()
    assert "CONNECTED" not in [f.command for f in frames], frames
    if stomp_broker.is_warren:
        # RabbitMQ 3.10 closes without a frame.
        assert len(frames) == 1, frames
        assert frames[0].command == "ERROR"
        assert frames[0].headers["message"] == "Illegal command"
        assert frames[0].text().strip() == "Already connected"


# -- SEND and SUBSCRIBE errors -----------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_user_id_other_than_the_login_is_refused(stomp_broker, stomp_client, amqp, version):
    q = name("userid")
    amqp.forget(q)
    c = stomp_client(version)
    c.conn.send(destination=f"/queue/{q}", body="forged", headers={"user-id": "someone-else"},
                receipt="r-forged")
    e = c.error()
    assert e.headers["message"] == "precondition_failed"
    assert ("PRECONDITION_FAILED - user_id property set to 'someone-else' but authenticated "
            "user was 'guest'") in e.body
    if stomp_broker.is_warren:
        # RabbitMQ 3.10 does not echo the receipt on this ERROR.
        assert e.headers.get("receipt-id") == "r-forged"
    assert c.events.disconnected.wait(DEADLINE)
    assert c.events.receipts.empty()
    # Nothing was published (the SEND may have declared the queue first).
    assert amqp.depth(q) in (None, 0)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_duplicate_subscription_id_is_an_error(stomp_client, version):
    c = stomp_client(version)
    c.subscribe(f"/topic/{name('dup')}", sub_id="dup-7")
    c.conn.subscribe(destination=f"/topic/{name('dup')}", id="dup-7")
    e = c.error()
    # RabbitMQ's summary (Warren's error texts are RabbitMQ's). The body names the id (RabbitMQ
    # names its internal one, 'T_dup-7').
    assert e.headers["message"] == "Duplicated subscription identifier"
    assert re.search(r"'(T_)?dup-7'", e.body), e.body
    assert c.events.disconnected.wait(DEADLINE)


@pytest.mark.parametrize("version", VERSIONS)
def test_deleting_a_subscribed_queue_is_an_error_naming_the_subscription(stomp_broker,
                                                                         stomp_client, amqp,
                                                                         version):
    q = name("deleted")
    c = stomp_client(version)
    c.subscribe(f"/queue/{q}", sub_id="gone-sub")
    amqp.channel.queue_delete(q)
    e = c.error()
    assert "'gone-sub'" in e.body
    assert "cancel" in e.body.lower()
    if stomp_broker.is_warren:
        # RabbitMQ 3.10 says `Server cancelled subscription` with a `subscription` header, and
        # keeps the connection open.
        assert e.headers["message"] == "Bad subscription"
        assert e.body.strip() == "Subscription 'gone-sub' was cancelled: its queue was deleted"
        assert c.events.disconnected.wait(DEADLINE)


# -- anonymous logins --------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_connect_without_login_logs_in_as_the_default_user(stomp_broker, stomp_client, amqp,
                                                             version):
    # Warren's default (stomp.allow_anonymous = true, stomp.default_user = "guest") is
    # RabbitMQ's (stomp.default_user guest/guest).
    q = name("anon")
    amqp.forget(q)
    c = stomp_client(version, connect=False)
    c.conn.connect(wait=True)
    assert c.events.connected is not None
    c.send(f"/queue/{q}", "anonymous", headers={"user-id": "guest"})
    _, props, body = amqp_take(amqp, q)
    assert (body, props.user_id) == (b"anonymous", "guest")
    # Logged in as guest and no one else: another user-id is refused naming guest.
    c.send(f"/queue/{q}", "forged", headers={"user-id": "someone-else"}, sync=False)
    assert "authenticated user was 'guest'" in c.error().body


@pytest.fixture(scope="module")
def no_anonymous(stomp_broker, tmp_path_factory):
    """A Warren with stomp.allow_anonymous off (STOMP listener only), stopped at teardown."""
    if not stomp_broker.is_warren:
        pytest.skip("starts a Warren with its own configuration")
    workdir = tmp_path_factory.mktemp("warren-no-anonymous")
    config = workdir / "warren.toml"
    config.write_text("[stomp]\nallow_anonymous = false\n")
    binary = os.environ.get("WARREN_BIN", str(REPO_ROOT / "target" / "debug" / "warren"))
    with open(workdir / "warren.log", "ab") as log:
        proc = subprocess.Popen(
            [binary, "--config", str(config), "--data-dir", str(workdir / "data"),
             "--amqp-listen", "none", "--mqtt-listen", "none",
             "--stomp-listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=log)
    try:
        host, port = _read_listeners(proc, {"stomp"})["stomp"]
        threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
        yield StompBroker(host, port, None, None, True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_connect_without_login_is_refused_when_anonymous_logins_are_off(no_anonymous, version):
    c = Client(no_anonymous, version)
    try:
        with pytest.raises(ConnectFailedException):
            c.conn.connect(wait=True)
        e = c.error()
        assert e.headers["message"] == "Bad CONNECT"
        assert e.body.strip() == "Access refused: a login is required"
        assert c.events.disconnected.wait(DEADLINE)
    finally:
        c.close()
    # A login still gets in.
    c = Client(no_anonymous, version)
    try:
        c.connect()
        assert c.events.connected.headers["version"] == version
    finally:
        c.close()
