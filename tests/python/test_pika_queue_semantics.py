"""Queue semantics with pika beyond test_pika_queue_features: queue TTL (x-expires), per-message
TTL behind live messages and TTL 0, dead-letter reasons and x-first-death-*, byte length
limits with every x-overflow, priorities under prefetch 1, the accuracy of x-delayed-message,
dead-letter cycles, mandatory with an alternate exchange, the delivery limit without a
dead-letter exchange, and retries through a TTL queue.

Every test except the delayed-message one also runs against RabbitMQ (WARREN_IT_AMQP_URL);
where RabbitMQ's classic queues behave differently on purpose the difference is named."""

import os
import time

import pika
import pytest

from conftest import count, dlx_args, wait_until, warren_only

PEER = bool(os.environ.get("WARREN_IT_AMQP_URL"))


DEADLINE = 15.0


def routes_to(ch, q):
    """False once the default exchange no longer routes to q. `ch` is in confirm mode. A
    mandatory publish does not count as a use of the queue, unlike a passive declare, which
    renews an x-expires lease in RabbitMQ."""
    try:
        ch.basic_publish("", q, b"probe", mandatory=True)
        return True
    except pika.exceptions.UnroutableError:
        return False


def assert_no_queue(connection, q):
    ch = connection.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.queue_declare(q, passive=True)
    assert info.value.reply_code == 404


def death_counts(props):
    return {(d["queue"], d["reason"]): d["count"] for d in props.headers["x-death"]}


# --- queue TTL (x-expires) -------------------------------------------------------------------


def test_unused_queue_expires_and_a_consumed_one_stays(connection, channel, unique):
    kept, witness = unique("expires.kept"), unique("expires.witness")
    channel.confirm_delivery()
    declared = time.monotonic()
    channel.queue_declare(kept, arguments={"x-expires": 200})
    consumer = connection.channel()
    tag = consumer.basic_consume(kept, lambda c, m, p, b: None, auto_ack=True)
    # Declared after `kept`, with a longer lease: once it is gone, kept's lease has run out
    # too, had the consumer not held it.
    channel.queue_declare(witness, arguments={"x-expires": 400})
    assert wait_until(lambda: not routes_to(channel, witness), DEADLINE, connection)
    assert time.monotonic() - declared >= 0.4
    assert_no_queue(connection, witness)
    assert routes_to(channel, kept), "a queue with a consumer is in use"

    cancelled = time.monotonic()
    consumer.basic_cancel(tag)
    assert wait_until(lambda: not routes_to(channel, kept), DEADLINE, connection)
    assert time.monotonic() - cancelled >= 0.2, "the lease counts from the last consumer"
    assert_no_queue(connection, kept)


def test_passive_declare_renews_the_lease(connection, channel, unique):
    # RabbitMQ's queue.declare with passive=true is a use of the queue (the queue process
    # answers it and restarts its expiry timer), as a redeclare is.
    renewed, witness = unique("expires.renewed"), unique("expires.witness")
    channel.confirm_delivery()
    channel.queue_declare(renewed, arguments={"x-expires": 300})
    channel.queue_declare(witness, arguments={"x-expires": 300})
    until = time.monotonic() + DEADLINE
    while routes_to(channel, witness):
        assert time.monotonic() < until, "the unused witness queue did not expire"
        count(connection, renewed)  # a 404 here fails the test
        connection.process_data_events(time_limit=0.05)
    count(connection, renewed)
    stopped = time.monotonic()
    assert wait_until(lambda: not routes_to(channel, renewed), DEADLINE, connection)
    assert time.monotonic() - stopped >= 0.25


# --- per-message TTL and TTL 0 ---------------------------------------------------------------


def test_message_expired_behind_a_live_one_is_never_delivered(connection, channel, unique):
    q, timer, timer_dlq = unique("pmttl"), unique("pmttl.timer"), unique("pmttl.timer.dlq")
    channel.queue_declare(q)
    channel.queue_declare(timer_dlq)
    channel.queue_declare(timer, arguments=dlx_args(timer_dlq))
    channel.confirm_delivery()
    channel.basic_publish("", q, b"first", pika.BasicProperties(expiration="60000"))
    channel.basic_publish("", q, b"second", pika.BasicProperties(expiration="50"))
    # Alone in its queue, this one dies on time on any broker: once it is dead-lettered,
    # `second` (published before it with the same TTL) has expired too.
    channel.basic_publish("", timer, b"tick", pika.BasicProperties(expiration="50"))
    channel.basic_publish("", q, b"third")
    assert wait_until(lambda: count(connection, timer_dlq) == 1, DEADLINE, connection)
    if not PEER:
        # RabbitMQ's classic queues count an expired message until it reaches the head
        # (its TTL documentation says so); Warren drops it when it expires.
        assert wait_until(lambda: count(connection, q) == 2, DEADLINE, connection)

    got = []
    consumer = connection.channel()
    consumer.basic_consume(q, lambda c, m, p, body: got.append((m, p, body)))
    assert wait_until(lambda: len(got) == 2, DEADLINE, connection)
    for method, _, _ in got:
        consumer.basic_ack(method.delivery_tag)
    assert wait_until(lambda: count(connection, q) == 0, DEADLINE, connection)
    connection.process_data_events(time_limit=0)
    assert [body for _, _, body in got] == [b"first", b"third"]
    assert got[0][1].expiration == "60000"


