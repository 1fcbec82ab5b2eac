/**
 * `linewatch eval` tells a line what the metrics do not: defects that lie outside what the model
 * sees (a centre crop drops the frame's border) and how many defective parts pass its threshold.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { outsideShare, describeView } from '../../src/eval/coverage.js';
import { lineCheckLines } from '../../src/eval/line-check.js';
import { manifestSchema, type Manifest } from '../../src/models/manifest.js';
import { makeMvtecSet } from './helpers/make-set.js';
import { runEvalCli } from './helpers/run-cli.js';

const models = new URL('../../../test/fixtures/models/', import.meta.url).pathname;

async function manifestWith(geometry: object, input: { height: number; width: number }): Promise<Manifest> {
  const m = JSON.parse(await readFile(join(models, 'tiny-inp', 'model.json'), 'utf8')) as Record<string, unknown>;
  return manifestSchema.parse({ ...m, geometry, input: { ...(m['input'] as object), ...input } });
}

function box(width: number, height: number, x0: number, y0: number, x1: number, y1: number): Uint8Array {
  const m = new Uint8Array(width * height);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * width + x] = 255;
  return m;
}

test('defect pixels outside the crop are counted the way the trainer counts them (trainer/tests/test_linereport.py)', async () => {
  const authors = await manifestWith({ resize: { height: 448, width: 448 }, crop: { height: 392, width: 392 } }, { height: 392, width: 392 });
  // 448 → 392 keeps 56..840 of an 896 px frame.
  assert.deepEqual(outsideShare(box(896, 896, 0, 400, 40, 440), 896, 896, authors), { defect: 1600, outside: 1600 });
  assert.deepEqual(outsideShare(box(896, 896, 36, 400, 76, 440), 896, 896, authors), { defect: 1600, outside: 800 });
  assert.deepEqual(outsideShare(box(896, 896, 400, 400, 440, 440), 896, 896, authors), { defect: 1600, outside: 0 });
  assert.equal(describeView(authors), '392x392 crop of 448x448');
  const long = await manifestWith({ resize: { height: 252, width: 630 }, crop: { height: 224, width: 560 } }, { height: 224, width: 560 });
  // Crop box (35, 14, 595, 238) of the resized frame: columns 69..1180 and rows 28..471 of a 1250x500 part.
  const all = box(1250, 500, 0, 0, 1250, 500);
  assert.deepEqual(outsideShare(all, 1250, 500, long), { defect: 1250 * 500, outside: 1250 * 500 - (1180 - 69 + 1) * (471 - 28 + 1) });
  const whole = await manifestWith({ resize: { height: 392, width: 392 }, crop: null }, { height: 392, width: 392 });
  assert.equal(outsideShare(all, 1250, 500, whole).outside, 0);
  assert.equal(describeView(whole), '392x392 (whole view)');
});

test('eval reports a defect outside the crop, and warns when defective parts pass the threshold', async (t) => {
  const set = await makeMvtecSet({ category: 'plate', good: 4, bad: 4, seed: 21 });
  t.after(() => rm(set.root, { recursive: true, force: true }));
  // A bright defect in the 4-px border that tiny-inp's 64 → 56 centre crop drops: a model cannot see it.
  const good = await sharp(join(set.categoryDir, 'test/good/000.png')).raw().toBuffer({ resolveWithObject: true });
  const px = Buffer.from(good.data);
  for (let y = 20; y < 40; y++) for (let x = 0; x < 3; x++) for (let c = 0; c < 3; c++) px[(y * 64 + x) * 3 + c] = 255;
  await sharp(px, { raw: { width: 64, height: 64, channels: 3 } }).png().toFile(join(set.categoryDir, 'test/blob/edge.png'));
  await sharp(Buffer.from(box(64, 64, 0, 20, 3, 40)), { raw: { width: 64, height: 64, channels: 1 } }).png().toFile(join(set.categoryDir, 'ground_truth/blob/edge_mask.png'));

  const text = await runEvalCli(['eval', '--model', join(models, 'tiny-inp'), '--data', set.categoryDir, '--threads', '1']);
  assert.equal(text.exitCode, 0, text.stderr);
  assert.match(text.stdout, /WARNING: the model sees 56x56 crop of 64x64; of 5 defective images, 1 have their defect entirely outside that view and 0 partly \(on average 100\.0 %/);
  assert.match(text.stdout, /e\.g\. test\/blob\/edge\.png/);
  const json = await runEvalCli(['eval', '--model', join(models, 'tiny-inp'), '--data', set.categoryDir, '--json']);
  const report = JSON.parse(json.stdout) as { view: { fullyOutside: string[]; defective: number }; total: { escapes: number; caught: number } };
  assert.deepEqual(report.view.fullyOutside, ['test/blob/edge.png']);
  const edge = (JSON.parse(json.stdout) as { samples: { name: string; verdict: string }[] }).samples.find((s) => s.name === 'test/blob/edge.png');
  assert.equal(edge?.verdict, 'ok', 'the unseen defect passes');
  const defective = report.total.escapes + report.total.caught;
  assert.ok(text.stdout.includes(`at the bundle's thresholds: ${report.total.escapes} of ${defective} defective parts pass`));
  assert.match(text.stdout, /WARNING: \d+ of 5 defective parts \(\d+\.\d %\) would pass on the line\..*linewatch calibrate --model BUNDLE --good GOOD_DIR --defective DEFECT_DIR --target-escape-rate 0\.01 --write/);
});

test('no warning when few defective parts pass; a dataset without defects gets no line-check warning', () => {
  const ok = lineCheckLines({ caught: 99, escapes: 1, falseRejects: 2, passed: 98, errors: 0, escapeRate: 0.01, falseRejectRate: 0.02 });
  assert.deepEqual(ok, ["at the bundle's thresholds: 1 of 100 defective parts pass (escapes 1.0 %), 2 of 100 good parts are rejected (false rejects 2.0 %)"]);
  const none = lineCheckLines({ caught: 0, escapes: 0, falseRejects: 0, passed: 10, errors: 0, escapeRate: null, falseRejectRate: 0 });
  assert.equal(none.length, 1);
});
