import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBundle } from '../../src/models/bundle.js';
import type { EvalReport } from '../../src/eval/evaluate.js';
import { makeMvtecSet } from './helpers/make-set.js';
import { runEvalCli } from './helpers/run-cli.js';

const fixture = new URL('../../../test/fixtures/models/tiny-inp', import.meta.url).pathname;

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const root = await mkdtemp(join(tmpdir(), 'lw-eval-cli-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const model = join(root, 'model');
  await cp(fixture, model, { recursive: true });
  const set = await makeMvtecSet({ root: join(root, 'data'), good: 8, bad: 8, seed: 1 });
  return { root, model, data: set.root };
}

async function evalJson(model: string, data: string): Promise<EvalReport> {
  const r = await runEvalCli(['eval', '--model', model, '--data', data, '--json']);
  assert.equal(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout) as EvalReport;
}

test('eval: every image through the tiny bundle, metrics and the line outcome agree with the scores', async (t) => {
  const { model, data } = await setup(t);
  const r = await evalJson(model, data);
  assert.equal(r.samples.length, 16);
  const cat = r.categories[0];
  assert.ok(cat);
  assert.deepEqual([cat.good, cat.defective], [8, 8]);
  // The fixture model was trained to find bright blobs on these surfaces.
  assert.ok((cat.metrics.iAuroc as number) > 0.9, `I-AUROC ${cat.metrics.iAuroc}`);
  assert.ok((cat.metrics.pAuroc as number) > 0.9, `P-AUROC ${cat.metrics.pAuroc}`);
  for (const [k, v] of Object.entries(cat.metrics)) assert.ok(v !== null && v >= 0 && v <= 1, `${k} = ${v}`);
  // rejectOn score: a part is rejected exactly when its raw score reaches the image threshold.
  const escapes = r.samples.filter((s) => s.label === 1 && (s.score as number) < r.thresholds.image).length;
  const falseRejects = r.samples.filter((s) => s.label === 0 && (s.score as number) >= r.thresholds.image).length;
  assert.equal(cat.confusion.escapes, escapes);
  assert.equal(cat.confusion.falseRejects, falseRejects);
  assert.equal(cat.confusion.caught + cat.confusion.escapes, 8);
  assert.equal(cat.confusion.falseRejects + cat.confusion.passed, 8);
  assert.equal(r.model.provider, 'cpu');

  const text = await runEvalCli(['eval', '--model', model, '--data', data]);
  assert.match(text.stdout, /I-AUROC\s+I-AP\s+I-F1max\s+P-AUROC\s+P-AP\s+P-F1max\s+AUPRO/);
  assert.match(text.stdout, new RegExp(`widget\\s+${((cat.metrics.iAuroc as number) * 100).toFixed(1)}`));
  assert.match(text.stderr, /eval: 16\/16 images/);
});

test('calibrate: prints the trade-off, writes only with --write, atomically with a backup; eval then meets the target', async (t) => {
  const { model, data } = await setup(t);
  const manifestPath = join(model, 'model.json');
  const original = await readFile(manifestPath, 'utf8');

  const dry = await runEvalCli(['calibrate', '--model', model, '--data', data, '--target-escape-rate', '0']);
  assert.equal(dry.exitCode, 0, dry.stderr);
  assert.match(dry.stdout, /trade-off on this set/);
  assert.match(dry.stdout, /not written: add --write/);
  assert.equal(await readFile(manifestPath, 'utf8'), original, 'model.json untouched without --write');

  const wrote = await runEvalCli(['calibrate', '--model', model, '--data', data, '--target-escape-rate', '0', '--write', '--json']);
  assert.equal(wrote.exitCode, 0, wrote.stderr);
  const result = JSON.parse(wrote.stdout) as { backup: string; image: { point: { escapes: number } } };
  assert.equal(result.image.point.escapes, 0);
  assert.equal(await readFile(result.backup, 'utf8'), original, 'the backup is the old model.json');
  assert.deepEqual((await readdir(model)).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
  // Still a valid bundle (sha256 covers model.onnx only), with the new threshold.
  const bundle = await loadBundle(model);
  assert.match(bundle.manifest.calibration.method, /target escape rate ≤ 0/);
  const { calibration: _old, ...restBefore } = JSON.parse(original) as Record<string, unknown>;
  const { calibration: _new, ...restAfter } = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
  assert.deepEqual(restAfter, restBefore, 'only the calibration section changed');
  const after = await evalJson(model, data);
  assert.equal(after.total.escapes, 0, 'no defective part escapes at the calibrated threshold');

  await runEvalCli(['calibrate', '--model', model, '--data', data, '--target-false-reject', '0', '--write']);
  const strict = await evalJson(model, data);
  assert.equal(strict.total.falseRejects, 0, 'no good part rejected at the calibrated threshold');
});

test('a corrupt image is an error verdict judged by failSafe, not a crash', async (t) => {
  const { model, data } = await setup(t);
  await writeFile(join(data, 'widget', 'test', 'good', '999.png'), 'not a png');
  const r = await evalJson(model, data);
  const bad = r.samples.find((s) => s.name.endsWith('999.png'));
  assert.equal(bad?.verdict, 'error');
  // The reasons the line gives such a frame: the decode error's code, then failSafe's.
  assert.match(bad?.reasons[0] ?? '', /LW_ERR_FRAME_DECODE: .*999\.png/);
  assert.match(bad?.reasons[1] ?? '', /FAILSAFE_REJECT/);
  assert.equal(r.total.errors, 1);
  // failSafe reject (the default): the unreadable good part is ejected, so it counts as a false reject.
  assert.ok(r.total.falseRejects >= 1);
  assert.equal(r.categories[0]?.scores.good.length, 8, 'metrics use the scored images only');
});

test('wrong usage exits 1 with a coded message', async (t) => {
  const { model, data } = await setup(t);
  const missing = await runEvalCli(['eval', '--model', model, '--data', join(data, 'nope')]);
  assert.equal(missing.exitCode, 1);
  assert.match(missing.stderr, /LW_ERR_DATASET_LAYOUT: .*nope: not a folder/);
  const both = await runEvalCli(['calibrate', '--model', model, '--data', data, '--target-escape-rate', '0.1', '--target-false-reject', '0.1']);
  assert.equal(both.exitCode, 1);
  assert.match(both.stderr, /LW_ERR_CALIBRATION_TARGET: give --target-escape-rate or --target-false-reject, not both/);
});

test("eval --config judges with the station's decide rules", async (t) => {
  const { root, model, data } = await setup(t);
  const base = await evalJson(model, data);
  // A raw image threshold above every score: nothing is rejected, every defective part escapes.
  const top = Math.max(...base.samples.map((s) => s.score as number)) + 1;
  const config = join(root, 'line.yaml');
  await writeFile(
    config,
    [
      'model: { bundle: ./model }',
      'cameras: [{ id: cam1, source: { type: folder, path: ./data } }]',
      `decide: { rejectOn: score, image: { value: ${top}, scale: raw } }`,
      '',
    ].join('\n'),
  );
  const r = await runEvalCli(['eval', '--model', model, '--data', data, '--config', config, '--json']);
  assert.equal(r.exitCode, 0, r.stderr);
  const j = JSON.parse(r.stdout) as EvalReport;
  assert.equal(j.thresholds.image, top);
  assert.equal(j.total.escapes, 8);
  assert.equal(j.total.falseRejects, 0);
  assert.deepEqual(j.mean, base.mean, 'the metrics do not depend on the rules');
});
