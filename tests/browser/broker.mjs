// Starts the warren binary with every listener on loopback port 0, the WebSocket one included,
// and reads its `warren listening PROTOCOL ADDR` lines to learn the real ports.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repoRoot = resolve(import.meta.dirname, '..', '..');
const START_DEADLINE_MS = 20000;
const STOP_DEADLINE_MS = 5000;

export async function startBroker() {
  const bin = resolve(repoRoot, process.env.WARREN_BIN ?? 'target/debug/warren');
  const dataDir = mkdtempSync(join(tmpdir(), 'warren-browser-'));
  const child = spawn(bin, [
    '--amqp-listen', '127.0.0.1:0', '--mqtt-listen', '127.0.0.1:0',
    '--stomp-listen', '127.0.0.1:0', '--ws-listen', '127.0.0.1:0', '--data-dir', dataDir,
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  // Should this process die without running the test's `after`, the broker goes with it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    await terminate(child);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const ws = await listeningAddress(child, 'ws');
    return { ws, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function listeningAddress(child, protocol) {
  return new Promise((ok, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`broker did not report its ${protocol} address`)), START_DEADLINE_MS);
    child.once('exit', (code) => { clearTimeout(timer); fail(new Error(`broker exited early with ${code}`)); });
    child.once('error', (err) => { clearTimeout(timer); fail(err); });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /^warren listening (\S+) (\S+)$/.exec(line);
      if (match && match[1] === protocol) { clearTimeout(timer); ok(match[2]); }
    });
  });
}

// SIGTERM for a graceful shutdown; SIGKILL if it has not exited by the deadline.
async function terminate(child) {
  // A binary that never started (spawn error) has no pid and will report no exit.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((ok) => child.once('exit', ok));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_DEADLINE_MS);
  await exited;
  clearTimeout(timer);
}
