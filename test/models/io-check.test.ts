import { test } from 'node:test';
import assert from 'node:assert/strict';
import { graphMismatches, manifestSchema, type GraphValue, type ManifestInput } from '../../src/models/index.js';

function manifest(over: { batch?: number | 'dynamic'; extra?: string[]; score?: string | null } = {}) {
  const m: ManifestInput = {
    format: 'linewatch-bundle/1',
    architecture: 'generic',
    version: '1',
    sha256: '0'.repeat(64),
    input: { name: 'image', dtype: 'uint8', layout: 'NHWC', height: 56, width: 56, channels: 3, colorOrder: 'RGB', valueRange: [0, 255], normalize: null, batch: over.batch ?? 'dynamic' },
    geometry: { resize: { height: 64, width: 64 }, crop: { height: 56, width: 56 } },
    outputs: {
      anomalyMap: { name: 'anomaly_map', height: 64, width: 64 },
      score: { name: over.score === undefined ? 'score' : over.score, rule: { op: 'max' } },
      extra: over.extra ?? [],
    },
    calibration: { method: 'x', image: { threshold: 0.5, min: 0, max: 1 }, pixel: { threshold: 0.5, min: 0, max: 1 } },
  };
  return manifestSchema.parse(m);
}

const inputs: GraphValue[] = [{ name: 'image', type: 'uint8', shape: ['N', 56, 56, 3] }];
const outputs: GraphValue[] = [
  { name: 'anomaly_map', type: 'float32', shape: ['N', 1, 64, 64] },
  { name: 'score', type: 'float32', shape: ['N'] },
];

test('a graph that matches its manifest has no mismatches; symbolic dims accept a fixed batch', () => {
  assert.deepEqual(graphMismatches(manifest(), inputs, outputs), []);
  assert.deepEqual(graphMismatches(manifest({ batch: 2 }), inputs, outputs), []);
});

test('every mismatch is named: dtype, layout dims, fixed batch, missing and unexpected values', () => {
  const g: GraphValue[] = [
    { name: 'image', type: 'float32', shape: [1, 3, 56, 56] },
    { name: 'mask', type: 'uint8', shape: [1, 56, 56] },
  ];
  const o: GraphValue[] = [{ name: 'anomaly_map', type: 'float32', shape: [1, 64, 64] }];
  const p = graphMismatches(manifest({ batch: 'dynamic', extra: ['features'] }), g, o);
  const text = p.join('\n');
  assert.match(text, /input "image" \(manifest input\): manifest says uint8, graph has float32/);
  assert.match(text, /input "image" \(manifest input\): dimension 0 is 1 in the graph \[1,3,56,56\] but dynamic in the manifest/);
  assert.match(text, /dimension 1 is 3 in the graph/);
  assert.match(text, /input "mask" \[1,56,56\]: the graph needs it but the manifest does not name it/);
  assert.match(text, /output "anomaly_map" \(manifest anomalyMap\): manifest says rank 4 \[\?,1,64,64\], graph has rank 3/);
  assert.match(text, /output "score" \(manifest score\): the graph has no such output/);
  assert.match(text, /output "features" \(manifest extra\): the graph has no such output/);
});

test('with score computed by the runtime, the graph need not have a score output', () => {
  assert.deepEqual(graphMismatches(manifest({ score: null }), inputs, [outputs[0] as GraphValue]), []);
});