def test_ttl_zero_reaches_a_waiting_consumer_and_dies_otherwise(connection, channel, unique):
    q, dlq = unique("ttl0"), unique("ttl0.dlq")
    channel.queue_declare(dlq)
    channel.queue_declare(q, arguments=dlx_args(dlq, **{"x-message-ttl": 0}))
    channel.confirm_delivery()

    channel.basic_publish("", q, b"nobody")
    assert wait_until(lambda: count(connection, dlq) == 1, DEADLINE, connection)
    assert count(connection, q) == 0
    _, props, body = channel.basic_get(dlq, auto_ack=True)
    assert body == b"nobody"
    assert props.headers["x-death"][0]["reason"] == "expired"

    got = []
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=1)
    consumer.basic_consume(q, lambda c, m, p, body: got.append((m, body)))
    channel.basic_publish("", q, b"taken")
    assert wait_until(lambda: len(got) == 1, DEADLINE, connection)
    # The consumer is waiting but holds its one unacked message: nobody can take this one.
    channel.basic_publish("", q, b"busy")
    assert wait_until(lambda: count(connection, dlq) == 1, DEADLINE, connection)
    assert channel.basic_get(dlq, auto_ack=True)[2] == b"busy"
    consumer.basic_ack(got[0][0].delivery_tag)
    channel.basic_publish("", q, b"free")
    assert wait_until(lambda: len(got) == 2, DEADLINE, connection)
    consumer.basic_ack(got[1][0].delivery_tag)
    assert [body for _, body in got] == [b"taken", b"free"]
    assert count(connection, dlq) == 0


def test_expiration_zero_reaches_only_a_waiting_consumer(connection, channel, unique):
    q = unique("exp0")
    channel.queue_declare(q)
    channel.confirm_delivery()
    channel.basic_publish("", q, b"dropped", pika.BasicProperties(expiration="0"))
    assert channel.basic_get(q, auto_ack=True)[0] is None
    assert count(connection, q) == 0

    got = []
    connection.channel().basic_consume(q, lambda c, m, p, body: got.append(body), auto_ack=True)
    channel.basic_publish("", q, b"delivered", pika.BasicProperties(expiration="0"))
    assert wait_until(lambda: got == [b"delivered"], DEADLINE, connection)


# --- dead-letter reasons and x-first-death-* -------------------------------------------------


def test_nack_then_expiry_record_both_deaths_and_the_first(connection, channel, unique):
    entry, work, parked, dlq = unique("entry"), unique("work"), unique("parked"), unique("dlq")
    channel.exchange_declare(entry, "direct")
    channel.queue_declare(dlq)
    channel.queue_declare(parked, arguments=dlx_args(dlq, **{"x-message-ttl": 20}))
    channel.queue_declare(work, arguments=dlx_args(parked))
    channel.queue_bind(work, entry, routing_key="rk")
    channel.confirm_delivery()
    channel.basic_publish(entry, "rk", b"job", pika.BasicProperties(headers={"own": "kept"}))

    method, _, _ = channel.basic_get(work)
    channel.basic_nack(method.delivery_tag, requeue=False)
    assert wait_until(lambda: count(connection, dlq) == 1, DEADLINE, connection)
    _, props, body = channel.basic_get(dlq, auto_ack=True)
    assert body == b"job"
    assert props.headers["own"] == "kept"
    expired, rejected = props.headers["x-death"]
    assert expired["reason"] == "expired" and expired["queue"] == parked
    assert expired["exchange"] == "" and expired["routing-keys"] == [parked]
    assert expired["count"] == 1
    assert rejected["reason"] == "rejected" and rejected["queue"] == work
    assert rejected["exchange"] == entry and rejected["routing-keys"] == ["rk"]
    assert rejected["count"] == 1
    assert "original-expiration" not in rejected
    assert props.headers["x-first-death-reason"] == "rejected"
    assert props.headers["x-first-death-queue"] == work
    assert props.headers["x-first-death-exchange"] == entry


