// Starts the warren binary on loopback port 0 (or uses WARREN_IT_AMQP_URL) for amqplib tests.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repoRoot = resolve(import.meta.dirname, '..', '..');

export async function startBroker() {
  if (process.env.WARREN_IT_AMQP_URL) {
    return { url: process.env.WARREN_IT_AMQP_URL, stop: async () => {} };
  }
  const bin = resolve(repoRoot, process.env.WARREN_BIN ?? 'target/debug/warren');
  const dataDir = mkdtempSync(join(tmpdir(), 'warren-node-'));
  const child = spawn(bin, [
    '--amqp-listen', '127.0.0.1:0', '--mqtt-listen', '127.0.0.1:0',
    '--stomp-listen', '127.0.0.1:0', '--data-dir', dataDir,
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  const addr = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('broker did not report its amqp address')), 20000);
    child.once('exit', (code) => fail(new Error(`broker exited early with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /^warren listening amqp (\S+)$/.exec(line);
      if (match) { clearTimeout(timer); ok(match[1]); }
    });
  });
  const stop = async () => {
    const exited = new Promise((ok) => child.once('exit', ok));
    child.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { url: `amqp://guest:guest@${addr}/%2f`, stop };
}

export function unique(prefix) {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

// Resolves with the first value `poll` returns that is not undefined, or rejects at the deadline.
export async function eventually(poll, deadlineMs = 5000) {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const value = await poll();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('condition not met before the deadline');
    await new Promise((ok) => setImmediate(ok));
  }
}
