/**
 * Bundles of the new settings run through the runtime like any other (issue 14): the zero-shot
 * bundle (INP-Former's token-to-nearest-prototype map, for a product the model never saw) and an
 * INP-Former++ bundle (fused map, with the reconstruction map as an extra output that
 * `eval --map-output` judges side by side). Both made by trainer/ (trainer/trainer/fixtures_pp.py).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LinewatchError } from '../../src/errors.js';
import { adapterFor } from '../../src/models/adapters/index.js';
import { InferenceEngine, loadBundle, withMapOutput } from '../../src/models/index.js';
import { computeGeometry } from '../../src/pipeline/geometry.js';
import type { PreparedPixels } from '../../src/pipeline/preprocess/index.js';
import { makeMvtecSet } from '../eval/helpers/make-set.js';
import { runEvalCli } from '../eval/helpers/run-cli.js';
import { decode, fixture, maxAbsDiff, readGolden } from './helpers.js';

const TOLERANCE = 1e-4;

function prepared(images: Uint8Array, n: number): PreparedPixels[] {
  const per = 56 * 56 * 3;
  const geometry = computeGeometry({ width: 56, height: 56 }, { width: 56, height: 56 }, null);
  return Array.from({ length: n }, (_, k) => ({ pixels: Buffer.from(images.subarray(k * per, (k + 1) * per)), channels: 3 as const, order: 'RGB' as const, geometry }));
}

for (const name of ['tiny-inp-zeroshot', 'tiny-inppp'] as const) {
  test(`${name}: its adapter and a real session reproduce the trainer's maps and scores (≤ ${TOLERANCE})`, async () => {
    const bundle = await loadBundle(fixture(name));
    const golden = await readGolden(bundle.dir);
    const adapter = adapterFor(bundle);
    assert.equal(adapter.kind, 'single-image');
    const engine = await InferenceEngine.create(bundle, { workers: 1, intraOpThreads: 1 });
    try {
      for (const c of golden.cases) {
        const { shape, data } = decode(c.inputs['image']!);
        const n = shape[0]!;
        const fin = adapter.finish(await engine.run(adapter.inputs(prepared(data as Uint8Array, n), null)));
        const dMap = maxAbsDiff(fin.maps, decode(c.reference.map).data);
        const dScore = maxAbsDiff(fin.scores, decode(c.reference.score).data);
        assert.ok(dMap <= TOLERANCE && dScore <= TOLERANCE, `${c.name}: map ${dMap}, score ${dScore}`);
      }
    } finally {
      await engine.close();
    }
  });
}

test('the zero-shot bundle is evaluated by linewatch eval like any other: every image judged once', async () => {
  const bundle = await loadBundle(fixture('tiny-inp-zeroshot'));
  assert.equal(bundle.manifest.architecture, 'inp-former');
  assert.equal((bundle.manifest.training as { mapMode?: string }).mapMode, 'zero-shot');
  const root = await mkdtemp(join(tmpdir(), 'lw-zeroshot-'));
  try {
    const set = await makeMvtecSet({ root, good: 5, bad: 5, seed: 3 });
    const run = await runEvalCli(['eval', '--model', bundle.dir, '--data', set.categoryDir, '--json']);
    assert.equal(run.exitCode, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { model: { map: string }; categories: { good: number; defective: number; confusion: Record<string, number>; scores: { good: number[]; defective: number[] } }[] };
    const c = report.categories[0]!;
    assert.equal(report.model.map, 'anomaly_map');
    assert.deepEqual([c.good, c.defective], [5, 5]);
    assert.equal(c.confusion['caught']! + c.confusion['escapes']! + c.confusion['falseRejects']! + c.confusion['passed']!, 10);
    assert.equal(c.confusion['errors'], 0);
    for (const s of [...c.scores.good, ...c.scores.defective]) assert.ok(Number.isFinite(s) && s >= 0 && s <= 2, `1 − cos lies in [0, 2]: ${s}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('inp-former++: eval judges the fused map, and --map-output judges its reconstruction map through the same runtime', async () => {
  const root = await mkdtemp(join(tmpdir(), 'lw-plusplus-'));
  try {
    const dir = fixture('tiny-inppp');
    const set = await makeMvtecSet({ root, good: 6, bad: 6, seed: 5 });
    const fused = await runEvalCli(['eval', '--model', dir, '--data', set.categoryDir, '--json']);
    const recon = await runEvalCli(['eval', '--model', dir, '--data', set.categoryDir, '--json', '--map-output', 'recon_map']);
    assert.equal(fused.exitCode, 0, fused.stderr);
    assert.equal(recon.exitCode, 0, recon.stderr);
    type Report = { model: { map: string }; categories: { metrics: { iAuroc: number }; scores: { good: number[]; defective: number[] } }[] };
    const f = JSON.parse(fused.stdout) as Report;
    const r = JSON.parse(recon.stdout) as Report;
    assert.deepEqual([f.model.map, r.model.map], ['anomaly_map', 'recon_map']);
    const fs = f.categories[0]!.scores;
    const rs = r.categories[0]!.scores;
    assert.notDeepEqual(fs.defective, rs.defective, 'two different maps were judged');
    // Trained on this texture, both maps put every bright blob above every good image.
    assert.equal(f.categories[0]!.metrics.iAuroc, 1);
    assert.equal(r.categories[0]!.metrics.iAuroc, 1);
    const bad = await runEvalCli(['eval', '--model', dir, '--data', set.categoryDir, '--map-output', 'head_map']);
    assert.notEqual(bad.exitCode, 0);
    assert.match(bad.stderr, /LW_ERR_BUNDLE_MANIFEST/);
    assert.match(bad.stderr, /no extra output "head_map" to judge as the map \(its extra outputs are recon_map\)/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('withMapOutput swaps the map for an extra output, the score then computed by the rule; a bundle without extras is refused', async () => {
  const b = await loadBundle(fixture('tiny-inppp'));
  assert.deepEqual(b.manifest.outputs.extra, ['recon_map']);
  const v = withMapOutput(b, 'recon_map');
  assert.equal(v.manifest.outputs.anomalyMap.name, 'recon_map');
  assert.equal(v.manifest.outputs.score.name, null);
  assert.deepEqual(v.manifest.outputs.score.rule, b.manifest.outputs.score.rule);
  assert.deepEqual(v.manifest.outputs.extra, ['anomaly_map', 'score']);
  assert.equal(b.manifest.outputs.anomalyMap.name, 'anomaly_map', 'the loaded bundle is left as it was');
  const plain = await loadBundle(fixture('tiny-inp'));
  assert.throws(() => withMapOutput(plain, 'recon_map'), (err: unknown) => err instanceof LinewatchError && err.code === 'LW_ERR_BUNDLE_MANIFEST' && /it declares no extra outputs/.test(err.message));
});
