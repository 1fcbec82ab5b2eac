import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScorer, selectDescending, topkCount } from '../../../src/pipeline/postprocess/index.js';
import { reference } from './reference.js';

for (const c of reference.score) {
  test(`score ${JSON.stringify(c.rule)} matches PyTorch`, () => {
    const scorer = createScorer(c.rule, c.height, c.width);
    const got = scorer.score(Float32Array.from(c.input), 0);
    assert.ok(Math.abs(got - c.score) <= 1e-5, `got ${got}, PyTorch ${c.score}`);
  });
}

test('k = floor(H·W·fraction), at least 1', () => {
  assert.equal(topkCount(392, 392, 0.01), 1536);
  assert.equal(topkCount(20, 15, 0.01), 3);
  assert.equal(topkCount(4, 4, 0.01), 1);
});

test('top-k mean does not disturb the map and gives the same answer twice', () => {
  const c = reference.score[0];
  assert.ok(c);
  const map = Float32Array.from(c.input);
  const copy = map.slice();
  const s = createScorer(c.rule, c.height, c.width);
  const a = s.score(map, 0);
  const b = s.score(map, 0);
  assert.equal(a, b);
  assert.deepEqual(map, copy);
});

test('quickselect puts the k-th largest value at k on sorted, constant and random data', () => {
  const cases = [
    Float32Array.from({ length: 101 }, (_, i) => i),
    Float32Array.from({ length: 101 }, (_, i) => 100 - i),
    new Float32Array(50).fill(3),
    Float32Array.from({ length: 997 }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1),
  ];
  for (const a of cases) {
    const sorted = Array.from(a).sort((x, y) => y - x);
    for (const k of [0, 1, Math.floor(a.length / 2), a.length - 1]) {
      const w = a.slice();
      selectDescending(w, w.length, k);
      assert.equal(w[k], Math.fround(sorted[k] as number));
      for (let i = 0; i < k; i++) assert.ok((w[i] as number) >= (w[k] as number));
    }
  }
});

test('an avg-pool kernel larger than the map is refused', () => {
  assert.throws(() => createScorer({ op: 'avgpool-max', kernel: 16 }, 8, 8), /kernel 16 is larger than the 8x8 map/);
});
