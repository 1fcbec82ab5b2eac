import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SampleMeta } from '../../../../src/pipeline/sources/gstreamer/binding.js';
import { after, between, captureTimeOf, clockMapOf } from '../../../../src/pipeline/sources/gstreamer/timing.js';

/** Capture time from running time + base time, mapped to the host clocks (pure, reference values). */

function meta(over: Partial<SampleMeta>): SampleMeta {
  return { pts: null, dts: null, duration: null, offset: null, offsetEnd: null, flags: 0, arrival: null, runningTime: null, baseTime: null, references: [], ...over };
}

const REAL0 = 1_800_000_000_000_000_000n; // a CLOCK_REALTIME reading, ns
const arrival = { monoNs: 5_000_000_000n, wallMs: 1_800_000_001_000 };

test('running time + base time is the clock time of capture; one paired reading maps it onto both host clocks', () => {
  // The pipeline clock read 4 s when the host's monotonic clock read 4.5 s and the real-time clock REAL0 + 0.2 s.
  const map = clockMapOf(meta({ clockTime: 4_000_000_000n, hostMonoTime: 4_500_000_000n, hostRealTime: REAL0 + 200_000_000n }));
  assert.deepEqual(map, { monoOffsetNs: 500_000_000n, realOffsetNs: REAL0 - 3_800_000_000n });
  // Captured at clock 1 s + 2.25 s = 3.25 s → host monotonic 3.75 s, real time REAL0 − 0.55 s.
  const t = captureTimeOf(meta({ runningTime: 2_250_000_000n, baseTime: 1_000_000_000n }), map, arrival);
  assert.deepEqual(t, { monoNs: 3_750_000_000n, wallMs: 1_799_999_999_450 });
});

test('no timestamp, no clock, or a time after arrival: the arrival time stands', () => {
  const map = { monoOffsetNs: 0n, realOffsetNs: REAL0 };
  assert.equal(captureTimeOf(meta({}), map, arrival), arrival);
  assert.equal(captureTimeOf(meta({ runningTime: 1n, baseTime: 1n }), null, arrival), arrival);
  assert.equal(captureTimeOf(meta({ runningTime: 4_000_000_000n, baseTime: 2_000_000_000n }), map, arrival), arrival);
  assert.equal(clockMapOf(meta({ clockTime: 1n })), null);
});

test('lost frames between two captures are spread evenly; after the last one a frame period apart, never past the moment the loss became known', () => {
  const a = { monoNs: 1_000n, wallMs: 10 };
  const b = { monoNs: 4_000n, wallMs: 13 };
  assert.deepEqual(between(a, b, 2), [
    { monoNs: 2_000n, wallMs: 11 },
    { monoNs: 3_000n, wallMs: 12 },
  ]);
  const now = { monoNs: 2_500_000_000n, wallMs: 2_500 };
  const start = { monoNs: 1_000_000_000n, wallMs: 1_000 };
  assert.deepEqual(after(start, 3, 1_000_000_000n, now), [{ monoNs: 2_000_000_000n, wallMs: 2_000 }, now, now]);
  assert.deepEqual(after(start, 1, null, now), [now]);
});
