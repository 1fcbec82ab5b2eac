/**
 * A fixed-batch bundle (tiny-inp-b2: a TensorRT-style graph built for batch 2) through the engine:
 * a smaller batch is padded, a larger one split, each counted, and every image gets the map it
 * gets in a full batch of its own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceEngine, loadBundle } from '../../src/models/index.js';
import { joinOutputs, splitBatch } from '../../src/models/fixed-batch.js';
import { decode, fixture, readGolden } from './helpers.js';

const PER = 56 * 56 * 3;
const PLANE = 64 * 64;

/** n images cycling through the golden pair, in a buffer of their own (the engine takes it). */
function images(pair: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n * PER);
  for (let i = 0; i < n; i++) out.set(pair.subarray((i % 2) * PER, (i % 2 + 1) * PER), i * PER);
  return out;
}

test('splitBatch and joinOutputs: parts of at most the fixed batch, in order, joined back', () => {
  const data = Float32Array.from({ length: 5 * 3 }, (_, i) => i);
  const parts = splitBatch({ n: 5, data, prompt: data.map((x) => -x) }, 2, 3);
  assert.deepEqual(parts.map((p) => p.n), [2, 2, 1]);
  assert.deepEqual(Array.from(parts[2]!.data), [12, 13, 14]);
  assert.deepEqual(Array.from(parts[1]!.prompt!), [-6, -7, -8, -9, -10, -11]);
  assert.ok(parts.every((p) => p.data.byteOffset === 0 && p.data.byteLength === p.data.buffer.byteLength), 'each part owns its buffer (it is transferred)');
  const outs = parts.map((p, k) => ({ n: p.n, map: new Float32Array(p.n * 2).fill(k), mapHeight: 1, mapWidth: 2, score: new Float32Array(p.n).fill(10 + k), inferMs: 1 + k }));
  const joined = joinOutputs(5, outs, 2);
  assert.deepEqual(Array.from(joined.map), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]);
  assert.deepEqual(Array.from(joined.score!), [10, 10, 11, 11, 12]);
  assert.equal(joined.inferMs, 6, 'the model time of all runs');
  assert.throws(() => joinOutputs(4, outs, 2), /the runs hold 5 images, the batch 4/);
});

test('tiny-inp-b2 (fixed batch 2): 1 image padded, 3 and 5 split, counted; each image maps as in a full pair', async () => {
  const bundle = await loadBundle(fixture('tiny-inp-b2'));
  const golden = await readGolden(bundle.dir);
  const c = golden.cases[0]!;
  const pair = decode(c.inputs['image']!).data as Uint8Array;
  const engine = await InferenceEngine.create(bundle, { workers: 1, intraOpThreads: 1 });
  try {
    const full = await engine.run({ n: 2, data: images(pair, 2) });
    assert.deepEqual(engine.batchCounts(), { runs: 1, images: 2, paddedRuns: 0, paddedImages: 0, splitBatches: 0 });
    const reference = [full.map.slice(0, PLANE), full.map.slice(PLANE)];
    for (const n of [1, 3, 5]) {
      const out = await engine.run({ n, data: images(pair, n) });
      assert.equal(out.n, n);
      assert.equal(out.map.length, n * PLANE);
      assert.equal(out.score!.length, n);
      for (let i = 0; i < n; i++) {
        // Every run is a batch of 2 (padding fills it), so each image's map is the very same bits.
        assert.deepEqual(out.map.subarray(i * PLANE, (i + 1) * PLANE), reference[i % 2], `batch of ${n}, image ${i}`);
        assert.equal(out.score![i], full.score![i % 2]);
      }
    }
    // 1 → one padded run; 3 → 2 + 1 (padded); 5 → 2 + 2 + 1 (padded).
    assert.deepEqual(engine.batchCounts(), { runs: 1 + 1 + 2 + 3, images: 2 + 1 + 3 + 5, paddedRuns: 3, paddedImages: 3, splitBatches: 2 });
  } finally {
    await engine.close();
  }
});
