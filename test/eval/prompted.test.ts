/**
 * eval and calibrate on a prompted model (the tiny OneNIP made by trainer/, products a and b):
 * each category is judged against a good image of its own train/good, named in the report; the
 * prompt really reaches the model (the other product's prompt turns a good part into a reject).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EvalReport } from '../../src/eval/evaluate.js';
import { seededIndex } from '../../src/eval/prompts.js';
import { runEvalCli } from './helpers/run-cli.js';

const models = new URL('../../../test/fixtures/models/', import.meta.url).pathname;
const ONENIP = join(models, 'tiny-onenip');
const samples = join(ONENIP, 'samples');

/** Categories a and b in the MVTec layout (image level: no masks), each prompt in its train/good. */
async function productSet(t: { after(fn: () => Promise<void>): void }, opts: { trainGood: boolean } = { trainGood: true }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'lw-eval-prompted-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  for (const p of ['a', 'b']) {
    await mkdir(join(root, p, 'test', 'good'), { recursive: true });
    await mkdir(join(root, p, 'test', 'crack'), { recursive: true });
    await copyFile(join(samples, `good-${p}.png`), join(root, p, 'test', 'good', `good-${p}.png`));
    await copyFile(join(samples, `defect-${p}.png`), join(root, p, 'test', 'crack', `defect-${p}.png`));
    if (opts.trainGood) {
      await mkdir(join(root, p, 'train', 'good'), { recursive: true });
      await copyFile(join(samples, `prompt-${p}.png`), join(root, p, 'train', 'good', `prompt-${p}.png`));
    }
  }
  return root;
}

async function evalJson(args: readonly string[]): Promise<EvalReport> {
  const r = await runEvalCli(['eval', ...args, '--json', '--threads', '1']);
  assert.equal(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout) as EvalReport;
}

const scoreOf = (r: EvalReport, name: string): number => r.samples.find((s) => s.name.endsWith(name))!.score as number;

test('eval of a prompted model: each category against a prompt of its own train/good, named in the report; good parts pass, defects rank above them', async (t) => {
  const data = await productSet(t);
  const r = await evalJson(['--model', ONENIP, '--data', data]);
  assert.deepEqual(r.prompts, [
    { category: 'a', image: join('a', 'train', 'good', 'prompt-a.png'), rule: 'train/good image 1 of 1, seed 0' },
    { category: 'b', image: join('b', 'train', 'good', 'prompt-b.png'), rule: 'train/good image 1 of 1, seed 0' },
  ]);
  for (const c of r.categories) {
    assert.equal(c.metrics.iAuroc, 1, `${c.name}: the defect scores above the good part`);
    assert.equal(c.confusion.falseRejects, 0, `${c.name}: its good part passes against its own prompt`);
  }
  const text = await runEvalCli(['eval', '--model', ONENIP, '--data', data, '--threads', '1']);
  assert.match(text.stdout, /prompts: a: a\/train\/good\/prompt-a\.png \(train\/good image 1 of 1, seed 0\); b: b\/train\/good\/prompt-b\.png/);
});

test("eval --prompt: every category against the given image — product a's good part judged against b's recipe is rejected", async (t) => {
  const data = await productSet(t);
  const own = await evalJson(['--model', ONENIP, '--data', data]);
  const other = join(samples, 'prompt-b.png');
  const r = await evalJson(['--model', ONENIP, '--data', data, '--prompt', other]);
  assert.deepEqual(r.prompts!.map((p) => [p.category, p.image, p.rule]), [
    ['a', other, 'given (--prompt)'],
    ['b', other, 'given (--prompt)'],
  ]);
  assert.ok(scoreOf(r, 'good-a.png') > r.thresholds.image, `good-a against b's prompt: ${scoreOf(r, 'good-a.png')} (threshold ${r.thresholds.image})`);
  assert.ok(scoreOf(own, 'good-a.png') < own.thresholds.image, `good-a against its own prompt: ${scoreOf(own, 'good-a.png')}`);
  assert.equal(r.categories.find((c) => c.name === 'a')!.confusion.falseRejects, 1);
  // b's own parts are judged exactly as with its own prompt (the same image).
  assert.equal(scoreOf(r, 'good-b.png'), scoreOf(own, 'good-b.png'));
  assert.equal(scoreOf(r, 'defect-b.png'), scoreOf(own, 'defect-b.png'));
});