# --- length limits ---------------------------------------------------------------------------


def test_max_length_bytes_drop_head_dead_letters_with_maxlen(connection, channel, unique):
    q, dlq = unique("bytes.drop"), unique("bytes.drop.dlq")
    channel.queue_declare(dlq)
    channel.queue_declare(q, arguments=dlx_args(dlq, **{"x-max-length-bytes": 10}))
    channel.confirm_delivery()
    for body in (b"aaaa", b"bbbb", b"cc"):
        channel.basic_publish("", q, body)
    assert count(connection, dlq) == 0, "10 bytes of bodies fit"
    channel.basic_publish("", q, b"dddd")
    assert wait_until(lambda: count(connection, dlq) == 1, DEADLINE, connection)
    assert [channel.basic_get(q, auto_ack=True)[2] for _ in range(3)] == [b"bbbb", b"cc", b"dddd"]
    _, props, body = channel.basic_get(dlq, auto_ack=True)
    assert body == b"aaaa"
    assert props.headers["x-death"][0]["reason"] == "maxlen"
    assert props.headers["x-death"][0]["queue"] == q
    assert props.headers["x-first-death-reason"] == "maxlen"

    channel.basic_publish("", q, b"x" * 11)  # larger than the limit on its own
    assert wait_until(lambda: count(connection, dlq) == 1, DEADLINE, connection)
    assert count(connection, q) == 0


def test_max_length_bytes_reject_publish_nacks_and_keeps_the_queue(connection, channel, unique):
    q, dlq = unique("bytes.reject"), unique("bytes.reject.dlq")
    channel.queue_declare(dlq)
    args = dlx_args(dlq, **{"x-max-length-bytes": 10, "x-overflow": "reject-publish"})
    channel.queue_declare(q, arguments=args)
    channel.confirm_delivery()
    channel.basic_publish("", q, b"12345")
    channel.basic_publish("", q, b"67890")
    with pytest.raises(pika.exceptions.NackError):
        channel.basic_publish("", q, b"z")
    assert count(connection, q) == 2
    assert count(connection, dlq) == 0, "reject-publish does not dead-letter"
    assert channel.basic_get(q, auto_ack=True)[2] == b"12345"
    channel.basic_publish("", q, b"z")
    assert [channel.basic_get(q, auto_ack=True)[2] for _ in range(2)] == [b"67890", b"z"]


def test_reject_publish_dlx_nacks_and_dead_letters(connection, channel, unique):
    q, dlq = unique("bytes.rdlx"), unique("bytes.rdlx.dlq")
    channel.queue_declare(dlq)
    args = dlx_args(dlq, **{"x-max-length-bytes": 8, "x-overflow": "reject-publish-dlx"})
    channel.queue_declare(q, arguments=args)
    channel.confirm_delivery()
    channel.basic_publish("", q, b"kept")
    channel.basic_publish("", q, b"kep2")
    with pytest.raises(pika.exceptions.NackError):
        channel.basic_publish("", q, b"refused")
    assert wait_until(lambda: count(connection, dlq) == 1, DEADLINE, connection)
    _, props, body = channel.basic_get(dlq, auto_ack=True)
    assert body == b"refused"
    assert props.headers["x-death"][0]["reason"] == "maxlen"
    assert props.headers["x-death"][0]["queue"] == q
    assert props.headers["x-first-death-reason"] == "maxlen"
    assert [channel.basic_get(q, auto_ack=True)[2] for _ in range(2)] == [b"kept", b"kep2"]


# --- priorities with prefetch ----------------------------------------------------------------


def test_priorities_with_prefetch_one(connection, channel, unique):
    q = unique("prio.prefetch")
    channel.queue_declare(q, arguments={"x-max-priority": 5})
    channel.confirm_delivery()
    # No priority counts as 0; above x-max-priority counts as the maximum.
    published = [
        (b"l1", 1), (b"h1", 5), (b"n1", None), (b"l2", 1), (b"h2", 5), (b"x1", 9),
        (b"m1", 3), (b"n2", 0),
    ]
    for body, prio in published:
        channel.basic_publish("", q, body, pika.BasicProperties(priority=prio))

    got = []
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=1)
    consumer.basic_consume(q, lambda c, m, p, body: got.append((m, body)))
    for i in range(len(published) + 1):
        assert wait_until(lambda: len(got) == i + 1, DEADLINE, connection)
        if i == 0:
            # Arrives while h1 is unacked: behind h2 and x1 (same priority, earlier), ahead
            # of everything lower.
            channel.basic_publish("", q, b"late", pika.BasicProperties(priority=5))
        connection.process_data_events(time_limit=0)
        assert len(got) == i + 1, "prefetch 1: one unacked delivery at a time"
        consumer.basic_ack(got[i][0].delivery_tag)
    assert [body for _, body in got] == [
        b"h1", b"h2", b"x1", b"late", b"m1", b"l1", b"l2", b"n1", b"n2"
    ]
    assert wait_until(lambda: count(connection, q) == 0, DEADLINE, connection)


