"""Consumers with pika: round-robin order, prefetch per consumer and per channel (basic.qos
global), exclusive consumers, basic.recover, basic.cancel from either side, basic.get and
acknowledging several deliveries at once."""

import pika.exceptions
import pytest

from conftest import wait_until


def queue_with(connection, unique, what, n):
    """A queue of the connection holding m0..m{n-1}, published with confirms."""
    ch = connection.channel()
    q = ch.queue_declare(unique(what), exclusive=True).method.queue
    ch.confirm_delivery()
    for i in range(n):
        ch.basic_publish("", q, f"m{i}".encode())
    ch.close()
    return q


def ready(connection, *queues):
    ch = connection.channel()
    n = sum(ch.queue_declare(q, passive=True).method.message_count for q in queues)
    ch.close()
    return n


def consume(ch, q, **kwargs):
    """Starts a consumer; returns its tag and the list its (method, body) pairs arrive in."""
    got = []
    tag = ch.basic_consume(q, lambda c, m, p, body: got.append((m, body.decode())), **kwargs)
    return tag, got


def bodies(got):
    return [body for _, body in got]


def test_consumers_of_a_queue_take_turns_in_the_order_they_started(connection, channel, unique):
    q = queue_with(connection, unique, "rr", 0)
    consumers = [consume(channel, q, auto_ack=True)[1] for _ in range(3)]
    fill = connection.channel()
    fill.confirm_delivery()
    for i in range(9):
        fill.basic_publish("", q, f"m{i}".encode())
    assert wait_until(lambda: sum(map(len, consumers)) == 9, connection=connection)
    assert [bodies(got) for got in consumers] == [
        ["m0", "m3", "m6"],
        ["m1", "m4", "m7"],
        ["m2", "m5", "m8"],
    ]


def test_per_consumer_prefetch_limits_each_consumer(connection, channel, unique):
    q1, q2 = queue_with(connection, unique, "pf1", 5), queue_with(connection, unique, "pf2", 5)
    channel.basic_qos(prefetch_count=2)  # global=False: each new consumer may hold two
    _, a = consume(channel, q1)
    _, b = consume(channel, q2)
    assert wait_until(lambda: len(a) == 2 and len(b) == 2, connection=connection), (a, b)
    assert (ready(connection, q1), ready(connection, q2)) == (3, 3)
    channel.basic_ack(a[0][0].delivery_tag)
    assert wait_until(lambda: len(a) == 3, connection=connection)
    assert (ready(connection, q1), ready(connection, q2)) == (2, 3), "only a's credit came back"
    assert bodies(a) == ["m0", "m1", "m2"]


def test_global_prefetch_limits_the_whole_channel(connection, channel, unique):
    q1, q2 = queue_with(connection, unique, "gpf1", 5), queue_with(connection, unique, "gpf2", 5)
    channel.basic_qos(prefetch_count=3, global_qos=True)
    _, a = consume(channel, q1)
    _, b = consume(channel, q2)
    assert wait_until(lambda: len(a) + len(b) == 3, connection=connection)
    assert ready(connection, q1, q2) == 7, "three in flight on the whole channel"
    last = max(m.delivery_tag for m, _ in a + b)
    channel.basic_ack(last, multiple=True)
    assert wait_until(lambda: len(a) + len(b) == 6, connection=connection)
    assert ready(connection, q1, q2) == 4


def test_per_consumer_and_global_prefetch_apply_together(connection, channel, unique):
    q1, q2 = queue_with(connection, unique, "both1", 5), queue_with(connection, unique, "both2", 5)
    channel.basic_qos(prefetch_count=2)
    channel.basic_qos(prefetch_count=3, global_qos=True)
    _, a = consume(channel, q1)
    assert wait_until(lambda: len(a) == 2, connection=connection)
    _, b = consume(channel, q2)
    assert wait_until(lambda: len(b) == 1, connection=connection)
    assert (ready(connection, q1), ready(connection, q2)) == (3, 4), "2 each, 3 in all"


def test_qos_applies_to_consumers_started_after_it(connection, channel, unique):
    q = queue_with(connection, unique, "qos.later", 10)
    channel.basic_qos(prefetch_count=1)
    _, a = consume(channel, q)
    channel.basic_qos(prefetch_count=3)
    _, b = consume(channel, q)
    assert wait_until(lambda: len(a) + len(b) == 4, connection=connection)
    assert ready(connection, q) == 6
    assert (len(a), len(b)) == (1, 3), "the first consumer kept its prefetch of one"


