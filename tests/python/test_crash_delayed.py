"""kill -9 crash test for delayed messages with pika and publisher confirms: a persistent
message a durable x-delayed-message exchange confirmed is routed after a crash, once its delay
has passed, exactly once."""

import time

import pika

from crash_helpers import Broker

DEADLINE = 20.0


def _channel(broker):
    conn = pika.BlockingConnection(pika.URLParameters(broker.amqp_url()))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.exchange_declare(
        "crash.delayed", "x-delayed-message", durable=True,
        arguments={"x-delayed-type": "direct"},
    )
    ch.queue_declare("crash.delayed.q", durable=True)
    ch.queue_bind("crash.delayed.q", "crash.delayed", "k")
    return conn, ch


def _bodies(ch, until):
    """Polls the queue until `until` (monotonic), taking everything with acks."""
    got = []
    while time.monotonic() < until:
        method, _, body = ch.basic_get("crash.delayed.q", auto_ack=False)
        if method is None:
            time.sleep(0.01)
            continue
        got.append(body.decode())
        ch.basic_ack(method.delivery_tag)
    return got


def test_confirmed_delayed_messages_survive_kill_9(tmp_path):
    data = tmp_path / "data"
    log = tmp_path / "warren.log"
    broker = Broker(data, log)
    try:
        conn, ch = _channel(broker)
        published_at = time.monotonic()
        for i in range(20):
            # confirm_delivery makes basic_publish wait for the broker's basic.ack.
            ch.basic_publish(
                "crash.delayed", "k", f"job-{i}".encode(),
                pika.BasicProperties(delivery_mode=2, headers={"x-delay": 1500 + 10 * i}),
            )
        conn.close()
    finally:
        broker.kill()

    broker = Broker(data, log)
    try:
        conn, ch = _channel(broker)
        early = _bodies(ch, published_at + 1.2)
        assert early == [], f"routed before the delay ended: {early}"
        got = _bodies(ch, time.monotonic() + 3.0)
        assert sorted(got) == sorted(f"job-{i}" for i in range(20)), got
        conn.close()
    finally:
        broker.stop()

    # Routed and acknowledged: a second restart brings none of them back.
    broker = Broker(data, log)
    try:
        conn, ch = _channel(broker)
        again = _bodies(ch, time.monotonic() + 0.5)
        assert again == [], f"routed twice: {again}"
        conn.close()
    finally:
        broker.stop()
