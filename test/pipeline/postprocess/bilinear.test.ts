import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBilinearPlan, resizeBilinear } from '../../../src/pipeline/postprocess/index.js';
import { maxAbsDiff, reference } from './reference.js';

for (const c of reference.bilinear) {
  test(`bilinear ${c.inWidth}x${c.inHeight} → ${c.outWidth}x${c.outHeight} alignCorners=${c.alignCorners} matches F.interpolate`, () => {
    const plan = createBilinearPlan(c.inHeight, c.inWidth, c.outHeight, c.outWidth, c.alignCorners);
    const dst = new Float32Array(c.outHeight * c.outWidth);
    resizeBilinear(plan, Float32Array.from(c.input), 0, dst, 0);
    assert.ok(maxAbsDiff(dst, c.output) <= 1e-5, `max abs diff ${maxAbsDiff(dst, c.output)}`);
  });
}

test('the two corner conventions give different maps (the flag is honoured)', () => {
  const c = reference.bilinear.find((r) => r.inHeight === 6 && !r.alignCorners);
  assert.ok(c);
  const a = createBilinearPlan(6, 7, 20, 17, true);
  const dst = new Float32Array(20 * 17);
  resizeBilinear(a, Float32Array.from(c.input), 0, dst, 0);
  assert.ok(maxAbsDiff(dst, c.output) > 1e-3);
});

test('resize works on a plane inside a larger buffer (batch offsets)', () => {
  const c = reference.bilinear[0];
  assert.ok(c);
  const inPlane = c.inHeight * c.inWidth;
  const outPlane = c.outHeight * c.outWidth;
  const src = new Float32Array(inPlane * 2);
  src.set(c.input, inPlane);
  const dst = new Float32Array(outPlane * 2).fill(-1);
  resizeBilinear(createBilinearPlan(c.inHeight, c.inWidth, c.outHeight, c.outWidth, c.alignCorners), src, inPlane, dst, outPlane);
  assert.equal(dst[0], -1, 'first plane untouched');
  assert.ok(maxAbsDiff(dst.subarray(outPlane), c.output) <= 1e-5);
});

test('a zero or fractional size is refused, naming it', () => {
  assert.throws(() => createBilinearPlan(0, 4, 4, 4, false), /inHeight must be a positive integer, got 0/);
  assert.throws(() => createBilinearPlan(4, 4, 4.5, 4, false), /outHeight/);
});
