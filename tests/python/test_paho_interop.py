"""paho-mqtt and pika on one broker: AMQP publishes to amq.topic reach MQTT subscribers,
MQTT publishes reach AMQP queues, MQTT 5 request/response with a pika worker, and Warren's
lossless `.`/`/` mapping.

Needs WARREN_IT_MQTT_ADDR and WARREN_IT_AMQP_URL naming one broker (RabbitMQ: 1884 and 5673),
or neither (a Warren binary)."""

import paho.mqtt.client as paho
import pika
import pytest

from mqtt_conftest_helpers import DEADLINE, connected, publish_props, uid, wait_until


@pytest.fixture
def amqp(mqtt_broker):
    if not mqtt_broker.amqp_url:
        pytest.skip("needs WARREN_IT_AMQP_URL for the MQTT broker under test")
    conn = pika.BlockingConnection(pika.URLParameters(mqtt_broker.amqp_url))
    yield conn.channel()
    if conn.is_open:
        conn.close()


def root(what):
    n = uid(what)
    return f"it/{n}", f"it.{n}"


def bound_queue(ch, *keys):
    q = ch.queue_declare("", exclusive=True).method.queue
    for key in keys:
        ch.queue_bind(q, "amq.topic", key)
    return q


def get_with_key(ch, queue, key):
    """The next message on `queue` with routing key `key`, polling with a deadline."""
    found = []

    def poll():
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is not None and method.routing_key == key:
            found.append((method, props, body))
        return bool(found)

    assert wait_until(poll, DEADLINE), f"nothing with key {key}"
    return found[0]


def speaks_v5(mqtt, broker):
    """Whether the broker accepts an MQTT 5 CONNECT (RabbitMQ before 3.13 does not)."""
    client = mqtt(paho.MQTTv5)
    client.paho.connect(broker.host, broker.port)
    client.paho.loop_start()
    client.started = True
    wait_until(lambda: not client.connacks.empty() or not client.disconnects.empty())
    accepted = not client.connacks.empty() and not client.connacks.get()[1].is_failure
    assert accepted or not broker.is_warren, "Warren speaks MQTT 5"
    return accepted


def test_amqp_publish_reaches_mqtt_topic_and_wildcard(mqtt, amqp):
    topic, key = root("a2m")
    exact = connected(mqtt, paho.MQTTv311)
    exact.subscribe(f"{topic}/b")
    wild = connected(mqtt, paho.MQTTv311)
    wild.subscribe(f"{topic}/+")
    amqp.basic_publish("amq.topic", f"{key}.b", b"from pika")
    for client in (exact, wild):
        msg = client.next_message()
        assert (msg.topic, msg.payload) == (f"{topic}/b", b"from pika")


def test_mqtt_publish_reaches_amqp_star_and_hash_bindings(mqtt, amqp):
    topic, key = root("m2a")
    star = bound_queue(amqp, f"{key}.*")
    hash_ = bound_queue(amqp, f"{key}.#")
    connected(mqtt, paho.MQTTv311).publish(f"{topic}/x", b"from paho", qos=1)
    for q in (star, hash_):
        method, props, body = get_with_key(amqp, q, f"{key}.x")
        assert body == b"from paho"
        assert props.delivery_mode == 2  # QoS 1 is persistent


def test_amqp_persistent_message_arrives_at_qos1(mqtt, amqp):
    topic, key = root("qos")
    sub = connected(mqtt, paho.MQTTv311)
    sub.subscribe(f"{topic}/p", 2)
    amqp.basic_publish("amq.topic", f"{key}.p", b"p", pika.BasicProperties(delivery_mode=2))
    assert sub.next_message().qos == 1


def test_v5_request_response_with_a_pika_worker(mqtt, mqtt_broker, amqp):
    if not speaks_v5(mqtt, mqtt_broker):
        pytest.skip("broker does not speak MQTT 5")
    topic, key = root("rpc")
    requests = bound_queue(amqp, f"{key}.req")
    client = connected(mqtt, paho.MQTTv5)
    client.subscribe(f"{topic}/reply")
    props = publish_props(ResponseTopic=f"{topic}/reply", CorrelationData=b"id-7")
    client.publish(f"{topic}/req", b"ping", properties=props)
    _, req_props, body = get_with_key(amqp, requests, f"{key}.req")
    assert body == b"ping"
    assert req_props.reply_to == f"{key}.reply"
    assert req_props.correlation_id == "id-7"
    amqp.basic_publish("amq.topic", req_props.reply_to, b"pong",
                       pika.BasicProperties(correlation_id=req_props.correlation_id))
    answer = client.next_message()
    assert (answer.topic, answer.payload) == (f"{topic}/reply", b"pong")
    assert answer.properties.CorrelationData == b"id-7"


def test_v5_user_properties_and_content_type_become_headers(mqtt, mqtt_broker, amqp):
    if not speaks_v5(mqtt, mqtt_broker):
        pytest.skip("broker does not speak MQTT 5")
    topic, key = root("hdr")
    q = bound_queue(amqp, f"{key}.m")
    props = publish_props(UserProperty=[("tenant", "acme")], ContentType="text/plain",
                          MessageExpiryInterval=60)
    connected(mqtt, paho.MQTTv5).publish(f"{topic}/m", b"x", properties=props)
    _, got, _ = get_with_key(amqp, q, f"{key}.m")
    assert got.content_type == "text/plain"
    assert got.headers["tenant"] in ("acme", b"acme")
    assert 0 < int(got.expiration) <= 60000


def test_lossless_mapping_of_dots_and_slashes(mqtt, mqtt_broker, amqp):
    if not mqtt_broker.is_warren:
        pytest.skip("RabbitMQ maps `.` lossily")
    topic, key = root("dots")
    q = bound_queue(amqp, f"{key}.a/b.c")
    sub = connected(mqtt, paho.MQTTv311)
    sub.subscribe(f"{topic}/p.q/r")
    connected(mqtt, paho.MQTTv311).publish(f"{topic}/a.b/c", b"m2a")
    assert get_with_key(amqp, q, f"{key}.a/b.c")[2] == b"m2a"
    amqp.basic_publish("amq.topic", f"{key}.p/q.r", b"a2m")
    msg = sub.next_message()
    assert (msg.topic, msg.payload) == (f"{topic}/p.q/r", b"a2m")
