"""The headers of a dead-lettered message, with pika: x-death's `time`, `exchange` and
`routing-keys` (the publish key followed by the CC keys), x-first-death-*, and what a dead-letter
routing key changes (the dead letter is routed on it alone and the CC header is dropped, yet
routing-keys still lists the CC keys), as RabbitMQ's rabbit_dead_letter writes them.

Every test also runs against RabbitMQ (WARREN_IT_AMQP_URL)."""

import calendar
import datetime
import time

import pika
import pytest

from conftest import count, wait_until

DEADLINE = 15.0


def epoch(value):
    """An AMQP timestamp as pika decodes it (a naive UTC datetime), in seconds."""
    assert isinstance(value, datetime.datetime), f"x-death time is not a timestamp: {value!r}"
    return calendar.timegm(value.utctimetuple())


class Topology:
    """A message published to exchange `entry` with key "k" and two CC keys lands in `src`,
    whose dead letters go to the direct exchange `dlx`. There `main` is bound to "k", `cc` to
    the first CC key and `dead` to "dead"."""

    def __init__(self, channel, unique, dead_letter_key=None):
        self.channel = channel
        self.entry, self.dlx = unique("dl.entry"), unique("dl.dlx")
        self.src, self.main, self.cc, self.dead = (
            unique("dl.src"), unique("dl.main"), unique("dl.cc"), unique("dl.dead")
        )
        self.cc_keys = [unique("cc.one"), unique("cc.two")]
        channel.exchange_declare(self.entry, "direct")
        channel.exchange_declare(self.dlx, "direct")
        args = {"x-dead-letter-exchange": self.dlx}
        if dead_letter_key is not None:
            args["x-dead-letter-routing-key"] = dead_letter_key
        channel.queue_declare(self.src, arguments=args)
        channel.queue_bind(self.src, self.entry, routing_key="k")
        for q, key in ((self.main, "k"), (self.cc, self.cc_keys[0]), (self.dead, "dead")):
            channel.queue_declare(q)
            channel.queue_bind(q, self.dlx, routing_key=key)
        channel.confirm_delivery()

    def publish_and_reject(self):
        """Publishes with the CC header, rejects the message from `src`; returns the time
        window (epoch seconds) the death happened in."""
        headers = {"CC": list(self.cc_keys), "own": "kept"}
        self.channel.basic_publish(self.entry, "k", b"job", pika.BasicProperties(headers=headers))
        before = int(time.time())
        method, _, _ = self.channel.basic_get(self.src)
        assert method is not None, "the message reached src (and only src: CC keys unbound)"
        self.channel.basic_reject(method.delivery_tag, requeue=False)
        return before, int(time.time()) + 1

    def delete(self):
        for q in (self.src, self.main, self.cc, self.dead):
            self.channel.queue_delete(q)
        for x in (self.entry, self.dlx):
            self.channel.exchange_delete(x)


def assert_death(props, topology, window):
    (death,) = props.headers["x-death"]
    assert death["count"] == 1
    assert death["reason"] == "rejected"
    assert death["queue"] == topology.src
    assert death["exchange"] == topology.entry
    assert death["routing-keys"] == ["k"] + topology.cc_keys, "the publish key, then CC keys"
    assert window[0] <= epoch(death["time"]) <= window[1], (death["time"], window)
    assert props.headers["x-first-death-reason"] == "rejected"
    assert props.headers["x-first-death-queue"] == topology.src
    assert props.headers["x-first-death-exchange"] == topology.entry
    assert props.headers["own"] == "kept"


def test_without_a_dead_letter_key_the_cc_keys_route_the_dead_letter_too(
    connection, channel, unique
):
    t = Topology(channel, unique)
    window = t.publish_and_reject()
    # Republished to dlx on the publish key and the CC keys: main ("k") and cc (CC key one).
    assert wait_until(
        lambda: count(connection, t.main) == 1 and count(connection, t.cc) == 1,
        DEADLINE, connection,
    )
    for q in (t.main, t.cc):
        _, props, body = channel.basic_get(q, auto_ack=True)
        assert body == b"job"
        assert_death(props, t, window)
        assert props.headers["CC"] == t.cc_keys, "the CC header stays"
    assert count(connection, t.dead) == 0
    t.delete()


