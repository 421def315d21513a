"""Declare, bind, publish, consume and ack with pika; basic.get; properties survive."""

import pika

from conftest import wait_until


def test_declare_bind_publish_consume_ack(connection, channel, unique):
    x, q = unique("x"), unique("q")
    channel.exchange_declare(x, exchange_type="direct")
    channel.queue_declare(q)
    channel.queue_bind(q, x, routing_key="rk")
    channel.confirm_delivery()
    for i in range(3):
        channel.basic_publish(x, "rk", f"m{i}".encode())
    channel.basic_publish(x, "other", b"unrouted")

    got = []

    def on_message(ch, method, properties, body):
        got.append(body)
        ch.basic_ack(method.delivery_tag)

    tag = channel.basic_consume(q, on_message)
    assert wait_until(lambda: len(got) == 3, connection=connection)
    assert got == [b"m0", b"m1", b"m2"]
    channel.basic_cancel(tag)
    declared = channel.queue_declare(q, passive=True).method
    assert (declared.message_count, declared.consumer_count) == (0, 0)
    channel.queue_delete(q)
    channel.exchange_delete(x)


def test_basic_get_and_get_empty(channel, unique):
    q = channel.queue_declare(unique("get")).method.queue
    channel.confirm_delivery()
    channel.basic_publish("", q, b"a")
    channel.basic_publish("", q, b"b")
    method, _, body = channel.basic_get(q)
    assert (body, method.message_count, method.redelivered) == (b"a", 1, False)
    channel.basic_ack(method.delivery_tag)
    method, _, body = channel.basic_get(q, auto_ack=True)
    assert (body, method.message_count) == (b"b", 0)
    assert channel.basic_get(q) == (None, None, None)
    channel.queue_delete(q)


def test_basic_properties_survive_the_round_trip(channel, unique):
    q = channel.queue_declare(unique("props")).method.queue
    channel.confirm_delivery()
    sent = pika.BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        headers={"str": "v", "int": 42, "bool": True, "nested": {"k": [1, "two"]}},
        delivery_mode=2,
        priority=7,
        correlation_id="corr-1",
        reply_to="reply.queue",
        expiration="60000",
        message_id="msg-1",
        timestamp=1700000000,
        type="kind",
        user_id="guest",
        app_id="warren-it",
    )
    channel.basic_publish("", q, b"{}", properties=sent)
    _, got, body = channel.basic_get(q, auto_ack=True)
    assert body == b"{}"
    for field in ("content_type", "content_encoding", "headers", "delivery_mode", "priority",
                  "correlation_id", "reply_to", "expiration", "message_id", "timestamp",
                  "type", "user_id", "app_id"):
        assert getattr(got, field) == getattr(sent, field), field
    channel.queue_delete(q)


def test_server_named_queue(channel):
    q = channel.queue_declare("", exclusive=True).method.queue
    assert q.startswith("amq.gen-")
    channel.basic_publish("", q, b"x")
    assert channel.basic_get(q, auto_ack=True)[2] == b"x"
