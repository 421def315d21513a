"""kill -9 crash tests with stomp.py against the real binary: persistent SENDs to a durable
`/queue/` destination, each confirmed by a RECEIPT; the broker is killed with SIGKILL at random
moments and restarted on the same data directory.

After every restart: every message whose RECEIPT arrived and that was not acknowledged is
there, no acknowledged one comes back (the ACKs are fenced by a later persistent SEND with a
receipt on the same connection: the broker writes in order), and nothing appears that was
never sent.
"""

import queue
import random
import time

import stomp

from crash_helpers import Broker, publish_until_killed

ROUNDS = 6
DEST = "/queue/crash.stomp"


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.receipts = queue.Queue()
        self.messages = queue.Queue()

    def on_receipt(self, frame):
        self.receipts.put(frame.headers.get("receipt-id"))

    def on_message(self, frame):
        self.messages.put(frame)


def _connect(broker):
    host, port = broker.addrs["stomp"]
    conn = stomp.Connection12([(host, port)], heartbeats=(0, 0), vhost="/")
    listener = Listener()
    conn.set_listener("l", listener)
    conn.connect("guest", "guest", wait=True)
    return conn, listener


def _send_confirmed(conn, listener, body, receipt, stop=None):
    """SEND and wait for its RECEIPT; False if `stop` was set first."""
    conn.send(DEST, body, headers={"persistent": "true", "receipt": receipt})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if stop is not None and stop.is_set():
            return False
        try:
            if listener.receipts.get(timeout=0.1) == receipt:
                return True
        except queue.Empty:
            continue
    raise TimeoutError(f"no RECEIPT for {receipt}")


def _drain(broker, rng, acked):
    """Takes every message, acknowledges about half; returns (present, redelivered ok)."""
    conn, listener = _connect(broker)
    conn.subscribe(DEST, id="s", ack="client-individual", headers={"prefetch-count": "0"})
    frames = []
    while True:
        try:
            frames.append(listener.messages.get(timeout=0.5))
        except queue.Empty:
            break
    present = [f.body for f in frames]
    for frame in frames:
        if rng.random() < 0.5:
            conn.ack(frame.headers["ack"])
            acked.add(frame.body)
    fence = f"fence-{time.monotonic_ns()}"
    _send_confirmed(conn, listener, fence, "fence")
    conn.disconnect()
    return present, fence


def _publisher(broker, batch, confirmed, stop):
    try:
        conn, listener = _connect(broker)
        for i, body in enumerate(batch):
            if stop.is_set():
                return
            if not _send_confirmed(conn, listener, body, f"r{i}", stop):
                return
            confirmed.append(body)
    except Exception:  # noqa: BLE001 - the broker is killed under it on purpose
        return


def test_received_sends_survive_kill_and_acked_messages_stay_gone(tmp_path):
    rng = random.Random(int(time.time()))
    data, log = tmp_path / "data", tmp_path / "warren.log"
    live, acked, published = set(), set(), set()
    next_id, recovered = 0, 0
    for round_no in range(ROUNDS):
        broker = Broker(data, log)
        try:
            present, fence = _drain(broker, rng, acked_now := set())
            assert len(present) == len(set(present)), f"round {round_no}: duplicates"
            missing = live - set(present)
            assert not missing, f"round {round_no}: confirmed messages lost: {sorted(missing)}"
            back = set(present) & acked
            assert not back, f"round {round_no}: acknowledged messages came back: {sorted(back)}"
            unknown = set(present) - published
            assert not unknown, f"round {round_no}: never sent: {sorted(unknown)}"
            recovered += len(present)
            acked |= acked_now
            published.add(fence)
            live = (set(present) - acked_now) | {fence}
            batch = [f"s{next_id + i}" for i in range(3000)]
            next_id += len(batch)
            published.update(batch)
            confirmed = publish_until_killed(broker, rng, (0.1, 0.6), _publisher, broker, batch)
        finally:
            broker.kill()
        live.update(confirmed)
        print(f"round {round_no}: {len(confirmed)} confirmed, {len(live)} live")
    broker = Broker(data, log)
    try:
        present, _ = _drain(broker, rng, set())
        assert live <= set(present)
        assert not (set(present) & acked)
    finally:
        broker.stop()
    assert recovered > 0, "the kills never caught anything to recover"
