// Runs in the page. The stock clients from their browser bundles: stomp.js (global `StompJs`)
// and MQTT.js (global `mqtt`). The test calls `window.warren.*` and reads what arrived from
// `window.warren.received`; the checks are the test's, not the page's.
'use strict';

const TIMEOUT_MS = 10000;

window.warren = {
  received: [],
  stomp: null,
  mqtt: null,

  // Connects both clients and subscribes both to the same topic: STOMP `/topic/browser.KEY`
  // and MQTT `browser/KEY` (the broker maps MQTT's `/` to the AMQP topic separator `.`).
  async connect({ stompUrl, mqttUrl, key }) {
    this.stomp = await stompConnect(stompUrl);
    await stompSubscribe(this.stomp, `/topic/browser.${key}`, (frame) => {
      this.received.push({ client: 'stomp', to: frame.headers.destination, body: frame.body });
    });
    this.mqtt = await mqttConnect(mqttUrl);
    this.mqtt.on('message', (topic, payload) => {
      this.received.push({ client: 'mqtt', to: topic, body: new TextDecoder().decode(payload) });
    });
    const granted = await this.mqtt.subscribeAsync(`browser/${key}`, { qos: 1 });
    if (granted.some((g) => g.qos > 2)) throw new Error(`subscription refused: ${JSON.stringify(granted)}`);
  },

  async stompSend(key, body) {
    await withReceipt(this.stomp, (receipt) => {
      this.stomp.publish({ destination: `/topic/browser.${key}`, body, headers: { receipt } });
    });
  },

  async mqttPublish(key, body) {
    await this.mqtt.publishAsync(`browser/${key}`, body, { qos: 1 });
  },

  async close() {
    await this.stomp?.deactivate();
    await this.mqtt?.endAsync();
  },
};

function stompConnect(brokerURL) {
  return withTimeout('STOMP CONNECTED', (ok, fail) => {
    const client = new StompJs.Client({
      brokerURL,
      connectHeaders: { login: 'guest', passcode: 'guest', host: '/' },
      reconnectDelay: 0,
    });
    client.onConnect = () => ok(client);
    client.onStompError = (frame) => fail(new Error(`STOMP ERROR: ${frame.headers.message}`));
    client.onWebSocketClose = (ev) => fail(new Error(`STOMP WebSocket closed: ${ev.code}`));
    client.activate();
  });
}

function stompSubscribe(client, destination, onMessage) {
  return withReceipt(client, (receipt) => client.subscribe(destination, onMessage, { receipt }));
}

// Runs `send(receiptId)` and resolves when the broker's RECEIPT for it arrives.
let receipts = 0;
function withReceipt(client, send) {
  return withTimeout('STOMP RECEIPT', (ok) => {
    const receipt = `r-${++receipts}`;
    client.watchForReceipt(receipt, () => ok());
    send(receipt);
  });
}

function mqttConnect(url) {
  return withTimeout('MQTT CONNACK', (ok, fail) => {
    const client = mqtt.connect(url, {
      clientId: `browser-${Math.random().toString(36).slice(2, 10)}`,
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
      connectTimeout: TIMEOUT_MS,
    });
    client.once('connect', () => ok(client));
    client.once('error', fail);
    client.once('close', () => fail(new Error('MQTT connection closed')));
  });
}

function withTimeout(what, start) {
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`no ${what} within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    start((v) => { clearTimeout(timer); ok(v); }, (e) => { clearTimeout(timer); fail(e); });
  });
}
