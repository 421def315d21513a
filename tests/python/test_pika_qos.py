"""Prefetch with pika: a consumer holds at most prefetch_count unacked messages."""

from conftest import wait_until


def ready(connection, q):
    ch = connection.channel()
    n = ch.queue_declare(q, passive=True).method.message_count
    ch.close()
    return n


def test_prefetch_limits_unacked_deliveries(connection, channel, unique):
    q = channel.queue_declare(unique("qos")).method.queue
    channel.confirm_delivery()
    for i in range(10):
        channel.basic_publish("", q, f"m{i}".encode())
    consumer_ch = connection.channel()
    consumer_ch.basic_qos(prefetch_count=3)
    got = []
    consumer_ch.basic_consume(q, lambda ch, m, p, b: got.append(m))
    assert wait_until(lambda: len(got) == 3, connection=connection)
    assert ready(connection, q) == 7, "only three in flight"
    consumer_ch.basic_ack(got[1].delivery_tag, multiple=True)
    assert wait_until(lambda: len(got) == 5, connection=connection)
    assert ready(connection, q) == 5
    consumer_ch.basic_ack(got[-1].delivery_tag, multiple=True)
    assert wait_until(lambda: len(got) == 8, connection=connection)
    assert [m.delivery_tag for m in got] == list(range(1, 9))


def test_two_consumers_alternate(connection, channel, unique):
    q = channel.queue_declare(unique("rr")).method.queue
    a, b = [], []
    ca, cb = connection.channel(), connection.channel()
    ca.basic_consume(q, lambda ch, m, p, body: a.append(body), auto_ack=True)
    cb.basic_consume(q, lambda ch, m, p, body: b.append(body), auto_ack=True)
    channel.confirm_delivery()
    for i in range(6):
        channel.basic_publish("", q, f"m{i}".encode())
    assert wait_until(lambda: len(a) + len(b) == 6, connection=connection)
    evens = [f"m{i}".encode() for i in (0, 2, 4)]
    odds = [f"m{i}".encode() for i in (1, 3, 5)]
    assert sorted([a, b]) == sorted([evens, odds])