# --- delayed messages ------------------------------------------------------------------------


@warren_only  # the test peer has no delayed-message plugin
def test_delayed_messages_arrive_in_delay_order_within_100ms(connection, channel, unique):
    x, q = unique("delayed.accuracy"), unique("delayed.accuracy.q")
    channel.exchange_declare(x, "x-delayed-message", arguments={"x-delayed-type": "direct"})
    channel.queue_declare(q)
    channel.queue_bind(q, x, routing_key="k")
    arrived = {}
    consumer = connection.channel()
    consumer.basic_consume(
        q, lambda c, m, p, body: arrived.setdefault(body, time.monotonic()), auto_ack=True
    )
    channel.confirm_delivery()
    sent = {}
    for delay in (600, 200, 400, 0):
        body = str(delay).encode()
        sent[body] = time.monotonic()
        channel.basic_publish(x, "k", body, pika.BasicProperties(headers={"x-delay": delay}))
    assert wait_until(lambda: len(arrived) == 4, DEADLINE, connection)
    assert sorted(arrived, key=arrived.get) == [b"0", b"200", b"400", b"600"]
    for body, at in arrived.items():
        late = at - sent[body] - int(body) / 1000
        assert 0 <= late <= 0.1, f"x-delay {body.decode()} ms: off by {late * 1000:.0f} ms"


# --- dead-letter cycles ----------------------------------------------------------------------


def test_dead_letter_cycle_by_expiry_is_dropped(connection, channel, unique):
    # RabbitMQ routes the dead letter, then drops it for every target queue already named in
    # its x-death with no rejection since: a queue dead-lettering to itself by expiry never
    # gets the message back, and neither does the first queue of a two-queue loop.
    fanout, loop, watch = unique("cycle.x"), unique("cycle.self"), unique("cycle.watch")
    channel.exchange_declare(fanout, "fanout")
    channel.queue_declare(loop, arguments={"x-message-ttl": 30, "x-dead-letter-exchange": fanout})
    channel.queue_declare(watch)
    channel.queue_bind(loop, fanout)
    channel.queue_bind(watch, fanout)

    back, first, watch_back = unique("cycle.b"), unique("cycle.a"), unique("cycle.watch.b")
    back_x = unique("cycle.bx")
    channel.exchange_declare(back_x, "fanout")
    channel.queue_declare(first, arguments=dlx_args(back, **{"x-message-ttl": 30}))
    channel.queue_declare(back, arguments={"x-message-ttl": 30, "x-dead-letter-exchange": back_x})
    channel.queue_declare(watch_back)
    channel.queue_bind(first, back_x)
    channel.queue_bind(watch_back, back_x)

    channel.confirm_delivery()
    channel.basic_publish("", loop, b"self")
    channel.basic_publish("", first, b"pair")
    assert wait_until(
        lambda: count(connection, watch) == 1 and count(connection, watch_back) == 1,
        DEADLINE,
        connection,
    )
    # Were a cycle not broken, each loop would produce another copy every 30 to 60 ms; time
    # must pass to show none comes.
    until = time.monotonic() + 0.5
    while time.monotonic() < until:
        counts = [count(connection, name) for name in (loop, watch, first, back, watch_back)]
        assert counts == [0, 1, 0, 0, 1]
        connection.process_data_events(time_limit=0.05)

    _, props, body = channel.basic_get(watch, auto_ack=True)
    assert body == b"self"
    assert death_counts(props) == {(loop, "expired"): 1}
    _, props, body = channel.basic_get(watch_back, auto_ack=True)
    assert body == b"pair"
    assert death_counts(props) == {(back, "expired"): 1, (first, "expired"): 1}
    assert [d["queue"] for d in props.headers["x-death"]] == [back, first]


# --- mandatory with an alternate exchange ----------------------------------------------------


