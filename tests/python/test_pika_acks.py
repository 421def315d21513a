"""Negative acknowledgements with pika: nack, reject, requeue order, redelivered flag."""

from conftest import wait_until


def fill(channel, q, n):
    channel.confirm_delivery()
    for i in range(n):
        channel.basic_publish("", q, f"m{i}".encode())


def consume_n(connection, channel, q, n):
    got = []
    tag = channel.basic_consume(q, lambda ch, m, p, b: got.append((m, b)))
    assert wait_until(lambda: len(got) >= n, connection=connection), got
    return tag, got


def test_nack_multiple_requeues_in_original_order(connection, channel, unique):
    q = channel.queue_declare(unique("nack")).method.queue
    fill(channel, q, 4)
    channel.basic_qos(prefetch_count=4)
    tag, got = consume_n(connection, channel, q, 4)
    assert [b for _, b in got] == [b"m0", b"m1", b"m2", b"m3"]
    assert not any(m.redelivered for m, _ in got)
    channel.basic_nack(got[-1][0].delivery_tag, multiple=True, requeue=True)
    assert wait_until(lambda: len(got) >= 8, connection=connection)
    again = got[4:]
    assert [b for _, b in again] == [b"m0", b"m1", b"m2", b"m3"]
    assert all(m.redelivered for m, _ in again)
    channel.basic_ack(again[-1][0].delivery_tag, multiple=True)
    channel.basic_cancel(tag)
    channel.queue_delete(q)


def test_reject_requeue_returns_to_position_and_reject_drop_discards(channel, unique):
    q = channel.queue_declare(unique("reject")).method.queue
    fill(channel, q, 4)
    gets = [channel.basic_get(q) for _ in range(3)]
    m0, m1, m2 = (g[0] for g in gets)
    channel.basic_reject(m1.delivery_tag, requeue=True)
    channel.basic_reject(m0.delivery_tag, requeue=False)
    channel.basic_reject(m2.delivery_tag, requeue=True)
    rest = []
    while True:
        method, _, body = channel.basic_get(q, auto_ack=True)
        if method is None:
            break
        rest.append((body, method.redelivered))
    assert rest == [(b"m1", True), (b"m2", True), (b"m3", False)]
    channel.queue_delete(q)


def test_nack_without_requeue_drops(connection, channel, unique):
    q = channel.queue_declare(unique("nackdrop")).method.queue
    fill(channel, q, 2)
    method, _, _ = channel.basic_get(q)
    channel.basic_nack(method.delivery_tag, requeue=False)
    assert channel.queue_declare(q, passive=True).method.message_count == 1
    assert channel.basic_get(q, auto_ack=True)[2] == b"m1"
    channel.queue_delete(q)
