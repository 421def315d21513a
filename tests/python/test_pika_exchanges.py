"""Exchanges with pika: routing by direct, fanout, topic and headers exchanges, the predeclared
amq.* exchanges, exchange-to-exchange bindings, internal and auto-delete exchanges, and the
declare, bind and delete errors as RabbitMQ gives them."""

import pika
import pika.exceptions
import pytest

from conftest import wait_until


@pytest.fixture
def exchange(connect, channel, unique):
    """Declares exchanges on `channel` (in confirm mode) and deletes them at teardown."""
    channel.confirm_delivery()
    made = []

    def _declare(kind, **options):
        name = unique(kind)
        channel.exchange_declare(name, exchange_type=kind, **options)
        made.append(name)
        return name

    yield _declare
    cleanup = connect().channel()
    for name in made:
        cleanup.exchange_delete(name)


def queue(ch):
    """A server-named exclusive queue: it goes, with its bindings, when the test's connection
    closes."""
    return ch.queue_declare("", exclusive=True).method.queue


def queues_bound(ch, x, keys_per_queue):
    """One queue per list of binding keys, bound to `x` with each of its keys."""
    qs = []
    for keys in keys_per_queue:
        q = queue(ch)
        for key in keys:
            ch.queue_bind(q, x, routing_key=key)
        qs.append(q)
    return qs


