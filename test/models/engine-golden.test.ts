/**
 * Parity from TypeScript (issue 3): each tiny bundle run through InferenceEngine (+ finishMaps)
 * matches the PyTorch outputs the trainer saved in golden.json.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceEngine, loadBundle } from '../../src/models/index.js';
import { finishMaps } from '../../src/pipeline/postprocess/index.js';
import { decode, fixture, maxAbsDiff, readGolden } from './helpers.js';

const TOLERANCE = 1e-4;

for (const name of ['tiny-inp', 'tiny-inp-raw', 'tiny-inp-b2'] as const) {
  test(`${name}: engine output and finished maps match golden.json to ≤ ${TOLERANCE}`, async () => {
    const bundle = await loadBundle(fixture(name));
    const golden = await readGolden(bundle.dir);
    assert.ok(golden.cases.length > 0);
    const engine = await InferenceEngine.create(bundle, { workers: 1, intraOpThreads: 1 });
    try {
      for (const c of golden.cases) {
        const image = c.inputs[bundle.manifest.input.name];
        assert.ok(image, `golden case ${c.name} has no input "${bundle.manifest.input.name}"`);
        const { shape, data } = decode(image);
        const n = shape[0] as number;
        const out = await engine.run({ n, data });
        assert.equal(data.byteLength, 0, 'the input buffer was transferred to the worker, not copied');

        const wantMap = c.outputs[bundle.manifest.outputs.anomalyMap.name];
        assert.ok(wantMap);
        const dMap = maxAbsDiff(out.map, decode(wantMap).data);
        assert.ok(dMap <= TOLERANCE, `${c.name}: graph map differs from PyTorch by ${dMap}`);
        const scoreName = bundle.manifest.outputs.score.name;
        if (scoreName !== null) {
          const wantScore = c.outputs[scoreName];
          assert.ok(wantScore && out.score);
          const dScore = maxAbsDiff(out.score, decode(wantScore).data);
          assert.ok(dScore <= TOLERANCE, `${c.name}: graph score differs by ${dScore}`);
        } else {
          assert.equal(out.score, null);
        }

        const fin = finishMaps(bundle.manifest, out);
        const refMap = decode(c.reference.map);
        assert.equal(fin.height, refMap.shape[refMap.shape.length - 2]);
        assert.equal(fin.width, refMap.shape[refMap.shape.length - 1]);
        const dFin = maxAbsDiff(fin.maps, refMap.data);
        assert.ok(dFin <= TOLERANCE, `${c.name}: final map differs from the reference recipe by ${dFin}`);
        const dFinScore = maxAbsDiff(fin.scores, decode(c.reference.score).data);
        assert.ok(dFinScore <= TOLERANCE, `${c.name}: final score differs from the reference recipe by ${dFinScore}`);
      }
    } finally {
      await engine.close();
    }
  });
}
