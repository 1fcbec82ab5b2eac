import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Clock, TimerHandle } from '../../../src/io/mqtt/clock.js';
import { MqttLink, type LinkState } from '../../../src/io/mqtt/link.js';
import { MemoryOutboxStore, Outbox } from '../../../src/io/mqtt/outbox.js';
import { freePort } from './helpers/mosquitto.js';

/** A clock whose timers run only when the test says so, recording the delays asked for. */
class ManualClock implements Clock {
  now = 1_000_000;
  readonly delays: number[] = [];
  private pending: (() => void)[] = [];
  nowMs(): number {
    return this.now;
  }
  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    this.delays.push(delayMs);
    this.pending.push(fn);
    return setTimeout(() => {}, 0);
  }
  clearTimeout(): void {
    this.pending = [];
  }
  fire(): void {
    const fns = this.pending;
    this.pending = [];
    for (const f of fns) f();
  }
}

test('with no broker listening: offline, then retries on an exponential, capped, jittered schedule; close() stops it', async () => {
  const port = await freePort();
  const clock = new ManualClock();
  const states: LinkState[] = [];
  const link = new MqttLink({
    url: `mqtt://127.0.0.1:${port}`,
    clientId: 'lw-test',
    protocolVersion: 5,
    keepaliveS: 10,
    connectTimeoutMs: 1_000,
    credentials: { rejectUnauthorized: true },
    reconnect: { initialDelayMs: 100, maxDelayMs: 800, jitter: 0.5 },
    outbox: new Outbox(new MemoryOutboxStore(), { maxMessages: 10, overflow: 'drop-oldest' }),
    will: () => ({ topic: 'x/status', payload: '{}', retain: true }),
    onConnectMessages: () => [],
    subscriptions: [],
    clock,
    random: () => 0.5,
  });
  link.on('state', (s) => states.push(s));
  link.start();
  for (let i = 0; i < 6; i++) {
    const until = Date.now() + 3_000;
    while (clock.delays.length <= i) {
      if (Date.now() > until) throw new Error(`attempt ${i} never failed`);
      await new Promise((r) => setTimeout(r, 5));
    }
    clock.fire();
  }
  // delay = ceiling·(1 − jitter) + ceiling·jitter·0.5, ceiling = min(800, 100·2^n)
  assert.deepEqual(clock.delays.slice(0, 6), [75, 150, 300, 600, 600, 600]);
  assert.deepEqual(states.slice(0, 4), ['connecting', 'offline', 'connecting', 'offline']);
  assert.equal(link.publishReliable({ topic: 'x/reject', payload: '{}', retain: false }, clock.now + 10_000), true);
  assert.equal(link.counters().outbox.depth, 1);
  await link.close(null);
  assert.equal(link.state, 'closed');
  const n = clock.delays.length;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(clock.delays.length, n, 'no retry after close');
});
