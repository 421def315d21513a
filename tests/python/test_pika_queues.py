"""Queues with pika: server-named and exclusive queues, auto-delete, the empty-name shortcut,
bindings with arguments and unbind, purge, conditional delete and the equivalence of
redeclares, with the errors as RabbitMQ gives them."""

import pika
import pika.exceptions
import pytest

from conftest import wait_until


def queue(ch):
    return ch.queue_declare("", exclusive=True).method.queue


def drain(ch, q):
    bodies = []
    while True:
        method, _, body = ch.basic_get(q, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(body.decode())


def declared(connection, q):
    """(message_count, consumer_count) from a passive declare, or None once the queue is gone."""
    ch = connection.channel()
    try:
        ok = ch.queue_declare(q, passive=True).method
    except pika.exceptions.ChannelClosedByBroker as err:
        assert err.reply_code == 404, err
        return None
    ch.close()
    return ok.message_count, ok.consumer_count


def refused(connection, code, action):
    """Runs action(channel) on a fresh channel: the broker closes that channel with `code`."""
    ch = connection.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        action(ch)
    assert info.value.reply_code == code, info.value
    assert ch.is_closed
    assert connection.is_open


def assert_usable(connection):
    ch = connection.channel()
    q = queue(ch)
    ch.basic_publish("", q, b"still fine")
    assert ch.basic_get(q, auto_ack=True)[2] == b"still fine"


def fill(connection, q, n):
    ch = connection.channel()
    ch.confirm_delivery()
    for i in range(n):
        ch.basic_publish("", q, f"m{i}".encode())
    ch.close()


def test_server_named_queues_get_distinct_amq_gen_names(connect, channel):
    names = [queue(channel) for _ in range(3)]
    shared = channel.queue_declare("", auto_delete=True).method.queue
    names.append(shared)
    assert all(n.startswith("amq.gen-") and len(n) > len("amq.gen-") for n in names), names
    assert len(set(names)) == 4, names
    other = connect()
    assert declared(other, shared) == (0, 0), "a non-exclusive server-named queue is shared"
    refused(other, 405, lambda ch: ch.queue_declare(names[0], passive=True))
    channel.queue_delete(shared)


def test_empty_queue_name_means_the_last_queue_declared_on_the_channel(connection, unique):
    ch = connection.channel()
    ch.confirm_delivery()
    q = queue(ch)
    key = unique("key")
    ch.queue_bind("", "amq.direct", routing_key=key)
    ch.basic_publish("amq.direct", key, b"via empty name")
    assert drain(ch, q) == ["via empty name"]
    ch.basic_publish("", q, b"purged")
    assert ch.queue_purge("").method.message_count == 1
    refused(connection, 404, lambda fresh: fresh.queue_purge(""))


def test_empty_key_is_the_queue_name_only_when_the_queue_name_is_empty(channel, unique):
    """RabbitMQ's shortcut: queue.bind with an empty queue *and* key binds the last declared
    queue with its name as the key; naming the queue keeps the empty key."""
    x = unique("direct")
    channel.exchange_declare(x, exchange_type="direct", auto_delete=True)
    channel.confirm_delivery()
    named = queue(channel)
    channel.queue_bind(named, x, routing_key="")
    shortcut = queue(channel)
    channel.queue_bind("", x, routing_key="")
    channel.basic_publish(x, "", b"empty key")
    channel.basic_publish(x, named, b"named's name")
    channel.basic_publish(x, shortcut, b"shortcut's name")
    assert drain(channel, named) == ["empty key"]
    assert drain(channel, shortcut) == ["shortcut's name"]


def test_auto_delete_queue_goes_when_its_last_consumer_cancels(connection, channel, unique):
    q = unique("autodelete")
    channel.queue_declare(q, auto_delete=True)
    assert declared(connection, q) == (0, 0), "never consumed: it stays"
    a = channel.basic_consume(q, lambda *_: None)
    b = channel.basic_consume(q, lambda *_: None)
    assert declared(connection, q) == (0, 2)
    channel.basic_cancel(a)
    assert declared(connection, q) == (0, 1), "one consumer left"
    channel.basic_cancel(b)
    assert wait_until(lambda: declared(connection, q) is None), "survived its last consumer"


def test_auto_delete_queue_goes_when_its_consumers_channel_closes(connection, unique):
    q = unique("autodelete.close")
    ch = connection.channel()
    ch.queue_declare(q, auto_delete=True)
    ch.basic_consume(q, lambda *_: None)
    ch.close()
    assert wait_until(lambda: declared(connection, q) is None)


def test_exclusive_queue_is_locked_to_its_connection_and_goes_with_it(connect, unique):
    owner, other = connect(), connect()
    q = unique("exclusive")
    mine = owner.channel()
    mine.queue_declare(q, exclusive=True)
    for action in [
        lambda ch: ch.queue_declare(q, passive=True),
        lambda ch: ch.queue_declare(q, exclusive=True),
        lambda ch: ch.queue_declare(q),
        lambda ch: ch.basic_consume(q, lambda *_: None),
        lambda ch: ch.basic_get(q),
        lambda ch: ch.queue_purge(q),
        lambda ch: ch.queue_delete(q),
    ]:
        refused(other, 405, action)
    # Publishing into someone else's exclusive queue is allowed.
    fill(other, q, 1)
    assert drain(mine, q) == ["m0"]
    assert_usable(other)

    owner.close()
    assert wait_until(lambda: declared(other, q) is None), "outlived its connection"


def test_redeclaring_a_shared_queue_as_exclusive_is_405(connection, channel, unique):
    q = unique("shared")
    channel.queue_declare(q, auto_delete=True)
    refused(connection, 405, lambda ch: ch.queue_declare(q, auto_delete=True, exclusive=True))
    channel.queue_delete(q)


def test_bindings_with_arguments_are_matched_by_arguments_on_unbind(channel, unique):
    x = unique("headers")
    channel.exchange_declare(x, exchange_type="headers", auto_delete=True)
    channel.confirm_delivery()
    q = queue(channel)
    red = {"x-match": "all", "colour": "red"}
    big = {"x-match": "all", "size": "big"}
    channel.queue_bind(q, x, arguments=red)
    channel.queue_bind(q, x, arguments=big)

    def publish(body, **headers):
        channel.basic_publish(x, "", body.encode(), pika.BasicProperties(headers=headers))

    publish("red", colour="red")
    publish("big", size="big")
    publish("blue", colour="blue")
    assert drain(channel, q) == ["red", "big"]

    channel.queue_unbind(q, x, arguments={"x-match": "all", "colour": "blue"})  # no such binding
    publish("red 2", colour="red")
    assert drain(channel, q) == ["red 2"]

    channel.queue_unbind(q, x, arguments=red)
    publish("red 3", colour="red")
    publish("big 2", size="big")
    assert drain(channel, q) == ["big 2"], "only the binding with these arguments went"


def test_unbind_stops_routing_for_that_key_only(channel, unique):
    channel.confirm_delivery()
    q = queue(channel)
    one, two = unique("k1"), unique("k2")
    channel.queue_bind(q, "amq.direct", routing_key=one)
    channel.queue_bind(q, "amq.direct", routing_key=two)
    channel.basic_publish("amq.direct", one, b"one")
    channel.basic_publish("amq.direct", two, b"two")
    assert drain(channel, q) == ["one", "two"]
    channel.queue_unbind(q, "amq.direct", routing_key=one)
    channel.queue_unbind(q, "amq.direct", routing_key=unique("never-bound"))  # not an error
    channel.basic_publish("amq.direct", one, b"one again")
    channel.basic_publish("amq.direct", two, b"two again")
    assert drain(channel, q) == ["two again"]


def test_purge_removes_ready_messages_and_leaves_unacked_ones(connection, channel, unique):
    q = channel.queue_declare(unique("purge")).method.queue
    fill(connection, q, 5)
    held, _, body = channel.basic_get(q)
    assert body == b"m0"
    assert channel.queue_purge(q).method.message_count == 4
    assert declared(connection, q) == (0, 0)
    channel.basic_reject(held.delivery_tag, requeue=True)
    assert wait_until(lambda: declared(connection, q) == (1, 0)), "the unacked one survived"
    method, _, body = channel.basic_get(q, auto_ack=True)
    assert (body, method.redelivered) == (b"m0", True)
    assert channel.queue_purge(q).method.message_count == 0
    refused(connection, 404, lambda ch: ch.queue_purge(unique("missing")))
    channel.queue_delete(q)


def test_delete_if_unused_refuses_while_consumed(connection, channel, unique):
    q = channel.queue_declare(unique("ifunused")).method.queue
    got = []
    consumer = connection.channel()
    tag = consumer.basic_consume(q, lambda c, m, p, body: got.append(body), auto_ack=True)
    refused(connection, 406, lambda ch: ch.queue_delete(q, if_unused=True))
    assert declared(connection, q) == (0, 1), "queue and consumer kept"
    fill(connection, q, 1)
    assert wait_until(lambda: got == [b"m0"], connection=connection), "the consumer still works"
    consumer.basic_cancel(tag)
    channel.queue_delete(q, if_unused=True)
    assert declared(connection, q) is None


def test_delete_if_empty_refuses_with_ready_messages(connection, channel, unique):
    q = channel.queue_declare(unique("ifempty")).method.queue
    fill(connection, q, 2)
    refused(connection, 406, lambda ch: ch.queue_delete(q, if_empty=True))
    assert declared(connection, q) == (2, 0), "queue and messages kept"
    assert drain(channel, q) == ["m0", "m1"]
    channel.queue_delete(q, if_empty=True)
    assert declared(connection, q) is None


def test_if_empty_counts_only_ready_messages(connection, channel, unique):
    q = channel.queue_declare(unique("ifempty.unacked")).method.queue
    fill(connection, q, 1)
    assert channel.basic_get(q)[2] == b"m0"  # held unacked
    ok = connection.channel().queue_delete(q, if_empty=True).method
    assert ok.message_count == 0
    assert declared(connection, q) is None


def test_delete_reports_the_ready_message_count(connection, channel, unique):
    q = channel.queue_declare(unique("delcount")).method.queue
    fill(connection, q, 3)
    assert channel.basic_get(q)[2] == b"m0"  # held unacked: not counted
    assert connection.channel().queue_delete(q).method.message_count == 2
    assert declared(connection, q) is None
    assert channel.queue_delete(q).method.message_count == 0, "deleting a missing queue is fine"


def test_redeclare_with_other_arguments_or_flags_is_406(connection, channel, unique):
    q = unique("equiv")
    args = {"x-max-length": 10}
    channel.queue_declare(q, arguments=args)
    channel.queue_declare(q, arguments=args)  # equivalent: fine
    for options in [
        dict(arguments={"x-max-length": 20}),
        dict(arguments={}),
        dict(arguments={"x-max-length": 10, "x-message-ttl": 1000}),
        dict(arguments=args, durable=True),
        dict(arguments=args, auto_delete=True),
    ]:
        refused(connection, 406, lambda ch: ch.queue_declare(q, **options))
    # A passive declare checks only that the queue exists.
    assert connection.channel().queue_declare(q, passive=True, durable=True).method.queue == q
    assert_usable(connection)
    channel.queue_delete(q)


def test_declaring_an_amq_prefixed_queue_is_403(connection, unique):
    name = "amq." + unique("reserved")
    refused(connection, 403, lambda ch: ch.queue_declare(name))
    assert declared(connection, name) is None
