"""Soft errors with pika: 404, 405, 406 and 403 close the channel, never the connection."""

import pika.exceptions
import pytest


def provoke_404(connection, ch, unique):
    ch.queue_declare(unique("missing"), passive=True)


def provoke_405(connection, ch, unique):
    q = unique("locked")
    owner = pika.BlockingConnection(connection._impl.params)
    try:
        owner.channel().queue_declare(q, exclusive=True)
        ch.queue_declare(q, passive=True)
    finally:
        owner.close()


def provoke_406(connection, ch, unique):
    q = unique("equiv")
    ch.queue_declare(q)
    ch.queue_declare(q, durable=True)


def provoke_403(connection, ch, unique):
    ch.exchange_declare("amq." + unique("x"), exchange_type="direct")


@pytest.mark.parametrize("code,provoke", [
    (404, provoke_404),
    (405, provoke_405),
    (406, provoke_406),
    (403, provoke_403),
])
def test_soft_error_closes_only_the_channel(connection, unique, code, provoke):
    bystander = connection.channel()
    q = bystander.queue_declare(unique("bystander"), exclusive=True).method.queue
    victim = connection.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        provoke(connection, victim, unique)
    assert info.value.reply_code == code
    assert victim.is_closed
    assert connection.is_open
    bystander.basic_publish("", q, b"still fine")
    assert bystander.basic_get(q, auto_ack=True)[2] == b"still fine"
    assert connection.channel().is_open


def test_ack_of_unknown_tag_is_406(connection, channel):
    channel.basic_ack(delivery_tag=12345)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        channel.basic_qos(prefetch_count=1)  # a round trip to collect the close
    assert info.value.reply_code == 406
    assert connection.is_open
