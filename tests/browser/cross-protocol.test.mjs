// A real browser: headless Chromium loads a page served here that runs stock stomp.js and
// MQTT.js over WebSocket against the warren binary, and messages cross between the protocols.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from './broker.mjs';
import { startPageServer } from './page-server.mjs';
import { launchChromium } from './chromium.mjs';

const DEADLINE_MS = 10000;
let broker;
let pages;
let browser;

before(async () => {
  broker = await startBroker();
  pages = await startPageServer();
  browser = await launchChromium();
});

// Runs pass or fail, and also when `before` stopped half-way.
after(async () => {
  await Promise.allSettled([browser?.close(), pages?.close()]);
  await broker?.stop();
});

function unique() {
  return `${process.pid}${Math.random().toString(36).slice(2, 10)}`;
}

async function crossProtocolRoundTrip(stompPath, mqttPath) {
  const page = await browser.context.newPage();
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  try {
    await page.goto(pages.url);
    const key = unique();
    const ws = `ws://${broker.ws}`;
    await page.evaluate((opts) => window.warren.connect(opts),
      { stompUrl: ws + stompPath, mqttUrl: ws + mqttPath, key });
    await page.evaluate((k) => window.warren.stompSend(k, 'sent by stomp.js'), key);
    await page.evaluate((k) => window.warren.mqttPublish(k, 'published by MQTT.js'), key);

    // Each client is subscribed to the topic, so each gets both messages.
    await page.waitForFunction(() => window.warren.received.length >= 4, null,
      { timeout: DEADLINE_MS, polling: 20 }).catch(async (err) => {
      const got = await page.evaluate(() => window.warren.received);
      throw new Error(`${err.message}; received ${JSON.stringify(got)}; page errors ${pageErrors}`);
    });
    const received = await page.evaluate(() => window.warren.received);
    const order = (a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b));
    assert.deepEqual(received.sort(order), [
      { client: 'mqtt', to: `browser/${key}`, body: 'published by MQTT.js' },
      { client: 'mqtt', to: `browser/${key}`, body: 'sent by stomp.js' },
      { client: 'stomp', to: `/topic/browser.${key}`, body: 'published by MQTT.js' },
      { client: 'stomp', to: `/topic/browser.${key}`, body: 'sent by stomp.js' },
    ].sort(order));
    await page.evaluate(() => window.warren.close());
    assert.deepEqual(pageErrors, []);
  } finally {
    await page.close();
  }
}

test('on /ws the offered subprotocol picks STOMP or MQTT, and messages cross', { timeout: 20000 },
  () => crossProtocolRoundTrip('/ws', '/ws'));

test('on /stomp and /mqtt the path picks the protocol, and messages cross', { timeout: 20000 },
  () => crossProtocolRoundTrip('/stomp', '/mqtt'));
