"""stomp.py (and a raw socket) against the broker over STOMP 1.0, 1.1 and 1.2, on settling
messages: ACK and NACK in each ack mode, transactions and receipts; the broker's queues are
checked from the AMQP side with pika."""

import queue

import pytest

from stomp_conftest_helpers import DEADLINE, QUIET, VERSIONS, name
from stomp_raw_helpers import amqp, frame, raw, raw_connected, wait_for, warren_only  # noqa: F401


# -- ack modes, ACK and NACK -------------------------------------------------------------------


def delivered(stomp_client, amqp, version, what, bodies, ack, headers=None):
    """A new queue (deleted after the test) that a client sent `bodies` to and then received
    them on a subscription in `ack` mode: the queue's name, the client and its MESSAGEs."""
    q = name(what)
    amqp.forget(q)
    c = stomp_client(version)
    for body in bodies:
        c.send(f"/queue/{q}", body)
    c.subscribe(f"/queue/{q}", ack=ack, headers=headers)
    return q, c, [c.message() for _ in bodies]


def settle_with_receipt(c, settle, message, **kwargs):
    """Settles `message` with `settle` (the client's ack or nack) and waits for the RECEIPT."""
    receipt = c.receipt()
    settle(message, receipt=receipt, **kwargs)
    c.wait_receipt(receipt)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("ack", ["auto", "client", "client-individual"])
def test_the_ack_header_is_sent_in_1_2_client_modes_only(stomp_client, version, ack):
    c = stomp_client(version)
    q = f"/queue/{name('ackhdr')}"
    c.subscribe(q, ack=ack)
    c.send(q, "x")
    m = c.message()
    if version == "1.2" and ack != "auto":
        assert m.headers["ack"] == m.headers["message-id"]
    else:
        assert "ack" not in m.headers
    if ack != "auto":
        c.ack(m)


@pytest.mark.parametrize("version", VERSIONS)
def test_client_individual_ack_settles_only_that_message(stomp_client, amqp, version):
    q, c, frames = delivered(stomp_client, amqp, version, "indiv", ["1", "2", "3"],
                             "client-individual")
    settle_with_receipt(c, c.ack, frames[1])
    c.close()
    assert wait_for(lambda: amqp.depth(q) == 2), amqp.depth(q)
    assert [amqp.get(q), amqp.get(q)] == [b"1", b"3"]


@pytest.mark.parametrize("version", VERSIONS)
def test_client_ack_settles_every_earlier_message(stomp_client, amqp, version):
    q, c, frames = delivered(stomp_client, amqp, version, "cumul", ["1", "2", "3"], "client")
    settle_with_receipt(c, c.ack, frames[1])
    c.close()
    assert wait_for(lambda: amqp.depth(q) == 1), amqp.depth(q)
    assert amqp.get(q) == b"3"


@pytest.mark.parametrize("version", VERSIONS)
def test_acks_after_unsubscribe_still_settle(stomp_broker, stomp_client, amqp, version):
    warren_only(stomp_broker, "RabbitMQ 3.10 refuses it: 'Subscription not found'")
    q, c, (m, second) = delivered(stomp_client, amqp, version, "late",
                                  ["acked late", "never acked"], "client-individual")
    assert second.body == "never acked"
    c.unsubscribe("s", destination=f"/queue/{q}")
    settle_with_receipt(c, c.ack, m)
    c.close()
    assert wait_for(lambda: amqp.depth(q) == 1), amqp.depth(q)
    assert amqp.get(q) == b"never acked"