def test_mandatory_returns_only_when_the_alternate_routes_nowhere(connection, channel, unique):
    lost_x, dead_end = unique("ae.main.lost"), unique("ae.deadend")
    caught_x, ae, q = unique("ae.main.caught"), unique("ae.routes"), unique("ae.q")
    channel.exchange_declare(dead_end, "direct")
    channel.exchange_declare(lost_x, "direct", arguments={"alternate-exchange": dead_end})
    channel.exchange_declare(ae, "fanout")
    channel.exchange_declare(caught_x, "direct", arguments={"alternate-exchange": ae})
    channel.queue_declare(q)
    channel.queue_bind(q, ae)
    channel.confirm_delivery()

    with pytest.raises(pika.exceptions.UnroutableError) as info:
        channel.basic_publish(lost_x, "nowhere", b"lost", mandatory=True)
    (returned,) = info.value.messages
    assert returned.method.reply_code == 312
    assert returned.method.reply_text == "NO_ROUTE"
    assert returned.method.exchange == lost_x
    assert returned.method.routing_key == "nowhere"
    assert returned.body == b"lost"

    # A return would reach pika before the publish's ack and fail this publish.
    channel.basic_publish(caught_x, "nowhere", b"caught", mandatory=True)
    assert channel.basic_get(q, auto_ack=True)[2] == b"caught"


# --- delivery limit without a dead-letter exchange -------------------------------------------


def test_delivery_limit_without_dlx_drops_the_message(connection, channel, unique):
    q = unique("limit.nodlx")
    # RabbitMQ's classic queues refuse x-delivery-limit (406 invalid arg); its quorum queues
    # implement it, so against RabbitMQ this test declares one. Warren has one queue type.
    args, durable = {"x-delivery-limit": 1}, False
    if PEER:
        args, durable = {"x-delivery-limit": 1, "x-queue-type": "quorum"}, True
    channel.queue_declare(q, durable=durable, arguments=args)
    channel.confirm_delivery()
    channel.basic_publish("", q, b"poison")
    got = []
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=1)
    consumer.basic_consume(q, lambda c, m, p, body: got.append((m, p, body)))
    try:
        assert wait_until(lambda: len(got) == 1, DEADLINE, connection)
        consumer.basic_nack(got[0][0].delivery_tag, requeue=True)
        assert wait_until(lambda: len(got) == 2, DEADLINE, connection)
        method, props, body = got[1]
        assert body == b"poison" and method.redelivered
        assert props.headers["x-delivery-count"] == 1
        consumer.basic_nack(method.delivery_tag, requeue=True)
        assert wait_until(lambda: count(connection, q) == 0, DEADLINE, connection)
        connection.process_data_events(time_limit=0)
        assert len(got) == 2, "returned more often than the limit: dropped, not redelivered"
    finally:
        if PEER:
            channel.queue_delete(q)


# --- retry through a TTL queue ---------------------------------------------------------------


def test_retry_through_a_ttl_queue_waits_and_counts_deaths(connection, channel, unique):
    work, retry = unique("retry.work"), unique("retry.wait")
    channel.queue_declare(work, arguments=dlx_args(retry))
    channel.queue_declare(retry, arguments=dlx_args(work, **{"x-message-ttl": 100}))
    got = []
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=1)
    consumer.basic_consume(work, lambda c, m, p, body: got.append((time.monotonic(), m, p)))
    channel.confirm_delivery()
    channel.basic_publish("", work, b"job")

    rejected_at = None
    for attempt in range(1, 5):
        assert wait_until(lambda: len(got) == attempt, DEADLINE, connection)
        arrived, method, props = got[-1]
        assert not method.redelivered, "a dead letter is a new message"
        if attempt == 1:
            assert props.headers is None or "x-death" not in props.headers
        else:
            assert arrived - rejected_at >= 0.1, "it waited the retry queue's TTL"
            assert death_counts(props) == {
                (work, "rejected"): attempt - 1, (retry, "expired"): attempt - 1
            }
            assert props.headers["x-death"][0]["queue"] == retry, "newest death first"
            assert props.headers["x-first-death-reason"] == "rejected"
            assert props.headers["x-first-death-queue"] == work
        if attempt < 4:
            rejected_at = time.monotonic()
            consumer.basic_reject(method.delivery_tag, requeue=False)
        else:
            consumer.basic_ack(method.delivery_tag)
    assert wait_until(
        lambda: count(connection, work) == 0 and count(connection, retry) == 0,
        DEADLINE,
        connection,
    )
    connection.process_data_events(time_limit=0)
    assert len(got) == 4
