import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGaussianPlan, gaussianBlur, gaussianKernel1d } from '../../../src/pipeline/postprocess/index.js';
import { maxAbsDiff, reference } from './reference.js';

for (const c of reference.gaussian) {
  test(`gaussian k=${c.kernel} σ=${c.sigma} ${c.padding} padding on ${c.width}x${c.height} matches conv2d`, () => {
    const plan = createGaussianPlan(c.height, c.width, c.sigma, c.kernel, c.padding);
    const dst = new Float32Array(c.height * c.width);
    gaussianBlur(plan, Float32Array.from(c.input), 0, dst, 0);
    assert.ok(maxAbsDiff(dst, c.output) <= 1e-5, `max abs diff ${maxAbsDiff(dst, c.output)}`);
  });
}

test('blurring in place gives the same result as into another buffer', () => {
  const c = reference.gaussian[0];
  assert.ok(c);
  const plan = createGaussianPlan(c.height, c.width, c.sigma, c.kernel, c.padding);
  const buf = Float32Array.from(c.input);
  gaussianBlur(plan, buf, 0, buf, 0);
  assert.ok(maxAbsDiff(buf, c.output) <= 1e-5);
});

test('the 1-D kernel is symmetric and sums to 1', () => {
  const k = gaussianKernel1d(7, 1.5);
  let sum = 0;
  for (let i = 0; i < 7; i++) sum += k[i] as number;
  assert.ok(Math.abs(sum - 1) < 1e-12);
  assert.equal(k[0], k[6]);
  assert.ok((k[3] as number) > (k[2] as number));
});

test('an even kernel or a non-positive sigma is refused', () => {
  assert.throws(() => gaussianKernel1d(4, 1), /positive odd integer, got 4/);
  assert.throws(() => gaussianKernel1d(5, 0), /sigma must be positive/);
});
