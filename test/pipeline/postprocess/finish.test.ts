import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manifestSchema, type ManifestInput } from '../../../src/models/manifest.js';
import { finishMaps, normalizeScore } from '../../../src/pipeline/postprocess/index.js';
import { maxAbsDiff, reference } from './reference.js';

function manifestFor(inH: number, inW: number, steps: unknown[], rule: unknown, scoreName: string | null = null) {
  const m: ManifestInput = {
    format: 'linewatch-bundle/1',
    architecture: 'inp-former',
    version: 'test',
    sha256: '0'.repeat(64),
    input: { name: 'image', dtype: 'uint8', layout: 'NHWC', height: 56, width: 56, channels: 3, colorOrder: 'RGB', valueRange: [0, 255], normalize: null, batch: 'dynamic' },
    geometry: { resize: { height: 64, width: 64 }, crop: { height: 56, width: 56 } },
    outputs: { anomalyMap: { name: 'anomaly_map', height: inH, width: inW, runtimeSteps: steps as never }, score: { name: scoreName, rule: rule as never } },
    calibration: { method: 'test', image: { threshold: 0.5, min: 0, max: 1 }, pixel: { threshold: 0.5, min: 0, max: 1 } },
  };
  return manifestSchema.parse(m);
}

for (const c of reference.chain) {
  test(`finishMaps applies runtimeSteps then the score rule like the INP-Former recipe in PyTorch (n=${c.n})`, () => {
    const m = manifestFor(c.inHeight, c.inWidth, c.steps, c.rule);
    const out = finishMaps(m, { n: c.n, map: Float32Array.from(c.input), mapHeight: c.inHeight, mapWidth: c.inWidth, score: null, inferMs: 0 });
    assert.equal(out.height, 56);
    assert.equal(out.width, 56);
    assert.ok(maxAbsDiff(out.maps, c.maps) <= 1e-5, `maps differ by ${maxAbsDiff(out.maps, c.maps)}`);
    assert.ok(maxAbsDiff(out.scores, c.scores) <= 1e-5, `scores differ by ${maxAbsDiff(out.scores, c.scores)}`);
  });
}

test('with no runtime steps and a graph score, finishMaps passes the model output through', () => {
  const m = manifestFor(4, 4, [], { op: 'max' }, 'score');
  const map = Float32Array.from({ length: 16 }, (_, i) => i);
  const score = Float32Array.of(0.25);
  const out = finishMaps(m, { n: 1, map, mapHeight: 4, mapWidth: 4, score, inferMs: 0 });
  assert.equal(out.maps, map);
  assert.equal(out.scores, score);
});

test('a map of the wrong size is refused with both sizes named', () => {
  const m = manifestFor(4, 4, [], { op: 'max' });
  assert.throws(
    () => finishMaps(m, { n: 1, map: new Float32Array(25), mapHeight: 5, mapWidth: 5, score: null, inferMs: 0 }),
    /5x5 map, the manifest says 4x4/,
  );
});

test('normalizeScore: anomalib convention, 0.5 at the threshold, clamped', () => {
  const cal = { threshold: 0.3, min: 0.1, max: 0.5 };
  assert.equal(normalizeScore(0.3, cal), 0.5);
  assert.ok(Math.abs(normalizeScore(0.4, cal) - 0.75) < 1e-12);
  assert.ok(Math.abs(normalizeScore(0.2, cal) - 0.25) < 1e-12);
  assert.equal(normalizeScore(10, cal), 1);
  assert.equal(normalizeScore(-10, cal), 0);
  assert.equal(normalizeScore(0.31, { threshold: 0.3, min: 0.2, max: 0.2 }), 1);
});
