import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBundle } from '../../src/models/bundle.js';
import { adapterFor } from '../../src/models/adapters/index.js';
import type { EvalReport } from '../../src/eval/evaluate.js';
import { haveTool } from '../helpers/tools.js';
import { runEvalCli } from './helpers/run-cli.js';

/**
 * A model made by real anomalib 2.x (PaDiM, test/fixtures/anomalib/README.md), imported by
 * `trainer import-anomalib` at test time, judged by the runtime: its scores are anomalib's own
 * (expected.json, written by anomalib's predict loop on the same images), its rejects are
 * anomalib's labels, and `calibrate` moves its threshold as it does for our own bundles.
 */

const root = new URL('../../..', import.meta.url).pathname;
const fixture = join(root, 'test/fixtures/anomalib');
const python = join(root, 'trainer/.venv/bin/python');

interface Expected {
  post_processor: Record<string, number>;
  images: Record<string, { pred_score: number; pred_label: boolean; raw_score: number }>;
}

async function imported(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lw-anomalib-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'bundle');
  const r = spawnSync(python, ['-m', 'trainer', 'import-anomalib', '--onnx', join(fixture, 'padim/model.onnx'), '--out', out],
    { cwd: join(root, 'trainer'), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return out;
}

async function evalJson(model: string): Promise<EvalReport> {
  const r = await runEvalCli(['eval', '--model', model, '--data', join(fixture, 'surface'), '--json']);
  assert.equal(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout) as EvalReport;
}

const venv = existsSync(python) ? null : `${python} is missing (bash trainer/scripts/ensure-venv.sh)`;

test('an anomalib PaDiM bundle: scores and rejects are anomalib\'s own, through linewatch eval', async (t) => {
  if (!haveTool(t, venv)) return;
  const model = await imported(t);
  const expected = JSON.parse(await readFile(join(fixture, 'padim/expected.json'), 'utf8')) as Expected;
  const bundle = await loadBundle(model);
  assert.equal(bundle.manifest.architecture, 'anomalib');
  const adapter = adapterFor(bundle);
  assert.deepEqual([adapter.architecture, adapter.kind, adapter.needs.prompt], ['anomalib', 'single-image', null]);
  assert.deepEqual([bundle.manifest.input.dtype, bundle.manifest.input.layout, bundle.manifest.input.valueRange], ['float32', 'NCHW', [0, 1]]);
  // The thresholds anomalib baked into its graph, recovered into the manifest.
  const pp = expected.post_processor;
  const image = bundle.manifest.calibration.image;
  assert.ok(Math.abs(image.threshold - pp['image_threshold']!) <= 1e-6, `image threshold ${image.threshold}`);
  assert.ok(Math.abs(image.max - image.min - (pp['image_max']! - pp['image_min']!)) <= 1e-5, 'image max − min');
  assert.ok(Math.abs(bundle.manifest.calibration.pixel.threshold - pp['pixel_threshold']!) <= 1e-6, 'pixel threshold');

  const r = await evalJson(model);
  assert.equal(r.samples.length, Object.keys(expected.images).length);
  for (const s of r.samples) {
    const key = Object.keys(expected.images).find((k) => s.name.endsWith(k.replace(/^surface\//, '')) || k.endsWith(s.name));
    assert.ok(key !== undefined, `no anomalib prediction for ${s.name}`);
    const want = expected.images[key]!;
    // Raw score: the cut graph's own output (float32 on another ONNX Runtime build): ≤ 1e-5.
    assert.ok(Math.abs((s.score as number) - want.raw_score) <= 1e-5, `${s.name}: score ${s.score} vs anomalib ${want.raw_score}`);
    // normScore is anomalib's normalised pred_score: the same clamp((raw − t) / (max − min) + 0.5, 0, 1).
    assert.ok(Math.abs((s.normScore as number) - want.pred_score) <= 1e-5, `${s.name}: normScore ${s.normScore} vs pred_score ${want.pred_score}`);
    assert.equal(s.verdict === 'reject', want.pred_label, `${s.name}: verdict ${s.verdict}, anomalib's label ${want.pred_label}`);
  }
  const cat = r.categories[0]!;
  assert.ok((cat.metrics.iAuroc as number) >= 0.9 && (cat.metrics.pAuroc as number) >= 0.9, JSON.stringify(cat.metrics));
});

test('calibrate moves an anomalib bundle\'s threshold like any other; eval then uses it', async (t) => {
  if (!haveTool(t, venv)) return;
  const model = await imported(t);
  const before = (await loadBundle(model)).manifest.calibration.image.threshold;
  const c = await runEvalCli(['calibrate', '--model', model, '--data', join(fixture, 'surface'), '--target-escape-rate', '0',
    '--write', '--json']);
  assert.equal(c.exitCode, 0, c.stderr);
  const after = (await loadBundle(model)).manifest.calibration.image.threshold;
  assert.notEqual(after, before, 'the threshold anomalib had baked in is now linewatch\'s to move');
  const r = await evalJson(model);
  assert.equal(r.thresholds.image, after);
  assert.equal(r.total.escapes, 0);
});