test('a prompted model on a category without train/good images: refused naming the category and how to give a prompt; calibrate states its prompts', async (t) => {
  const bare = await productSet(t, { trainGood: false });
  const refused = await runEvalCli(['eval', '--model', ONENIP, '--data', bare, '--threads', '1']);
  assert.equal(refused.exitCode, 1);
  assert.match(refused.stderr, /LW_ERR_DATASET_LAYOUT: category a: the model needs a prompt image and .*train\/good cannot be read .*give one with --prompt FILE/);
  const missing = await runEvalCli(['eval', '--model', ONENIP, '--data', bare, '--prompt', join(bare, 'nothing.png'), '--threads', '1']);
  assert.equal(missing.exitCode, 1);
  assert.match(missing.stderr, /LW_ERR_PRODUCT_PROMPT: prompt for category a: .*nothing\.png cannot be read/);

  const data = await productSet(t);
  const cal = await runEvalCli(['calibrate', '--model', ONENIP, '--data', data, '--json', '--threads', '1']);
  assert.equal(cal.exitCode, 0, cal.stderr);
  const c = JSON.parse(cal.stdout) as { calibration: { method: string }; prompts: { category: string }[]; counts: { good: number; defective: number } };
  assert.deepEqual(c.prompts.map((p) => p.category), ['a', 'b']);
  assert.deepEqual([c.counts.good, c.counts.defective], [2, 2]);
  assert.match(c.calibration.method, /prompts: a: a\/train\/good\/prompt-a\.png \(train\/good image 1 of 1, seed 0\); b: /);
});

test('a single-image model is given no prompt: the report says none', async (t) => {
  const data = await productSet(t);
  const r = await evalJson(['--model', join(models, 'tiny-inp'), '--data', data]);
  assert.equal(r.prompts, null);
});

test('seededIndex: the same seed picks the same image on every run, always one of the n', () => {
  assert.equal(seededIndex(0, 209), seededIndex(0, 209));
  const picks = new Set<number>();
  for (let seed = 0; seed < 200; seed++) {
    const k = seededIndex(seed, 7);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 7, `seed ${seed}: ${k}`);
    picks.add(k);
  }
  assert.equal(picks.size, 7, 'every image can be drawn');
  assert.equal(seededIndex(5, 1), 0);
});

const POOL = join(models, 'tiny-onenip-pool');

test("eval and calibrate on a cosine-pool bundle: each category's pool is the first M of its train/good in file-name order (the RUN's pool_size by default, --pool-size M), named in the text, JSON and HTML reports and the calibration method", async (t) => {
  const data = await productSet(t);
  const poolSamples = join(POOL, 'samples');
  for (const p of ['a', 'b']) {
    await copyFile(join(poolSamples, `pool-${p}.png`), join(data, p, 'train', 'good', `pool-${p}.png`));
    await copyFile(join(poolSamples, `good-${p}.png`), join(data, p, 'train', 'good', `zz-extra-${p}.png`));
  }
  const r = await evalJson(['--model', POOL, '--data', data]);
  const rule = 'pool: the first 2 of 3 train/good images in file-name order, each image judged against the nearest by cosine';
  assert.deepEqual(r.prompts, [
    { category: 'a', image: join('a', 'train', 'good'), rule, pool: [join('a', 'train', 'good', 'pool-a.png'), join('a', 'train', 'good', 'prompt-a.png')] },
    { category: 'b', image: join('b', 'train', 'good'), rule, pool: [join('b', 'train', 'good', 'pool-b.png'), join('b', 'train', 'good', 'prompt-b.png')] },
  ]);
  for (const c of r.categories) {
    assert.equal(c.metrics.iAuroc, 1, `${c.name}: the defect scores above the good part`);
    assert.equal(c.confusion.falseRejects, 0, `${c.name}: its good part passes against the nearest of its pool`);
  }
  const all = await evalJson(['--model', POOL, '--data', data, '--pool-size', '3']);
  assert.match(all.prompts![0]!.rule, /^pool: the first 3 of 3 /);
  const html = join(data, 'report.html');
  const text = await runEvalCli(['eval', '--model', POOL, '--data', data, '--threads', '1', '--report', html]);
  assert.equal(text.exitCode, 0, text.stderr);
  assert.match(text.stdout, /prompts: a: a\/train\/good \(pool: the first 2 of 3 train\/good images in file-name order/);
  const { readFile } = await import('node:fs/promises');
  assert.match(await readFile(html, 'utf8'), /a: a\/train\/good \(pool: the first 2 of 3 train\/good images/);
  const cal = await runEvalCli(['calibrate', '--model', POOL, '--data', data, '--json', '--threads', '1']);
  assert.equal(cal.exitCode, 0, cal.stderr);
  const c = JSON.parse(cal.stdout) as { calibration: { method: string } };
  assert.match(c.calibration.method, /prompts: a: a\/train\/good \(pool: the first 2 of 3 train\/good images in file-name order, each image judged against the nearest by cosine\); b: /);
  // A pool on the recipe bundle is refused, as on the line.
  const refused = await runEvalCli(['eval', '--model', ONENIP, '--data', data, '--pool-size', '2', '--threads', '1']);
  assert.equal(refused.exitCode, 1);
  assert.match(refused.stderr, /LW_ERR_MODEL_NEEDS_UNMET: .*the eval data set cannot give one: pools are for bundles whose prompt\.selection is cosine-pool/);
});