@pytest.mark.parametrize("version", VERSIONS)
def test_an_ack_for_an_unknown_message_is_an_error(stomp_broker, stomp_client, version):
    c = stomp_client(version)
    q = f"/queue/{name('unknown')}"
    c.subscribe(q, ack="client-individual")
    c.send(q, "x")
    m = c.message()
    bogus = c.ack_id(m).rsplit("@@", 1)[0] + "@@9999"
    if version == "1.1":
        c.conn.ack(bogus, "s")
    else:
        c.conn.ack(bogus)
    error = c.error()
    assert error.headers["message"] == "precondition_failed"
    assert "unknown delivery tag 9999" in error.body


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_nack_requeue_false_discards_the_message(stomp_client, amqp, version):
    q, c, (m, second) = delivered(stomp_client, amqp, version, "drop", ["unwanted", "kept"],
                                  "client-individual")
    assert second.body == "kept"
    settle_with_receipt(c, c.nack, m, requeue="false")
    # Not requeued: nothing comes back while the connection lives.
    c.assert_quiet()
    c.close()
    assert wait_for(lambda: amqp.depth(q) == 1), amqp.depth(q)
    assert amqp.get(q) == b"kept"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_nack_requeue_false_dead_letters(stomp_client, amqp, version):
    q = name("dlsrc")
    dlq = name("dlq")
    amqp.forget(q)
    amqp.declare(dlq)
    c = stomp_client(version)
    dl = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}
    c.send(f"/queue/{q}", "to the dead letters", headers=dl)
    c.subscribe(f"/queue/{q}", ack="client-individual", headers=dl)
    c.nack(c.message(), requeue="false")
    assert amqp.get(dlq) == b"to the dead letters"
    assert amqp.depth(q) == 0


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_nack_in_client_mode_is_cumulative(stomp_client, amqp, version):
    q, c, frames = delivered(stomp_client, amqp, version, "nackall", ["1", "2", "3"], "client",
                             headers={"prefetch-count": "3"})
    settle_with_receipt(c, c.nack, frames[1], requeue="false")
    c.close()
    assert wait_for(lambda: amqp.depth(q) == 1), amqp.depth(q)
    assert amqp.get(q) == b"3"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_nack_requeues_by_default(stomp_client, version):
    c = stomp_client(version)
    q = f"/queue/{name('requeue')}"
    c.send(q, "again")
    c.subscribe(q, ack="client-individual")
    first = c.message()
    assert first.headers["redelivered"] == "false"
    c.nack(first)
    again = c.message()
    assert (again.body, again.headers["redelivered"]) == ("again", "true")
    c.ack(again)


# -- transactions ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_transactional_ack_applies_at_commit_only(stomp_client, amqp, version):
    q = name("txack")
    amqp.forget(q)
    c = stomp_client(version)
    c.send(f"/queue/{q}", "held")
    c.send(f"/queue/{q}", "kept")
    c.subscribe(f"/queue/{q}", ack="client-individual", headers={"prefetch-count": "1"})
    m = c.message()
    tx = c.conn.begin()
    c.ack(m, transaction=tx)
    c.conn.abort(transaction=tx)
    c.close()
    # The aborted ACK left the message unacknowledged: it is back.
    assert wait_for(lambda: amqp.depth(q) == 2), amqp.depth(q)
    c = stomp_client(version)
    c.subscribe(f"/queue/{q}", ack="client-individual", headers={"prefetch-count": "1"})
    m = c.message()
    assert (m.body, m.headers["redelivered"]) == ("held", "true")
    tx = c.conn.begin()
    c.ack(m, transaction=tx)
    c.assert_quiet()
    receipt = c.receipt()
    c.conn.commit(transaction=tx, headers={"receipt": receipt})
    c.wait_receipt(receipt)
    # The committed ACK freed the one prefetch slot.
    assert c.message().body == "kept"
    c.close()
    assert wait_for(lambda: amqp.depth(q) == 1), amqp.depth(q)
    assert amqp.get(q) == b"kept"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_transactional_nack_applies_at_commit(stomp_client, version):
    q = f"/queue/{name('txnack')}"
    c = stomp_client(version)
    c.send(q, "requeued at commit")
    c.subscribe(q, ack="client-individual")
    m = c.message()
    tx = c.conn.begin()
    c.nack(m, transaction=tx)
    c.assert_quiet()
    c.conn.commit(transaction=tx)
    again = c.message()
    assert (again.body, again.headers["redelivered"]) == ("requeued at commit", "true")
    tx = c.conn.begin()
    c.nack(again, transaction=tx)
    c.conn.abort(transaction=tx)
    c.assert_quiet()
    c.ack(again)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_transactional_send_gets_its_receipt_after_commit(stomp_client, version):
    c = stomp_client(version)
    q = f"/queue/{name('txrcpt')}"
    c.subscribe(q)
    tx = c.conn.begin()
    receipt = c.receipt()
    c.conn.send(destination=q, body="in tx", transaction=tx, headers={"receipt": receipt})
    with pytest.raises(queue.Empty):
        c.events.receipts.get(timeout=QUIET)
    c.assert_quiet()
    c.conn.commit(transaction=tx)
    c.wait_receipt(receipt)
    assert c.message().body == "in tx"


