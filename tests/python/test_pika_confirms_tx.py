"""Publisher confirms, mandatory returns and transactions with pika."""

import pika
import pika.exceptions
import pytest

from conftest import count


def test_confirmed_publishes_are_all_acked(connection, channel, unique):
    q = channel.queue_declare(unique("confirm")).method.queue
    channel.confirm_delivery()
    for i in range(100):
        channel.basic_publish("", q, f"m{i}".encode())  # raises NackError on nack
    assert count(connection, q) == 100
    channel.queue_delete(q)


def test_mandatory_unroutable_publish_is_returned(channel, unique):
    channel.confirm_delivery()
    with pytest.raises(pika.exceptions.UnroutableError) as info:
        channel.basic_publish("", unique("nowhere"), b"bounce", mandatory=True)
    returned = info.value.messages
    assert len(returned) == 1
    assert returned[0].method.reply_code == 312
    assert returned[0].body == b"bounce"
    # Not mandatory: silently dropped, still acked.
    channel.basic_publish("", unique("nowhere"), b"dropped")


def test_transaction_commit_and_rollback(connection, channel, unique):
    q = channel.queue_declare(unique("tx")).method.queue
    channel.tx_select()
    channel.basic_publish("", q, b"one")
    channel.basic_publish("", q, b"two")
    assert count(connection, q) == 0, "uncommitted publishes are invisible"
    channel.tx_commit()
    assert count(connection, q) == 2
    channel.basic_publish("", q, b"three")
    channel.tx_rollback()
    channel.tx_commit()
    assert count(connection, q) == 2, "rolled-back publish dropped"

    method, _, body = channel.basic_get(q)
    assert body == b"one"
    channel.basic_ack(method.delivery_tag)
    channel.tx_rollback()
    channel.close()
    # The rolled-back ack left "one" unacked; closing the channel requeued it.
    probe = connection.channel()
    bodies = [probe.basic_get(q, auto_ack=True)[2] for _ in range(2)]
    assert bodies == [b"one", b"two"]
    probe.queue_delete(q)


def test_tx_commit_without_select_is_406(connection, channel):
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        channel.tx_commit()
    assert info.value.reply_code == 406
    assert connection.is_open
