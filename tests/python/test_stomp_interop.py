"""stomp.py with pika (AMQP) and paho-mqtt (MQTT) on one broker: topics and properties both
ways, a queue shared round-robin, and an AMQP worker answering a STOMP request."""

import queue
import time

import paho.mqtt.client as paho
import pika
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from stomp_conftest_helpers import DEADLINE, name


@pytest.fixture
def amqp(stomp_broker):
    if not stomp_broker.amqp_url:
        pytest.skip("no AMQP URL for the STOMP broker under test")
    conn = pika.BlockingConnection(pika.URLParameters(stomp_broker.amqp_url))
    yield conn.channel()
    conn.close()


@pytest.fixture
def mqtt_client(stomp_broker):
    if not stomp_broker.mqtt_addr:
        pytest.skip("no MQTT address for the STOMP broker under test")
    messages = queue.Queue()
    subacks = queue.Queue()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=name("mq")[:23],
                         protocol=paho.MQTTv311)
    client.username_pw_set("guest", "guest")
    client.on_message = lambda c, u, msg: messages.put(msg)
    client.on_subscribe = lambda c, u, mid, rcs, props: subacks.put(mid)
    host, port = stomp_broker.mqtt_addr
    client.connect(host, int(port))
    client.loop_start()
    client.messages = messages
    client.subacks = subacks
    yield client
    client.loop_stop()
    client.disconnect()


def amqp_get(channel, queue_name):
    for method, props, body in channel.consume(queue_name, inactivity_timeout=DEADLINE):
        assert method is not None, f"no message on {queue_name} within {DEADLINE}s"
        channel.basic_ack(method.delivery_tag)
        channel.cancel()
        return method, props, body


def test_stomp_topic_send_reaches_amqp_and_mqtt(stomp_client, amqp, mqtt_client):
    base = name("s2x")
    result = amqp.queue_declare("", exclusive=True)
    amqp.queue_bind(result.method.queue, "amq.topic", f"{base}.*")
    _, mid = mqtt_client.subscribe(f"{base}/b", qos=1)
    while mqtt_client.subacks.get(timeout=DEADLINE) != mid:
        pass
    c = stomp_client("1.2")
    c.send(f"/topic/{base}.b", "fan out", headers={"content-type": "text/plain"})
    msg = mqtt_client.messages.get(timeout=DEADLINE)
    assert (msg.topic, msg.payload) == (f"{base}/b", b"fan out")
    method, props, body = amqp_get(amqp, result.method.queue)
    assert (method.routing_key, body) == (f"{base}.b", b"fan out")
    assert props.content_type == "text/plain"


def test_mqtt_publish_reaches_a_stomp_topic_subscriber(stomp_client, mqtt_client):
    base = name("m2s")
    c = stomp_client("1.1")
    c.subscribe(f"/topic/{base}.*")
    mqtt_client.publish(f"{base}/x", b"from mqtt", qos=1).wait_for_publish(DEADLINE)
    m = c.message()
    assert m.body == "from mqtt"
    assert m.headers["destination"] == f"/topic/{base}.x"


def test_amqp_properties_become_stomp_headers(stomp_client, amqp):
    q = name("a2s")
    c = stomp_client("1.2")
    c.subscribe(f"/queue/{q}")
    props = pika.BasicProperties(content_type="application/json", correlation_id="cid",
                                 delivery_mode=2, priority=3, headers={"h": "v", "n": 7})
    amqp.basic_publish("", q, b"{}", props)
    m = c.message()
    assert m.body == "{}"
    assert m.headers["destination"] == f"/queue/{q}"
    assert m.headers["content-type"] == "application/json"
    assert m.headers["correlation-id"] == "cid"
    assert m.headers["persistent"] == "true"
    assert m.headers["priority"] == "3"
    assert m.headers["h"] == "v"
    assert m.headers["n"] == "7"


def test_stomp_headers_become_amqp_properties(stomp_client, amqp):
    q = name("s2a")
    c = stomp_client("1.0")
    c.send(f"/queue/{q}", "props", headers={"persistent": "true", "priority": "2",
                                             "reply-to": "/queue/back", "custom": "cv",
                                             "type": "t", "app-id": "a"})
    method, props, body = amqp_get(amqp, q)
    assert body == b"props"
    assert props.delivery_mode == 2
    assert props.priority == 2
    assert props.reply_to == "/queue/back"
    assert props.type == "t"
    assert props.app_id == "a"
    custom = props.headers["custom"]
    assert (custom.decode() if isinstance(custom, bytes) else custom) == "cv"


def test_stomp_and_amqp_consumers_share_a_queue(stomp_client, amqp):
    q = name("shared")
    c = stomp_client("1.2")
    c.subscribe(f"/queue/{q}", ack="client-individual", headers={"prefetch-count": "1"})
    via_amqp = []

    def on_message(channel, method, _props, body):
        via_amqp.append(body.decode())
        channel.basic_ack(method.delivery_tag)

    amqp.basic_qos(prefetch_count=1)
    amqp.basic_consume(q, on_message)
    for i in range(6):
        c.send(f"/queue/{q}", f"m{i}")
    via_stomp = []
    deadline = time.monotonic() + DEADLINE
    while len(via_stomp) + len(via_amqp) < 6 and time.monotonic() < deadline:
        amqp.connection.process_data_events(time_limit=0.02)
        try:
            m = c.message(timeout=0.02)
        except queue.Empty:
            continue
        via_stomp.append(m.body)
        c.ack(m)
    assert sorted(via_stomp + via_amqp) == [f"m{i}" for i in range(6)]
    assert via_stomp and via_amqp, f"stomp {via_stomp}, amqp {via_amqp}"


def test_amqp_worker_answers_through_a_temp_queue(stomp_client, amqp):
    service = name("rpc")
    amqp.queue_declare(service, auto_delete=True)
    c = stomp_client("1.2")
    c.send(f"/amq/queue/{service}", "question",
           headers={"reply-to": "/temp-queue/answers", "correlation-id": "q1"})
    _, props, body = amqp_get(amqp, service)
    assert body == b"question"
    # The AMQP side sees the temporary queue's bare name, as with RabbitMQ.
    reply_queue = props.reply_to
    assert not reply_queue.startswith("/")
    amqp.basic_publish("", reply_queue, b"answer",
                       pika.BasicProperties(correlation_id=props.correlation_id))
    reply = c.message()
    assert reply.body == "answer"
    assert reply.headers["correlation-id"] == "q1"
    assert reply.headers["subscription"] == "/temp-queue/answers"
