"""kill -9 crash tests with pika and publisher confirms against the real binary.

Each round restarts the broker on the same data directory, checks the durable queue against
what the client knows, acknowledges some messages, then publishes persistent messages with
confirms from a thread while the broker is killed with SIGKILL at a random moment.

What must hold after every restart:
- every confirmed message that was not acknowledged is there (each once, flagged redelivered:
  after a crash everything recovered may have been delivered);
- no acknowledged message comes back. A consumer's ack is not confirmed in AMQP, so the test
  acknowledges and then publishes one more persistent message with a confirm on the same
  channel: the broker writes in order, so that confirm proves the acks before it are on disk;
- nothing appears that was never published.
"""

import random
import time

import pika
import pytest

from crash_helpers import Broker, publish_until_killed

ROUNDS = 8
QUEUE = "crash.durable"


def _persistent():
    return pika.BasicProperties(delivery_mode=2)


def _open(broker):
    conn = pika.BlockingConnection(pika.URLParameters(broker.amqp_url()))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare(QUEUE, durable=True)
    return conn, ch


def _take_all(ch):
    """Every ready message, unacknowledged: (delivery tag, body, redelivered)."""
    got = []
    while True:
        method, _, body = ch.basic_get(QUEUE, auto_ack=False)
        if method is None:
            return got
        got.append((method.delivery_tag, body.decode(), method.redelivered))


def _publisher(url, bodies, confirmed, stop):
    """Publishes until the broker dies, recording each confirmed body."""
    try:
        conn = pika.BlockingConnection(pika.URLParameters(url))
        ch = conn.channel()
        ch.confirm_delivery()
        for body in bodies:
            if stop.is_set():
                return
            ch.basic_publish("", QUEUE, body.encode(), _persistent())
            confirmed.append(body)
    except Exception:  # noqa: BLE001 - the broker is killed under it on purpose
        return


def test_confirmed_messages_survive_kill_and_acked_ones_stay_gone(tmp_path):
    rng = random.Random(int(time.time()))
    data = tmp_path / "data"
    log = tmp_path / "warren.log"
    live = set()       # confirmed, not acknowledged
    acked = set()      # acknowledged (and fenced by a later confirm)
    published = set()  # everything ever handed to basic_publish
    next_id = 0
    recovered_total = 0
    for round_no in range(ROUNDS):
        broker = Broker(data, log)
        try:
            conn, ch = _open(broker)
            got = _take_all(ch)
            bodies = [b for _, b, _ in got]
            assert len(bodies) == len(set(bodies)), f"round {round_no}: duplicates {bodies}"
            present = set(bodies)
            missing = live - present
            assert not missing, f"round {round_no}: confirmed messages lost: {sorted(missing)}"
            back = present & acked
            assert not back, f"round {round_no}: acknowledged messages came back: {sorted(back)}"
            unknown = present - published
            assert not unknown, f"round {round_no}: never published: {sorted(unknown)}"
            if round_no > 0:
                assert all(r for _, _, r in got), "recovered after a crash means redelivered"
            recovered_total += len(got)
            # Unconfirmed publishes that made it to disk are now as good as confirmed.
            live = set(present)
            # Acknowledge about half, give the rest back, and fence the acks with a confirm.
            for tag, body, _ in got:
                if rng.random() < 0.5:
                    ch.basic_ack(tag)
                    acked.add(body)
                    live.discard(body)
                else:
                    ch.basic_nack(tag, requeue=True)
            fence = f"fence-{round_no}"
            published.add(fence)
            ch.basic_publish("", QUEUE, fence.encode(), _persistent())
            live.add(fence)
            # Publish from another connection and kill the broker at a random moment.
            batch = [f"m{next_id + i}" for i in range(5000)]
            next_id += len(batch)
            published.update(batch)
            confirmed = publish_until_killed(
                broker, rng, (0.05, 0.6), _publisher, broker.amqp_url(), batch
            )
        finally:
            broker.kill()
        live.update(confirmed)
        print(f"round {round_no}: {len(confirmed)} confirmed, {len(live)} live, {len(acked)} acked")
    # A last clean start checks the final round's kill too, then a clean stop and start
    # keeps everything with exact flags.
    broker = Broker(data, log)
    try:
        conn, ch = _open(broker)
        present = {b for _, b, _ in _take_all(ch)}
        assert live <= present
        assert not (present & acked)
        conn.close()
    finally:
        broker.stop()
    broker = Broker(data, log)
    try:
        conn, ch = _open(broker)
        got = _take_all(ch)
        assert live <= {b for _, b, _ in got}
        conn.close()
    finally:
        broker.stop()
    assert recovered_total > 0, "the kills never caught anything to recover"
