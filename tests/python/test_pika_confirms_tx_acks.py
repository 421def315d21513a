"""Publisher confirms as they travel (the `multiple` flag, which pika's BlockingChannel hides, read
through the raw client of amqp_raw.py) and acknowledgements inside transactions with pika: an
ack, nack or reject takes effect at tx.commit, and a rollback discards it, leaving the message
unacked on the channel.

Every test also runs against RabbitMQ (WARREN_IT_AMQP_URL)."""

import pika
import pika.spec
import pytest

import amqp_raw
from amqp_raw import Raw
from conftest import count, wait_until

DEADLINE = 15.0
BATCH = 200


class Confirms:
    """Settles delivery tags as basic.ack / basic.nack arrive, `multiple` included."""

    def __init__(self, published):
        self.outstanding = set(range(1, published + 1))
        self.outcome = {}
        self.frames = []

    def take(self, method):
        kind = "ack" if isinstance(method, pika.spec.Basic.Ack) else "nack"
        assert kind == "ack" or isinstance(method, pika.spec.Basic.Nack), method
        self.frames.append((kind, method.delivery_tag, method.multiple))
        if method.multiple:
            tags = {t for t in self.outstanding if t <= method.delivery_tag}
            assert tags, f"a multiple {kind} of {method.delivery_tag} settles nothing new"
        else:
            tags = {method.delivery_tag}
            assert method.delivery_tag in self.outstanding, f"tag settled twice: {method}"
        assert method.delivery_tag in tags, f"{method} names a tag already settled"
        self.outstanding -= tags
        for tag in tags:
            self.outcome[tag] = kind


def confirm_batch(amqp_url, arguments=None):
    """Publishes BATCH messages in one write on a confirm channel; reads every confirm."""
    raw = Raw.open(amqp_url)
    raw.open_channel(1)
    raw.send_method(1, pika.spec.Confirm.Select())
    raw.expect(pika.spec.Confirm.SelectOk, channel=1)
    raw.send_method(1, pika.spec.Queue.Declare(queue="", exclusive=True, arguments=arguments))
    q = raw.expect(pika.spec.Queue.DeclareOk, channel=1).queue
    raw.send(b"".join(amqp_raw.publish_frames(1, "", q, b"m%d" % i) for i in range(BATCH)))
    confirms = Confirms(BATCH)
    while confirms.outstanding:
        frame = raw.read_method(DEADLINE)
        assert frame.channel_number == 1, frame
        confirms.take(frame.method)
    raw.send_method(1, pika.spec.Queue.Declare(queue=q, passive=True))
    ready = raw.expect(pika.spec.Queue.DeclareOk, channel=1).message_count
    raw.close()
    return confirms, ready


def test_a_batch_is_confirmed_once_per_tag_with_multiple_acks(amqp_url):
    confirms, ready = confirm_batch(amqp_url)
    assert confirms.outcome == {tag: "ack" for tag in range(1, BATCH + 1)}
    assert ready == BATCH
    assert any(multiple for _, _, multiple in confirms.frames), (
        f"{BATCH} publishes in one write, every confirm separate: {confirms.frames[:10]}"
    )
    assert len(confirms.frames) < BATCH


def test_reject_publish_confirms_mix_acks_and_nacks(amqp_url):
    confirms, ready = confirm_batch(
        amqp_url, {"x-max-length": 5, "x-overflow": "reject-publish"}
    )
    expected = {tag: "ack" if tag <= 5 else "nack" for tag in range(1, BATCH + 1)}
    assert confirms.outcome == expected, confirms.frames[:12]
    assert ready == 5


# --- acknowledgements inside transactions ---------------------------------------------------


@pytest.fixture
def two_messages(channel, unique):
    q = channel.queue_declare(unique("txack")).method.queue
    channel.confirm_delivery()
    channel.basic_publish("", q, b"one")
    channel.basic_publish("", q, b"two")
    yield q
    channel.queue_delete(q)


def test_an_ack_in_a_transaction_applies_at_commit(connection, two_messages):
    q = two_messages
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=1)
    consumer.tx_select()
    got = []
    consumer.basic_consume(q, lambda c, m, p, body: got.append((m, body)))
    assert wait_until(lambda: len(got) == 1, DEADLINE, connection)
    consumer.basic_ack(got[0][0].delivery_tag)
    # The uncommitted ack does not free the prefetch slot: "two" waits for the commit.
    assert not wait_until(lambda: len(got) > 1, 0.5, connection), "an uncommitted ack applied"
    consumer.tx_commit()
    assert wait_until(lambda: len(got) == 2, DEADLINE, connection)
    assert [body for _, body in got] == [b"one", b"two"]
    consumer.close()  # "two" is unacked and comes back; "one" is gone for good
    probe = connection.channel()
    assert wait_until(lambda: count(connection, q) == 1, DEADLINE, connection)
    method, _, body = probe.basic_get(q, auto_ack=True)
    assert (body, method.redelivered) == (b"two", True)


def test_a_rolled_back_ack_leaves_the_message_unacked(connection, two_messages):
    q = two_messages
    consumer = connection.channel()
    consumer.tx_select()
    method, _, body = consumer.basic_get(q)
    assert body == b"one"
    consumer.basic_ack(method.delivery_tag)
    consumer.tx_rollback()
    # Still unacked on the channel: it may be acked again, and this time committed.
    assert count(connection, q) == 1
    consumer.basic_ack(method.delivery_tag)
    consumer.tx_commit()
    consumer.close()
    assert count(connection, q) == 1, "only two is left"
    probe = connection.channel()
    method, _, body = probe.basic_get(q, auto_ack=True)
    assert (body, method.redelivered) == (b"two", False)


def test_a_rolled_back_ack_requeues_with_the_channel(connection, two_messages):
    q = two_messages
    consumer = connection.channel()
    consumer.tx_select()
    method, _, _ = consumer.basic_get(q)
    consumer.basic_ack(method.delivery_tag)
    consumer.tx_rollback()
    consumer.close()
    assert wait_until(lambda: count(connection, q) == 2, DEADLINE, connection)
    probe = connection.channel()
    first, _, body = probe.basic_get(q, auto_ack=True)
    assert (body, first.redelivered) == (b"one", True), "back in its place, flagged"


@pytest.mark.parametrize("settle", ["reject", "nack"])
def test_a_dead_lettering_reject_in_a_transaction_waits_for_commit(
    connection, channel, unique, settle
):
    src, dlq = unique("txdl.src"), unique("txdl.dlq")
    channel.queue_declare(dlq)
    channel.queue_declare(src, arguments={
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq
    })
    channel.confirm_delivery()
    channel.basic_publish("", src, b"poison")
    consumer = connection.channel()
    consumer.tx_select()
    method, _, _ = consumer.basic_get(src)
    if settle == "reject":
        consumer.basic_reject(method.delivery_tag, requeue=False)
    else:
        consumer.basic_nack(method.delivery_tag, requeue=False)
    assert not wait_until(lambda: count(connection, dlq) > 0, 0.5, connection), (
        "dead-lettered before the commit"
    )
    consumer.tx_commit()
    assert wait_until(lambda: count(connection, dlq) == 1, DEADLINE, connection)
    consumer.close()
    assert count(connection, src) == 0, "settled for good at the commit"
    channel.queue_delete(src)
    channel.queue_delete(dlq)
