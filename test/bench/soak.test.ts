import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatSoakTrend, runSoak, soakTrend, type SoakSample } from '../../bench/soak.js';

const at = (frames: number, rssMiB: number, heapMiB = 18): SoakSample => ({ frames, seconds: frames / 400, rssMiB, heapMiB });

test('soak trend: a steady leak shows as its slope, whatever the first and last samples say', () => {
  // 1 MiB every 10 000 frames plus ±5 MiB of wandering that ends where it began.
  const wander = [0, 5, -5, 5, -5, 5, -5, 5, -5, 0];
  const samples = wander.map((w, i) => at((i + 1) * 10_000, 200 + (i + 1) + w));
  const t = soakTrend(samples);
  assert.equal(t.samples, 9, 'the first tenth (10 000 of 100 000 frames) is warm-up');
  // Reference: the least-squares slope Σ(x−x̄)(y−ȳ)/Σ(x−x̄)² over the same samples, written out.
  const xs = samples.slice(1).map((s) => s.frames);
  const ys = samples.slice(1).map((s) => s.rssMiB);
  const mx = xs.reduce((a, b) => a + b) / xs.length;
  const my = ys.reduce((a, b) => a + b) / ys.length;
  const ref = xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0) / xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  assert.ok(Math.abs(t.rssMiBPer100k - ref * 100_000) < 1e-9);
  assert.ok(t.rssMiBPer100k > 5 && t.rssMiBPer100k < 15, `slope ${t.rssMiBPer100k}`);
  assert.deepEqual([t.rssMinMiB, t.rssMaxMiB], [198, 213]);
  assert.equal(t.heapMiBPer100k, 0);
});

test('soak trend: memory that only wanders is flat, and the report says met', () => {
  const samples = [240, 253, 238, 251, 239, 252, 240, 251, 239, 252].map((r, i) => at((i + 1) * 10_000, r));
  const t = soakTrend(samples);
  assert.ok(Math.abs(t.rssMiBPer100k) < 10, `slope ${t.rssMiBPer100k}`);
  assert.match(formatSoakTrend(t), /resident [+-][\d.]+ MiB per 100 000 frames \(target ≤ 10: met\), JS heap \+0\.0 MiB; resident wandered 238\.0–253\.0 MiB/);
  assert.throws(() => soakTrend(samples.slice(0, 1)), /a trend needs at least 2/);
});

test('soak with 4 cameras: every frame of the run is sampled, the cameras batched across (a smoke run, not the 100 000)', async () => {
  const tiny = fileURLToPath(new URL('../../../test/fixtures/models/tiny-inp/', import.meta.url));
  const seen: SoakSample[] = [];
  let meanBatch = 0;
  const samples = await runSoak(tiny, 400, 1, (s) => seen.push(s), 4, (b) => (meanBatch = b));
  assert.equal(samples.length, 50, 'one sample every fiftieth of the run');
  assert.deepEqual(seen, samples);
  assert.equal(samples[samples.length - 1]!.frames, 400, 'four cameras of 100 frames each, every one judged');
  assert.ok(Number.isFinite(soakTrend(samples).rssMiBPer100k));
  assert.ok(meanBatch > 1 && meanBatch <= 4, `frames per model call ${meanBatch}: batched across the cameras, one frame of each at most`);
});