@pytest.mark.parametrize("version", VERSIONS)
def test_commit_of_an_unknown_transaction_is_an_error(stomp_client, version):
    c = stomp_client(version)
    c.conn.commit(transaction="never-begun")
    error = c.error()
    assert error.headers["message"] == "Bad transaction"
    assert "never-begun" in error.body


@pytest.mark.parametrize("version", VERSIONS)
def test_a_send_in_an_unknown_transaction_is_an_error(stomp_client, version):
    c = stomp_client(version)
    c.conn.send(destination=f"/queue/{name('notx')}", body="x", transaction="never-begun")
    error = c.error()
    assert error.headers["message"] == "Bad transaction"
    assert "never-begun" in error.body


# -- receipts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_receipts_for_subscribe_unsubscribe_and_disconnect(stomp_client, raw, version):
    q = f"/queue/{name('rcpt')}"
    sender = stomp_client(version)
    r = raw_connected(raw, version)
    r.write(frame("SUBSCRIBE", [("destination", q), ("id", "s"), ("receipt", "sub")]))
    got = r.recv()
    assert (got.command, got.headers["receipt-id"]) == ("RECEIPT", "sub")
    # The subscription is in place once its RECEIPT came.
    sender.send(q, "while subscribed")
    m = r.recv()
    assert (m.command, m.body) == ("MESSAGE", b"while subscribed")
    r.write(frame("UNSUBSCRIBE", [("id", "s"), ("destination", q), ("receipt", "unsub")]))
    got = r.recv()
    assert (got.command, got.headers["receipt-id"]) == ("RECEIPT", "unsub")
    # And gone once the UNSUBSCRIBE's came: the next message waits in the queue.
    sender.send(q, "after")
    r.write(frame("DISCONNECT", [("receipt", "bye")]))
    frames = r.until_closed()
    assert [(f.command, f.headers.get("receipt-id")) for f in frames] == [("RECEIPT", "bye")]
    sender.subscribe(q)
    assert sender.message().body == "after"


@pytest.mark.parametrize("version", VERSIONS)
def test_receipts_come_in_frame_order_and_disconnect_last(stomp_broker, raw, version):
    q = f"/queue/{name('order')}"
    r = raw_connected(raw, version)
    r.write(frame("SEND", [("destination", q), ("receipt", "send")], b"x")
            + frame("SUBSCRIBE", [("destination", q), ("id", "s"), ("receipt", "sub"),
                                  ("ack", "client")])
            + frame("BEGIN", [("transaction", "t"), ("receipt", "begin")])
            + frame("UNSUBSCRIBE", [("id", "s"), ("destination", q), ("receipt", "unsub")])
            + frame("ABORT", [("transaction", "t"), ("receipt", "abort")])
            + frame("DISCONNECT", [("receipt", "bye")]))
    frames = [f for f in r.until_closed() if f.command != "MESSAGE"]
    expected = ["send", "sub", "begin", "unsub", "abort", "bye"]
    if not stomp_broker.is_warren:
        # RabbitMQ 3.10 confirms a SEND later, here never: the DISCONNECT came first.
        expected.remove("send")
    assert [(f.command, f.headers.get("receipt-id")) for f in frames] == [
        ("RECEIPT", rid) for rid in expected]


@pytest.mark.parametrize("version", VERSIONS)
def test_stomp_py_disconnect_waits_for_its_receipt(stomp_client, version):
    c = stomp_client(version)
    receipt = c.receipt()
    c.conn.disconnect(receipt=receipt)
    c.wait_receipt(receipt)
    assert c.events.disconnected.wait(DEADLINE)