def test_exclusive_consumer_locks_out_others(connection, channel, unique):
    q = queue_with(connection, unique, "excl", 0)
    owner = channel.basic_consume(q, lambda *_: None, exclusive=True)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        connection.channel().basic_consume(q, lambda *_: None)
    assert info.value.reply_code == 403
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        connection.channel().basic_consume(q, lambda *_: None, exclusive=True)
    assert info.value.reply_code == 403
    channel.basic_cancel(owner)
    plain = connection.channel()
    plain.basic_consume(q, lambda *_: None)  # the lock went with the exclusive consumer
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        connection.channel().basic_consume(q, lambda *_: None, exclusive=True)
    assert info.value.reply_code == 403, "not exclusive while another consumer is there"
    assert connection.is_open and channel.is_open and plain.is_open


def test_basic_recover_requeue_redelivers_unacked_messages_flagged(connection, channel, unique):
    q = queue_with(connection, unique, "recover", 2)
    _, got = consume(channel, q)
    assert wait_until(lambda: len(got) == 2, connection=connection)
    assert [(body, m.redelivered) for m, body in got] == [("m0", False), ("m1", False)]
    channel.basic_recover(requeue=True)
    assert wait_until(lambda: len(got) == 4, connection=connection)
    assert [(body, m.redelivered) for m, body in got[2:]] == [("m0", True), ("m1", True)]
    channel.basic_ack(got[-1][0].delivery_tag, multiple=True)
    channel.close()
    assert ready(connection, q) == 0, "the redeliveries were acked"


def test_basic_cancel_stops_deliveries(connection, channel, unique):
    q = queue_with(connection, unique, "cancel", 1)
    tag, got = consume(channel, q, auto_ack=True)
    assert wait_until(lambda: len(got) == 1, connection=connection)
    channel.basic_cancel(tag)
    assert channel.consumer_tags == []
    ch = connection.channel()
    ch.confirm_delivery()
    ch.basic_publish("", q, b"after")
    assert ready(connection, q) == 1, "published after cancel-ok stays queued"
    assert bodies(got) == ["m0"]


def test_deleting_the_queue_cancels_its_consumers_from_the_server(connection, unique):
    q = queue_with(connection, unique, "server.cancel", 0)
    cancelled = {}
    channels = [connection.channel(), connection.channel()]
    tags = []
    for ch in channels:
        ch.add_on_cancel_callback(lambda frame, ch=ch: cancelled.setdefault(ch, frame.method))
        tags.append(ch.basic_consume(q, lambda *_: None))
    connection.channel().queue_delete(q)
    assert wait_until(lambda: len(cancelled) == 2, connection=connection), cancelled
    for ch, tag in zip(channels, tags):
        assert cancelled[ch].consumer_tag == tag
        assert ch.consumer_tags == []
        assert ch.is_open, "a server-sent basic.cancel leaves the channel open"
        ch.basic_qos(prefetch_count=1)  # and it still answers


def test_basic_get_of_a_missing_queue_is_404(connection, channel, unique):
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        channel.basic_get(unique("missing"))
    assert info.value.reply_code == 404
    assert connection.is_open


def test_basic_get_unacked_is_requeued_flagged_when_its_channel_closes(connection, unique):
    q = queue_with(connection, unique, "get.requeue", 3)
    ch = connection.channel()
    first, _, body = ch.basic_get(q)
    assert (body, first.message_count, first.redelivered) == (b"m0", 2, False)
    ch.close()
    again = connection.channel()
    method, _, body = again.basic_get(q, auto_ack=True)
    assert (body, method.message_count, method.redelivered) == (b"m0", 2, True)


def test_ack_multiple_acknowledges_everything_up_to_the_tag(connection, channel, unique):
    q = queue_with(connection, unique, "ackmulti", 5)
    _, got = consume(channel, q)
    assert wait_until(lambda: len(got) == 5, connection=connection)
    channel.basic_ack(got[2][0].delivery_tag, multiple=True)
    channel.close()
    assert wait_until(lambda: ready(connection, q) == 2), "the two unacked came back"
    assert [connection.channel().basic_get(q, auto_ack=True)[2] for _ in range(2)] == [
        b"m3", b"m4"]


def test_ack_of_tag_zero_with_multiple_acks_everything(connection, channel, unique):
    q = queue_with(connection, unique, "ackzero", 3)
    _, got = consume(channel, q)
    assert wait_until(lambda: len(got) == 3, connection=connection)
    channel.basic_ack(0, multiple=True)
    channel.close()
    assert ready(connection, q) == 0, "nothing was left unacked to requeue"


def test_nack_multiple_without_requeue_drops_up_to_the_tag(connection, channel, unique):
    q = queue_with(connection, unique, "nackmulti", 5)
    _, got = consume(channel, q)
    assert wait_until(lambda: len(got) == 5, connection=connection)
    channel.basic_nack(got[2][0].delivery_tag, multiple=True, requeue=False)
    channel.close()
    assert wait_until(lambda: ready(connection, q) == 2)
    ch = connection.channel()
    assert [ch.basic_get(q, auto_ack=True)[2] for _ in range(2)] == [b"m3", b"m4"]
