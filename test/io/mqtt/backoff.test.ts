import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelayMs } from '../../../src/io/mqtt/backoff.js';

const opts = { initialDelayMs: 500, maxDelayMs: 30_000, jitter: 0.5 };

test('doubles from the initial delay and stops at the ceiling', () => {
  const fixed = { ...opts, jitter: 0 };
  assert.deepEqual([0, 1, 2, 3, 6, 7, 60, 2000].map((a) => backoffDelayMs(a, fixed, Math.random)), [500, 1000, 2000, 4000, 30_000, 30_000, 30_000, 30_000]);
});

test('jitter spreads the delay over [ (1 − jitter)·d, d ]', () => {
  assert.equal(backoffDelayMs(2, opts, () => 0), 1000);
  assert.equal(backoffDelayMs(2, opts, () => 0.999999), 2000);
  assert.equal(backoffDelayMs(2, { ...opts, jitter: 1 }, () => 0), 0);
});