def test_a_dead_letter_key_replaces_the_cc_keys_but_death_lists_them(connection, channel, unique):
    t = Topology(channel, unique, dead_letter_key="dead")
    window = t.publish_and_reject()
    assert wait_until(lambda: count(connection, t.dead) == 1, DEADLINE, connection)
    _, props, body = channel.basic_get(t.dead, auto_ack=True)
    assert body == b"job"
    assert_death(props, t, window)
    assert "CC" not in props.headers, "the CC header is dropped with a dead-letter key"
    # Routed on "dead" alone: neither the publish key nor a CC key took it elsewhere.
    assert count(connection, t.main) == 0
    assert count(connection, t.cc) == 0
    t.delete()


def test_a_repeated_death_raises_the_count_and_keeps_the_first_time(connection, channel, unique):
    # src dead-letters to back, back to src: src/rejected happens twice, more than a second
    # apart. RabbitMQ raises the count of the existing entry and keeps its other fields.
    src, back = unique("again.src"), unique("again.back")
    channel.queue_declare(src, arguments={
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": back
    })
    channel.queue_declare(back, arguments={
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": src
    })
    channel.confirm_delivery()
    channel.basic_publish("", src, b"job")

    def take(q):
        got = []
        assert wait_until(
            lambda: got.append(channel.basic_get(q)) or got[-1][0] is not None,
            DEADLINE, connection,
        ), f"nothing reached {q}"
        return got[-1]

    def reject_from(q):
        method, props, _ = take(q)
        channel.basic_reject(method.delivery_tag, requeue=False)
        return props

    reject_from(src)
    props = reject_from(back)
    (first,) = [d for d in props.headers["x-death"] if d["queue"] == src]
    first_time = epoch(first["time"])
    # The second death must fall in a later second for a change of `time` to show.
    assert wait_until(lambda: int(time.time()) > first_time + 1, DEADLINE)
    reject_from(src)
    method, props, _ = take(back)
    channel.basic_ack(method.delivery_tag)
    deaths = {(d["queue"], d["reason"]): d for d in props.headers["x-death"]}
    assert set(deaths) == {(src, "rejected"), (back, "rejected")}
    assert deaths[(src, "rejected")]["count"] == 2
    assert deaths[(back, "rejected")]["count"] == 1
    assert props.headers["x-death"][0]["queue"] == src, "the updated entry moves to the front"
    assert epoch(deaths[(src, "rejected")]["time"]) == first_time, "time of the first death"
    assert props.headers["x-first-death-queue"] == src
    channel.queue_delete(src)
    channel.queue_delete(back)


@pytest.mark.parametrize("how", ["expired", "maxlen"])
def test_deaths_by_expiry_and_length_limit_carry_time_and_the_publish_exchange(
    connection, channel, unique, how
):
    entry, src, dlq = unique("why.entry"), unique("why.src"), unique("why.dlq")
    channel.exchange_declare(entry, "fanout")
    channel.queue_declare(dlq)
    args = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}
    args.update({"x-message-ttl": 10} if how == "expired" else {"x-max-length": 1})
    channel.queue_declare(src, arguments=args)
    channel.queue_bind(src, entry)
    channel.confirm_delivery()
    before = int(time.time())
    channel.basic_publish(entry, "some.key", b"first", pika.BasicProperties(headers={"CC": ["c"]}))
    if how == "maxlen":
        channel.basic_publish(entry, "some.key", b"second")  # pushes "first" out
    assert wait_until(lambda: count(connection, dlq) == 1, DEADLINE, connection)
    after = int(time.time()) + 1
    _, props, body = channel.basic_get(dlq, auto_ack=True)
    assert body == b"first"
    (death,) = props.headers["x-death"]
    assert death["reason"] == how
    assert death["exchange"] == entry
    assert death["routing-keys"] == ["some.key", "c"]
    assert before <= epoch(death["time"]) <= after
    assert props.headers["x-first-death-exchange"] == entry
    assert props.headers["x-first-death-reason"] == how
    assert "CC" not in props.headers, "dropped: the dead-letter key replaced the CC keys"
    for q in (src, dlq):
        channel.queue_delete(q)
    channel.exchange_delete(entry)
