"""x-delayed-message accuracy under load, with pika: 300 delayed messages with delays spread
over three seconds (some equal, some zero), published on one connection while another consumes
the ones already due. Each must arrive no earlier than its delay and at most 100 ms after it.

Warren only: the test peer (RabbitMQ without the community plugin) has no x-delayed-message."""

import os
import threading
import time

import pika
import pytest

from conftest import wait_until

PEER = bool(os.environ.get("WARREN_IT_AMQP_URL"))

pytestmark = pytest.mark.skipif(PEER, reason="a Warren-only feature (delayed-message plugin)")

COUNT = 300
TOLERANCE = 0.1


def spread_delays():
    """Delays in ms from 0 to 2980 in steps of 20, scrambled, each used twice."""
    return [(i * 7919) % 150 * 20 for i in range(COUNT)]


def test_300_delayed_messages_each_arrive_within_100ms_of_their_delay(
    amqp_url, connection, channel, unique
):
    x, q = unique("delayed.load"), unique("delayed.load.q")
    channel.exchange_declare(x, "x-delayed-message", arguments={"x-delayed-type": "topic"})
    channel.queue_declare(q, exclusive=True)
    channel.queue_bind(q, x, routing_key="jobs.#")

    arrived = {}
    duplicates = []

    def on_message(ch, method, props, body):
        now = time.monotonic()
        if body in arrived:
            duplicates.append(body)
        arrived.setdefault(body, now)

    channel.basic_consume(q, on_message, auto_ack=True)

    # The publisher has its own connection and thread, so deliveries are timed as they come
    # while publishes still go on; each publish waits for its confirm.
    delays = spread_delays()
    sent = {}
    failure = []

    def publish_all():
        try:
            conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
            ch = conn.channel()
            ch.confirm_delivery()
            for i, delay in enumerate(delays):
                body = f"{i}:{delay}".encode()
                props = pika.BasicProperties(headers={"x-delay": delay})
                sent[body] = time.monotonic()
                ch.basic_publish(x, f"jobs.{i % 7}", body, props)
            conn.close()
        except Exception as exc:  # reported by the test thread
            failure.append(exc)

    publisher = threading.Thread(target=publish_all, daemon=True)
    publisher.start()
    assert wait_until(lambda: len(arrived) == COUNT, 30.0, connection), (
        f"{len(arrived)} of {COUNT} arrived; publisher failure: {failure}"
    )
    publisher.join(10.0)
    assert not failure, failure
    assert not duplicates, f"delivered twice: {duplicates[:5]}"
    assert set(arrived) == set(sent)

    off = {}
    for body, at in arrived.items():
        delay = int(body.split(b":")[1]) / 1000
        off[body] = at - sent[body] - delay
    early = {b: round(v * 1000) for b, v in off.items() if v < 0}
    late = {b: round(v * 1000) for b, v in off.items() if v > TOLERANCE}
    assert not early, f"before their delay (ms early as negative): {early}"
    assert not late, f"more than 100 ms after their delay (ms): {late}"
    # The span covers what was asked: the last due message came about three seconds in.
    assert max(arrived.values()) - min(sent.values()) >= max(delays) / 1000
