// A tiny HTTP server for the browser test: the page, its script, and the stock client bundles
// straight from node_modules. Only these paths are served.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

const here = import.meta.dirname;
const FILES = {
  '/': ['page/index.html', 'text/html'],
  '/clients.js': ['page/clients.js', 'text/javascript'],
  '/stomp.umd.min.js': ['node_modules/@stomp/stompjs/bundles/stomp.umd.min.js', 'text/javascript'],
  '/mqtt.min.js': ['node_modules/mqtt/dist/mqtt.min.js', 'text/javascript'],
};

export async function startPageServer() {
  const server = createServer(async (req, res) => {
    const file = FILES[new URL(req.url, 'http://localhost').pathname];
    if (req.method !== 'GET' || !file) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(resolve(here, file[0]));
      res.writeHead(200, { 'content-type': `${file[1]}; charset=utf-8` }).end(body);
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address();
  const close = () => new Promise((ok) => {
    server.closeAllConnections();
    server.close(() => ok());
  });
  return { url: `http://127.0.0.1:${port}/`, close };
}
