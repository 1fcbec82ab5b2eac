/**
 * `linewatch calibrate` on a line's first day: a folder of good parts (and a few defective ones),
 * no MVTec layout, no masks; what the chosen threshold promises, in words.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectedFalseRejects } from '../../src/eval/calibrate.js';
import { datasetFromFolders } from '../../src/eval/folders.js';
import { makeMvtecSet } from './helpers/make-set.js';
import { runEvalCli } from './helpers/run-cli.js';

const fixture = new URL('../../../test/fixtures/models/tiny-inp', import.meta.url).pathname;

test('the expected false-reject rate of a good-only threshold is (k + 1) / (n + 1)', () => {
  assert.deepEqual(expectedFalseRejects([0.1, 0.2, 0.3], 0.25), { atOrAbove: 1, good: 3, upperBound: 0.5, floor: 0.25 });
  const e = expectedFalseRejects(Array.from({ length: 199 }, (_, i) => i), 1000);
  assert.equal(e.upperBound, 1 / 200);
});

test('plain folders make one category, sub-folders of defects name their type', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'lw-folders-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const set = await makeMvtecSet({ root: join(root, 'mvtec'), good: 3, bad: 2, seed: 4 });
  await cp(join(set.categoryDir, 'test/good'), join(root, 'line3-good/monday'), { recursive: true });
  await cp(join(set.categoryDir, 'test/blob'), join(root, 'rejects/scratch'), { recursive: true });
  const d = await datasetFromFolders(join(root, 'line3-good'), join(root, 'rejects'));
  const c = d.categories[0];
  assert.ok(c && d.categories.length === 1 && c.name === 'line3-good' && !c.hasMasks);
  assert.deepEqual(c.samples.map((s) => [s.label, s.defectType, s.name]), [
    [0, 'good', 'monday/000.png'], [0, 'good', 'monday/001.png'], [0, 'good', 'monday/002.png'],
    [1, 'scratch', 'defective/scratch/000.png'], [1, 'scratch', 'defective/scratch/001.png'],
  ]);
  await mkdir(join(root, 'empty'));
  await assert.rejects(datasetFromFolders(join(root, 'empty')), /empty: no images/);
  await assert.rejects(datasetFromFolders(join(root, 'nowhere')), /nowhere: folder does not exist/);
});

test('calibrate --good alone: a quantile the user chooses and the false-reject rate it promises; --defective sets a target escape rate', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'lw-calfolders-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const model = join(root, 'model');
  await cp(fixture, model, { recursive: true });
  const set = await makeMvtecSet({ root: join(root, 'data'), good: 12, bad: 6, seed: 8 });
  const good = join(set.categoryDir, 'test/good');
  const bad = join(set.categoryDir, 'test/blob');

  const g = await runEvalCli(['calibrate', '--model', model, '--good', good, '--good-quantile', '0.9', '--threads', '1']);
  assert.equal(g.exitCode, 0, g.stderr);
  assert.match(g.stdout, /12 good, 0 defective images scored/);
  assert.match(g.stdout, /by good quantile 0\.9 \+ 0\.1 × \(Q0\.9 − Q0\.5\)/);
  assert.match(g.stdout, /expected false-reject rate on new good parts: at most (\d+\.\d) % \((\d+) of these 12 good images score at or above/);
  const [, pct, k] = /at most (\d+\.\d) % \((\d+) of these 12/.exec(g.stdout) ?? [];
  assert.equal(Number(pct), Number((((Number(k) + 1) / 13) * 100).toFixed(1)));
  assert.match(g.stdout, /with 12 good images no threshold can promise under 7\.7 %; 99 or more are needed to promise 1 %/);
  assert.match(g.stdout, /escapes: unknown, no defective images were given/);

  const d = await runEvalCli(['calibrate', '--model', model, '--good', good, '--defective', bad, '--target-escape-rate', '0', '--write', '--json']);
  assert.equal(d.exitCode, 0, d.stderr);
  const r = JSON.parse(d.stdout) as { image: { point: { escapes: number } }; counts: { good: number; defective: number } };
  assert.deepEqual(r.counts, { good: 12, defective: 6, errors: 0 });
  assert.equal(r.image.point.escapes, 0, 'no defective part passes the threshold it chose');
  const written = JSON.parse(await readFile(join(model, 'model.json'), 'utf8')) as { calibration: { method: string } };
  assert.match(written.calibration.method, /target escape rate ≤ 0/);

  const wrong = await runEvalCli(['calibrate', '--model', model, '--defective', bad]);
  assert.equal(wrong.exitCode, 1);
  assert.match(wrong.stderr, /give --data DIR \(MVTec layout\) or --good DIR \[--defective DIR\], one of them/);
});