def drain(ch, q):
    bodies = []
    while True:
        method, _, body = ch.basic_get(q, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(body.decode())


def route(ch, x, keys, qs):
    """Publishes each key as its own body (confirmed, so routed), then drains every queue."""
    for key in keys:
        ch.basic_publish(x, key, key.encode())
    return [drain(ch, q) for q in qs]


def exists(connection, name):
    ch = connection.channel()
    try:
        ch.exchange_declare(name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as err:
        assert err.reply_code == 404, err
        return False
    ch.close()
    return True


def assert_usable(connection):
    """The connection still opens channels that route messages."""
    ch = connection.channel()
    q = queue(ch)
    ch.basic_publish("", q, b"still fine")
    assert ch.basic_get(q, auto_ack=True)[2] == b"still fine"


def test_direct_exchange_routes_on_the_exact_key(channel, exchange):
    x = exchange("direct")
    qs = queues_bound(channel, x, [["a"], ["a", "b"], [""], ["A"]])
    got = route(channel, x, ["a", "b", "c", "", "a.b"], qs)
    assert got == [["a"], ["a", "b"], [""], []]


def test_fanout_exchange_ignores_the_key(channel, exchange):
    x = exchange("fanout")
    qs = queues_bound(channel, x, [["a"], [""]])
    got = route(channel, x, ["a", "zzz", ""], qs)
    assert got == [["a", "zzz", ""], ["a", "zzz", ""]]


def test_topic_exchange_matches_star_and_hash(channel, exchange):
    x = exchange("topic")
    patterns = [
        ["*.orange.*"],
        ["*.*.rabbit", "lazy.#"],
        ["#"],
        ["a.*"],
        ["#.end"],
        ["a.#.z"],
        ["exact.key"],
        ["*"],
    ]
    keys = [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "quick.orange.fox",
        "lazy.brown.fox",
        "lazy",
        "quick.orange.male.rabbit",
        "a.b",
        "a",
        "a.b.c",
        "x.y.end",
        "end",
        "a.z",
        "a.q.r.z",
        "exact.key",
        "",
    ]
    got = route(channel, x, keys, queues_bound(channel, x, patterns))
    assert got[0] == ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox"]
    assert got[1] == ["quick.orange.rabbit", "lazy.orange.elephant", "lazy.brown.fox", "lazy"]
    assert got[2] == keys, "# matches every key, the empty one included"
    assert got[3] == ["a.b", "a.z"], "* is exactly one word"
    assert got[4] == ["x.y.end", "end"], "# matches zero words too"
    assert got[5] == ["a.z", "a.q.r.z"]
    assert got[6] == ["exact.key"]
    assert got[7] == ["lazy", "a", "end"], "* alone is one word, never the empty key"


def test_headers_exchange_matches_all_any_and_the_with_x_variants(channel, exchange):
    x = exchange("headers")
    bindings = [
        {"x-match": "all", "a": "1", "b": "2"},
        {"x-match": "any", "a": "1", "b": "2"},
        {"x-match": "all-with-x", "x-foo": "bar", "a": "1"},
        {"x-match": "any-with-x", "x-foo": "bar"},
        {"x-match": "all", "x-foo": "bar"},
        {"a": "1"},
        {"x-match": "all", "n": 1},
    ]
    qs = []
    for args in bindings:
        q = queue(channel)
        channel.queue_bind(q, x, routing_key="ignored", arguments=args)
        qs.append(q)
    messages = [
        ("m1", {"a": "1", "b": "2"}),
        ("m2", {"a": "1"}),
        ("m3", {"a": "1", "b": "3", "c": "9"}),
        ("m4", {"x-foo": "bar", "a": "1"}),
        ("m5", {"x-foo": "bar"}),
        ("m6", {}),
        ("m7", {"n": 1, "extra": "y"}),
        ("m8", {"n": "1"}),
    ]
    for body, headers in messages:
        channel.basic_publish(x, "other-key", body.encode(), pika.BasicProperties(headers=headers))
    got = [drain(channel, q) for q in qs]
    assert got[0] == ["m1"], "all"
    assert got[1] == ["m1", "m2", "m3", "m4"], "any"
    assert got[2] == ["m4"], "all-with-x"
    assert got[3] == ["m4", "m5"], "any-with-x"
    assert got[4] == ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"], "all ignores x- arguments"
    assert got[5] == ["m1", "m2", "m3", "m4"], "x-match defaults to all"
    assert got[6] == ["m7"], "values match by type: the integer 1 is not the string '1'"


def test_predeclared_amq_exchanges_exist_with_their_types(connection, channel):
    kinds = [
        ("amq.direct", "direct"),
        ("amq.fanout", "fanout"),
        ("amq.topic", "topic"),
        ("amq.headers", "headers"),
        ("amq.match", "headers"),
    ]
    for name, kind in kinds:
        channel.exchange_declare(name, passive=True)
        channel.exchange_declare(name, exchange_type=kind, durable=True)  # equivalent: fine
    for name, kind in kinds:
        wrong = "fanout" if kind != "fanout" else "direct"
        ch = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            ch.exchange_declare(name, exchange_type=wrong, durable=True)
        assert info.value.reply_code == 406, (name, info.value)
    ch = connection.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.exchange_delete("amq.headers")
    assert info.value.reply_code == 403
    assert exists(connection, "amq.headers")


def test_predeclared_amq_exchanges_route(channel, unique):
    channel.confirm_delivery()
    tag = unique("amq")
    direct, fanout, topic, headers, match = (queue(channel) for _ in range(5))
    channel.queue_bind(direct, "amq.direct", routing_key=tag)
    channel.queue_bind(fanout, "amq.fanout")
    channel.queue_bind(topic, "amq.topic", routing_key=tag + ".*")
    channel.queue_bind(headers, "amq.headers", arguments={"x-match": "all", "tag": tag})
    channel.queue_bind(match, "amq.match", arguments={"x-match": "any", "tag": tag, "no": "x"})
    channel.basic_publish("amq.direct", tag, b"direct")
    channel.basic_publish("amq.direct", tag + ".x", b"direct miss")
    channel.basic_publish("amq.fanout", "any key", tag.encode())
    channel.basic_publish("amq.topic", tag + ".x", b"topic")
    channel.basic_publish("amq.topic", tag + ".x.y", b"topic miss")
    tagged = pika.BasicProperties(headers={"tag": tag})
    channel.basic_publish("amq.headers", "", b"headers", tagged)
    channel.basic_publish("amq.headers", "", b"headers miss", pika.BasicProperties(headers={}))
    channel.basic_publish("amq.match", "", b"match", tagged)
    assert drain(channel, direct) == ["direct"]
    # amq.fanout is shared with every client of the broker: only this test's body is checked.
    assert tag in drain(channel, fanout)
    assert drain(channel, topic) == ["topic"]
    assert drain(channel, headers) == ["headers"]
    assert drain(channel, match) == ["match"]


def test_default_exchange_refuses_bindings(connection, channel):
    q = queue(channel)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        channel.queue_bind(q, "", routing_key="k")
    assert info.value.reply_code == 403
    assert_usable(connection)


def test_exchange_to_exchange_bindings_route_and_unbind(channel, exchange):
    src, mid, dst = exchange("direct"), exchange("topic"), exchange("fanout")
    channel.exchange_bind(destination=mid, source=src, routing_key="k.1")
    channel.exchange_bind(destination=dst, source=mid, routing_key="k.*")
    q = queue(channel)
    channel.queue_bind(q, dst)
    # Also bound directly: a message reaching the queue by two paths is delivered once.
    channel.queue_bind(q, src, routing_key="k.1")
    assert route(channel, src, ["k.1", "k.2"], [q]) == [["k.1"]]

    channel.exchange_unbind(destination=mid, source=src, routing_key="k.1")
    channel.basic_publish(mid, "k.3", b"via mid")
    channel.basic_publish(src, "k.1", b"direct only")
    assert drain(channel, q) == ["via mid", "direct only"]
    channel.exchange_unbind(destination=dst, source=mid, routing_key="k.*")
    channel.basic_publish(mid, "k.3", b"unbound")
    assert drain(channel, q) == []


def test_exchange_bind_to_or_from_a_missing_exchange_is_404(connection, exchange, unique):
    x = exchange("fanout")
    for source, destination in [(unique("missing"), x), (x, unique("missing"))]:
        ch = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            ch.exchange_bind(destination=destination, source=source)
        assert info.value.reply_code == 404
        assert ch.is_closed
    assert_usable(connection)


def test_internal_exchange_refuses_publishes_but_routes_from_other_exchanges(
    connection, channel, exchange
):
    public, internal = exchange("fanout"), exchange("fanout", internal=True)
    channel.exchange_bind(destination=internal, source=public)
    q = queue(channel)
    channel.queue_bind(q, internal)
    channel.basic_publish(public, "", b"through")
    assert drain(channel, q) == ["through"]

    direct = connection.channel()
    direct.confirm_delivery()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        direct.basic_publish(internal, "", b"refused")
    assert info.value.reply_code == 403
    assert direct.is_closed
    assert connection.is_open
    channel.basic_publish(public, "", b"after the refusal")
    assert drain(channel, q) == ["after the refusal"], "the refused publish never arrived"


def test_auto_delete_exchange_goes_when_its_last_binding_goes(connection, channel, unique):
    x = unique("autodel")
    channel.exchange_declare(x, exchange_type="direct", auto_delete=True)
    assert exists(connection, x), "a never-bound auto-delete exchange stays"
    q1, q2 = queue(channel), queue(channel)
    channel.queue_bind(q1, x, routing_key="k")
    channel.queue_bind(q2, x, routing_key="k")
    channel.queue_unbind(q1, x, routing_key="k")
    assert exists(connection, x), "one binding is left"
    channel.queue_unbind(q2, x, routing_key="k")
    assert not exists(connection, x), "deleted with its last binding"


def test_auto_delete_exchange_goes_when_its_bound_queue_goes(connect, connection, unique):
    x = unique("autodel.q")
    owner = connect()
    ch = owner.channel()
    ch.exchange_declare(x, exchange_type="fanout", auto_delete=True)
    ch.queue_bind(queue(ch), x)
    assert exists(connection, x)
    owner.close()  # the exclusive queue goes, and with it the exchange's only binding
    assert wait_until(lambda: not exists(connection, x)), "outlived its last binding"


def test_auto_delete_exchange_counts_only_bindings_it_is_the_source_of(
    connection, channel, exchange, unique
):
    other = exchange("fanout")
    dest_only, source = unique("autodel.dest"), unique("autodel.src")
    channel.exchange_declare(dest_only, exchange_type="fanout", auto_delete=True)
    channel.exchange_declare(source, exchange_type="fanout", auto_delete=True)
    channel.exchange_bind(destination=dest_only, source=other)
    channel.exchange_bind(destination=other, source=source)
    channel.exchange_unbind(destination=dest_only, source=other)
    channel.exchange_unbind(destination=other, source=source)
    assert exists(connection, dest_only), "it never had a binding of its own"
    assert not exists(connection, source)
    channel.exchange_delete(dest_only)


def test_exchange_delete_if_unused_refuses_while_bound(connection, channel, unique):
    x = unique("ifunused")
    channel.exchange_declare(x, exchange_type="fanout")
    q = queue(channel)
    channel.queue_bind(q, x)
    ch = connection.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.exchange_delete(x, if_unused=True)
    assert info.value.reply_code == 406
    assert ch.is_closed and connection.is_open
    assert exists(connection, x)
    channel.queue_unbind(q, x)
    channel.exchange_delete(x, if_unused=True)
    assert not exists(connection, x)


def test_exchange_delete_if_unused_ignores_bindings_to_it(connection, channel, exchange, unique):
    source, dest = exchange("fanout"), unique("dest")
    channel.exchange_declare(dest, exchange_type="fanout")
    channel.exchange_bind(destination=dest, source=source)
    channel.exchange_delete(dest, if_unused=True)  # bound to, but not the source of, a binding
    assert not exists(connection, dest)


def test_deleting_a_missing_exchange_is_fine(channel, unique):
    channel.exchange_delete(unique("missing"))
    assert channel.is_open


def test_passive_declare_of_a_missing_exchange_is_404(connection, channel, unique):
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        channel.exchange_declare(unique("missing"), passive=True)
    assert info.value.reply_code == 404
    assert channel.is_closed and connection.is_open
    assert_usable(connection)


def test_redeclare_with_another_type_or_flags_is_406(connection, exchange):
    x = exchange("direct")
    for options in [dict(exchange_type="fanout"), dict(exchange_type="direct", durable=True),
                    dict(exchange_type="direct", auto_delete=True)]:
        ch = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            ch.exchange_declare(x, **options)
        assert info.value.reply_code == 406, options
    ch = connection.channel()
    ch.exchange_declare(x, exchange_type="direct")  # the equivalent declare still works
    assert_usable(connection)


def test_queue_bind_to_a_missing_exchange_or_queue_is_404(connection, exchange, unique):
    x = exchange("direct")
    ch = connection.channel()
    q = queue(ch)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.queue_bind(q, unique("missing"), routing_key="k")
    assert info.value.reply_code == 404
    ch = connection.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.queue_bind(unique("missing"), x, routing_key="k")
    assert info.value.reply_code == 404
    assert_usable(connection)


def test_publishing_to_a_missing_exchange_is_404(connection, unique):
    ch = connection.channel()
    ch.confirm_delivery()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.basic_publish(unique("missing"), "k", b"lost")
    assert info.value.reply_code == 404
    assert connection.is_open
    assert_usable(connection)


def test_declaring_an_amq_prefixed_exchange_is_403(connection, channel, unique):
    name = "amq." + unique("reserved")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        channel.exchange_declare(name, exchange_type="direct")
    assert info.value.reply_code == 403
    assert not exists(connection, name)


def test_unknown_exchange_type_is_503_and_closes_the_connection(connect, unique):
    victim, bystander = connect(), connect()
    ch = victim.channel()
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
        ch.exchange_declare(unique("oddtype"), exchange_type="x-no-such-type")
    assert info.value.reply_code == 503, "COMMAND_INVALID, a connection error"
    assert victim.is_closed
    assert bystander.is_open
    assert_usable(bystander)
