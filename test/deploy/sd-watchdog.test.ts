/**
 * deploy/jetson/sd-watchdog.py, the unit's main process, against a real sd_notify socket (a unix
 * datagram socket bound by a python3 receiver, as systemd's would be) and a real child serving
 * /healthz over HTTP: READY=1 only once healthy, watchdog pings stop when /healthz fails, signals
 * are forwarded and the child's exit status is the unit's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const supervisor = join(root, 'deploy/jetson/sd-watchdog.py');

const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("bound"), flush=True)
while True:
    print(json.dumps(s.recv(4096).decode()), flush=True)
`;

// Stands in for linewatch: /healthz is 503 until READY_AFTER_MS, 200 until SICK_AFTER_MS, then 503.
const CHILD = `
const http = require('http');
const t0 = Date.now();
const env = (k) => Number(process.env[k] || 0);
const srv = http.createServer((req, res) => {
  const age = Date.now() - t0;
  const ok = req.url === '/healthz' && age >= env('READY_AFTER_MS') && !(env('SICK_AFTER_MS') && age >= env('SICK_AFTER_MS'));
  res.statusCode = ok ? 200 : 503;
  res.end();
});
srv.listen(env('PORT'), '127.0.0.1');
process.on('SIGTERM', () => { srv.close(); process.exit(0); });
if (env('EXIT_AFTER_MS')) setTimeout(() => process.exit(3), env('EXIT_AFTER_MS'));
`;

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  srv.close();
  assert.ok(addr && typeof addr === 'object');
  return addr.port;
}

interface Harness {
  messages: string[];
  proc: ChildProcess;
  exit: Promise<number | null>;
  cleanup(): Promise<void>;
}

async function start(childEnv: Record<string, string>): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'lw-sdw-'));
  const sock = join(dir, 'notify');
  const receiver = spawn('python3', ['-c', RECEIVER, sock], { stdio: ['ignore', 'pipe', 'ignore'] });
  const messages: string[] = [];
  let bound: () => void = () => {};
  const isBound = new Promise<void>((resolve) => (bound = resolve));
  let buf = '';
  receiver.stdout?.setEncoding('utf8');
  receiver.stdout?.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const m = JSON.parse(buf.slice(0, nl)) as string;
      buf = buf.slice(nl + 1);
      if (m === 'bound') bound();
      else messages.push(m);
    }
  });
  await isBound;
  const port = await freePort();
  const proc = spawn(
    'python3',
    [supervisor, '--health-url', `http://127.0.0.1:${port}/healthz`, '--engine-cache', join(dir, 'engines'), '--', process.execPath, '-e', CHILD],
    // stdio ignored: a child holding the runner's pipes would keep the runner waiting.
    { env: { ...process.env, ...childEnv, PORT: String(port), NOTIFY_SOCKET: sock, WATCHDOG_USEC: '200000' }, stdio: 'ignore' },
  );
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    messages,
    proc,
    exit,
    async cleanup() {
      // SIGTERM, so the supervisor forwards it and the HTTP child does not outlive the test.
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exit;
        clearTimeout(timer);
      }
      receiver.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('READY=1 comes only once /healthz answers, the watchdog is fed, SIGTERM stops linewatch cleanly', async () => {
  const h = await start({ READY_AFTER_MS: '600' });
  try {
    await until(() => h.messages.some((m) => m.includes('READY=1')), 'READY=1');
    const readyAt = h.messages.findIndex((m) => m.includes('READY=1'));
    assert.match(h.messages[0] ?? '', /^STATUS=starting: first start may build the TensorRT engine/);
    // While starting (engine build), the live child keeps the watchdog fed.
    assert.ok(h.messages.slice(0, readyAt).some((m) => m === 'WATCHDOG=1'), 'pings while starting');
    const count = h.messages.length;
    await until(() => h.messages.slice(count).filter((m) => m === 'WATCHDOG=1').length >= 2, 'pings after ready');
    h.proc.kill('SIGTERM');
    assert.equal(await h.exit, 0, 'the child handled SIGTERM and exited 0');
    assert.ok(h.messages.includes('STOPPING=1'));
  } finally {
    await h.cleanup();
  }
});

test('when /healthz fails after start, the pings stop (systemd then restarts the unit)', async () => {
  const h = await start({ SICK_AFTER_MS: '800' });
  try {
    await until(() => h.messages.some((m) => m.includes('READY=1')), 'READY=1');
    const isFailing = (m: string): boolean => m.startsWith('STATUS=/healthz failing');
    // The probe's timeout is half a ping interval (100 ms here): on a loaded machine one can run out
    // before the child turns sick, a failure the supervisor recovers from (STATUS=inspecting). The
    // child sick for good shows as failures in a row.
    await until(() => h.messages.includes('STATUS=/healthz failing (3 in a row)'), 'a failing status, three in a row');
    await sleep(500); // several ping intervals
    // No ping inside any failing stretch; the last one (the child sick for good) runs to the end.
    let failing = false;
    const pingsWhileFailing: number[] = [];
    h.messages.forEach((m, i) => {
      if (isFailing(m)) failing = true;
      else if (m === 'STATUS=inspecting') failing = false;
      else if (m === 'WATCHDOG=1' && failing) pingsWhileFailing.push(i);
    });
    assert.deepEqual(pingsWhileFailing, [], `no pings while unhealthy: ${JSON.stringify(h.messages)}`);
    assert.ok(failing, `still failing at the end: ${JSON.stringify(h.messages)}`);
    assert.match(h.messages.at(-1) ?? '', /^STATUS=\/healthz failing \(\d+ in a row\)$/);
  } finally {
    await h.cleanup();
  }
});

test('the unit exits with linewatch\'s status when it dies on its own', async () => {
  const h = await start({ EXIT_AFTER_MS: '300' });
  try {
    assert.equal(await h.exit, 3);
    assert.ok(h.messages.includes('STATUS=linewatch exited (3)'));
  } finally {
    await h.cleanup();
  }
});
