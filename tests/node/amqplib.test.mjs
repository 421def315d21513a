// amqplib (Node) against Warren: the everyday paths of a Node service.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { startBroker, unique, eventually } from './broker.mjs';

let broker;
before(async () => { broker = await startBroker(); });
after(async () => { await broker.stop(); });

async function withConnection(body) {
  const connection = await amqp.connect(broker.url);
  try { return await body(connection); } finally { await connection.close(); }
}

test('publish to a queue and consume with manual acks', () => withConnection(async (conn) => {
  const ch = await conn.createChannel();
  const queue = unique('node-q');
  await ch.assertQueue(queue, { exclusive: true });
  const received = [];
  await ch.consume(queue, (msg) => { received.push(msg.content.toString()); ch.ack(msg); });
  for (const body of ['one', 'two', 'three']) ch.sendToQueue(queue, Buffer.from(body));
  await eventually(() => (received.length === 3 ? true : undefined));
  assert.deepEqual(received, ['one', 'two', 'three']);
}));

test('topic exchange routes by pattern', () => withConnection(async (conn) => {
  const ch = await conn.createChannel();
  const exchange = unique('node-topic');
  await ch.assertExchange(exchange, 'topic', { autoDelete: true });
  const { queue } = await ch.assertQueue('', { exclusive: true });
  assert.match(queue, /^amq\.gen-/);
  await ch.bindQueue(queue, exchange, 'city.*');
  ch.publish(exchange, 'city.london', Buffer.from('yes'));
  ch.publish(exchange, 'country.uk', Buffer.from('no'));
  const msg = await eventually(async () => (await ch.get(queue, { noAck: true })) || undefined);
  assert.equal(msg.content.toString(), 'yes');
  assert.equal(msg.fields.routingKey, 'city.london');
  assert.equal(await ch.get(queue, { noAck: true }), false);
}));

test('confirm channel acks publishes and returns unroutable mandatory ones first', () =>
  withConnection(async (conn) => {
    const ch = await conn.createConfirmChannel();
    const returned = [];
    ch.on('return', (msg) => returned.push(msg.fields.replyCode));
    await new Promise((ok, fail) => ch.publish('amq.direct', unique('nowhere'),
      Buffer.from('x'), { mandatory: true }, (err) => (err ? fail(err) : ok())));
    assert.deepEqual(returned, [312]);
    const queue = unique('node-confirm');
    await ch.assertQueue(queue, { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('kept'), { persistent: true, headers: { n: 7 } });
    await ch.waitForConfirms();
    const msg = await ch.get(queue, { noAck: true });
    assert.equal(msg.content.toString(), 'kept');
    assert.equal(msg.properties.headers.n, 7);
    assert.equal(msg.properties.deliveryMode, 2);
  }));

test('a missing queue closes the channel with 404 but not the connection', () =>
  withConnection(async (conn) => {
    const ch = await conn.createChannel();
    const closed = new Promise((ok) => ch.on('error', ok));
    await assert.rejects(ch.checkQueue(unique('missing')), /404/);
    assert.match(String((await closed).message), /NOT_FOUND/);
    const ch2 = await conn.createChannel();
    const ok = await ch2.assertQueue(unique('after-error'), { exclusive: true });
    assert.equal(ok.messageCount, 0);
  }));

test('prefetch limits unacknowledged deliveries per consumer', () => withConnection(async (conn) => {
  const ch = await conn.createChannel();
  const queue = unique('node-prefetch');
  await ch.assertQueue(queue, { exclusive: true });
  for (let i = 0; i < 10; i += 1) ch.sendToQueue(queue, Buffer.from(String(i)));
  await ch.prefetch(3);
  const held = [];
  await ch.consume(queue, (msg) => held.push(msg));
  await eventually(() => (held.length === 3 ? true : undefined));
  // A round trip on the same channel orders after any delivery already sent.
  const check = await ch.checkQueue(queue);
  assert.equal(held.length, 3);
  assert.equal(check.messageCount, 7);
  ch.ack(held[2], true);
  await eventually(() => (held.length === 6 ? true : undefined));
}));
