"""Invalid queue arguments and message expirations with pika: each closes the channel with 406
PRECONDITION_FAILED and RabbitMQ's text, and leaves the connection (and its other channels)
working. The texts were checked side by side with RabbitMQ 3.10 (WARREN_IT_AMQP_URL); where
RabbitMQ words a case otherwise, only the code and the argument named are checked."""

from decimal import Decimal

import pika
import pika.exceptions
import pytest


def refusal(connection, provoke):
    """Runs provoke(channel) on a fresh channel; returns the broker's (code, text), checking
    that only that channel was closed."""
    bystander = connection.channel()
    victim = connection.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        provoke(victim)
    assert victim.is_closed
    assert connection.is_open, "a 406 closes the channel, never the connection"
    q = bystander.queue_declare("", exclusive=True).method.queue
    bystander.basic_publish("", q, b"still fine")
    assert bystander.basic_get(q, auto_ack=True)[2] == b"still fine"
    return info.value.reply_code, info.value.reply_text


def arg_text(key, queue, why):
    return f"PRECONDITION_FAILED - invalid arg '{key}' for queue '{queue}' in vhost '/': {why}"


# (arguments, the argument blamed, RabbitMQ's reason)
INVALID_ARGUMENTS = [
    ({"x-overflow": "bogus"}, "x-overflow", "invalid_overflow"),
    ({"x-overflow": 5}, "x-overflow", "{unacceptable_type,signedint}"),
    ({"x-max-priority": 300}, "x-max-priority", "{max_value_exceeded,300}"),
    ({"x-max-priority": 256}, "x-max-priority", "{max_value_exceeded,256}"),
    ({"x-max-priority": -1}, "x-max-priority", "{value_negative,-1}"),
    ({"x-max-priority": "5"}, "x-max-priority", '"expected integer, got longstr"'),
    ({"x-single-active-consumer": 1}, "x-single-active-consumer",
     "{unacceptable_type,signedint}"),
    ({"x-single-active-consumer": "true"}, "x-single-active-consumer",
     "{unacceptable_type,longstr}"),
    ({"x-message-ttl": "abc"}, "x-message-ttl", '"expected integer, got longstr"'),
    ({"x-message-ttl": True}, "x-message-ttl", '"expected integer, got bool"'),
    ({"x-message-ttl": -1}, "x-message-ttl", "{value_negative,-1}"),
    ({"x-expires": 0}, "x-expires", "{value_zero,0}"),
    ({"x-expires": -5}, "x-expires", "{value_negative,-5}"),
    ({"x-expires": Decimal("1.5")}, "x-expires", '"expected integer, got decimal"'),
    ({"x-max-length": -1}, "x-max-length", "{value_negative,-1}"),
    ({"x-max-length-bytes": "x"}, "x-max-length-bytes", '"expected integer, got longstr"'),
    ({"x-dead-letter-routing-key": "k"}, "x-dead-letter-routing-key",
     "routing_key_but_no_dlx_defined"),
    ({"x-dead-letter-exchange": "", "x-dead-letter-routing-key": 5},
     "x-dead-letter-routing-key", "{unacceptable_type,signedint}"),
]


@pytest.mark.parametrize(
    "arguments,key,why", INVALID_ARGUMENTS, ids=[f"{k}={a[k]!r}" for a, k, _ in INVALID_ARGUMENTS]
)
def test_an_invalid_queue_argument_is_406_with_rabbitmqs_text(connection, unique, arguments,
                                                              key, why):
    q = unique("badarg")
    code, text = refusal(connection, lambda ch: ch.queue_declare(q, arguments=arguments))
    assert code == 406
    assert text == arg_text(key, q, why)
    # Nothing was declared.
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        connection.channel().queue_declare(q, passive=True)
    assert info.value.reply_code == 404


def test_a_dead_letter_exchange_of_the_wrong_type_is_406(connection, unique):
    # RabbitMQ 3.10 words this one "invalid type 'signedint' for arg 'x-dead-letter-exchange'
    # in queue 'q' in vhost '/'", Warren as the other type errors; both refuse it.
    q = unique("baddlx")
    code, text = refusal(
        connection, lambda ch: ch.queue_declare(q, arguments={"x-dead-letter-exchange": 5})
    )
    assert code == 406
    assert "'x-dead-letter-exchange'" in text and f"'{q}'" in text and "signedint" in text


def test_the_largest_priority_is_accepted(channel, unique):
    q = unique("prio255")
    channel.queue_declare(q, arguments={"x-max-priority": 255}, exclusive=True)
    channel.basic_publish("", q, b"top", pika.BasicProperties(priority=255))
    assert channel.basic_get(q, auto_ack=True)[2] == b"top"


# (expiration, RabbitMQ's reason)
INVALID_EXPIRATIONS = [
    ("abc", "no_integer"),
    ("", "no_integer"),
    (" 5", "no_integer"),
    ("-1", "{value_negative,-1}"),
    ("1.5", '{leftover_string,".5"}'),
    ("5 ", '{leftover_string," "}'),
    ("0x10", '{leftover_string,"x10"}'),
]


@pytest.mark.parametrize("expiration,why", INVALID_EXPIRATIONS,
                         ids=[repr(e) for e, _ in INVALID_EXPIRATIONS])
def test_an_invalid_expiration_is_406_with_rabbitmqs_text(connection, unique, expiration, why):
    setup = connection.channel()
    q = setup.queue_declare(unique("badexp"), exclusive=True).method.queue

    def publish(ch):
        ch.confirm_delivery()
        ch.basic_publish("", q, b"x", pika.BasicProperties(expiration=expiration))

    code, text = refusal(connection, publish)
    assert code == 406
    assert text == f"PRECONDITION_FAILED - invalid expiration '{expiration}': {why}"
    assert setup.queue_declare(q, passive=True).method.message_count == 0, "nothing enqueued"


def test_an_expiration_beyond_64_bits_is_406(connection):
    # RabbitMQ says {value_too_large,...} (wrapped over two lines), Warren no_integer.
    expiration = "18446744073709551616"

    def publish(ch):
        ch.confirm_delivery()
        ch.basic_publish("", "", b"x", pika.BasicProperties(expiration=expiration))

    code, text = refusal(connection, publish)
    assert code == 406
    assert text.startswith(f"PRECONDITION_FAILED - invalid expiration '{expiration}': "), text


@pytest.mark.parametrize("expiration", ["0", "00012", "4294967296", "+5", "-0"])
def test_expirations_rabbitmq_reads_as_integers_are_accepted(channel, unique, expiration):
    # RabbitMQ parses with Erlang's string:to_integer, which takes a sign ("+5", "-0") and
    # leading zeros.
    q = channel.queue_declare(unique("okexp"), exclusive=True).method.queue
    channel.confirm_delivery()
    channel.basic_publish("", q, b"accepted", pika.BasicProperties(expiration=expiration))
    assert channel.is_open
