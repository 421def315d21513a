"""Error scope with pika, as RabbitMQ gives it: unknown delivery tags (406) close only their
channel and requeue what it held, while 530 NOT_ALLOWED and 540 NOT_IMPLEMENTED are connection
errors that leave other connections alone."""

import pika
import pika.exceptions
import pytest

from conftest import wait_until


class Bystander:
    """A channel consuming its own queue, to prove it outlives a sibling's error."""

    def __init__(self, connection):
        self.connection = connection
        self.channel = connection.channel()
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.got = []
        self.channel.basic_consume(
            self.queue, lambda c, m, p, body: self.got.append(body), auto_ack=True
        )

    def assert_alive(self):
        body = f"alive {len(self.got)}".encode()
        self.channel.basic_publish("", self.queue, body)
        assert wait_until(lambda: body in self.got, connection=self.connection), self.got
        assert self.connection.channel().is_open, "the connection still opens channels"


def victim_with_deliveries(connection, n, auto_ack=False):
    """A channel consuming n messages of its own queue; returns it, the queue and deliveries."""
    ch = connection.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    for i in range(n):
        ch.basic_publish("", q, f"m{i}".encode())
    got = []
    ch.basic_consume(q, lambda c, m, p, body: got.append(m), auto_ack=auto_ack)
    assert wait_until(lambda: len(got) == n, connection=connection)
    return ch, q, got


def round_trip(ch):
    """Acks, nacks and rejects have no reply: a synchronous method collects the close."""
    ch.basic_qos(prefetch_count=0)


def ready(connection, q):
    ch = connection.channel()
    n = ch.queue_declare(q, passive=True).method.message_count
    ch.close()
    return n


@pytest.mark.parametrize("fault", [
    "nack_unknown",
    "reject_unknown",
    "ack_twice",
    "ack_multiple_beyond_the_last_tag",
    "reject_after_auto_ack",
    "ack_on_another_channel",
])
def test_unknown_delivery_tag_is_406_and_closes_only_the_channel(connection, fault):
    bystander = Bystander(connection)
    auto_ack = fault == "reject_after_auto_ack"
    victim, _, got = victim_with_deliveries(connection, 1, auto_ack=auto_ack)
    tag = got[0].delivery_tag
    if fault == "nack_unknown":
        victim.basic_nack(tag + 10)
    elif fault == "reject_unknown":
        victim.basic_reject(tag + 10, requeue=False)
    elif fault == "ack_twice":
        victim.basic_ack(tag)
        victim.basic_ack(tag)
    elif fault == "ack_multiple_beyond_the_last_tag":
        victim.basic_ack(tag + 10, multiple=True)
    elif fault == "reject_after_auto_ack":
        victim.basic_reject(tag)
    elif fault == "ack_on_another_channel":
        other = connection.channel()
        other.basic_ack(tag)  # delivery tags are per channel: unknown on this one
        victim = other
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        round_trip(victim)
    assert info.value.reply_code == 406, info.value
    assert victim.is_closed
    assert connection.is_open
    bystander.assert_alive()


def test_a_channel_closed_by_an_error_requeues_what_it_held(connection):
    victim, q, got = victim_with_deliveries(connection, 3)
    victim.basic_ack(got[0].delivery_tag)
    victim.basic_ack(got[0].delivery_tag)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        round_trip(victim)
    assert info.value.reply_code == 406
    assert wait_until(lambda: ready(connection, q) == 2), "m1 and m2 went back to the queue"
    ch = connection.channel()
    again = [ch.basic_get(q, auto_ack=True) for _ in range(2)]
    assert [(body, m.redelivered) for m, _, body in again] == [(b"m1", True), (b"m2", True)]


def test_consuming_a_missing_queue_is_404_on_that_channel_only(connection, unique):
    bystander = Bystander(connection)
    ch = connection.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.basic_consume(unique("missing"), lambda *_: None)
    assert info.value.reply_code == 404
    assert ch.is_closed and connection.is_open
    bystander.assert_alive()


def closed_by_broker(victim):
    """Pumps the victim's I/O until the broker closes it; returns the close's reply code."""
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
        wait_until(lambda: not victim.is_open, connection=victim)
    return info.value.reply_code


def test_duplicate_consumer_tag_is_530_and_closes_the_connection(connect):
    victim, bystander = connect(), Bystander(connect())
    ch = victim.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_consume(q, lambda *_: None, consumer_tag="same")
    # pika refuses a duplicate tag itself (DuplicateConsumerTag): send the method as is.
    ch._impl._send_method(pika.spec.Basic.Consume(queue=q, consumer_tag="same"))
    assert closed_by_broker(victim) == 530, "NOT_ALLOWED is a connection error"
    assert victim.is_closed
    bystander.assert_alive()


def test_qos_with_a_prefetch_size_is_540_and_closes_the_connection(connect):
    victim, bystander = connect(), Bystander(connect())
    ch = victim.channel()
    ch.basic_qos(prefetch_size=0, prefetch_count=10)  # a size of 0 is fine
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
        ch.basic_qos(prefetch_size=4096, prefetch_count=10)
    assert info.value.reply_code == 540, "NOT_IMPLEMENTED is a connection error"
    assert victim.is_closed
    bystander.assert_alive()


def test_recover_without_requeue_is_540_and_closes_the_connection(connect):
    victim, bystander = connect(), Bystander(connect())
    ch = victim.channel()
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
        ch.basic_recover(requeue=False)
    assert info.value.reply_code == 540
    assert victim.is_closed
    bystander.assert_alive()


def test_a_connection_error_requeues_the_connections_unacked_messages(connect, unique):
    victim, watcher = connect(), connect()
    q = unique("conn.error")
    watch = watcher.channel()
    watch.queue_declare(q, auto_delete=False)
    watch.confirm_delivery()
    for i in range(2):
        watch.basic_publish("", q, f"m{i}".encode())
    ch = victim.channel()
    got = []
    ch.basic_consume(q, lambda c, m, p, body: got.append(body))
    assert wait_until(lambda: len(got) == 2, connection=victim)
    assert ready(watcher, q) == 0
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker):
        ch.basic_recover(requeue=False)
    assert wait_until(lambda: ready(watcher, q) == 2), "the unacked messages went back"
    again = [watch.basic_get(q, auto_ack=True) for _ in range(2)]
    assert [(body, m.redelivered) for m, _, body in again] == [(b"m0", True), (b"m1", True)]
    watch.queue_delete(q)
